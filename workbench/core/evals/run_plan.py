"""`eval run`'s decisions, apart from its flags and its text: which cases and variant, which run
to resume and which to compare with, what a stop leaves stored, and what the gate says.

The CLI calls these in order; each step's errors come before the next step's (exit 2 before any
model call for bad input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.evals.diff import RunDiff
from workbench.core.evals.gate import GateResult
from workbench.core.records import EvalRun


def check_run_flags(
    *,
    repeat: int,
    min_pass_rate: float | None,
    fail_on_regression: bool,
    max_regressions: int | None,
    baseline: str | None,
    resume: str | None,
    narrowed: bool,
) -> None:
    """Refuse contradictory or out-of-range flags before anything is loaded."""
    if repeat < 1:
        raise WorkbenchError("--repeat must be at least 1", field="repeat")
    if min_pass_rate is not None:
        from workbench.core.evals.gate import normalize_rate

        normalize_rate(min_pass_rate)  # bad input is exit 2 before any model call
    if (fail_on_regression or max_regressions is not None) and not baseline:
        raise WorkbenchError("--fail-on-regression / --max-regressions need --baseline RUN|best|last", field="baseline")
    if resume and narrowed:
        raise WorkbenchError("--resume continues the run's own cases; drop --tag/--case/--limit", field="--resume")


def unindexed_relevant(project: Any, evalset: Any, variant: Any) -> list[str]:
    """`relevant` labels that name no indexed document (retrieval metrics count them as misses)."""
    from workbench.core.evals.promote import unindexed_labels
    from workbench.core.retrieval.service import project_index

    return unindexed_labels(evalset.cases, project_index(project, variant.retrieval))


@dataclass
class RunRefs:
    resume: int | None
    baseline: int | None
    concurrency: int


def resolve_refs(
    project: Any, evalset: Any, *, resume: str | None, baseline: str | None, concurrency: int | None
) -> RunRefs:
    """The run to continue, the run to compare with, and how many cases run at once."""
    from workbench.core.evals import runstore
    from workbench.core.evals.selection import run_concurrency

    store = project.store
    resume_id = runstore.resolve_run_ref(store, resume) if resume else None
    baseline_id = None
    if baseline:  # best/last: a run that covered the same cases (a resumed run: its own)
        selection = runstore.selection_of(runstore.get_run(store, resume_id)) if resume_id else evalset.selection
        baseline_id = runstore.resolve_run_ref(
            store,
            baseline,
            evalset=evalset.name,
            exclude=resume_id,
            selection=selection,
            evalset_hash=evalset.content_hash,
        )
    return RunRefs(
        resume_id, baseline_id, run_concurrency(store, project.config.evals.concurrency, concurrency, resume_id)
    )


@dataclass
class Stop:
    how: str  # "cancelled" or "stopped by SIGTERM"
    run_id: int | None  # None: stopped before the run's row existed, nothing stored
    done: int = 0  # finished cases kept


def record_stop(store: Any, runner: Any, resume: int | None) -> Stop:
    """After Ctrl-C or SIGTERM (core/interrupts.py): mark the run stopped, count what is kept."""
    from workbench.core.evals import runstore
    from workbench.core.interrupts import stop_status, terminated

    run_id = runner.run_id if runner.run_id is not None else resume
    how = "stopped by SIGTERM" if terminated() else "cancelled"
    if run_id is None:
        return Stop(how, None)
    if runner.run_id is not None:  # SIGTERM: `interrupted`, as a killed run is; a 2nd signal: not `running`
        if runstore.get_run(store, run_id)["status"] in ("running", "cancelled"):
            store.update("eval_runs", run_id, {"status": stop_status("cancelled")})
    return Stop(how, run_id, len(runstore.finished_keys(store, run_id)))


@dataclass
class Verdict:
    info: Any  # runstore.RunInfo of the new run
    diff: RunDiff | None  # against the baseline, when there is one
    gate: GateResult
    gated: bool  # a gate flag was given: its result decides the exit code

    @property
    def exit_code(self) -> int:
        return self.gate.exit_code if self.gated else 0


def judge_run(
    store: Any,
    outcome: Any,
    baseline_id: int | None,
    *,
    fail_on_regression: bool,
    max_regressions: int | None,
    min_pass_rate: float | None,
) -> Verdict:
    """Compare the finished run with its baseline and apply the gate."""
    from workbench.core.evals import runstore
    from workbench.core.evals.diff import diff_runs
    from workbench.core.evals.gate import evaluate_gate

    info = runstore.run_info(runstore.get_run(store, outcome.run_id))
    diff = None
    if baseline_id is not None:
        base_info = runstore.run_info(runstore.get_run(store, baseline_id))
        diff = diff_runs(runstore.load_results(store, baseline_id), outcome.results, a=base_info, b=info)
    gate = evaluate_gate(
        outcome.summary,
        diff,
        fail_on_regression=fail_on_regression,
        max_regressions=max_regressions,
        min_pass_rate=min_pass_rate,
    )
    gated = fail_on_regression or max_regressions is not None or min_pass_rate is not None
    return Verdict(info, diff, gate, gated)


def diff_refs(store: Any, ref_a: str, ref_b: str) -> tuple[RunDiff, list[EvalRun]]:
    """`eval diff A B`: the case-by-case diff of two runs (ids, eN, last/best), and their rows."""
    from workbench.core.evals import runstore
    from workbench.core.evals.diff import diff_runs

    a, b = runstore.resolve_run_ref(store, ref_a), runstore.resolve_run_ref(store, ref_b)
    ia, ib = runstore.run_info(runstore.get_run(store, a)), runstore.run_info(runstore.get_run(store, b))
    diff = diff_runs(runstore.load_results(store, a), runstore.load_results(store, b), a=ia, b=ib)
    return diff, [runstore.get_run(store, a), runstore.get_run(store, b)]
