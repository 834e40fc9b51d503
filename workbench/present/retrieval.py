"""Retrieval text for the CLI and the Retrieval tab: hits, why-not reports, eval metrics and
diffs, index status, ingest reports and progress, the tune table.

Document text and file names are untrusted: they reach a `rich.text.Text` only through
`terminal_safe`, highlighting is styled spans, never markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from workbench.core.retrieval.metrics import METRIC_NAMES
from workbench.core.safetext import terminal_safe
from workbench.present.numbers import clock, coarse, plural

if TYPE_CHECKING:
    from workbench.core.retrieval.compare import EvalComparison
    from workbench.core.retrieval.evaluate import CaseResult, RetrievalEval
    from workbench.core.retrieval.ingest import IngestProgress, IngestReport
    from workbench.core.retrieval.search import Hit, SearchResult
    from workbench.core.retrieval.tune import TuneResult, TuneRow
    from workbench.core.retrieval.whynot import ChunkRef, WhyNot

MODE_LABEL = {"dense": "dense", "fts": "full-text", "hybrid": "hybrid"}
SCORE_DIGITS = {"dense": 2, "fts": 1, "hybrid": 3}  # the tab's narrow columns
GOLD_MARK = "★"
Deltas = Mapping[str, Mapping[str, float]]


# -- search results ------------------------------------------------------------------------------


def norm_path(path: str) -> str:
    path = path.replace("\\", "/").strip()
    while path.startswith("./"):
        path = path[2:]
    return path


def is_gold(hit: Hit, relevant: Iterable[str]) -> bool:
    """A chunk is gold when its document or its own id is listed in the case's `relevant`."""
    rel = {norm_path(r) for r in relevant}
    return norm_path(hit.path) in rel or hit.chunk_id in rel


def hit_header(rank: int, h: Hit, gold: Sequence[str]) -> Text:
    """` 1. cats.md:3-9  Cats > Sleep  [cats.md#1]  gold` (CLI)."""
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


def scores_line(h: Hit) -> Text:
    """`    dense 0.612 (#1) · full-text 3.20 (#2) · fused 0.0325 (#1)` (CLI)."""

    def part(name: str, score: float | None, rank: int | None, digits: int) -> tuple[str, str]:
        if rank is None or score is None:
            return (f"{name} –", "dim")
        return (f"{name} {score:.{digits}f} (#{rank})", "green" if rank <= 3 else "")

    t = Text("    ")
    for i, (text, style) in enumerate(
        (
            part("dense", h.dense_score, h.dense_rank, 3),
            part("full-text", h.fts_score, h.fts_rank, 2),
            part("fused", h.fused_score if h.hybrid_rank else None, h.hybrid_rank, 4),
        )
    ):
        if i:
            t.append(" · ", style="dim")
        t.append(text, style=style)
    return t


def highlighted(text: str, query: str, limit: int = 1200) -> Padding:
    """Document text as an indented Text, query terms styled by span (never markup)."""
    from workbench.core.retrieval.search import highlight_spans

    shown = text if len(text) <= limit else text[:limit] + "…"
    safe = terminal_safe(shown)
    t = Text(safe)
    if safe == shown:  # spans are offsets into the unescaped text
        for a, b in highlight_spans(shown, query):
            t.stylize("bold yellow", a, b)
    return Padding(t, (0, 0, 0, 4))


def print_results(
    out: Console,
    result: SearchResult,
    query: str,
    modes: Sequence[str],
    gold: Sequence[str],
    gold_ranks: Mapping[str, int | None] | None,
) -> None:
    """`workbench retrieve`: per mode its hits (header, scores, text), then where gold ranked."""
    for m in modes:
        hits = result.top(m)
        if len(modes) > 1:
            out.print(Text(f"── {MODE_LABEL[m]} ──", style="bold"))
        if not hits:
            out.print(Text("no results", style="yellow"))
        for i, h in enumerate(hits):
            out.print(hit_header(i + 1, h, gold))
            out.print(scores_line(h))
            out.print(highlighted(h.text, query))
            out.print()
    if gold_ranks is not None:
        out.print(
            Text(
                "gold: "
                + ", ".join(
                    f"{MODE_LABEL[m]} #{r if r else f'>{len(result.ranking(m))}'}" for m, r in gold_ranks.items()
                )
            )
        )


def trace_line(trace_id: int | None, result: SearchResult) -> Text:
    return Text(
        f"[trace r{trace_id}] {result.mode}, k={result.k}, {result.latency_ms:.0f} ms "
        f"(index version {result.index_version})",
        style="dim",
    )


def short_score(value: float, digits: int) -> str:
    """'.76', '-.05', '30.2': a leading zero costs a column that a narrow table needs."""
    text = f"{value:.{digits}f}"
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def method_cell(hit: Hit, mode: str, *, own: bool = False) -> Text:
    """'rank score' under one method, or '–' when that method did not return the chunk."""
    rank = hit.rank_in(mode)
    if rank is None:
        return Text("–", style="dim", justify="right")
    score = hit.score_in(mode)
    shown = f"{rank} {short_score(score, SCORE_DIGITS[mode])}" if score is not None else str(rank)
    return Text(shown, style="bold" if own else "", justify="right", no_wrap=True)


def doc_cell(hit: Hit) -> Text:
    heading = f" › {hit.heading_path.split(' > ')[-1]}" if hit.heading_path else ""
    return Text(terminal_safe(f"{hit.path}{heading}").replace("\n", " "), no_wrap=True, overflow="ellipsis")


def row_cells(hit: Hit, mode: str, k: int, gold: bool, styles: Mapping[str, str]) -> list[Text]:
    """One results row of the tab: rank under `mode` (★ for gold), document › heading, every method."""
    rank = hit.rank_in(mode)
    first = Text(f"{GOLD_MARK if gold else ' '}{rank}", no_wrap=True)
    cells = [first, doc_cell(hit)] + [method_cell(hit, m, own=m == mode) for m in MODE_LABEL]
    if gold:
        for cell in cells[:2]:
            cell.stylize(styles.get("gold", "bold"))
    if rank is not None and rank > k:
        for cell in cells:
            cell.stylize("dim")
    return cells


# -- why not -----------------------------------------------------------------------------------


def _score(v: float | None, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ref_line(ref: ChunkRef) -> str:
    head = f" {ref.heading_path.split(' > ')[-1]}" if ref.heading_path else ""
    return (
        f"{ref.chunk_id}{head} · dense {_score(ref.dense_score, 2)} ({ref.dense_rank or '–'})"
        f" · fts {_score(ref.fts_score, 1)} ({ref.fts_rank or '–'})"
        f" · hybrid {_score(ref.fused_score, 3)} ({ref.hybrid_rank or '–'})"
    )


def render_whynot(report: WhyNot, styles: Mapping[str, str], *, outranked: int = 5) -> Text:
    """The why-not report: per mode where the gold chunk ranked, cut at k, what outranked it,
    and whether the reference answer straddles a chunk boundary."""
    out = Text()

    def line(text: str, style: str = "") -> None:
        out.append(terminal_safe(text) + "\n", style=style)

    line("relevant: " + ", ".join(report.relevant), styles.get("gold", "bold"))
    line(report.summary())
    if report.missing:
        line("not in the index: " + ", ".join(report.missing), styles.get("error", "bold"))
    shown_gold = None
    for m in report.modes.values():
        verdict = f"cut at k={m.k}" if m.cut_at_k else f"within k={m.k}"
        line(f"{m.sentence()} — {verdict}", styles.get("warning" if m.cut_at_k else "ok", "bold"))
        if m.gold is not None and m.gold.chunk_id != shown_gold:
            line("  gold " + _ref_line(m.gold))
            shown_gold = m.gold.chunk_id
        if m.outranked_by and m.cut_at_k:
            listed = m.outranked_by[:outranked]
            # every chunk ranked above the gold one outranks it; the report keeps the first 10
            above = m.chunk_rank - 1 if m.chunk_rank is not None else len(m.outranked_by)
            count = f"{len(listed)} of {above}" if above > len(listed) else f"{len(listed)}"
            line(f"  outranked by ({count} shown):", "dim")
            for i, ref in enumerate(listed):
                line(f"   {i + 1:>2} {_ref_line(ref)}")
    b = report.boundary
    if b is None:
        line("chunk boundary: no reference answer to check", "dim")
    elif b.split and b.chunk_ids:
        line(
            f"chunk boundary: the answer is split across {b.chunk_ids[0]} | {b.chunk_ids[1]} "
            f"({b.words_across_boundary} words across, at most {b.words_in_one_chunk} in one chunk)",
            styles.get("warning", "bold"),
        )
    else:
        line(f"chunk boundary: no split (longest answer run in one chunk: {b.words_in_one_chunk} words)")
    out.rstrip()
    return out


# -- retrieval eval and diff ---------------------------------------------------------------------


def eval_header(ev: RetrievalEval) -> Text:
    """The first line `retrieval eval` prints after a run."""
    skipped = f" ({plural(len(ev.unlabelled), 'unlabelled case')} skipped)" if ev.unlabelled else ""
    return Text(
        terminal_safe(
            f"Retrieval eval of {ev.evalset}: {plural(len(ev.cases), 'labelled case')}, k={ev.k}, {ev.seconds:.1f} s{skipped}"
        )
    )


def stale_eval_note(ev: RetrievalEval) -> str | None:
    """What a stored eval of settings the index was never re-chunked with says under its settings
    line (`runs show reN`, the Markdown report): its chunk_tokens are not the chunks it scored."""
    if not ev.stale_index:
        return None
    return f"scored an index not re-chunked for these settings: {ev.stale_index}"


def stored_eval_header(row: Mapping[str, Any], ev: RetrievalEval, prev_id: int | None) -> Text:
    """The first line of `runs show reN`: when, on which index and settings, deltas against what;
    then, for an eval of a stale index, a warning that its chunking was not what it scored."""
    settings = row.get("settings") or {}
    header = Text(
        terminal_safe(
            f"retrieval eval re{row['id']} of {ev.evalset}: {plural(len(ev.cases), 'labelled case')}, k={ev.k}; "
            f"{(row.get('created_at') or '')[:19].replace('T', ' ')}; index version {ev.index_version}; "
            f"embedding {settings.get('embedding_model')}, chunk_tokens={settings.get('chunk_tokens')}"
            + (f"; deltas vs re{prev_id}" if prev_id else "")
        ),
        style="bold",
    )
    stale = stale_eval_note(ev)
    if stale:
        header.append("\nwarning: " + terminal_safe(stale), style="yellow")
    return header


def stored_line(eval_id: int, before_id: int | None) -> Text:
    return Text(
        f"[retrieval eval re{eval_id}] stored"
        + (f"; deltas vs re{before_id}" if before_id else "")
        + f"; see it again with `workbench runs show re{eval_id}`",
        style="dim",
    )


def print_eval(out: Console, ev: RetrievalEval, delta: Deltas | None, *, cases: str = "misses") -> None:
    """Metrics per mode, then the cases (`misses`, `all` or `none`) with their why-not lines:
    what `retrieval eval` prints after a run and `runs show reN` prints for a stored one."""
    out.print(metrics_table(ev, delta))
    if len(ev.modes) > 1 and ev.cases:
        out.print(Text(f"best mode by nDCG@10: {ev.best_mode}", style="bold"))
    if cases == "none":
        return
    shown = ev.cases if cases == "all" else [c for c in ev.cases if c.whynot or c.missing]
    if shown:
        out.print()
        out.print(cases_table(ev, shown))
    for c in shown:
        if c.whynot is not None:
            out.print(Text.assemble((f"{terminal_safe(c.case_id)}: ", "bold"), terminal_safe(c.whynot.summary())))
            for m in ev.modes:
                rep = c.whynot.modes.get(m)
                if rep and rep.cut_at_k and rep.outranked_by:
                    above = ", ".join(terminal_safe(x.chunk_id) for x in rep.outranked_by[:3])
                    out.print(Text(f"    {MODE_LABEL[m]}: outranked by {above}", style="dim"))


def metrics_table(ev: RetrievalEval, delta: Deltas | None) -> Table:
    """One row per mode; with `delta`, a "Δ" row under each mode holds the changes: on a row of
    their own the columns stay as narrow as their names and the table fits 80 columns."""
    table = Table(box=None, pad_edge=False)
    table.add_column("mode", no_wrap=True)
    for name in METRIC_NAMES:
        table.add_column(name.replace("@k", f"@{ev.k}"), justify="right", no_wrap=True)
    for m in ev.modes:
        table.add_row(
            Text(MODE_LABEL[m], style="bold" if m == ev.best_mode else ""),
            *[Text(f"{ev.metrics[m][name]:.3f}") for name in METRIC_NAMES],
        )
        if delta and m in delta:
            cells = []
            for name in METRIC_NAMES:
                d = delta[m].get(name)
                if d is None:
                    cells.append(Text(""))
                elif abs(d) >= 0.0005:
                    cells.append(Text(f"{d:+.3f}", style="green" if d > 0 else "red"))
                else:
                    cells.append(Text("·", style="dim"))
            table.add_row(Text("  Δ", style="dim"), *cells)
    return table


def cases_table(ev: RetrievalEval, cases: Sequence[CaseResult]) -> Table:
    # the same number as the why-not lines below, which say "beyond the N candidates fusion
    # looks at" for a gold chunk ranked deeper (core/retrieval/whynot.py ModeReport.sentence)
    n = ev.settings.get("candidates")
    beyond = f"not in the top {plural(n, 'candidate')}" if n else "not in the candidates"
    table = Table(
        box=None,
        pad_edge=False,
        title=f"gold rank per mode (of documents; of chunks for chunk-id labels; — = {beyond})",
    )
    table.add_column("case")
    for m in ev.modes:
        table.add_column(MODE_LABEL[m], justify="right")
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


def print_comparison_notes(out: Console, comparison: EvalComparison) -> None:
    """The comparison's warnings (yellow) and what changed between the two evals (dim)."""
    for w in comparison.warnings:
        out.print(Text("warning: " + terminal_safe(w), style="yellow"))
    if comparison.changes:
        out.print(
            Text(
                f"changed since re{comparison.before_id}: " + terminal_safe("; ".join(comparison.changes)), style="dim"
            )
        )


def print_diff(out: Console, a_id: int, b_id: int, ev: RetrievalEval, comparison: EvalComparison) -> None:
    """`retrieval diff reA reB`: B's metrics with Δ rows, the notes, the cases whose gold rank moved."""
    out.print(
        Text(
            terminal_safe(
                f"Retrieval eval re{b_id} vs re{a_id}: {ev.evalset}, {plural(len(ev.cases), 'labelled case')}, "
                f"k={ev.k}; Δ = re{b_id} - re{a_id}"
            ),
            style="bold",
        )
    )
    out.print(metrics_table(ev, comparison.deltas))
    print_comparison_notes(out, comparison)
    if not comparison.moved:
        out.print(Text("No case's gold rank moved.", style="dim"))
        return
    out.print()
    table = Table(box=None, pad_edge=False, title=f"cases whose gold rank moved (re{a_id} → re{b_id})")
    table.add_column("case")
    for m in ev.modes:
        table.add_column(MODE_LABEL[m], justify="right")
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


# -- index status, ingest ------------------------------------------------------------------------


def shown(value: Any) -> str:
    """One status value as plain text on one line: a mapping as `key value, ...` (not a Python
    dict), control characters and newlines (a file or model name may hold them) escaped."""
    if isinstance(value, dict):
        text = ", ".join(f"{k} {shown(v)}" for k, v in value.items())
    else:
        text = "?" if value is None else str(value)
    return terminal_safe(text).replace("\n", "\\n").replace("\t", "\\t")


def status_line(meta: Mapping[str, Any]) -> Text:
    """`retrieval status`: one line, as scripts read it (print it with soft_wrap)."""
    return Text(
        f"{shown(meta.get('docs'))} documents, {shown(meta.get('table_rows'))} chunks; "
        f"embedding {shown(meta.get('embedding_model'))} ({shown(meta.get('dimension'))} dims); "
        f"chunking {shown(meta.get('chunking'))}; last ingest {shown(meta.get('last_ingest_at'))}; "
        f"state {shown(meta.get('state'))}; version {shown(meta.get('table_version'))}"
    )


def stats_text(meta: Mapping[str, Any]) -> Text:
    """The tab's '4 docs · 9 chunks · all-MiniLM-L6-v2 · index v7 · ingested 2026-05-01 10:20 UTC'."""
    when = str(meta.get("last_ingest_at") or "never").replace("T", " ")[:16]
    parts = [
        f"{meta.get('docs', 0)} docs",
        f"{meta.get('chunks', 0)} chunks",
        str(meta.get("embedding_model", "?")),
        f"index v{meta.get('table_version', 0)}",
        f"ingested {when}{' UTC' if when != 'never' else ''}",
    ]
    text = Text(terminal_safe(" · ".join(parts)), no_wrap=True, overflow="ellipsis")
    if meta.get("state") == "ingesting":
        text.append(" · last ingest was interrupted: ctrl+g finishes it")
    return text


def progress_fields(p: IngestProgress) -> dict[str, str]:
    """An ingest's progress as named fields: files, and while embedding chunks, rate and ETA."""
    fields = {"files": f"{p.files_done}/{p.files_total} files", "chunks": "", "rate": "", "eta": ""}
    if p.phase == "embedding":
        fields.update(
            chunks=f"{p.chunks_done}/{p.chunks_total} chunks",
            rate=f"{p.chunks_per_s:.1f} chunks/s",
            eta=f"ETA {clock(p.eta_s)}",
        )
    return fields


def progress_text(p: IngestProgress) -> str:
    """'embedding · 3/10 files · 40/120 chunks · 35.2 chunks/s · ETA 0:03'."""
    return " · ".join([p.phase, *(v for v in progress_fields(p).values() if v)])


def print_ingest_report(out: Console, report: IngestReport) -> None:
    """`workbench ingest`: the skipped files, then one summary line and the index's size."""
    for s in report.skipped:
        out.print(Text.assemble(("skipped ", "yellow"), terminal_safe(s.path), ": ", terminal_safe(s.reason)))
    if report.rechunked:
        out.print(Text(report.rechunked, style="yellow"))
    if report.cancelled and report.reindexed:  # the rebuild was beside the old index, dropped
        out.print(
            Text(
                "Cancelled: the rebuild was dropped and the old index is unchanged. Run "
                "`workbench ingest --reindex` again to rebuild it.",
                style="yellow",
            )
        )
    elif report.cancelled:
        out.print(
            Text(
                f"Cancelled: kept {len(report.added) + len(report.updated)} completed files; "
                f"{len(report.pending)} not done. Run `workbench ingest` again to finish.",
                style="yellow",
            )
        )
    elif report.nothing_changed:
        out.print(f"Nothing changed: {len(report.unchanged)} documents unchanged ({report.seconds:.2f} s).")
    else:
        rate = report.chunks_embedded / report.seconds if report.seconds > 0 else 0.0
        out.print(
            f"{'Reindexed' if report.reindexed else 'Ingested'}: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.removed)} removed, {len(report.unchanged)} unchanged, {len(report.skipped)} skipped; "
            f"{report.chunks_embedded} chunks embedded in {report.seconds:.1f} s ({rate:.1f} chunks/s)."
        )
    out.print(
        Text(
            terminal_safe(
                f"Index: {report.docs_total} documents, {report.chunks_total} chunks "
                f"({report.embedding_model}, version {report.index_version})."
            )
        )
    )


def ingest_summary(report: IngestReport) -> str:
    """The tab's toast after an ingest (the same facts as `workbench ingest` prints)."""
    if report.cancelled:
        return (
            f"Ingest cancelled: kept {len(report.added) + len(report.updated)} completed files; "
            f"{len(report.pending)} not done. ctrl+g finishes the job."
        )
    if report.nothing_changed:
        return f"Nothing changed: {len(report.unchanged)} documents unchanged."
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    return (
        f"Ingested: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.removed)} removed{skipped}; {report.chunks_embedded} chunks embedded. "
        f"Index: {report.docs_total} documents, {report.chunks_total} chunks."
    )


# -- tune ------------------------------------------------------------------------------------


def tune_cost_line(n_configs: int, n_chunkings: int, n_cases: int, todo: int, total: int, seconds: float) -> Text:
    return Text(
        f"tune: {n_configs} configurations, {plural(n_chunkings, 'chunking')}, {plural(n_cases, 'labelled case')}; "
        f"re-index cost: {todo} of {total} texts to embed (chunks, document windows, questions; "
        f"about {coarse(seconds)})" + ("" if todo else ", all cached")
    )


def print_tune(out: Console, res: TuneResult) -> None:
    """`retrieval tune`: one row per configuration with the nDCG@10 delta's paired bootstrap CI."""
    t = Table(
        title=f"retrieval tune: {plural(res.n_cases, 'case')}, k={res.k}"
        + (" (stopped early)" if res.cancelled else "")
    )
    for col in tune_columns(res.k):
        t.add_column(col, justify="left" if col == "configuration" else "right")
    for r in res.rows:
        t.add_row(*tune_cells(res, r))
    out.print(t)
    out.print(
        Text(
            "* the interval excludes 0: a real difference on these cases, not noise of the sample. "
            f"{res.embedded} texts embedded, {res.seconds:.0f} s."
        )
    )
    for n in res.notes:
        out.print(Text(n, style="yellow"))


def tune_columns(k: int) -> tuple[str, ...]:
    """The tune table's headers (the CLI's table and the Retrieval tab's tune screen)."""
    return ("configuration", "nDCG@10", f"recall@{k}", "MRR@10", "nDCG Δ vs current [95% CI]", "")


def tune_cells(res: TuneResult, r: TuneRow) -> list[str]:
    """One configuration's cells; "*" marks a delta whose interval excludes 0."""
    d, lo, hi = r.delta
    mark = "current" if r.config == res.current else ("winner" if r is res.winner else "")
    delta = "" if r.config == res.current else f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]{' *' if r.real else '  '}"
    return [
        r.config.label(),
        f"{r.metrics['ndcg@10']:.3f}",
        f"{r.metrics['recall@k']:.3f}",
        f"{r.metrics['mrr@10']:.3f}",
        delta,
        mark,
    ]
