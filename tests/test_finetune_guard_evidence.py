"""The guard says which stored runs it did not count and why, how long the evidence it asks for
will take, and how to produce it in the TUI as well as the CLI.

The trial that prompted this: `workbench eval run --limit 10` (done) and a cancelled TUI run,
both on the sample set, and the guard said "runs: none" as if they had been lost."""

from __future__ import annotations

from fixtures_finetune import add_eval_run, variant_spec
from fixtures_finetune_guard import cancelled_run, label, qa, set_timing, subset_run

from workbench.cli import main
from workbench.core.evals.evalset import load_evalset
from workbench.core.finetune import guard
from workbench.core.variants import resolve_variant
from workbench.present.finetune_guard import worded


def check(project, signal=None, **kwargs):
    """The guard's report with its words, as `finetune check` prints it."""
    return worded(guard.check(project, signal, **kwargs))


def base_spec(project) -> dict:
    """The sample's current settings as the runner stores them, so a resume would work."""
    return resolve_variant(project).spec()


def test_subset_and_cancelled_runs_are_named_with_why_they_do_not_count(sample_project, capsys):
    project = sample_project
    subset_run(project, 10)  # e1: --limit 10
    cancelled_run(project, 12)  # e2: cancelled after 12 of 83

    report = check(project)
    variants = report.rule("variants")
    e1, e2 = label(project, 1), label(project, 2)
    assert variants.summary == (
        "0 distinct prompt/retrieval variant(s) evaluated on sqlite-docs-qa (runs: none counted; "
        f"{e2} was cancelled after 12 of 83 cases, {e1} covers only 10 of 83 cases "
        "(--limit/--tag/--case) — only complete runs of the whole set count); need 3"
    )
    assert [u["run"] for u in variants.evidence["uncounted"]] == [2, 1]
    assert [u["reason"] for u in variants.evidence["uncounted"]] == ["cancelled", "subset"]
    retrieval = report.rule("retrieval")
    assert retrieval.summary == (
        "no complete eval run of sqlite-docs-qa to read failures from (2 runs not counted: see variants)"
    )
    # what the user sees first: not "run the eval set", which they just did
    assert report.advice == (
        "Not yet: run all 83 cases once (`workbench eval run` without --limit/--tag/--case): only "
        "complete runs of the whole set count. A full run takes about 10 min (7.2 s a case in e2, e1) "
        "(also missing: variants, plateau, signal)"
    )

    code = main(["--project", str(project.root), "finetune", "check"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"(runs: none counted; {e2} was cancelled after 12 of 83 cases" in out
    assert "runs: none)" not in out


def test_next_step_sets_the_time_expectation_from_the_stored_pace(sample_project):
    project = sample_project
    subset_run(project, 10, latency_ms=7200.0)  # one at a time, 7.2 s each
    step = check(project).rule("variants").next_step
    # 83 cases x 7.2 s = 598 s; three runs are asked for
    assert "a full run of 83 cases takes about 10 min (7.2 s a case in e1), 3 runs about 30 min" in step
    assert "workbench eval run" in step and "--variant NAME" in step
    # the sample's workbench.yaml defines prompt/retrieval variants; the model-only one is not offered
    assert "workbench.yaml defines terse, k8" in step and "embedded" not in step


def test_without_any_timed_run_the_step_says_the_size_not_a_guess(sample_project):
    step = check(sample_project).rule("variants").next_step
    assert "a full run is 83 model calls (no run on this set shows the pace yet)" in step
    assert "min" not in step


def test_the_pace_is_wall_clock_whatever_the_concurrency_and_pauses(sample_project):
    """Four cases in flight: each took 8 s but one finished every 2 s, so after the first a
    case adds 2 s, not 8; a cancel with a resume an hour later adds nothing."""
    project = sample_project
    run_id = subset_run(project, 10)
    set_timing(project, run_id, 8000.0, every_s=2.0, pause_after=5, pause_s=3600)
    step = check(project).rule("variants").next_step
    # busy: 8 + 5 x 2 = 18 s for cases 1-6, then 8 + 3 x 2 = 14 s after the pause: 32 s / 10
    assert "a full run of 83 cases takes about 4 min (3.2 s a case in e1)" in step


def test_a_resumable_cancelled_run_is_offered_as_the_cheaper_route(sample_project):
    project = sample_project
    cancelled_run(project, 12, spec=base_spec(project))
    report = check(project)
    step = report.rule("variants").next_step
    e1 = label(project, 1)
    assert f"{e1} can be resumed instead of started again (`workbench eval run --resume e1`: 71 cases left)" in step
    tui = report.rule("variants").tui_step
    assert f"{e1} can be resumed instead of started again (Evals tab, F3: select e1, ctrl+e: 71 cases left)" in tui
    assert "or `workbench eval run --resume e1` to finish e1)" in report.advice
    assert "(Evals tab, F3: ctrl+r; or select e1, ctrl+e to finish it)" in report.tui_advice
    # a run whose settings changed since cannot be resumed: not offered
    cancelled_run(project, 5, name="k8", spec=variant_spec(k=99))
    assert "--resume e2" not in check(project).rule("variants").next_step


def test_the_tui_wording_names_the_tab_and_keys(sample_project):
    project = sample_project
    subset_run(project, 10)
    report = check(project)
    variants = report.rule("variants")
    assert variants.tui_step.startswith(
        "evaluate the current settings on all 83 cases (Evals tab, F3: set sqlite-docs-qa, Variant base, ctrl+r)"
    )
    assert "pick them in the Evals tab's Variant picker: terse, k8" in variants.tui_step
    assert "workbench eval run" not in variants.tui_step
    # the advice the TUI leads with is in TUI words too; the CLI's stays CLI
    assert "Evals tab, F3" in report.tui_advice and "`workbench eval run" in report.advice
    assert "choose format, capability or prompt-cost in Signal" in report.rule("signal").tui_step


def test_counted_and_uncounted_runs_are_listed_apart(sample_project):
    project = sample_project
    es = qa(project)
    add_eval_run(project, es, None, variant_spec(), {})  # e1: full, counted
    subset_run(project, 5, name="k8", spec=variant_spec(k=8))  # e2: subset of another variant
    subset_run(project, 5)  # e3: a quick check of base
    summary = check(project).rule("variants").summary
    assert summary.startswith(
        "1 distinct prompt/retrieval variant(s) evaluated on sqlite-docs-qa "
        f"(runs: {label(project, 1)}; not counted: e2 k8 covers only 5 of 83 cases"
    )
    # base already has a counted run: its later quick check is not news
    assert "e3" not in summary
    variants = check(project).rule("variants")
    assert variants.next_step.startswith(
        "evaluate 2 more variants that change the prompt or retrieval (`workbench eval run --variant "
        "NAME`; workbench.yaml defines terse, k8): a model-only change does not count"
    )
    assert variants.tui_step.startswith(
        "evaluate 2 more variants that change the prompt or retrieval (Evals tab, F3: choose one in "
        "the Variant picker: terse, k8, then ctrl+r; a new one: edit the prompt in the Prompt tab (F1) "
        "and save it with ctrl+s): a model-only change does not count"
    )


def test_old_stored_reports_still_load(sample_project):
    """Jobs store the guard report as JSON; reports from before tui_step/tui_advice existed load."""
    from workbench.core.finetune.guard import GuardReport

    old = {
        "passed": False,
        "advice": "Not yet: x",
        "rules": [
            {
                "name": "variants",
                "passed": False,
                "summary": "s",
                "next_step": "n",
                "evidence": {},
                "severity": "required",
            }
        ],
    }
    report = GuardReport.from_dict(old)
    assert report.rule("variants").tui_step is None and report.tui_advice is None


def test_a_run_of_an_earlier_smaller_version_of_the_set_is_not_called_a_subset(sample_project):
    """Cases were added to the file since the run: it was complete then, and the guard says so."""
    project = sample_project
    run_id = subset_run(project, 80)
    # stored before runs kept per-case fingerprints: whether its cases changed is unknown
    from workbench.core.evals.runstore import get_run

    config = {k: v for k, v in get_run(project.store, run_id)["config"].items() if k != "case_hashes"}
    project.store.update("eval_runs", run_id, {"evalset_hash": "an-older-file", "config": config})
    summary = check(project).rule("variants").summary
    assert f"{label(project, run_id)} ran an earlier version of the set (80 cases; it has 83 now)" in summary
    assert "--limit" not in summary


def test_runs_of_the_set_before_cases_were_added_still_count_on_the_shared_cases(sample_project):
    """Issue 17 item 8: a promote adds a case and changes the set's version; the earlier runs
    (every case still there, unchanged) keep counting, compared on the cases both hold. A run
    of an earlier version whose case changed since does not count."""
    import dataclasses

    project = sample_project
    es = qa(project)
    before = dataclasses.replace(es, cases=es.cases[:82], content_hash="before-the-promote")
    fails = {c.id: ("fail", None) for c in es.cases[:20]}
    e1 = add_eval_run(project, before, None, variant_spec(), fails)
    e2 = add_eval_run(project, before, "k8", variant_spec(k=8), dict(list(fails.items())[:10]))
    e3 = add_eval_run(project, es, "terse", variant_spec(prompt="terse"), dict(list(fails.items())[:10]))
    report = check(project)
    variants = report.rule("variants")
    assert variants.evidence["runs"] == [e1, e2, e3] and variants.evidence["uncounted"] == []
    steps = report.rule("plateau").evidence["history"]
    assert [(h["run"], h["vs"], h["n"]) for h in steps] == [(e2, e1, 82), (e3, e2, 82)]

    changed = dataclasses.replace(before.cases[0], expected="something else")
    edited = dataclasses.replace(before, cases=(changed, *before.cases[1:]), content_hash="edited")
    e4 = add_eval_run(project, edited, "strict", variant_spec(prompt="strict"), {})
    variants = check(project).rule("variants")
    assert e4 not in variants.evidence["runs"]
    assert [u["reason"] for u in variants.evidence["uncounted"]] == ["earlier set"]
