"""`workbench runs`: every stored run, newest first; `workbench runs show ID` prints one in full.

IDs: a bare number is a generation; `r12` a retrieval trace, `re12` a retrieval eval, `e12` an
eval run, `f12` a fine-tune job (the same prefixes the list prints). An eval run is shown as
`workbench eval show` shows it, a fine-tune job as `workbench finetune show`; `--json` prints
the stored row for machines. Variants show as the TUI
names them: "base" or their workbench.yaml name, then the start of their content hash.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console

from workbench.core.errors import WorkbenchError
from workbench.core.runlog import RUN_KINDS, count_runs, list_runs, load_run
from workbench.core.safetext import terminal_safe
from workbench.present.runs import listing_row, print_run, runs_table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("runs", help="list stored runs (generations, retrievals, retrieval evals, evals, fine-tunes)")
    p.add_argument("--limit", type=int, default=20, help="how many rows per page (default 20)")
    p.add_argument("--page", type=int, default=1, help="which page, 1 the newest (default 1)")
    p.add_argument("--kind", choices=RUN_KINDS, help="only this kind of run")
    p.add_argument("--status", help="only runs with this status (e.g. interrupted)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=run_list, read_only=True)  # never creates runs.db (cli.py)
    runs_sub = p.add_subparsers(dest="runs_command", metavar="show")
    show = runs_sub.add_parser("show", help="print one run in full")
    show.add_argument("id", help="generation id, or r<ID> / re<ID> / e<ID> / f<ID>")
    show.add_argument("--json", action="store_true")
    show.add_argument("--markdown", action="store_true", help="a report to paste into a PR or chat")
    show.set_defaults(func=run_show, read_only=True)


def run_list(args: argparse.Namespace, project: Any) -> int:
    if args.limit < 1 or args.page < 1:
        raise WorkbenchError("--limit and --page must be at least 1", field="--limit" if args.limit < 1 else "--page")
    offset = (args.page - 1) * args.limit
    rows = [
        listing_row(r)
        for r in list_runs(project.store, kind=args.kind, status=args.status, limit=args.limit, offset=offset)
    ]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    console = Console(highlight=False)
    if not rows:
        console.print('No runs stored yet. Try: workbench ask "your question"')
        return 0
    console.print(runs_table(rows, console.width))
    if args.status is None:  # a status filter is applied per page, so a total would mislead
        more = count_runs(project.store, kind=args.kind) - offset - len(rows)
        if more > 0:
            console.print(f"{more:,} more: --page {args.page + 1} (--limit N rows per page)", markup=False)
    return 0


def run_show(args: argparse.Namespace, project: Any) -> int:
    kind, row = load_run(project.store, args.id)
    if row is None:
        raise WorkbenchError(f"no run with id {args.id!r} (see `workbench runs`)")
    if args.markdown:
        from workbench.present.runs import run_markdown

        # Markdown is meant to be pasted, but it is printed to a terminal first: model output
        # in it must not reach the terminal as escape sequences.
        print(terminal_safe(run_markdown(project.store, kind, row)))
        return 0
    if args.json:
        print(json.dumps(row, ensure_ascii=False, indent=2, default=str))
        return 0
    print_run(project.store, kind, row)
    return 0
