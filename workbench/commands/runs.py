"""`workbench runs`: every stored run, newest first; `workbench runs show ID` prints one in full.

IDs: a bare number is a generation; `r12` a retrieval trace, `re12` a retrieval eval, `e12` an
eval run, `f12` a fine-tune job (the same prefixes the list prints). An eval run is shown as
`workbench eval show` shows it, a fine-tune job as `workbench finetune show`; `--json` prints
the stored row for machines. Variants show as the TUI
names them: "base" or their workbench.yaml name, then the start of their content hash.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from workbench.core.runlog import RUN_KINDS
from workbench.present.runs import print_listing, show_run

if TYPE_CHECKING:
    from workbench.core.project import Project


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


def run_list(args: argparse.Namespace, project: Project) -> int:
    print_listing(
        project.store, kind=args.kind, status=args.status, limit=args.limit, page=args.page, as_json=args.json
    )
    return 0


def run_show(args: argparse.Namespace, project: Project) -> int:
    show_run(project.store, args.id, as_json=args.json, markdown=args.markdown)
    return 0
