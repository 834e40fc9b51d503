"""Diff of two runs: classification, word diff, assertion flips, retrieval and cost deltas."""

from __future__ import annotations

import pytest

from workbench.core.evals.assertions import AssertionResult
from workbench.core.evals.diff import RunInfo, diff_runs, word_diff
from workbench.core.evals.results import CaseResult, fold_repeats


def res(cid, verdict, output="x", *, repeat=0, checks=(), **kw):
    assertions = [AssertionResult(t, n, p) for t, n, p in checks]
    return CaseResult(cid, verdict, assertions, repeat_index=repeat, output=output, **kw)


def test_word_diff_segments_rebuild_both_texts():
    before = "Use INTEGER PRIMARY KEY, then rows are reused."
    after = "Use INTEGER PRIMARY KEY AUTOINCREMENT, then rows are never reused."
    segs = word_diff(before, after)
    assert "".join(t for op, t in segs if op != "insert") == before
    assert "".join(t for op, t in segs if op != "delete") == after
    assert ("insert", " AUTOINCREMENT") in segs and ("insert", "never ") in segs
    assert all(op in ("equal", "insert", "delete") for op, _ in segs)
    assert word_diff("same", "same") == [("equal", "same")]


def test_classification_and_counts():
    a = [res("r", "pass"), res("f", "fail"), res("u", "pass"), res("j", "pass"), res("gone", "pass")]
    b = [res("r", "fail"), res("f", "pass"), res("u", "pass"), res("j", "judge-error"), res("new", "fail")]
    d = diff_runs(a, b, a=RunInfo(1, variant_name="base"), b=RunInfo(2, variant_name="v2"))
    kinds = {c.case_id: c.change for c in d.cases}
    assert kinds == {"r": "regression", "f": "fix", "u": "unchanged", "j": "changed", "gone": "removed", "new": "added"}
    assert d.counts["regression"] == 1 and d.counts["fix"] == 1
    assert [c.case_id for c in d.only("regressions")] == ["r"]
    assert [c.case_id for c in d.only("fixes")] == ["f"]
    assert {c.case_id for c in d.only("changed")} == {"r", "f", "j", "gone", "new"}
    # statistics only on cases decided in both runs: r, f, u
    assert d.stats.n == 3 and (d.stats.fixes, d.stats.regressions) == (1, 1)
    assert d.stats.words.startswith("±0 cases (1 fixed, 1 regressed), p=1.00: could be noise")
    assert "compared on the 4 cases both runs have (1 case only in e2, 1 case only in e1)" in d.warnings
    # one vocabulary: `changed` counts what the `changed` filter lists, regressions and fixes
    # among them; the rest is unchanged
    assert d.counts_text == (
        "6 cases · 5 changed (1 regression, 1 fix, 1 other verdict, 1 added, 1 removed) · 1 unchanged"
    )
    assert d.heading.startswith("e1 (base) → e2 (v2): 6 cases")  # A then B, as given
    assert {c.case_id: c.label for c in d.cases} == {
        "r": "regression",
        "f": "fix",
        "u": "same",
        "j": "verdict",
        "gone": "removed",
        "new": "added",
    }
    with pytest.raises(ValueError):
        d.only("bogus")


def test_assertion_flips_gold_rank_and_deltas():
    a = [
        res(
            "c",
            "pass",
            "Use AUTOINCREMENT [1].",
            checks=[("icontains", "icontains", True), ("cites", "cites", True)],
            latency_ms=100.0,
            completion_tokens=10,
            cost=0.01,
            gold_rank=1,
        )
    ]
    b = [
        res(
            "c",
            "fail",
            "Use ROWID.",
            checks=[("icontains", "icontains", False), ("cites", "cites", True)],
            latency_ms=250.0,
            completion_tokens=4,
            cost=0.004,
            gold_rank=None,
            failure_kind="retrieval-miss",
        )
    ]
    c = diff_runs(a, b).cases[0]
    assert c.change == "regression" and c.output_changed
    assert [(f.name, f.before, f.after) for f in c.assertion_flips] == [("icontains", True, False)]
    assert (c.gold_rank_before, c.gold_rank_after) == (1, None)
    assert c.latency_delta_ms == 150.0 and c.tokens_delta == -6 and c.cost_delta == pytest.approx(-0.006)
    assert c.failure_kind_after == "retrieval-miss"
    d = diff_runs(a, b)
    assert d.totals["delta"]["latency_p50_ms"] == 150.0
    assert d.to_dict()["cases"][0]["words"][0] == ["equal", "Use "]


def test_eval_set_version_warning():
    d = diff_runs(
        [res("a", "pass")],
        [res("a", "pass")],
        a=RunInfo(1, evalset_hash="aaaa" * 16),
        b=RunInfo(2, evalset_hash="bbbb" * 16),
    )
    assert d.warnings and "different versions of the eval set" in d.warnings[0]
    assert not diff_runs(
        [res("a", "pass")], [res("a", "pass")], a=RunInfo(1, evalset_hash="x"), b=RunInfo(2, evalset_hash="x")
    ).warnings


def test_repeats_fold_by_majority_and_flag_flaky():
    rs = [
        res("c", "pass", repeat=0),
        res("c", "fail", repeat=1),
        res("c", "pass", repeat=2),
        res("t", "pass", repeat=0),
        res("t", "fail", repeat=1),
        res("s", "pass", repeat=0),
        res("s", "pass", repeat=1),
    ]
    f = fold_repeats(rs)
    assert f["c"].verdict == "pass" and f["c"].flaky
    assert f["t"].verdict == "fail" and f["t"].flaky  # a tie counts as a fail
    assert f["s"].verdict == "pass" and not f["s"].flaky


def test_summary_retrieval_metrics_and_tags_from_stored_facts():
    from workbench.core.evals.summary import summarize
    from workbench.present.eval_report import summary_lines

    a = res(
        "a",
        "pass",
        relevant=("a.md",),
        retrieved=("b.md", "a.md"),
        tags=("x",),
        chunks=(("b.md#0", "b.md"), ("a.md#1", "a.md")),
        gold_rank=2,
    )
    b = res(
        "b",
        "fail",
        relevant=("c.md",),
        retrieved=("b.md",),
        chunks=(("b.md#0", "b.md"),),
        failure_kind="retrieval-miss",
        tags=("x", "y"),
    )
    c = res("c", "pass")  # no gold documents: not in the retrieval metrics
    s = summarize([a, b, c])
    r = s["retrieval"]
    # a: first relevant at document rank 2 -> hit 1, MRR 1/2; b: no hit -> 0, 0. Means: 0.5, 0.25
    assert (r["cases"], r["k"], r["hit_rate"], r["mrr"], r["misses"]) == (2, 2, 0.5, 0.25, ["b"])
    assert s["per_tag"] == {"x": {"passed": 1, "total": 2, "rate": 0.5}, "y": {"passed": 0, "total": 1, "rate": 0.0}}
    assert s["failures"]["retrieval-miss"] == 1 and s["failing_cases"] == {"b": "retrieval-miss"}
    text = "\n".join(summary_lines(s))
    assert "pass rate 67% (2/3)" in text and "a relevant document in the top 2 for 50% of 2 cases" in text
    assert text.startswith(
        "The one failure is a retrieval miss — fix retrieval (chunking, k, hybrid search) "
        "before touching the prompt or the weights.\npass rate 67% (2/3)"
    )
    # round trip through the row encoding keeps what the summary needs
    again = summarize([CaseResult.from_row({**x.to_row(), "case_id": x.case_id}) for x in (a, b, c)])
    assert again["retrieval"] == r and again["per_tag"] == s["per_tag"]


def test_a_new_answer_with_the_same_verdict_is_counted_as_changed():
    """The count the TUI heads its case list with (`changed: 2 of 3`) and the header's
    `2 changed` are the same number: an answer that changed with its verdict kept counts."""
    a = [res("same", "pass", "Paris."), res("reworded", "pass", "Rome."), res("r", "pass", "x")]
    b = [res("same", "pass", "Paris."), res("reworded", "pass", "Rome, of course."), res("r", "fail", "y")]
    d = diff_runs(a, b, a=RunInfo(3), b=RunInfo(4))
    assert len(d.only("changed")) == 2
    assert d.counts_text == "3 cases · 2 changed (1 regression, 0 fixes, 1 answer only) · 1 unchanged"
    assert [c.label for c in d.cases] == ["same", "answer", "regression"]
    assert d.heading == "e3 → e4: " + d.counts_text
