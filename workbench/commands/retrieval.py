"""Retrieval commands: `workbench ingest`, `workbench retrieve`, `workbench retrieval eval|status`.

Document text is untrusted (it may hold ANSI escapes or text that looks like Rich markup), so it
is only ever printed through `rich.text.Text(terminal_safe(...))`, with highlighting applied as
styled spans, never as markup strings. Progress goes to stderr, results to stdout, so
`workbench retrieve ... --json | jq` stays clean.
"""

from __future__ import annotations

import _thread
import argparse
import json
import signal
import sys
import threading
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe

MODE_CHOICES = ("dense", "fts", "hybrid", "all")
MODE_NAMES = {"dense": "dense", "fts": "full-text", "hybrid": "hybrid"}


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
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders to add or update (default: all of retrieval.corpus, mirrored)")
    p.add_argument("--prune", action="store_true",
                   help="with PATHs: also remove indexed documents under them whose files are gone")
    p.add_argument("--reindex", action="store_true",
                   help="rebuild the whole index from the PATHs (default: retrieval.corpus), e.g. after "
                   "changing the embedding model; it is built beside the old index, which serves until "
                   "the new one is complete")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_ingest)

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
    r.add_argument("--mode", choices=MODE_CHOICES, help="search method (default: retrieval.mode); all = one list per method")
    r.add_argument("--path", dest="path_glob", metavar="GLOB", help='only documents whose path matches, e.g. "lang_*.md"')
    # One value per flag (repeatable): with nargs="+", `--gold a.md "the query"` ate the query.
    r.add_argument("--gold", action="append", metavar="DOC", default=[],
                   help="a relevant document path (or chunk id) to mark and rank (repeatable)")
    r.add_argument("--json", action="store_true", help="one JSON object (with every method's ranks)")
    r.add_argument("--markdown", action="store_true", help="a self-contained report to paste into a chat or PR")
    r.set_defaults(func=run_retrieve)

    g = sub.add_parser("retrieval", help="retrieval metrics against labelled eval sets; index status")
    gsub = g.add_subparsers(dest="retrieval_command", metavar="COMMAND")
    g.set_defaults(func=lambda args, project: (g.print_help(), 2)[1])
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
    e.add_argument("--cases", choices=("misses", "all", "none"), default="misses",
                   help="per-case detail to print (default: misses)")
    e.add_argument("--json", action="store_true", help="one JSON object with per-case detail")
    e.add_argument("--markdown", action="store_true", help="a Markdown report instead of tables")
    e.add_argument("--against", metavar="reN", help="compare with this stored eval (default: the previous one of the set)")
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


# --------------------------------------------------------------------------- ingest


def run_ingest(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.retrieval.index import IndexMismatch

    from workbench.core.interrupts import interrupt_exit_code

    settings = project.config.retrieval
    out = Console(stderr=True, highlight=False) if args.json else Console(highlight=False)
    try:
        try:
            report = ingest_with_progress(project, settings, args.paths or None, reindex=args.reindex,
                                          prune=args.prune, quiet=args.json)
        except IndexMismatch as exc:
            if args.reindex or not offer_reindex(exc, settings.embedding_model):
                raise
            report = ingest_with_progress(project, settings, None, reindex=True, quiet=args.json)
            if args.paths and not report.cancelled:  # then what was asked: these files, added/updated
                print_ingest_report(out, report)
                report = ingest_with_progress(project, settings, args.paths, prune=args.prune, quiet=args.json)
    except KeyboardInterrupt:  # a second Ctrl-C, or the batch outlived STOP_GRACE_S: stopped mid-batch
        print("stopped: the files committed before the signal are kept (each file is all or nothing); "
              "run `workbench ingest` again to finish", file=sys.stderr)
        return interrupt_exit_code()
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_ingest_report(out, report)
    if report.cancelled:  # Ctrl-C 130, SIGTERM 143 (routed to on_sigint below by core/interrupts.py)
        return interrupt_exit_code()
    return 0


# After the first Ctrl-C (or SIGTERM), how long the current batch may take to finish before the
# ingest is stopped where it is: loading the embedding model alone took 5-12 s on a busy box.
STOP_GRACE_S = 1.5


def ingest_with_progress(project: Any, settings: Any, paths: list[str] | None, *, reindex: bool = False,
                         prune: bool = False, quiet: bool = False) -> Any:
    """`ingest_project` with a progress bar on stderr (when it is a terminal and not `quiet`)
    and Ctrl-C handling: the first stops after the current batch, keeping completed files."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from workbench.core.retrieval.service import ingest_project

    err = Console(stderr=True, highlight=False)
    cancel = threading.Event()

    deadline: list[threading.Timer] = []

    def on_sigint(signum, frame):  # first Ctrl-C: finish the batch and keep what is done
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err.print(Text("stopping after this batch (Ctrl-C again to abort now)...", style="yellow"))
        # ... unless that takes long (a model load, a big batch): then as a second Ctrl-C would.
        # Safe at any point: a file's chunks are one LanceDB commit (core/retrieval/ingest.py).
        deadline.append(threading.Timer(STOP_GRACE_S, _thread.interrupt_main))
        deadline[0].daemon = True
        deadline[0].start()

    previous = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[files]}"),
        TextColumn("{task.fields[chunks]}"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[eta]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )
    task = progress.add_task("scanning", total=None, files="", chunks="", rate="", eta="")

    def on_progress(p) -> None:
        if p.phase == "embedding":
            progress.update(
                task, description="embedding", total=max(p.chunks_total, 1), completed=p.chunks_done,
                files=f"{p.files_done}/{p.files_total} files", chunks=f"{p.chunks_done}/{p.chunks_total} chunks",
                rate=f"{p.chunks_per_s:.1f} chunks/s", eta=f"ETA {_dur(p.eta_s)}" if p.eta_s is not None else "",
            )
        else:
            progress.update(task, description=p.phase, files=f"{p.files_done}/{p.files_total} files")

    try:
        with progress:
            return ingest_project(project, settings, paths, reindex=reindex, prune=prune,
                                  progress=on_progress, cancel=cancel)
    finally:
        for timer in deadline:
            timer.cancel()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def print_ingest_report(out: Console, report: Any) -> None:
    """The skipped files, then one summary line and the index's size."""
    for s in report.skipped:
        out.print(Text.assemble(("skipped ", "yellow"), terminal_safe(s.path), ": ", terminal_safe(s.reason)))
    if report.rechunked:
        out.print(Text(report.rechunked, style="yellow"))
    if report.cancelled and report.reindexed:  # the rebuild was beside the old index, dropped
        out.print(Text("Cancelled: the rebuild was dropped and the old index is unchanged. Run "
                       "`workbench ingest --reindex` again to rebuild it.", style="yellow"))
    elif report.cancelled:
        out.print(Text(
            f"Cancelled: kept {len(report.added) + len(report.updated)} completed files; "
            f"{len(report.pending)} not done. Run `workbench ingest` again to finish.", style="yellow"))
    elif report.nothing_changed:
        out.print(f"Nothing changed: {len(report.unchanged)} documents unchanged ({report.seconds:.2f} s).")
    else:
        rate = report.chunks_embedded / report.seconds if report.seconds > 0 else 0.0
        out.print(
            f"{'Reindexed' if report.reindexed else 'Ingested'}: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.removed)} removed, {len(report.unchanged)} unchanged, {len(report.skipped)} skipped; "
            f"{report.chunks_embedded} chunks embedded in {report.seconds:.1f} s ({rate:.1f} chunks/s)."
        )
    out.print(f"Index: {report.docs_total} documents, {report.chunks_total} chunks "
              f"({report.embedding_model}, version {report.index_version}).")


def interactive() -> bool:
    """Whether a person can answer a question: stdin and stderr are both a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def ask_on_stderr(question: str) -> str:
    """input(), but the question goes to stderr: stdout may be piped (`retrieve --json | jq`)."""
    print(question, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def offer_reindex(problem: Exception, model: str, *, ask: Any = None, is_interactive: bool | None = None) -> bool:
    """The re-index offer for an index built with another embedding model (or an older layout):
    at a terminal, say the problem and ask "Re-index now with MODEL? [y/N]"; True on yes.
    Without a terminal (scripts, CI) nothing is asked and False comes back: the caller re-raises,
    and the message with its `workbench ingest --reindex` advice is the exit-2 error."""
    if not (interactive() if is_interactive is None else is_interactive):
        return False
    print(f"{problem}", file=sys.stderr)
    try:
        answer = (ask or ask_on_stderr)(
            f"Re-index now with {model}? This rebuilds the index from retrieval.corpus. [y/N] ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


# --------------------------------------------------------------------------- retrieve


def _warn_if_chunking_changed(project: Any, settings: Any) -> None:
    from workbench.core.retrieval.index import Index, chunking_drift

    from workbench.core.retrieval.service import incomplete_note, project_index

    drift = chunking_drift(Index.read_meta(project_index(project, settings)), settings)
    if drift:
        print(f"warning: {drift}: run `workbench ingest`", file=sys.stderr)
    note = incomplete_note(project)
    if note:
        print(f"warning: {note}", file=sys.stderr)


def run_retrieve(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.retrieval.index import IndexMismatch
    from workbench.core.retrieval.search import gold_ranks
    from workbench.core.retrieval.service import retrieve
    from workbench.core.retrieval.traces import get_trace, trace_markdown

    settings = project.config.retrieval
    if args.k is not None and args.k < 1:
        raise WorkbenchError("--k must be at least 1", field="--k")
    if not args.query.strip():
        raise WorkbenchError("the query is empty: give the question or keywords to search for", field="QUERY")
    mode = None if args.mode in (None, "all") else args.mode

    def search() -> tuple[Any, int | None]:
        if args.gold:  # a typo'd --gold would read as a bad ranking (`dense #>50`): refuse it
            _check_gold(project, settings, args.gold)
        return retrieve(project, settings, args.query, mode=mode, k=args.k, path_glob=args.path_glob, gold=args.gold)

    try:
        result, trace_id = search()
    except IndexMismatch as exc:
        if not offer_reindex(exc, settings.embedding_model):
            raise
        report = ingest_with_progress(project, settings, None, reindex=True)
        print_ingest_report(Console(stderr=True, highlight=False), report)  # stdout is for results
        if report.cancelled:
            return 130
        result, trace_id = search()
    _warn_if_chunking_changed(project, settings)
    if args.json:
        data = result.to_dict()
        data["trace_id"] = trace_id
        if args.gold:
            data["gold"], data["gold_ranks"] = args.gold, gold_ranks(result, args.gold)
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    if args.markdown:  # the stored trace's report: the same as `runs show rID --markdown`
        print(terminal_safe(trace_markdown(get_trace(project.store, trace_id))))
        return 0
    out = Console(highlight=False)
    modes = ("dense", "fts", "hybrid") if args.mode == "all" else (result.mode,)
    for m in modes:
        hits = result.top(m)
        if len(modes) > 1:
            out.print(Text(f"── {MODE_NAMES[m]} ──", style="bold"))
        if not hits:
            out.print(Text("no results", style="yellow"))
        for i, h in enumerate(hits):
            out.print(_hit_header(i + 1, h, args.gold))
            out.print(_scores_line(h))
            out.print(_highlighted(h.text, args.query))
            out.print()
    if args.gold:
        ranks = gold_ranks(result, args.gold)
        out.print(Text("gold: " + ", ".join(f"{MODE_NAMES[m]} #{r if r else f'>{len(result.ranking(m))}'}"
                                            for m, r in ranks.items())))
    err = Console(stderr=True, highlight=False)
    err.print(Text(f"[trace r{trace_id}] {result.mode}, k={result.k}, {result.latency_ms:.0f} ms "
                   f"(index version {result.index_version})", style="dim"))
    return 0


def _check_gold(project: Any, settings: Any, gold: list[str]) -> None:
    """Raise when a --gold label names a document (or chunk PATH#N) the index does not hold,
    with the closest indexed names."""
    import difflib

    from workbench.core.retrieval.service import open_index
    from workbench.core.retrieval.whynot import missing_labels

    index = open_index(project, settings)
    missing = missing_labels(gold, index)
    if not missing:
        return
    paths = index.paths()
    label = missing[0]
    known = sorted(index.chunk_ids()) if "#" in label else paths
    close = difflib.get_close_matches(label, known, n=3, cutoff=0.75)
    hint = (f"did you mean {', '.join(close)}?" if close
            else f"{len(paths)} documents are indexed (see `workbench retrieval status`)")
    raise WorkbenchError(f"--gold {label}: not in the index: {hint}", field="--gold")


def _hit_header(rank: int, h: Any, gold: list[str]) -> Text:
    t = Text()
    t.append(f"{rank:>2}. ", style="bold")
    t.append(terminal_safe(h.path), style="bold cyan")
    t.append(f":{h.line_start}-{h.line_end}", style="cyan")
    if h.heading_path:
        t.append("  " + terminal_safe(h.heading_path), style="italic")
    t.append(f"  [{terminal_safe(h.chunk_id)}]", style="dim")
    if gold and (h.path in gold or h.chunk_id in gold):
        t.append("  gold", style="bold green")
    return t


def _scores_line(h: Any) -> Text:
    def part(name: str, score: float | None, rank: int | None, digits: int) -> tuple[str, str]:
        if rank is None:
            return (f"{name} –", "dim")
        return (f"{name} {score:.{digits}f} (#{rank})", "green" if rank <= 3 else "")

    t = Text("    ")
    for i, (text, style) in enumerate((
        part("dense", h.dense_score, h.dense_rank, 3),
        part("full-text", h.fts_score, h.fts_rank, 2),
        part("fused", h.fused_score if h.hybrid_rank else None, h.hybrid_rank, 4),
    )):
        if i:
            t.append(" · ", style="dim")
        t.append(text, style=style)
    return t


def _highlighted(text: str, query: str, limit: int = 1200) -> Any:
    """Document text as an indented Text, query terms styled by span (never markup)."""
    from rich.padding import Padding

    from workbench.core.retrieval.search import highlight_spans

    shown = text if len(text) <= limit else text[:limit] + "…"
    safe = terminal_safe(shown)
    t = Text(safe)
    if safe == shown:  # spans are offsets into the unescaped text
        for a, b in highlight_spans(shown, query):
            t.stylize("bold yellow", a, b)
    return Padding(t, (0, 0, 0, 4))


# --------------------------------------------------------------------------- retrieval eval


def run_eval(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals.lookup import resolve_evalset_path
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.retrieval.compare import compare_evals, load_eval
    from workbench.core.retrieval.embedder import get_embedder
    from workbench.core.retrieval.evaluate import eval_markdown, evaluate
    from workbench.core.retrieval.service import open_index
    from workbench.core.retrieval.traces import get_eval, previous_eval, record_eval

    settings = project.config.retrieval
    base = load_eval(project.store, args.against) if args.against else None  # a bad id fails first
    path = resolve_evalset_path(project, args.evalset)
    evalset = load_evalset(path)
    if not any(c.relevant for c in evalset.cases):
        raise WorkbenchError("no case in this eval set has `relevant:` labels, so retrieval cannot be scored",
                             path=path)
    index = open_index(project, settings)
    modes = ("dense", "fts", "hybrid") if args.mode == "all" else (args.mode,)
    err = Console(stderr=True, highlight=False)
    embedder = get_embedder(settings.embedding_model, project.root)
    ev = evaluate(
        evalset.cases, index, settings, k=args.k, modes=modes, embedder=embedder,
        evalset_name=evalset.name, evalset_path=str(path), evalset_hash=evalset.content_hash,
    )
    base = base or previous_eval(project.store, evalset.name)
    eval_id = record_eval(project.store, ev)
    comparison = compare_evals(base, get_eval(project.store, eval_id)) if base else None
    delta = comparison.deltas if comparison else None
    if args.json:
        d = ev.to_dict()
        d["eval_id"] = eval_id
        d["previous_eval_id"] = comparison.before_id if comparison else None
        d["deltas"] = delta
        d["comparison"] = comparison.to_dict() if comparison else None
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return 0
    if args.markdown:
        print(terminal_safe(eval_markdown(ev, delta, eval_id, comparison.before_id if comparison else None,
                                          comparison.notes() if comparison else ())))
        return 0
    out = Console(highlight=False)
    out.print(Text(f"Retrieval eval of {evalset.name}: {len(ev.cases)} labelled cases, k={ev.k}, "
                   f"{ev.seconds:.1f} s" + (f" ({len(ev.unlabelled)} unlabelled cases skipped)" if ev.unlabelled else "")))
    print_eval(out, ev, delta, cases=args.cases)
    if comparison:
        _print_comparison_notes(out, comparison)
    err.print(Text(f"[retrieval eval re{eval_id}] stored" + (f"; deltas vs re{comparison.before_id}" if comparison else "")
                   + f"; see it again with `workbench runs show re{eval_id}`", style="dim"))
    return 0


def _print_comparison_notes(out: Console, comparison: Any) -> None:
    """The comparison's warnings (yellow) and what changed between the two evals (dim)."""
    for w in comparison.warnings:
        out.print(Text("warning: " + terminal_safe(w), style="yellow"))
    if comparison.changes:
        out.print(Text(f"changed since re{comparison.before_id}: " + terminal_safe("; ".join(comparison.changes)),
                       style="dim"))


def run_diff(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.retrieval.compare import compare_evals, load_eval
    from workbench.core.retrieval.evaluate import eval_markdown
    from workbench.core.retrieval.traces import eval_from_row

    a, b = load_eval(project.store, args.a), load_eval(project.store, args.b)
    comparison = compare_evals(a, b)
    if args.json:
        print(json.dumps(comparison.to_dict(), ensure_ascii=False, indent=2))
        return 0
    ev = eval_from_row(b)
    if args.markdown:
        print(terminal_safe(eval_markdown(ev, comparison.deltas, b["id"], a["id"], comparison.notes())))
        return 0
    out = Console(highlight=False)
    out.print(Text(terminal_safe(f"Retrieval eval re{b['id']} vs re{a['id']}: {ev.evalset}, {len(ev.cases)} "
                                 f"labelled cases, k={ev.k}; Δ = re{b['id']} - re{a['id']}"), style="bold"))
    out.print(_metrics_table(ev, comparison.deltas))
    _print_comparison_notes(out, comparison)
    if comparison.moved:
        out.print()
        table = Table(box=None, pad_edge=False, title=f"cases whose gold rank moved (re{a['id']} → re{b['id']})")
        table.add_column("case")
        for m in ev.modes:
            table.add_column(MODE_NAMES[m], justify="right")
        for move in comparison.moved:
            cells = []
            for m in ev.modes:
                if m not in move.ranks:
                    cells.append(Text(""))
                    continue
                (ra, rb), (ha, hb) = move.ranks[m], move.hit[m]
                style = "green" if hb and not ha else "red" if ha and not hb else ""
                cells.append(Text(f"{ra or '—'} → {rb or '—'}", style=style))
            table.add_row(Text(terminal_safe(move.case_id)), *cells)
        out.print(table)
    else:
        out.print(Text("No case's gold rank moved.", style="dim"))
    return 0


def print_eval(out: Console, ev: Any, delta: dict | None, *, cases: str = "misses") -> None:
    """Metrics per mode, then the cases (`misses`, `all` or `none`) with their why-not lines:
    what `retrieval eval` prints after a run and `runs show reN` prints for a stored one."""
    out.print(_metrics_table(ev, delta))
    if len(ev.modes) > 1 and ev.cases:
        out.print(Text(f"best mode by nDCG@10: {ev.best_mode}", style="bold"))
    if cases != "none":
        shown = ev.cases if cases == "all" else [c for c in ev.cases if c.whynot or c.missing]
        if shown:
            out.print()
            out.print(_cases_table(ev, shown))
        for c in shown:
            if c.whynot is not None:
                out.print(Text.assemble((f"{c.case_id}: ", "bold"), terminal_safe(c.whynot.summary())))
                for m in ev.modes:
                    rep = c.whynot.modes.get(m)
                    if rep and rep.cut_at_k and rep.outranked_by:
                        above = ", ".join(terminal_safe(x.chunk_id) for x in rep.outranked_by[:3])
                        out.print(Text(f"    {MODE_NAMES[m]}: outranked by {above}", style="dim"))


def _metrics_table(ev: Any, delta: dict | None) -> Table:
    """One row per mode; with `delta`, a "Δ" row under each mode holds the changes: on a row of
    their own, the columns stay as narrow as their names and the table fits 80 columns (beside
    each value, "0.952 -0.012", they did not, and the headers were cut to "precisio…")."""
    from workbench.core.retrieval.metrics import METRIC_NAMES

    table = Table(box=None, pad_edge=False)
    table.add_column("mode", no_wrap=True)
    for name in METRIC_NAMES:
        table.add_column(name.replace("@k", f"@{ev.k}"), justify="right", no_wrap=True)
    for m in ev.modes:
        table.add_row(Text(MODE_NAMES[m], style="bold" if m == ev.best_mode else ""),
                      *[Text(f"{ev.metrics[m][name]:.3f}") for name in METRIC_NAMES])
        if delta and m in delta:
            cells = []
            for name in METRIC_NAMES:
                d = delta[m].get(name)
                moved = d is not None and abs(d) >= 0.0005
                cells.append(Text(f"{d:+.3f}" if moved else "·" if d is not None else "",
                                  style=("green" if d > 0 else "red") if moved else "dim"))
            table.add_row(Text("  Δ", style="dim"), *cells)
    return table


def _cases_table(ev: Any, cases: list) -> Table:
    table = Table(box=None, pad_edge=False,
                  title="gold rank per mode (of documents; of chunks for chunk-id labels; — = not in the candidates)")
    table.add_column("case")
    for m in ev.modes:
        table.add_column(MODE_NAMES[m], justify="right")
    table.add_column("relevant")
    for c in cases:
        cells = []
        for m in ev.modes:
            r = c.gold_rank[m]
            style = "green" if r is not None and r <= ev.k else "red"
            cells.append(Text("—" if r is None else str(r), style=style))
        rel = ", ".join(c.relevant) + (f" (not indexed: {', '.join(c.missing)})" if c.missing else "")
        table.add_row(Text(terminal_safe(c.case_id)), *cells, Text(terminal_safe(rel)))
    return table


# --------------------------------------------------------------------------- status


def run_status(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.retrieval.index import Index, IndexUnavailable
    from workbench.core.retrieval.service import project_index

    settings = project.config.retrieval
    meta: dict = {}
    problem = None
    try:
        index = Index.open(project_index(project, settings), settings.embedding_model)
        meta = dict(index.meta)
        meta["table_rows"] = index.count()
        index.verify()  # opening reads the manifest only: damaged data files show here
    except IndexUnavailable as exc:
        problem = exc.reason
    if args.json:
        print(json.dumps({"ok": problem is None, "problem": problem, "meta": meta,
                          "configured": settings.to_dict()}, ensure_ascii=False, indent=2))
        return 0 if problem is None else 2
    out = Console(highlight=False)
    if problem:
        out.print(Text(terminal_safe(problem), style="red"))
        return 2
    out.print(Text(
        f"{_shown(meta.get('docs'))} documents, {_shown(meta.get('table_rows'))} chunks; "
        f"embedding {_shown(meta.get('embedding_model'))} ({_shown(meta.get('dimension'))} dims); "
        f"chunking {_shown(meta.get('chunking'))}; last ingest {_shown(meta.get('last_ingest_at'))}; "
        f"state {_shown(meta.get('state'))}; version {_shown(meta.get('table_version'))}"),
        soft_wrap=True)  # one line, as scripts read it; the terminal wraps it
    return 0


def _shown(value: Any) -> str:
    """One status value as plain text on one line: a mapping as `key value, ...` (not a Python
    dict), control characters and newlines (a file or model name may hold them) escaped."""
    if isinstance(value, dict):
        text = ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    else:
        text = "?" if value is None else str(value)
    return terminal_safe(text).replace("\n", "\\n").replace("\t", "\\t")
