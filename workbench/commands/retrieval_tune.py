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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.core.project import Project


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


def run_tune_command(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.retrieval_tune_run import tune

    return tune(project, args.evalset, k=args.k, apply=args.apply, as_json=args.json)
