"""`retrieval tune` as a person sees it at a terminal: a progress line per configuration on
stderr, Ctrl-C that stops after the current case (finished configurations kept; a second Ctrl-C
aborts now), and the applied winner's workbench.yaml diff and score.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from workbench.present.terminal import table_console

if TYPE_CHECKING:
    from workbench.core.project import Project


def run_with_progress(plan: Any, project: Project, k: int | None, err: Console) -> Any:
    """Run the tune PLAN, printing progress to ERR; return its result (cancelled on Ctrl-C)."""
    cancel = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err.print(Text("stopping; finished configurations are kept (Ctrl-C again to abort now)", style="yellow"))

    last = [""]

    def progress(what: str, done: int, total_: int) -> None:
        if err.is_terminal and (what != last[0] or done == total_):
            last[0] = what
            err.print(Text(f"  {what} ({done}/{total_} cases)", style="dim"))

    previous = (
        signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        return plan.run(project, k=k, progress=progress, cancel=cancel)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        plan.cache.close()


def print_yaml_diff(out: Console, diff: list[str]) -> None:
    for line in diff:
        out.print(Text(line, style="green" if line.startswith("+") else "red" if line.startswith("-") else ""))


def applied_line(eval_id: int, mode: str, metrics: dict[str, float], index: str) -> Text:
    return Text(
        f"applied; {index}; retrieval eval re{eval_id}: {mode} nDCG@10 {metrics['ndcg@10']:.3f}, "
        f"MRR@10 {metrics['mrr@10']:.3f}"
    )


def tune(project: Project, evalset: str | None, *, k: int | None, apply: bool, as_json: bool) -> int:
    """`retrieval tune`: the re-index cost first, the sweep with progress, the table (or JSON),
    then with `apply` the winner written, re-indexed and scored."""
    from workbench.core.retrieval.tune_project import plan_tune, record_tune_run
    from workbench.present.retrieval import print_tune, tune_cost_line

    plan = plan_tune(project, evalset)
    err = Console(stderr=True, highlight=False)
    err.print(tune_cost_line(len(plan.grid), plan.n_chunkings, plan.n_cases, plan.todo, plan.total, plan.seconds))
    res = run_with_progress(plan, project, k, err)
    tune_id = record_tune_run(project, plan, res)
    if as_json:
        print(json.dumps({"id": f"rt{tune_id}", **res.to_dict()}, indent=2))
    elif res.rows:
        print_tune(table_console(), res)
    if res.cancelled:  # Ctrl-C: what finished is kept, and the re-run reuses its embeddings
        err.print(
            Text(
                f"stopped: {len(res.rows)} of {len(plan.grid)} configurations scored (stored as rt{tune_id}); "
                "run `workbench retrieval tune` again to finish: what was embedded is cached, so it "
                "picks up where this stopped" + ("; nothing applied" if apply else ""),
                style="yellow",
            )
        )
        return 130
    if not as_json:
        err.print(Text(f"stored as rt{tune_id} (`workbench runs show rt{tune_id}`)", style="dim"))
    winner = res.winner
    if not apply:
        if winner and winner.config != res.current:
            err.print(Text("apply the winner with `workbench retrieval tune --apply`", style="dim"))
        return 0
    if winner is None or winner.config == res.current:
        err.print(Text("no configuration is really better than the current settings: nothing to apply"))
        return 0
    apply_winner(project, winner.config.changes(project.config.retrieval), plan.evalset, plan.evalset_path, tune_id)
    return 0


def apply_winner(project: Project, changes: dict[str, Any], evalset: Any, evalset_path: Path, tune_id: int) -> None:
    """Write `changes` under retrieval:, show the diff, bring the index in line (a plain
    ingest: it re-chunks only when the chunking changed, embedding through the tune's cache),
    store a retrieval eval."""
    from workbench.core.retrieval.traces import mark_tune_applied
    from workbench.core.retrieval.tune_project import eval_applied, index_line, tune_embedder, write_retrieval_changes
    from workbench.present.retrieval_ingest import ingest_with_progress

    applied = write_retrieval_changes(project, changes)
    out = Console(highlight=False)
    print_yaml_diff(out, applied.diff)
    project.config = applied.config
    settings = applied.config.retrieval
    embedder = tune_embedder(project)
    try:
        report = ingest_with_progress(project, settings, None, embedder=embedder)
    finally:
        embedder.close()
    eval_id, ev = eval_applied(project, evalset, evalset_path)
    mark_tune_applied(project.store, tune_id, eval_id)
    out.print(applied_line(eval_id, settings.mode, ev.metrics[settings.mode], index_line(report, embedder.misses)))
