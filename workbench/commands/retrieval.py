"""Retrieval commands: `workbench retrieve`, `workbench retrieval eval|diff|status` (and `ingest`,
`retrieval tune` from their own modules). Argument parsing and calls; the text is
`workbench/present/retrieval.py`. Results go to stdout, notes to stderr (`--json | jq` stays clean).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from workbench.commands.ingest import register as register_ingest
from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe
from workbench.present import retrieval as show
from workbench.present.retrieval_ingest import with_reindex_offer

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

    def usage(args: argparse.Namespace, project: Any) -> int:  # `retrieval` with no subcommand
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


def run_retrieve(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.retrieval import operations as ops
    from workbench.core.retrieval.search import gold_ranks
    from workbench.core.retrieval.traces import recorded_trace, trace_markdown

    settings = project.config.retrieval
    if args.k is not None and args.k < 1:
        raise WorkbenchError("--k must be at least 1", field="--k")
    if not args.query.strip():
        raise WorkbenchError("the query is empty: give the question or keywords to search for", field="QUERY")
    mode = None if args.mode in (None, "all") else args.mode

    def search() -> tuple[Any, int | None]:
        return ops.checked_retrieve(
            project, settings, args.query, mode=mode, k=args.k, path_glob=args.path_glob, gold=args.gold
        )

    found = with_reindex_offer(project, settings, search)
    if found is None:  # the re-index was stopped: 130 Ctrl-C, 143 SIGTERM (core/interrupts.py)
        from workbench.core.interrupts import interrupt_exit_code

        return interrupt_exit_code()
    result, trace_id = found
    for warning in ops.index_warnings(project, settings):
        print(f"warning: {warning}", file=sys.stderr)
    ranks = gold_ranks(result, args.gold) if args.gold else None
    if args.json:
        data = result.to_dict()
        data["trace_id"] = trace_id
        if args.gold:
            data["gold"], data["gold_ranks"] = args.gold, ranks
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    if args.markdown:  # the stored trace's report: the same as `runs show rID --markdown`
        assert trace_id is not None  # retrieve() records the trace unless told not to
        print(terminal_safe(trace_markdown(recorded_trace(project.store, trace_id))))
        return 0
    modes = ("dense", "fts", "hybrid") if args.mode == "all" else (result.mode,)
    show.print_results(Console(highlight=False), result, args.query, modes, args.gold, ranks)
    Console(stderr=True, highlight=False).print(show.trace_line(trace_id, result))
    return 0


def run_eval(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.retrieval.operations import eval_and_store
    from workbench.present.retrieval_markdown import eval_markdown

    modes = ("dense", "fts", "hybrid") if args.mode == "all" else (args.mode,)
    stored = eval_and_store(project, args.evalset, k=args.k, modes=modes, against=args.against)
    ev, eval_id, comparison = stored.ev, stored.eval_id, stored.comparison
    delta, before_id = stored.deltas, stored.before_id
    if args.json:
        d = ev.to_dict()
        d["eval_id"], d["previous_eval_id"], d["deltas"] = eval_id, before_id, delta
        d["comparison"] = comparison.to_dict() if comparison else None
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return 0
    if args.markdown:
        print(terminal_safe(eval_markdown(ev, delta, eval_id, before_id, comparison.notes() if comparison else ())))
        return 0
    out = Console(highlight=False)
    out.print(show.eval_header(ev))
    show.print_eval(out, ev, delta, cases=args.cases)
    if comparison:
        show.print_comparison_notes(out, comparison)
    Console(stderr=True, highlight=False).print(show.stored_line(eval_id, before_id))
    return 0


def run_diff(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.retrieval.compare import compare_evals, load_eval
    from workbench.core.retrieval.traces import eval_from_row
    from workbench.present.retrieval_markdown import eval_markdown

    a, b = load_eval(project.store, args.a), load_eval(project.store, args.b)
    comparison = compare_evals(a, b)
    if args.json:
        print(json.dumps(comparison.to_dict(), ensure_ascii=False, indent=2))
        return 0
    ev = eval_from_row(b)
    if args.markdown:
        print(terminal_safe(eval_markdown(ev, comparison.deltas, b["id"], a["id"], comparison.notes())))
        return 0
    show.print_diff(Console(highlight=False), a["id"], b["id"], ev, comparison)
    return 0


def run_status(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.retrieval.operations import index_status

    settings = project.config.retrieval
    meta, problem = index_status(project)
    if args.json:
        print(
            json.dumps(
                {"ok": problem is None, "problem": problem, "meta": meta, "configured": settings.to_dict()},
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0 if problem is None else 2
    out = Console(highlight=False)
    if problem:
        out.print(Text(terminal_safe(problem), style="red"))
        return 2
    out.print(show.status_line(meta), soft_wrap=True)  # one line, as scripts read it; the terminal wraps it
    return 0
