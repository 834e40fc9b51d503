"""`type: python` checks as a user writes them: real scorer files run in real worker processes
against answers from the Ollama stand-in. A scorer that loops, raises, returns a string or eats
memory ends as a scorer error within its limit and the run finishes; the scorer's hash is part
of the set's version (scores redone) while answers come from the cache."""

from __future__ import annotations

import time

import pytest

from workbench.cli import main
from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import load_evalset, parse_evalset
from workbench.core.evals.python_scorer import interpret

SCORERS = """\
import sqlite3


def loops(answer, case):
    while True:
        pass


def raises(answer, case):
    return {"a": 1}["missing"]


def says_yes(answer, case):
    return "yes"


def hog(answer, case):
    blocks = []
    while True:
        blocks.append(bytearray(10_000_000))


def names_capital(answer, case):
    print("scorers may print; it does not reach the result")
    ok = case["expected"].lower() in answer.lower()
    return {"pass": ok, "score": 1.0 if ok else 0.0, "reason": f"looked for {case['expected']}"}
"""

EVALS = """\
name: scored
cases:
  - id: loop
    inputs: {question: Capital of France}
    assert:
      - {type: python, value: scorers.py:loops, timeout: 1}
  - id: raise
    inputs: {question: Capital of France}
    assert:
      - {type: python, value: scorers.py:raises}
  - id: string
    inputs: {question: Capital of France}
    assert:
      - {type: python, value: scorers.py:says_yes}
  - id: memory
    inputs: {question: Capital of France}
    assert:
      - {type: python, value: scorers.py:hog, memory_mb: 200, timeout: 20}
  - id: good
    inputs: {question: Capital of France}
    expected: Paris
    assert:
      - {type: python, value: scorers.py:names_capital}
  - id: inline
    inputs: {question: Capital of Italy}
    assert:
      - {type: python, expr: "answer.strip().endswith('.') and case['id'] == 'inline'"}
"""


def answer(body):
    text = body["messages"][-1]["content"]
    return ["Paris."] if "France" in text else ["Rome."]


@pytest.fixture
def proj(ollama_standin, project_factory):
    ollama_standin.configure(reply=answer)
    project = project_factory(
        host=ollama_standin.url, retries="count: 0\n  backoff_s: 0.01", extra="evals:\n  dir: evals\n"
    )
    (project.root / "evals").mkdir()
    (project.root / "evals" / "scored.yaml").write_text(EVALS)
    (project.root / "evals" / "scorers.py").write_text(SCORERS)
    project.close()
    return project.root, ollama_standin


def wb(root, *argv):
    return main(["--project", str(root), *argv])


def test_bad_scorers_are_scorer_errors_within_their_limits_and_the_run_finishes(proj, capsys):
    root, _ = proj
    started = time.monotonic()
    assert wb(root, "eval", "run", "scored", "--json") == 0
    elapsed = time.monotonic() - started
    import json

    data = json.loads(capsys.readouterr().out)
    s = data["summary"]
    assert data["status"] == "done"
    assert (s["passed"], s["failed"], s["scorer_errors"], s["judge_errors"]) == (2, 0, 4, 0)
    assert s["pass_rate"] == 1.0  # scorer errors count neither way
    assert "4 cases had scorer errors" in s["advice"] and "judge errors" not in s["advice"]
    assert elapsed < 25  # the loop is killed at its 1 s limit, not waited for

    assert wb(root, "eval", "show", "last") == 0
    shown = capsys.readouterr().out
    assert "4 scorer errors (not counted)" in shown
    assert "scorer error: scorers.py:loops timed out after 1 s" in shown
    # the traceback's last frame: file, line, function and the line's code
    assert 'raised: KeyError: \'missing\' at scorers.py:10 in raises: return {"a": 1}["missing"]' in shown
    assert "scorers.py:says_yes returned a str ('yes'); expected a bool" in shown
    assert "MemoryError (over its 200 MB memory cap" in shown and "scorers.py:20 in hog: blocks.append" in shown
    assert "scorer-err  loop  python: scorer error" in shown and "judge-error" not in shown
    assert "good" not in shown.split("failing cases:")[1]  # the honest scorer passed its case


def test_changing_a_scorer_is_a_new_set_version_but_answers_stay_cached(proj, capsys):
    root, standin = proj
    before = load_evalset(root / "evals" / "scored.yaml").content_hash
    assert wb(root, "eval", "run", "scored", "--case", "good") == 0
    chats = len(standin.requests_to("/api/chat"))
    assert chats == 1
    scorers = root / "evals" / "scorers.py"
    scorers.write_text(SCORERS.replace("ok = case", "ok = not case"))
    after = load_evalset(root / "evals" / "scored.yaml").content_hash
    assert after != before
    capsys.readouterr()
    assert wb(root, "eval", "run", "scored", "--case", "good") == 0
    out = capsys.readouterr().out
    assert "pass rate 0% (0/1)" in out and "1 of 1 from cache" in out  # new score, cached answer
    assert len(standin.requests_to("/api/chat")) == chats


def test_the_sets_yaml_hash_alone_is_kept_without_scorer_files(tmp_path):
    text = "cases:\n  - id: a\n    inputs: {q: x}\n    assert:\n      - {type: python, expr: 'True'}\n"
    import hashlib

    assert parse_evalset(text, tmp_path / "s.yaml").content_hash == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "assertion, message, line",
    [
        ("{type: python, value: nothere.py:f}", "scorer file nothere.py not found", 5),
        ("{type: python, value: scorers.py:nope}", "scorers.py defines no top-level function 'nope'", 5),
        ("{type: python, value: scorers.py}", "python value must be FILE.py:FUNCTION", 5),
        ("{type: python, value: 'scorers.py:f', expr: 'True'}", "either `value: FILE.py:FUNCTION` or `expr", 5),
        ("{type: python, expr: 'answer ==='}", "expr is not a Python expression", 5),
        ("{type: python, expr: 'True', timeout: 0}", "must be > 0", 5),
    ],
)
def test_loader_names_file_line_case_and_field(tmp_path, assertion, message, line):
    (tmp_path / "scorers.py").write_text("def f(answer, case):\n    return True\n")
    path = tmp_path / "s.yaml"
    path.write_text(f"cases:\n  - id: c1\n    inputs: {{q: x}}\n    assert:\n      - {assertion}\n")
    with pytest.raises(WorkbenchError) as err:
        load_evalset(path)
    text = str(err.value)
    assert message in text and "case 'c1'" in text and err.value.line == line
    assert err.value.field.startswith("assert[0].")


def test_a_scorer_file_that_does_not_parse_is_a_load_error(tmp_path):
    (tmp_path / "scorers.py").write_text("def f(answer, case)\n    return True\n")
    path = tmp_path / "s.yaml"
    path.write_text(
        "cases:\n  - id: c1\n    inputs: {q: x}\n    assert:\n      - {type: python, value: scorers.py:f}\n"
    )
    with pytest.raises(WorkbenchError, match=r"scorers.py:1: .*expected ':'"):
        load_evalset(path)


@pytest.mark.parametrize(
    "value, passed, score, error",
    [
        (True, True, 1.0, None),
        (0.7, True, 0.7, None),
        (0.2, False, 0.2, None),
        ({"pass": False, "reason": "no rows"}, False, 0.0, None),
        ({"score": 0.9}, True, 0.9, None),
        (1.5, None, None, "outside [0, 1]"),
        ({"reason": "?"}, None, None, "neither 'pass' nor 'score'"),
        ({"pass": "yes"}, None, None, "'pass' is str"),
        (None, None, None, "returned None"),
        ({"__type__": "list", "__repr__": "[1]"}, None, None, "returned a list ([1])"),
    ],
)
def test_return_values(value, passed, score, error):
    v = interpret(value)
    assert (v.passed, v.score) == (passed, score)
    assert (error in v.error) if error else v.error is None
