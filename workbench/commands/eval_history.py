"""`workbench eval history [SET]`: pass rate and 95% CI per finished run, as a text chart.

Registered under `eval` by commands/evals.py. Plain text (variant names are user text, never
markup), so it reads the same on a terminal, in a pipe and in a CI log; `--json` for scripts.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.project import Project


def register_history(esub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    h = esub.add_parser(
        "history",
        help="pass rate with its 95%% CI per run: see the plateau",
        description="Every finished whole-set run of an eval set, oldest first: variant, pass "
        "rate, 95% CI as a bar; the best run of the newest section is marked. Runs on other "
        "model weights or another eval-set version are in their own section.",
    )
    h.add_argument(
        "evalset", nargs="?", help="eval set name or file (default: evals.default_set, else the set of the newest run)"
    )
    h.add_argument("--limit", type=int, default=30, help="the newest N runs (default 30)")
    h.add_argument("--json", action="store_true", help="one JSON object")
    h.set_defaults(func=history_cmd)


def history_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.evals_cli import print_history

    if args.limit is not None and args.limit < 1:
        raise WorkbenchError("--limit must be at least 1", field="limit")
    print_history(project, args.evalset, limit=args.limit, as_json=args.json)
    return 0
