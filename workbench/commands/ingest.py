"""`workbench ingest`: index documents for retrieval (incremental; Ctrl-C keeps completed files).

Progress goes to stderr, the report to stdout (to stderr with --json, so stdout stays JSON).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from workbench.present.retrieval_ingest import ingest_command

if TYPE_CHECKING:
    from workbench.core.project import Project


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def run_ingest(args: argparse.Namespace, project: Project) -> int:
    return ingest_command(project, args.paths, reindex=args.reindex, prune=args.prune, as_json=args.json)
