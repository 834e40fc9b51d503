"""`workbench eval history [SET]`: pass rate and 95% CI per finished run, as a text chart.

Registered under `eval` by commands/evals.py. Plain text (variant names are user text, never
markup), so it reads the same on a terminal, in a pipe and in a CI log; `--json` for scripts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from workbench.core.errors import WorkbenchError


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


def history_set_name(project: Any, arg: str | None) -> str:
    """The set's name as runs store it: a stored name as is, else the file's `name:`; with no
    argument the default set, else the set of the newest run."""
    from workbench.core.evals import runstore

    store = project.store
    names = runstore.evalset_names(store)
    if arg and arg in names:
        return arg
    if arg or project.config.evals.default_set:
        from workbench.core.evals.evalset import load_evalset
        from workbench.core.evals.lookup import resolve_evalset_path

        try:
            return load_evalset(resolve_evalset_path(project, arg)).name
        except WorkbenchError:
            if arg:
                raise WorkbenchError(
                    f"no eval set {arg!r}: sets with runs are {', '.join(names) or 'none yet'}"
                ) from None
    newest = runstore.list_runs(store, limit=1)
    if not newest:
        raise WorkbenchError("no eval runs yet: `workbench eval run` first")
    name: str = newest[0]["evalset_name"]
    return name


def history_cmd(args: argparse.Namespace, project: Any) -> int:
    from rich.console import Console

    from workbench.core.evals.history import load_history
    from workbench.present.evals import history_lines, text

    if args.limit is not None and args.limit < 1:
        raise WorkbenchError("--limit must be at least 1", field="limit")
    history = load_history(project.store, history_set_name(project, args.evalset), limit=args.limit)
    if args.json:
        print(json.dumps(history.to_dict()))
        return 0
    out = Console(highlight=False, soft_wrap=True)
    for line in history_lines(history):
        out.print(text(line))
    return 0
