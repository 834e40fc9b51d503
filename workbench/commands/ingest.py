"""`workbench ingest`: index documents for retrieval (incremental; Ctrl-C keeps completed files).

Progress goes to stderr, the report to stdout (to stderr with --json, so stdout stays JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from workbench.present import retrieval as show
from workbench.present.retrieval_ingest import ingest_with_progress, offer_reindex


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="index documents for retrieval (incremental: unchanged files cost nothing)",
        description="Read Markdown, reStructuredText, text and HTML files, chunk them by heading, "
        "embed and index them. With no PATH: the `retrieval.corpus` paths of workbench.yaml, and "
        "the index mirrors them (documents whose files are gone are removed). With PATHs: those "
        "files (or the files in those folders) are added or updated and every other indexed "
        "document stays; --prune also removes indexed documents under those folders whose files "
        "are gone. A file inside a corpus folder keeps its corpus document path "
        "(docs/guide/a.md is guide/a.md). Ctrl-C stops after the current batch, keeping "
        "completed files.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders to add or update (default: all of retrieval.corpus, mirrored)",
    )
    p.add_argument(
        "--prune", action="store_true", help="with PATHs: also remove indexed documents under them whose files are gone"
    )
    p.add_argument(
        "--reindex",
        action="store_true",
        help="rebuild the whole index from the PATHs (default: retrieval.corpus), e.g. after "
        "changing the embedding model; it is built beside the old index, which serves until "
        "the new one is complete",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_ingest)


def run_ingest(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.interrupts import interrupt_exit_code
    from workbench.core.retrieval.index import IndexMismatch

    settings = project.config.retrieval
    out = Console(stderr=True, highlight=False) if args.json else Console(highlight=False)
    try:
        try:
            report = ingest_with_progress(
                project, settings, args.paths or None, reindex=args.reindex, prune=args.prune, quiet=args.json
            )
        except IndexMismatch as exc:
            if args.reindex or not offer_reindex(exc, settings.embedding_model):
                raise
            report = ingest_with_progress(project, settings, None, reindex=True, quiet=args.json)
            if args.paths and not report.cancelled:  # then what was asked: these files, added/updated
                show.print_ingest_report(out, report)
                report = ingest_with_progress(project, settings, args.paths, prune=args.prune, quiet=args.json)
    except KeyboardInterrupt:  # a second Ctrl-C, or the batch outlived STOP_GRACE_S: stopped mid-batch
        print(
            "stopped: the files committed before the signal are kept (each file is all or nothing); "
            "run `workbench ingest` again to finish",
            file=sys.stderr,
        )
        return interrupt_exit_code()
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        show.print_ingest_report(out, report)
    if report.cancelled:  # Ctrl-C 130, SIGTERM 143 (routed to the ingest's handler by core/interrupts.py)
        return interrupt_exit_code()
    return 0
