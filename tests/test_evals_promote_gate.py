"""Promote a stored generation, import logged questions, the CI gate and its reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.evals.assertions import AssertionResult
from workbench.core.evals.diff import RunInfo, diff_runs
from workbench.core.evals.evalset import load_evalset
from workbench.core.evals.gate import evaluate_gate
from workbench.core.evals.promote import import_jsonl, promote_generation
from workbench.core.evals.results import CaseResult
from workbench.core.evals.summary import summarize
from workbench.core.store import Store
from workbench.present.eval_export import junit_xml, markdown_report
from workbench.present.gate import gate_checks, gate_reasons

EXISTING = """\
# Questions users asked about SQLite.
name: docs   # the set's name
cases:
  # schema questions
  - id: autoinc
    inputs:
      question: How do I stop ROWID reuse?
    assert:
      - {type: icontains, value: autoincrement}   # the keyword
# trailing comment
"""


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "runs.db")
    yield s
    s.close()


def add_generation(store, question, output="Use VACUUM.", **extra):
    return store.start_generation(
        {
            "source": "playground",
            "inputs": {"question": question},
            "output": output,
            "status": "ok",
            "model_used": "ollama:llama3.2",
            "variant_id": "abc123",
            **extra,
        }
    )


def test_promote_appends_without_touching_the_rest(tmp_path, store):
    path = tmp_path / "docs.yaml"
    path.write_text(EXISTING)
    gen = add_generation(store, 'What does "PRAGMA journal_mode: wal" do?\nReally?')
    case = promote_generation(store, gen, path, expected="It switches to write-ahead logging.", relevant=["wal.md"])
    text = path.read_text()
    assert text.startswith(EXISTING)  # every byte of the original kept, comments included
    s = load_evalset(path)
    assert s.ids == ["autoinc", case.id] and case.id.startswith(f"gen{gen}-what-does-pragma")
    c = s.case(case.id)
    assert c.inputs["question"] == 'What does "PRAGMA journal_mode: wal" do?\nReally?'
    assert c.expected == "It switches to write-ahead logging." and c.relevant == ("wal.md",)
    assert c.source["kind"] == "promoted" and c.source["generation"] == gen
    assert c.source["model"] == "ollama:llama3.2" and c.source["variant"] == "base"  # by name
    assert c.source["variant_id"] == "abc123"
    assert [a.type for a in c.assertions] == ["similar"]
    assert c.line == case.line == EXISTING.count("\n") + 1
    # promoting the same generation again is refused (tests/test_evals_promote.py); forced, it gets a fresh id
    again = promote_generation(store, gen, path, asserts=[{"type": "icontains", "value": "wal"}], force=True)
    assert again.id == case.id + "-2" and [a.type for a in load_evalset(path).case(again.id).assertions] == [
        "icontains"
    ]


def test_promote_creates_a_missing_file_and_refuses_unsafe_layouts(tmp_path, store):
    gen = add_generation(store, "Is SQLite thread-safe?")
    new = tmp_path / "evals" / "prod.yaml"
    promote_generation(store, gen, new, case_id="thread-safety", expected="Yes, in serialized mode.")
    assert load_evalset(new).ids == ["thread-safety"] and load_evalset(new).name == "prod"
    bad = tmp_path / "bad.yaml"
    original = "cases:\n  - id: a\n    inputs: {question: q}\ndefaults:\n  tags: [x]\n"
    bad.write_text(original)
    with pytest.raises(WorkbenchError, match="`cases:` must be the last block") as ei:
        promote_generation(store, gen, bad)
    assert ei.value.line == 4 and bad.read_text() == original
    flow = tmp_path / "flow.yaml"
    flow.write_text("cases: [{id: a, inputs: {question: q}}]\n")
    with pytest.raises(WorkbenchError, match="flow list"):
        promote_generation(store, gen, flow)
    with pytest.raises(WorkbenchError, match="already exists"):
        promote_generation(store, gen, new, case_id="thread-safety")
    with pytest.raises(WorkbenchError, match="no generation 999"):
        promote_generation(store, 999, new)


def test_import_jsonl_dedupes_near_identical_questions(tmp_path):
    path = tmp_path / "docs.yaml"
    path.write_text(EXISTING)
    logs = tmp_path / "prod.jsonl"
    rows = [
        {"question": "How do I enable WAL mode?", "answer": "PRAGMA journal_mode=WAL;"},
        {"question": "how do I enable  WAL mode"},  # same after normalizing
        {"question": "How do I enable WAL mode ?!"},  # same after normalizing
        {"question": "How do I enable the WAL mode?"},  # near-identical (difflib ratio >= 0.9)
        {"question": "How do I stop rowid reuse"},  # duplicate of the existing case
        {"question": "What is the maximum database size?", "tags": ["limits"], "relevant": ["limits.md"]},
    ]
    logs.write_text("\n".join(json.dumps(r) for r in rows) + '\nnot json\n{"answer": "no question"}\n')
    report = import_jsonl(logs, path, tags=["prod"])
    assert len(report.added) == 2
    assert [(n, dup) for n, _, dup in report.duplicates] == [
        (2, report.added[0]),
        (3, report.added[0]),
        (4, report.added[0]),
        (5, "autoinc"),
    ]
    assert [n for n, _ in report.invalid] == [7, 8]
    s = load_evalset(path)
    assert path.read_text().startswith(EXISTING)
    first = s.case(report.added[0])
    assert first.expected == "PRAGMA journal_mode=WAL;" and first.tags == ("prod",)
    assert first.source == {"kind": "imported", "file": "prod.jsonl", "line": 1}
    second = s.case(report.added[1])
    assert second.tags == ("prod", "limits") and second.relevant == ("limits.md",)
    # a logged answer is only a reference to review, not a check: neither case is scored yet
    assert report.unchecked == report.added


def test_import_with_embeddings_catches_paraphrases(tmp_path):
    path = tmp_path / "new.yaml"
    logs = tmp_path / "p.jsonl"
    logs.write_text('{"question": "turn on wal"}\n{"question": "enable wal"}\n{"question": "vacuum db"}\n')

    def embed(texts):  # paraphrase-aware stand-in: "turn on" and "enable" mean the same here
        return [[1.0, 0.0] if "wal" in t else [0.0, 1.0] for t in texts]

    report = import_jsonl(logs, path, embed=embed)
    assert len(report.added) == 2 and [d[0] for d in report.duplicates] == [2]


def r(cid, verdict, **kw):
    return CaseResult(
        cid,
        verdict,
        [
            AssertionResult(
                "contains",
                "contains",
                {"pass": True, "fail": False}.get(verdict),
                detail="found" if verdict == "pass" else "did not find 'x'",
            )
        ],
        output=kw.pop("output", f"answer for {cid}"),
        **kw,
    )


BASE = [r("a", "pass"), r("b", "pass"), r("c", "fail"), r("d", "pass")]
SAME = [r("a", "pass"), r("b", "pass"), r("c", "fail"), r("d", "pass")]
WORSE = [r("a", "pass"), r("b", "fail", output="wrong <b>|</b> ``` answer"), r("c", "fail"), r("d", "pass")]


def test_gate_exit_codes():
    no_regression = diff_runs(BASE, SAME, a=RunInfo(1), b=RunInfo(2))
    regressed = diff_runs(BASE, WORSE, a=RunInfo(1), b=RunInfo(2))
    assert evaluate_gate(summarize(SAME), no_regression, fail_on_regression=True).exit_code == 0
    g = evaluate_gate(summarize(WORSE), regressed, fail_on_regression=True)
    assert g.exit_code == 1 and gate_reasons(g) == ["1 regression(s) against e1 (allowed 0): b"]
    assert evaluate_gate(summarize(WORSE), regressed, fail_on_regression=True, max_regressions=1).exit_code == 0
    assert evaluate_gate(summarize(WORSE), regressed, max_regressions=0).exit_code == 1
    # pass rate: WORSE decides 2 of 4
    assert evaluate_gate(summarize(WORSE), None, min_pass_rate=0.5).exit_code == 0
    low = evaluate_gate(summarize(WORSE), None, min_pass_rate=60)
    assert low.exit_code == 1 and gate_reasons(low) == ["pass rate 50.0% is below the minimum 60.0%"]
    assert gate_checks(low) == ["pass rate 50.0% (minimum 60.0%)"]
    assert evaluate_gate(summarize(WORSE), None).exit_code == 0  # no rule asked for
    with pytest.raises(WorkbenchError, match="needs a baseline"):
        evaluate_gate(summarize(WORSE), None, fail_on_regression=True)
    with pytest.raises(WorkbenchError, match="between 0 and 1"):
        evaluate_gate(summarize(WORSE), None, min_pass_rate=120)


def test_junit_xml_is_valid_and_escapes_output():
    results = WORSE + [
        CaseResult(
            "j",
            "judge-error",
            [
                AssertionResult(
                    "llm-judge", "judge", None, detail="unreadable", error_kind="judge-error", raw="not \x00json"
                )
            ],
        ),
        CaseResult("u", "unscored", []),
    ]
    xml = junit_xml(results, suite="docs", summary=summarize(results))
    root = ET.fromstring(xml)
    assert (
        root.get("tests") == "6"
        and root.get("failures") == "2"
        and root.get("errors") == "1"
        and root.get("skipped") == "1"
    )
    b = root.find("testcase[@name='b']")
    assert b.find("failure").get("message") == "contains: did not find 'x'"
    assert b.find("system-out").text == "wrong <b>|</b> ``` answer"
    assert root.find("testcase[@name='j']/error").text == "not json"


def test_markdown_report_keeps_output_inside_fences():
    d = diff_runs(BASE, WORSE, a=RunInfo(1, "docs", variant_name="base"), b=RunInfo(2, "docs", variant_name="v2"))
    s = summarize(WORSE)
    g = evaluate_gate(s, d, fail_on_regression=True)
    md = markdown_report(s, RunInfo(2, "docs", variant_name="v2"), diff=d, gate=g)
    assert "**Gate: FAILED ❌**" in md and "1 regression(s) against e1 (base)" in md
    assert "#### Regressions" in md and "<summary>b" in md
    assert "````diff\n- answer for b\n+ wrong <b>|</b> ``` answer\n````" in md
    assert "| 1 | 0 | 0 | 3 | 0 | 0 |" in md
