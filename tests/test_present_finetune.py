"""Parity: a guard report and a job read the same in `finetune check|jobs|show` and the Fine-tune tab.

Both surfaces render through workbench/present/finetune.py; these tests render one record both
ways and compare the facts (rule names, numbers, next steps; job status, steps, loss, verdict, export).
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from workbench.core.finetune.guard import WARNING, GuardReport, Rule
from workbench.present import finetune as present
from workbench.present.finetune import checklist, lead_advice, warning_text
from workbench.present.finetune_guard import worded
from workbench.tui.widgets.text import job_cells, rule_styles


def _plain(lines: list[Text] | list[str]) -> str:
    console = Console(width=400, no_color=True, highlight=False, record=True, file=io.StringIO())
    for line in lines:
        console.print(line)
    return console.export_text()


def _report() -> GuardReport:
    return GuardReport(
        rules=[
            Rule("eval set", True, "capitals: 40 cases, 8 held out"),
            Rule(
                "plateau",
                False,
                "[bold]terse[/bold] gains +3 points, upper bound 9 > 5",
                next_step="run `workbench eval run` on 20 more cases",
                tui_step="Evals tab, F3: ctrl+r",
            ),
            Rule(
                "knowledge", False, "3 of 10 targets restate the corpus", next_step="retrieve instead", severity=WARNING
            ),
        ],
        advice="Not yet: the plateau is not shown. But read the warning: targets restate the corpus.",
        tui_advice="Not yet (Evals tab). But read the warning: targets restate the corpus.",
    )


def test_guard_report_reads_the_same_in_check_and_the_tab() -> None:
    report = _report()
    cli = _plain(present.guard_texts(report))
    tab = checklist(report, rule_styles({})).plain
    for rule in report.rules:  # every rule, with its numbers, verbatim (markup in user text stays text)
        assert f"{rule.name}: {rule.summary}" in cli
        assert f"{rule.name}: {rule.summary}" in tab
    assert "[PASS] eval set" in cli and "✓ eval set" in tab
    assert "[FAIL] plateau" in cli and "✗ plateau" in tab
    assert "[WARN] knowledge" in cli and "⚠ knowledge" in tab
    # the next step under the failing rule: the CLI's command, the tab's key; none under a pass
    assert "next: run `workbench eval run` on 20 more cases" in cli and "next: Evals tab, F3: ctrl+r" in tab
    assert cli.count("next:") == tab.count("next:") == 2
    assert cli.startswith("Resolution:") is False and report.advice in cli
    assert lead_advice(report) == "Not yet (Evals tab)."  # the warning has its own band in the tab
    assert warning_text(report) == "⚠ Warning (knowledge): 3 of 10 targets restate the corpus"


def test_guard_report_from_json_renders_like_the_live_one() -> None:
    """Jobs store the report as JSON; `finetune show` and the tab read the stored one alike."""
    report = _report()
    again = GuardReport.from_dict(report.to_dict())
    assert _plain(present.guard_texts(again)) == _plain(present.guard_texts(report))
    assert present.guard_rows(again, tui=True) == present.guard_rows(report, tui=True)


def _job() -> dict:
    return {
        "id": 3,
        "status": "done",
        "created_at": "2025-01-02T03:04:05+00:00",
        "updated_at": "2025-01-02T03:09:00",
        "signal": "format",
        "override_reason": "ship it\x1b[31m",
        "base_model": "embedded",
        "loss_curve": [{"step": 1, "loss": 5.3531}, {"step": 20, "loss": 0.41249}],
        "config": {
            "total_steps": 20,
            "eval": {"run_id": 12, "baseline_run_id": 11, "verdict": "improvement", "words": "+20 points, p=0.01"},
        },
        "export": [
            {
                "name": "quack",
                "created": True,
                "folder": "/x",
                "base": "smollm2",
                "ollama": "0.5.0",
                "eval": {"words": "exported model: 80% pass"},
            }
        ],
    }


def test_a_job_reads_the_same_in_jobs_show_and_the_tab() -> None:
    job = _job()
    cli_list = _plain(present.job_list_lines([job]))
    cli_show = _plain(present.job_detail(job))
    cells = [c.plain for c in job_cells(job)]
    assert cells[:4] == ["f3", "done", "20/20", "5.353 → 0.412"]
    assert "f3 done" in cli_list and "step 20/20" in cli_list and "loss 5.353 -> 0.412" in cli_list
    assert cli_list.startswith("2025-01-02 03:04:05  ")
    # the override: a mark in the table, the reason (control characters made visible) in both texts
    assert cells[4] == "⚑" and "\x1b" not in cli_list + cli_show and "OVERRIDE: ship it" in cli_list
    assert cells[5] == "▲ better" and "eval e12: improvement" in cli_list
    assert "eval e12 vs e11: improvement — +20 points, p=0.01" in cli_show
    assert cells[6] == "quack ✓" and "exported quack (ollama)" in cli_list
    assert "created ollama:quack in Ollama 0.5.0" in cli_show
    assert present.job_hint(job).startswith("e evaluates the adapter")


def test_an_empty_job_list_says_how_to_start() -> None:
    assert present.job_list_lines([]) == ["No fine-tune jobs yet. Start with: workbench finetune check"]


def test_training_start_line_names_processes() -> None:
    event = {
        "device": "cpu",
        "threads": 2,
        "trainable_params": 12345,
        "examples": 8,
        "start_step": 0,
        "total_steps": 20,
    }
    assert present.start_line(event) == (
        "training on cpu (2 threads), 12,345 trainable parameters, 8 examples, steps 0→20"
    )
    assert present.start_line({**event, "processes": 2}).startswith("training on 2 processes on cpu, 2 threads each")
    step = {"event": "step", "step": 3, "loss": 2.91234, "tokens_per_s": 108.4, "eta_s": 24}
    assert present.step_info(step) == "loss 2.9123  108 tok/s  ETA 24s"
    curve = [{"step": 1, "loss": 5.3531}, {"step": 3, "loss": 2.91234}]
    # the tab's status line carries the same speed and ETA as the CLI's progress line
    assert present.progress_line(3, step, curve, 20) == "f3 · step 3/20 · loss 5.353 → 2.912 · 108 tok/s · ETA 24s"


def test_the_banners_also_missing_is_the_lock_lines_list_without_its_lead():
    """Issue 17 item 18: the advice banner listed the other missing rules in its own priority
    order (retrieval before variants) while the lock line under it used the checklist's."""
    from workbench.core.finetune.guard import _report
    from workbench.core.finetune.settings import FinetuneSettings
    from workbench.tui.widgets.text import lock_line

    rules = [
        Rule("eval set", False, "12 cases", "write more cases"),
        Rule("variants", False, "1 variant", "evaluate more variants"),
        Rule("plateau", False, "only 0 comparisons", "compare variants"),
        Rule("retrieval", False, "recall@4 70%", "fix retrieval first"),
        Rule("signal", False, "no signal", "choose a signal"),
    ]
    report = worded(_report(rules, None, "qa", "evals/qa.yaml", None, FinetuneSettings()))
    assert report.advice.startswith("Not yet: write more cases")  # the eval set leads
    also = report.advice.split("(also missing: ")[1].rstrip(")").split(", ")
    locked, _ = lock_line(report, None)
    failing = locked.split("(failing: ")[1].split(")")[0].split(", ")
    assert also == [name for name in failing if name != "eval set"] == ["variants", "plateau", "retrieval", "signal"]


def test_a_stored_structured_report_and_a_refusal_read_as_the_live_check(sample_project):
    """Core stores a guard report as kinds and facts (no words); `finetune show`, a refused
    `finetune train` and the train view's warnings word it as `finetune check` does."""
    from types import SimpleNamespace

    from workbench.core.evals.evalset import load_evalset
    from workbench.core.finetune import guard
    from workbench.present.finetune import plan_warnings
    from workbench.present.finetune_guard import refused_message, stored_report

    project = sample_project
    raw = guard.check(project)
    assert raw.advice == "" and all(r.summary == "" for r in raw.rules)  # core keeps no words
    live = worded(raw)
    stored = stored_report(raw.to_dict())
    assert stored == live.to_dict() and stored["advice"] == live.advice != ""
    assert refused_message(raw) == (
        "fine-tune refused by the guard: Not yet: run the eval set (`workbench eval run`) so failures can be "
        "attributed (also missing: variants, plateau, signal) (see `workbench finetune check`; to train anyway "
        'pass --override "reason")'
    )
    es = load_evalset(project.root / "evals" / "sqlite_qa.yaml")
    targets = [(c.id, c.expected) for c in es.cases if c.split != "heldout" and c.expected]
    knowledge = guard.knowledge_rule(targets, guard.corpus_passages(project), project.config.finetune)
    plan = SimpleNamespace(
        warnings=["target modules first", "a dataset warning"],
        dataset=SimpleNamespace(warnings=["a dataset warning"]),
        guard=GuardReport([knowledge], ""),
    )
    own, restating, dataset = plan_warnings(plan)
    assert (own, dataset) == ("target modules first", "a dataset warning")
    assert restating.startswith("55 of 66 training targets (83%) mostly restate a passage of the corpus")


def test_a_plateau_on_a_handful_of_shared_cases_says_the_set_resolves_nothing():
    """Two runs sharing 2 cases resolve no change: the guard's step says so instead of
    "resolves ±144 points" (present/numbers.resolves, as `eval diff` words it)."""
    from workbench.present.finetune_guard import _plateau_cannot_tell

    worst = {"label": "terse", "vs": 1, "gain": 0.5, "gain_high": 0.9, "n": 2, "flips": 1, "resolution": 1.44}
    facts = {
        "min_gain": 0.05,
        "significance": 0.05,
        "widest": worst,
        "best_pass_rate": 0.5,
        "best_label": "base",
        "worst": worst,
        "cases_needed": 300,
    }
    summary, step, _ = _plateau_cannot_tell(facts, {})
    assert step.startswith("cannot tell: the eval set is too small to resolve any change; to show a ceiling at 5")
    assert "±144" not in summary + step


def test_the_resolution_leads_the_check_unless_its_advice_already_names_it():
    from workbench.core.finetune.guard_report import GuardReport, Rule
    from workbench.present.finetune import lead_resolution

    words = "the set resolves ±8 points (2 of 40 cases flipped; a smaller change usually passes as noise)"

    def report(kind: str, lead: str, advice: str = "Not yet.") -> GuardReport:
        plateau = Rule("plateau", False, evidence={"resolution_words": words}, kind=kind)
        return GuardReport([plateau], advice, lead=lead)

    assert lead_resolution(report("plateau.still improving", "plateau")) == f"Resolution: {words}"
    assert lead_resolution(report("plateau.cannot tell", "variants")) == f"Resolution: {words}"
    # led by "cannot tell", the advice is the step that says what the set resolves
    assert lead_resolution(report("plateau.cannot tell", "plateau")) is None
    # a report stored before rules had kinds: its own words decide
    assert lead_resolution(report("", "plateau", "Not yet: cannot tell: the eval set resolves ±8 points")) is None
    assert lead_resolution(report("", "plateau", "Not yet: keep iterating")) == f"Resolution: {words}"
