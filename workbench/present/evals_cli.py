"""The `workbench eval` commands' work between parsing and exit code: run a set (header, progress,
stop, reports, gate), list runs, draw the history. commands/evals.py parses the flags into
`RunOptions`; the decisions are core's (core/evals/run_plan.py), the words eval_run.py's and evals.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.core.project import Project


@dataclass
class RunOptions:
    """`eval run`'s flags, by their argparse names."""

    evalset: str | None = None
    variant: str | None = None
    prompt: str | None = None
    model: str | None = None
    concurrency: int | None = None
    repeat: int = 1
    tag: list[str] = field(default_factory=list)
    case: list[str] = field(default_factory=list)
    limit: int | None = None
    no_cache: bool = False
    resume: str | None = None
    baseline: str | None = None
    fail_on_regression: bool = False
    max_regressions: int | None = None
    min_pass_rate: float | None = None
    junit: str | None = None
    markdown: str | None = None
    json: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def run_evalset(project: Project, o: RunOptions) -> int:
    """Run (or resume) an eval set with a progress bar on stderr, then print the run, write the
    reports and return the gate's exit code; Ctrl-C/SIGTERM keeps the finished cases and prints
    the command that resumes."""
    from workbench.core.evals import run_plan as plan
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.lookup import resolve_evalset_path
    from workbench.core.evals.runner import EvalRunner, incomplete_index
    from workbench.core.evals.selection import select_cases
    from workbench.core.interrupts import interrupt_exit_code
    from workbench.core.llm.registry import chain_specs
    from workbench.core.variants import resolve_variant
    from workbench.present import eval_run as show
    from workbench.present.eval_export import write_reports
    from workbench.present.evals import run_header
    from workbench.present.progress import CaseProgress
    from workbench.present.terminal import console

    plan.check_run_flags(
        repeat=o.repeat,
        min_pass_rate=o.min_pass_rate,
        fail_on_regression=o.fail_on_regression,
        max_regressions=o.max_regressions,
        baseline=o.baseline,
        resume=o.resume,
        narrowed=bool(o.tag or o.case or o.limit is not None),
    )
    evalset = select_cases(
        load_evalset(resolve_evalset_path(project, o.evalset)), tags=o.tag, case_ids=o.case, limit=o.limit
    )
    variant = resolve_variant(project, o.variant, prompt=o.prompt, model=o.model)
    if variant.prompt.grounded and not o.json:
        show.warn_unindexed(plan.unindexed_relevant(project, evalset, variant))
        show.warn_incomplete_index(incomplete_index(project))
    refs = plan.resolve_refs(project, evalset, resume=o.resume, baseline=o.baseline, concurrency=o.concurrency)
    err = console(sys.stderr)
    on_progress = CaseProgress(err, quiet=o.json)
    runner = EvalRunner(
        project,
        evalset,
        variant,
        concurrency=refs.concurrency,
        repeat=o.repeat,
        use_cache=not o.no_cache,
        on_progress=on_progress,
    )
    if refs.resume is not None:
        runner.check_resume(refs.resume)  # refuse a finished/changed run before the header; narrows a subset
        evalset = runner.evalset
    runner.check_inputs()  # a case the prompt cannot be rendered for: exit 2 before the header
    if not o.json:
        specs = chain_specs(project.config, variant.model)
        err.print(
            run_header(
                evalset.name, len(evalset.cases), runner.repeat, variant.label, specs, refs.concurrency, refs.resume
            )
        )
    try:
        with on_progress:
            outcome = asyncio.run(runner.run(resume=refs.resume))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM routed the same way (core/interrupts.py)
        stop = plan.record_stop(project.store, runner, refs.resume)
        choice = {"variant": o.variant, "prompt": o.prompt, "model": o.model}
        show.print_stop(stop, show.resume_command(project.root, o.evalset, choice, stop.run_id))
        return interrupt_exit_code()
    verdict = plan.judge_run(
        project.store,
        outcome,
        refs.baseline,
        fail_on_regression=o.fail_on_regression,
        max_regressions=o.max_regressions,
        min_pass_rate=o.min_pass_rate,
    )
    write_reports(verdict, evalset, outcome, junit=o.junit, markdown=o.markdown)
    show.print_run(outcome, verdict, evalset, as_json=o.json)
    return verdict.exit_code


def print_runs(project: Project, *, limit: int, evalset: str | None, as_json: bool) -> None:
    """`eval runs`: a table (or JSON lines) of the newest runs, of one set when named."""
    from workbench.core.evals import runstore
    from workbench.present.evals import no_runs_line, runs_table
    from workbench.present.terminal import console

    rows = runstore.list_runs(project.store, limit=limit, evalset=evalset)
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    out = console()
    if not rows:
        out.print(no_runs_line(evalset, runstore.evalset_names(project.store) if evalset else []))
        return
    out.print(runs_table(rows, out.width))


def print_history(project: Project, evalset: str | None, *, limit: int, as_json: bool) -> None:
    """`eval history`: pass rate and CI per finished run of the set, as text or one JSON object."""
    from rich.console import Console

    from workbench.core.evals.history import load_history
    from workbench.core.evals.lookup import history_set_name
    from workbench.present.evals import history_lines, text

    history = load_history(project.store, history_set_name(project, evalset), limit=limit)
    if as_json:
        print(json.dumps(history.to_dict()))
        return
    out = Console(highlight=False, soft_wrap=True)
    for line in history_lines(history):
        out.print(text(line))
