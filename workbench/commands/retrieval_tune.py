"""`workbench retrieval tune [EVALSET] [--apply]`: find the best retrieval settings, with evidence.

Prints the re-index cost before anything is embedded, progress on stderr, then one row per
configuration: nDCG@10, recall@k, MRR@10 and the paired bootstrap CI of its nDCG@10 delta against
the current settings ("*" = the interval excludes 0). Ctrl-C stops after the current case and
keeps the configurations already finished. `--apply` writes the winner into workbench.yaml
(line edits that keep comments; the diff is shown), re-indexes, and stores a `retrieval eval`
of the applied settings, so the score a user is shown is one `retrieval eval` reproduces.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.tune_project import eval_applied, plan_tune, write_retrieval_changes
from workbench.present.retrieval import print_tune, tune_cost_line
from workbench.present.retrieval_tune_run import applied_line, print_yaml_diff, run_with_progress


def register(gsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = gsub.add_parser(
        "tune",
        help="sweep chunking, mode, fusion weights and the document vector against labelled cases",
        description="Score a small grid of retrieval settings on an eval set's `relevant:` labels "
        "and show which differences from the current settings are real (paired bootstrap CI). "
        "Indexes for other chunkings are built under the data folder's tune/ with cached embeddings.",
    )
    t.add_argument("evalset", nargs="?", help="eval file or name under evals/ (default: evals.default_set)")
    t.add_argument("--k", type=int, help="cutoff for @k metrics (default: retrieval.k)")
    t.add_argument("--apply", action="store_true", help="write the winner to workbench.yaml and re-index")
    t.add_argument("--json", action="store_true", help="one JSON object")
    t.set_defaults(func=run_tune_command)


def run_tune_command(args: argparse.Namespace, project: Any) -> int:
    plan = plan_tune(project, args.evalset)
    err = Console(stderr=True, highlight=False)
    err.print(tune_cost_line(len(plan.grid), plan.n_chunkings, plan.n_cases, plan.todo, plan.total, plan.seconds))
    res = run_with_progress(plan, project, args.k, err)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print_tune(Console(highlight=False), res)
    winner = res.winner
    if not args.apply:
        if winner and winner.config != res.current:
            err.print(Text("apply the winner with `workbench retrieval tune --apply`", style="dim"))
        return 0
    if res.cancelled:
        raise WorkbenchError("tune was stopped before every configuration was scored: nothing applied")
    if winner is None or winner.config == res.current:
        err.print(Text("no configuration is really better than the current settings: nothing to apply"))
        return 0
    return apply_winner(project, winner.config.changes(project.config.retrieval), plan.evalset, plan.evalset_path, err)


def apply_winner(project: Any, changes: dict[str, Any], evalset: Any, evalset_path: Path, err: Console) -> int:
    """Write `changes` under retrieval:, show the diff, re-index, store a retrieval eval."""
    from workbench.present.retrieval_ingest import ingest_with_progress

    applied = write_retrieval_changes(project, changes)
    out = Console(highlight=False)
    print_yaml_diff(out, applied.diff)
    project.config = applied.config
    settings = applied.config.retrieval
    ingest_with_progress(project, settings, None, reindex=True)
    eval_id, ev = eval_applied(project, evalset, evalset_path)
    out.print(applied_line(eval_id, settings.mode, ev.metrics[settings.mode]))
    return 0
