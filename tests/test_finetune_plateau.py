"""The guard's plateau rule judges a ceiling by the paired bound of the gain, not by "no
significant change": constructed run histories (pass/fail per case, no model) on a large set, a
30-case set with the same point deltas, and one with a real improvement; a property test that
more cases with the same deltas never turn a pass into a fail."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.core.evals.results import CaseResult
from workbench.core.evals.stats import cases_for_ceiling, gain_bounds, resolution
from workbench.core.finetune import guard
from workbench.core.finetune.guard import GuardReport, Rule, VariantRun
from workbench.core.finetune.settings import FinetuneSettings
from workbench.present.finetune_guard import word_rule, worded


def _rule_plateau(runs, s, ctx=None):
    """The plateau rule with its words."""
    return word_rule(guard._rule_plateau(runs, s, ctx))


def history(outcomes: list[list[bool]], copies: int = 1) -> list[VariantRun]:
    """Variant runs e1.. from per-case pass/fail lists (same index = same case); `copies`
    repeats the whole case list, so every pass rate and flip rate stays the same."""
    runs = []
    for i, passes in enumerate(outcomes, start=1):
        results = [
            CaseResult(f"c{c}-{j}", "pass" if ok else "fail") for c in range(copies) for j, ok in enumerate(passes)
        ]
        rate = sum(passes) / len(passes)
        runs.append(VariantRun(i, f"v{i}", f"e{i} v{i}", rate, {"pass_rate": rate}, {"prompt": f"p{i}"}, results))
    return runs


def flipped(passes: list[bool], fixes: int, regressions: int) -> list[bool]:
    """`passes` with the first `fixes` failing cases fixed and the first `regressions` passing
    cases (from the end) regressed."""
    out = list(passes)
    failing = [i for i, ok in enumerate(out) if not ok]
    passing = [i for i, ok in enumerate(out) if ok]
    for i in failing[:fixes]:
        out[i] = True
    for i in passing[::-1][:regressions]:
        out[i] = False
    return out


def thirty_case_history() -> list[list[bool]]:
    """30 cases: 15 pass, a real jump (+6), then two variants within two cases of it: a
    ±0 change with 2 fixes and 2 regressions, then -1 (1 fix, 2 regressions)."""
    base = [True] * 15 + [False] * 15
    best = flipped(base, 6, 0)
    return [base, best, flipped(best, 2, 2), flipped(best, 1, 2)]


S = FinetuneSettings()


def test_a_large_set_with_tiny_tight_deltas_is_a_plateau():
    rule = _rule_plateau(history(thirty_case_history(), copies=10), S)  # 300 cases, same deltas
    assert rule.passed, rule.summary
    assert rule.evidence["verdict"] == "ceiling"
    assert rule.summary.startswith("best 70% (e2 v2); the last 2 variant(s) gain less than 5 points")
    assert "on the best (95% upper bounds): e3 v3 vs e2 +0.0 points (at most +3.5)" in rule.summary
    assert "the set resolves ±" in rule.summary and "of 300 cases flipped" in rule.summary
    assert [h["real"] for h in rule.evidence["history"]] == [True, False, False]
    assert all(h["gain_high"] < 0.05 for h in rule.evidence["history"][1:])


def test_a_thirty_case_set_with_the_same_deltas_cannot_tell_and_says_how_many_cases():
    rule = _rule_plateau(history(thirty_case_history()), S)
    assert not rule.passed
    assert rule.evidence["verdict"] == "cannot tell"
    # the worst of the window: e3's ±0 change with 4 flips, bounded at +11.5 points
    assert "cannot tell: e3 v3 vs e2 +0.0 points, could be up to +11.5 (95% upper bound)" in rule.summary
    needed = rule.evidence["cases_needed"]
    flip = 5 / 32  # 4 of 30 flipped, with Agresti-Min's halves
    assert needed == cases_for_ceiling(flip, 0.0, 0.05) and 300 < needed < 500
    X = round(resolution(30, flip) * 100)
    assert X == 18
    assert rule.next_step == (
        f"cannot tell: the eval set resolves ±{X} points; to show a ceiling at 5 "
        f"points you need about {needed} cases (or repeats of the noisy ones)"
    )
    # The old rule (McNemar p >= 0.05 for both) called this a plateau: no result can be
    # significant with 4 flips, which is exactly the absence of evidence the rule must not reward.
    assert all(h["p"] >= 0.05 for h in rule.evidence["history"][1:])


def test_a_real_improvement_in_the_window_is_still_improving():
    base = [True] * 150 + [False] * 150
    best = flipped(base, 30, 0)
    runs = history([base, best, flipped(best, 1, 1), flipped(best, 25, 2)])
    rule = _rule_plateau(runs, S)
    assert not rule.passed and rule.evidence["verdict"] == "still improving"
    assert "e4 v4 still moved the bar: +7.7 points on e2 (at least +4.8, 95% lower bound)" in rule.summary
    assert rule.next_step.startswith("prompting and retrieval are still improving the score")
    assert "cannot tell" not in rule.summary + rule.next_step


def test_a_gain_above_min_gain_that_is_not_yet_real_says_more_cases_would_tell():
    base = [True] * 15 + [False] * 15
    best = flipped(base, 6, 0)
    rule = _rule_plateau(history([base, best, flipped(best, 1, 1), flipped(best, 3, 1)]), S)
    assert not rule.passed and rule.evidence["verdict"] == "cannot tell"
    assert rule.evidence["cases_needed"] is None  # +6.7 points observed: no ceiling at 5 to show
    assert "e4 v4 gained +6.7, more than 5: add cases (or repeats of the noisy ones)" in rule.next_step


def test_min_gain_and_significance_come_from_the_settings():
    runs = history(thirty_case_history(), copies=10)
    strict = FinetuneSettings(min_gain=0.02)
    rule = _rule_plateau(runs, strict)
    assert not rule.passed and "to show a ceiling at 2 points" in rule.next_step
    assert "99% upper bound" in _rule_plateau(runs, FinetuneSettings(significance=0.01)).summary


def test_the_report_carries_the_resolution_and_the_rule_in_two_sentences():
    rule = _rule_plateau(history(thirty_case_history()), S)
    report = GuardReport([rule], "Not yet")
    assert report.resolution == rule.evidence["resolution_words"]
    assert report.resolution.startswith("the set resolves ±18 points (4 of 30 cases flipped")
    assert report.to_dict()["resolution"] == report.resolution
    assert GuardReport([Rule("eval set", True, "ok")], "").resolution is None
    assert rule.evidence["rule"].count(". ") == 1  # two sentences


def test_gain_bounds_keep_a_width_when_nothing_flipped():
    """A plain Wald (or bootstrap) interval is [0, 0] when no case flipped: 30 unchanged cases
    would prove any ceiling. Agresti-Min's added halves keep it open, and it narrows with n."""
    lo30, hi30 = gain_bounds(0, 0, 30)
    assert lo30 < 0 < hi30 and hi30 > 0.05
    assert gain_bounds(0, 0, 300)[1] < 0.05 < hi30


@st.composite
def histories(draw):
    n = draw(st.integers(10, 120))
    base = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    runs = [base]
    for _ in range(draw(st.integers(2, 4))):
        flips = draw(st.lists(st.integers(0, n - 1), max_size=6, unique=True))
        prev = list(draw(st.sampled_from(runs)))
        for i in flips:
            prev[i] = not prev[i]
        runs.append(prev)
    return runs


@settings(max_examples=60, deadline=None)
@given(histories(), st.integers(2, 4), st.sampled_from([0.02, 0.05, 0.1]))
def test_more_cases_with_the_same_deltas_never_turn_a_pass_into_a_fail(outcomes, copies, min_gain):
    s = FinetuneSettings(min_gain=min_gain)
    if _rule_plateau(history(outcomes), s).passed:
        assert _rule_plateau(history(outcomes, copies=copies), s).passed


def test_the_property_sees_passing_histories():
    """The property above is not vacuous: a small history with few flips passes at 120 cases."""
    base = [True] * 60 + [False] * 60
    assert _rule_plateau(history([base, flipped(base, 1, 0), flipped(base, 0, 1)]), S).passed


@pytest.mark.parametrize("value", [5, 0, 1.5])
def test_min_gain_out_of_range_is_an_error_naming_file_and_line(tmp_path, value):
    from workbench.core.config import load_config
    from workbench.core.errors import WorkbenchError

    path = tmp_path / "workbench.yaml"
    path.write_text(f"finetune:\n  plateau_window: 2\n  min_gain: {value}\n", encoding="utf-8")
    with pytest.raises(WorkbenchError) as err:
        load_config(tmp_path)
    assert "workbench.yaml:3" in str(err.value) and "finetune.min_gain" in str(err.value)


def test_on_the_sample_a_noisy_variant_blocks_with_the_resolution_first(sample_project, capsys):
    """83 cases: base, k8 (+10 cases, real), then a variant with 3 fixes and 3 regressions
    against k8 (±0, bounded at +5.1) and one with a single fix: `finetune check` cannot tell,
    and its first line says what the set resolves and how many cases a ceiling needs."""
    from fixtures_finetune import add_eval_run, variant_spec

    from workbench.cli import main
    from workbench.core.evals.evalset import load_evalset

    project = sample_project
    es = load_evalset(project.root / "evals" / "sqlite_qa.yaml")
    train = [c.id for c in es.cases if c.split != "heldout"]

    def failing(ids):
        return {cid: ("fail", "format" if i < 3 else "context-ignored") for i, cid in enumerate(train) if cid in ids}

    add_eval_run(project, es, None, variant_spec(), failing(train[:23]))
    add_eval_run(project, es, "k8", variant_spec(k=8), failing(train[:13]))
    add_eval_run(project, es, "terse", variant_spec("terse_qa", k=8), failing(train[:3] + train[6:16]), retrieve=False)
    add_eval_run(project, es, "cite-first", variant_spec(system="Quote first.", k=8), failing(train[:12]))

    plateau = worded(guard.check(project, "format")).rule("plateau")
    assert not plateau.passed and plateau.evidence["verdict"] == "cannot tell"
    assert "cannot tell: e3 terse vs e2 +0.0 points, could be up to +5.1 (95% upper bound)" in plateau.summary
    needed = plateau.evidence["cases_needed"]
    assert needed == 204  # 6.18 (z 95% + z 80%, squared) x 7/85 flipping / 0.05²

    code = main(["--project", str(project.root), "finetune", "check", "--signal", "format"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == (
        "Not yet: cannot tell: the eval set resolves ±8 points; to show a ceiling at 5 points "
        f"you need about {needed} cases (or repeats of the noisy ones)"
    )
    assert any(line.startswith("[FAIL] plateau: best 86% (e4 cite-first); cannot tell") for line in lines)


def test_the_fine_tune_tab_checklist_shows_cannot_tell_and_the_cases_needed():
    from workbench.present.finetune import checklist, lead_advice
    from workbench.tui.widgets.text import rule_styles

    rule = _rule_plateau(history(thirty_case_history()), S)
    report = GuardReport([Rule("eval set", True, "30 cases"), rule], f"Not yet: {rule.next_step}")
    text = checklist(report, rule_styles({})).plain
    assert "✗ plateau: best 70% (e2 v2); cannot tell: e3 v3 vs e2 +0.0 points" in text
    assert (
        "next: cannot tell: the eval set resolves ±18 points; to show a ceiling at 5 points you need "
        "about 387 cases (or repeats of the noisy ones)" in text
    )
    assert lead_advice(report).startswith("Not yet: cannot tell: the eval set resolves ±18 points")
