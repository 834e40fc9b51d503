"""The question and expected answer of each case in a diff, for people reading the diff.

From the runs' eval-set file (the later run's first), else the question each case's stored
generation was asked: a case the file no longer has still reads as what it asked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.core.errors import WorkbenchError

Texts = dict[str, tuple[str | None, str | None]]


def evalset_texts(evalset: Any) -> Texts:
    """case id -> (question, expected) from an eval set (the first input when none is `question`)."""
    texts: Texts = {}
    for case in evalset.cases:
        question = case.inputs.get("question") or next(iter(case.inputs.values()), None)
        texts[case.id] = (str(question) if question is not None else None, case.expected)
    return texts


def case_texts(store: Any, run_rows: Sequence[Mapping[str, Any]]) -> Texts:
    """case id -> (question, expected) for a diff of `run_rows` (stored eval_runs rows)."""
    from workbench.core.evals.evalset import load_evalset

    texts: Texts = {}
    for row in reversed(run_rows):
        try:
            evalset = load_evalset(row.get("evalset_path") or "")
        except (WorkbenchError, OSError):
            continue
        texts = {**evalset_texts(evalset), **texts}
    ids = [row["id"] for row in run_rows]
    with store.lock:
        rows = store.conn.execute(
            "SELECT r.case_id, g.inputs FROM eval_results r JOIN generations g ON g.id = r.generation_id "
            f"WHERE r.run_id IN ({', '.join('?' * len(ids))})",
            ids,
        ).fetchall()
    for case_id, inputs in rows:  # a case the file no longer has: the question it was asked
        if case_id in texts:
            continue
        try:
            question = (json.loads(inputs or "{}") or {}).get("question")
        except (ValueError, AttributeError):
            question = None
        if question:
            texts[case_id] = (str(question), None)
    return texts
