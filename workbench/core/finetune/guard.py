"""The fine-tune guard: is there evidence that a LoRA fine-tune is the lever to pull now?

Prompt, retrieval and plumbing come first; `workbench finetune check` reads the run store and
refuses until it shows a measured ceiling. The six rules are listed in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.finetune.guard_evidence import (  # noqa: F401  (re-exported: importers use guard)
    MIN_CONTENT_WORDS,
    PACE_RUNS,
    PACE_SAMPLES,
    PASSAGE_PARAGRAPHS,
    RESTATE_CONTAINMENT,
    CorpusPassages,
    Pace,
    UncountedRun,
    VariantRun,
    compare,
    content_words,
    corpus_passages,
    eval_pace,
    eval_run_command,
    latest_retrieval_eval,
    lever_key,
    resolve_evalset_path,
    restates_corpus,
    signal_evidence,
    uncounted_runs,
    untried_variants,
    variant_runs,
    whole_set,
)
from workbench.core.finetune.guard_report import (  # noqa: F401  (re-exported: importers use guard)
    _PRIORITY,
    REQUIRED,
    WARNING,
    GuardReport,
    Rule,
)
from workbench.core.finetune.guard_rules import (  # noqa: F401  (re-exported: importers use guard)
    Context,
    _rule_evalset,
    _rule_knowledge,
    _rule_plateau,
    _rule_retrieval,
    _rule_signal,
    _rule_variants,
    knowledge_rule,
)
from workbench.core.finetune.settings import SIGNALS, FinetuneSettings

# Public names importers take from `guard` (the facade over guard_evidence/rules/report).
__all__ = [
    "Context",
    "CorpusPassages",
    "GuardReport",
    "MIN_CONTENT_WORDS",
    "PACE_RUNS",
    "PACE_SAMPLES",
    "PASSAGE_PARAGRAPHS",
    "Pace",
    "REQUIRED",
    "RESTATE_CONTAINMENT",
    "Rule",
    "UncountedRun",
    "VariantRun",
    "WARNING",
    "_PRIORITY",
    "_rule_evalset",
    "_rule_knowledge",
    "_rule_plateau",
    "_rule_retrieval",
    "_rule_signal",
    "_rule_variants",
    "check",
    "compare",
    "content_words",
    "corpus_passages",
    "eval_pace",
    "eval_run_command",
    "knowledge_rule",
    "latest_retrieval_eval",
    "lever_key",
    "resolve_evalset_path",
    "restates_corpus",
    "signal_evidence",
    "uncounted_runs",
    "untried_variants",
    "variant_runs",
    "whole_set",
]


def check(project: Any, signal: str | None = None, *, evalset: str | None = None) -> GuardReport:
    """Evaluate every rule against the project's stored evidence."""
    settings: FinetuneSettings = project.config.finetune
    if signal is not None and signal not in SIGNALS:
        raise WorkbenchError(f"unknown signal {signal!r}: use one of {', '.join(SIGNALS)}", field="signal")
    rules: list[Rule] = []
    path = resolve_evalset_path(project, evalset)
    if path is None:
        folder = project.config.evals.dir
        facts = {"folder": str(folder), "min_cases": settings.min_cases}
        rules.append(Rule("eval set", False, kind="eval set.none", facts=facts))
        for name in ("variants", "plateau", "retrieval", "signal"):
            rules.append(Rule(name, False, kind="needs eval set"))
        return _report(rules + _rule_base(project), signal, None, None, None, settings)

    from workbench.core.evals.evalset import load_evalset

    es = load_evalset(path)
    rules.append(_rule_evalset(es, settings))
    runs = variant_runs(project.store, es.name, full_size=len(es.cases), current=es)
    best = max((r for r in runs if r.pass_rate is not None), key=lambda r: (r.pass_rate, -r.run_id), default=None)
    ctx = Context(
        es.name,
        len(es.cases),
        uncounted_runs(project, es, runs),
        eval_pace(project.store, es.name),
        untried_variants(project, runs),
        eval_run_command(project, path),
    )
    rules.append(_rule_variants(runs, settings, ctx))
    rules.append(_rule_plateau(runs, settings, ctx))
    rules.append(_rule_retrieval(best, settings, latest_retrieval_eval(project, es.name), ctx))
    rules.append(_rule_signal(signal, runs, best, settings))
    rules.append(_rule_knowledge(project, es, settings))
    rules += _rule_base(project)
    return _report(rules, signal, es.name, str(path), best.run_id if best else None, settings)


def _rule_base(project: Any) -> list[Rule]:
    """A failing `base model` rule when the configured base leads nowhere (see base_problem);
    nothing when it works, so the usual checklist stays as it is."""
    from workbench.core.finetune.base import base_problem

    problem = base_problem(project)
    if problem is None:
        return []
    ev = {"error": str(problem), "advice": str(problem)}
    return [Rule("base model", False, evidence=ev, kind="base model", facts={"message": problem.message})]


def _report(
    rules: list[Rule],
    signal: str | None,
    name: str | None,
    path: str | None,
    best_id: int | None,
    settings: FinetuneSettings,
) -> GuardReport:
    """The report, with the failing rule the advice leads with (what invalidates the others comes
    first) and the others in the checklist's order, as the Fine-tune tab's lock line lists them."""
    failing = {r.name for r in rules if not r.passed and r.severity == REQUIRED}
    lead = next((n for n in _PRIORITY if n in failing), None)
    also = [r.name for r in rules if r.name in failing and r.name != lead]
    return GuardReport(rules, "", signal, name, path, best_id, lead=lead, also=also)
