"""Retrieval commands: `workbench retrieve`, `workbench retrieval eval|diff|status` (and `ingest`,
`retrieval tune` from their own modules). Argument parsing and calls; the text is
`workbench/present/retrieval.py`. Results go to stdout, notes to stderr (`--json | jq` stays clean).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from workbench.commands.ingest import register as register_ingest

if TYPE_CHECKING:
    from workbench.core.project import Project

MODE_CHOICES = ("dense", "fts", "hybrid", "all")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_ingest(sub)
    r = sub.add_parser(
        "retrieve",
        help="search the index; shows each chunk's rank under dense, full-text and hybrid",
        description="Ranked chunks for QUERY with, per chunk, its dense and full-text scores and "
        "ranks and its fused hybrid score and rank. Every retrieval is stored as a trace "
        "(`workbench runs show rID`). When the index was built with another embedding model, a "
        "terminal is asked whether to re-index now; without one it is exit 2 with the advice.",
    )
    r.add_argument("query")
    r.add_argument("--k", type=int, help="how many chunks (default: retrieval.k)")
    r.add_argument(
        "--mode", choices=MODE_CHOICES, help="search method (default: retrieval.mode); all = one list per method"
    )
    r.add_argument(
        "--path", dest="path_glob", metavar="GLOB", help='only documents whose path matches, e.g. "lang_*.md"'
    )
    # One value per flag (repeatable): with nargs="+", `--gold a.md "the query"` ate the query.
    r.add_argument(
        "--gold",
        action="append",
        metavar="DOC",
        default=[],
        help="a relevant document path (or chunk id) to mark and rank (repeatable)",
    )
    r.add_argument("--json", action="store_true", help="one JSON object (with every method's ranks)")
    r.add_argument("--markdown", action="store_true", help="a self-contained report to paste into a chat or PR")
    r.set_defaults(func=run_retrieve)

    g = sub.add_parser("retrieval", help="retrieval metrics against labelled eval sets; index status")
    gsub = g.add_subparsers(dest="retrieval_command", metavar="COMMAND")

    def usage(args: argparse.Namespace, project: Project) -> int:  # `retrieval` with no subcommand
        g.print_help()
        return 2

    g.set_defaults(func=usage)
    e = gsub.add_parser(
        "eval",
        help="hit@k, recall@k, precision@k, MRR@10, nDCG@10 per search mode",
        description="Score retrieval on the `relevant:` labels of an eval set, for every search "
        "mode, and store the result. Cases whose gold document is not in the top k show where it "
        "ranked and what outranked it. Deltas are against the previous stored eval of the set, or "
        "the eval given with --against; a warning says when the eval set changed in between.",
    )
    e.add_argument("evalset", nargs="?", help="eval file or name under evals/ (default: evals.default_set)")
    e.add_argument("--k", type=int, help="cutoff for @k metrics (default: retrieval.k)")
    e.add_argument("--mode", choices=MODE_CHOICES, default="all", help="only this mode (default: all)")
    e.add_argument(
        "--cases",
        choices=("misses", "all", "none"),
        default="misses",
        help="per-case detail to print (default: misses)",
    )
    e.add_argument("--json", action="store_true", help="one JSON object with per-case detail")
    e.add_argument("--markdown", action="store_true", help="a Markdown report instead of tables")
    e.add_argument(
        "--against", metavar="reN", help="compare with this stored eval (default: the previous one of the set)"
    )
    e.set_defaults(func=run_eval)
    d = gsub.add_parser(
        "diff",
        help="compare two stored retrieval evals: metric deltas, what changed, cases that moved",
        description="Metrics of eval B with their deltas against eval A (B - A), the settings and "
        "index changes between them, and the cases whose gold rank moved. Warns when the eval set "
        "changed between them (cases added, removed or re-labelled) or k differs.",
    )
    d.add_argument("a", metavar="reA", help="the baseline eval (as `workbench runs` lists it, e.g. re3)")
    d.add_argument("b", metavar="reB", help="the eval to compare with it")
    d.add_argument("--json", action="store_true", help="one JSON object")
    d.add_argument("--markdown", action="store_true", help="a Markdown report of B with the deltas")
    d.set_defaults(func=run_diff, read_only=True)
    s = gsub.add_parser("status", help="what the index holds and how it was built")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_status)
    from workbench.commands.retrieval_tune import register as register_tune

    register_tune(gsub)


def run_retrieve(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.retrieval_cli import retrieve

    return retrieve(
        project,
        args.query,
        k=args.k,
        mode=args.mode,
        path_glob=args.path_glob,
        gold=args.gold,
        as_json=args.json,
        markdown=args.markdown,
    )


def run_eval(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.retrieval_cli import ALL_MODES, evaluate

    modes = ALL_MODES if args.mode == "all" else (args.mode,)
    evaluate(
        project,
        args.evalset,
        k=args.k,
        modes=modes,
        against=args.against,
        cases=args.cases,
        as_json=args.json,
        markdown=args.markdown,
    )
    return 0


def run_diff(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.retrieval_cli import diff

    diff(project, args.a, args.b, as_json=args.json, markdown=args.markdown)
    return 0


def run_status(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.retrieval_cli import status

    return status(project, as_json=args.json)
