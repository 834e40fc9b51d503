"""Python scorers for the sample project's eval sets (`type: python`, see sql_tasks.yaml).

A scorer gets the answer text and the case (inputs, expected, sources, metadata) and returns a
bool, a score in [0, 1], or a dict with pass / score / reason. The workbench runs each call in a
worker process with a time limit and a memory cap, so a bug here is a scorer error, not a hang.
"""

import re
import sqlite3

FENCE = re.compile(r"```(?:sql|sqlite)?\s*\n(.*?)```", re.S | re.I)
STATEMENT = re.compile(r"\b(SELECT|WITH)\b.*?(;|$)", re.S | re.I)


def answer_sql(answer: str) -> str | None:
    """The query in an answer: a fenced block if there is one, else the first SELECT/WITH."""
    m = FENCE.search(answer)
    if m:
        return m.group(1).strip()
    m = STATEMENT.search(answer)
    return m.group(0).strip() if m else None


def check_sql(answer, case):
    """Run the answer's query and the expected one on an in-memory database built from the
    SQL block in the question; pass when both return the same rows (order ignored)."""
    setup = FENCE.search(case["inputs"]["question"]).group(1)
    query = answer_sql(answer)
    if not query:
        return {"pass": False, "reason": "no SQL query in the answer"}
    db = sqlite3.connect(":memory:")
    db.executescript(setup)
    steps = [0]

    def budget():  # a runaway query (a recursive CTE without end) fails, it does not hang
        steps[0] += 1
        return steps[0] > 200
    db.set_progress_handler(budget, 10_000)
    want = sorted(map(repr, db.execute(case["expected"]).fetchall()))
    try:
        got = sorted(map(repr, db.execute(query).fetchall()))
    except sqlite3.Error as exc:
        return {"pass": False, "reason": f"the query fails: {exc}"}
    if got == want:
        return {"pass": True, "reason": f"same {len(want)} rows as the reference query"}
    return {"pass": False, "score": 0.0, "reason": f"{len(got)} rows, expected {len(want)}: {got[:3]}"}
