"""Text for the Retrieval tab: result rows, the why-not report, index stats, ingest progress.

Pure functions of core objects (Hit, WhyNot, index metadata, IngestProgress), so the wording is
testable without a terminal. Every string that comes from a document or a file name goes through
`terminal_safe` into a `rich.text.Text`; nothing here builds markup.

Rich cannot read Textual's CSS variables, so `theme_styles(app)` resolves the few theme colours
the tab uses into plain colours once per theme (the tab re-renders when the theme changes):
colours still come only from the theme.
"""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text

from workbench.core.safetext import terminal_safe

MODE_LABEL = {"dense": "dense", "fts": "full-text", "hybrid": "hybrid"}
SCORE_DIGITS = {"dense": 2, "fts": 1, "hybrid": 3}
GOLD_MARK = "★"


def theme_styles(app: Any) -> dict[str, str]:
    """Rich styles for the tab's roles, from the current theme's colours."""
    from textual.color import Color

    variables = app.get_css_variables()
    try:
        background = Color.parse(variables.get("background", "black"))
    except Exception:  # noqa: BLE001 - an odd theme value falls back to a plain style
        background = Color(0, 0, 0)

    def colour(name: str, fallback: str) -> str:
        try:
            return (background + Color.parse(variables[name])).hex6
        except Exception:  # noqa: BLE001
            return fallback

    return {
        "term": f"bold {colour('accent', 'yellow')}",
        "selected": f"on {colour('primary-muted', 'blue')}",
        "marker": colour("secondary", "magenta"),
        "marker_selected": f"bold {colour('primary', 'blue')}",
        "gold": f"bold {colour('success', 'green')}",
        "note": f"italic {colour('warning', 'yellow')}",
        "warning": colour("warning", "yellow"),
        "error": colour("error", "red"),
        "ok": colour("success", "green"),
    }


def norm_path(path: str) -> str:
    path = path.replace("\\", "/").strip()
    while path.startswith("./"):
        path = path[2:]
    return path


def is_gold(hit: Any, relevant: Iterable[str]) -> bool:
    """A chunk is gold when its document or its own id is listed in the case's `relevant`."""
    rel = {norm_path(r) for r in relevant}
    return norm_path(hit.path) in rel or hit.chunk_id in rel


def short_score(value: float, digits: int) -> str:
    """'.76', '-.05', '30.2': a leading zero costs a column that a narrow table needs."""
    text = f"{value:.{digits}f}"
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def method_cell(hit: Any, mode: str, *, own: bool = False) -> Text:
    """'rank score' under one method, or '–' when that method did not return the chunk."""
    rank = hit.rank_in(mode)
    if rank is None:
        return Text("–", style="dim", justify="right")
    score = hit.score_in(mode)
    shown = f"{rank} {short_score(score, SCORE_DIGITS[mode])}" if score is not None else str(rank)
    return Text(shown, style="bold" if own else "", justify="right", no_wrap=True)


def doc_cell(hit: Any) -> Text:
    heading = f" › {hit.heading_path.split(' > ')[-1]}" if hit.heading_path else ""
    return Text(terminal_safe(f"{hit.path}{heading}").replace("\n", " "), no_wrap=True,
                overflow="ellipsis")


def row_cells(hit: Any, mode: str, k: int, gold: bool, styles: dict[str, str]) -> list[Text]:
    """One results row: rank under `mode` (★ for gold), document › heading, every method."""
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


def _ref_line(ref: Any) -> str:
    head = f" {ref.heading_path.split(' > ')[-1]}" if ref.heading_path else ""
    return (f"{ref.chunk_id}{head} · dense {_score(ref.dense_score, 2)} ({ref.dense_rank or '–'})"
            f" · fts {_score(ref.fts_score, 1)} ({ref.fts_rank or '–'})"
            f" · hybrid {_score(ref.fused_score, 3)} ({ref.hybrid_rank or '–'})")


def render_whynot(report: Any, styles: dict[str, str], *, outranked: int = 5) -> Text:
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
            line(f"  outranked by ({len(m.outranked_by)} shown):", "dim")
            for i, ref in enumerate(m.outranked_by[:outranked]):
                line(f"   {i + 1:>2} {_ref_line(ref)}")
    b = report.boundary
    if b is None:
        line("chunk boundary: no reference answer to check", "dim")
    elif b.split:
        line(f"chunk boundary: the answer is split across {b.chunk_ids[0]} | {b.chunk_ids[1]} "
             f"({b.words_across_boundary} words across, at most {b.words_in_one_chunk} in one chunk)",
             styles.get("warning", "bold"))
    else:
        line(f"chunk boundary: no split (longest answer run in one chunk: "
             f"{b.words_in_one_chunk} words)")
    out.rstrip()
    return out


# -- index stats and ingest progress -------------------------------------------------------------

def stats_text(meta: dict) -> Text:
    """'4 docs · 9 chunks · all-MiniLM-L6-v2 · index v7 · ingested 2026-05-01 10:20 UTC'."""
    when = str(meta.get("last_ingest_at") or "never").replace("T", " ")[:16]
    parts = [f"{meta.get('docs', 0)} docs", f"{meta.get('chunks', 0)} chunks",
             str(meta.get("embedding_model", "?")), f"index v{meta.get('table_version', 0)}",
             f"ingested {when}{' UTC' if when != 'never' else ''}"]
    text = Text(terminal_safe(" · ".join(parts)), no_wrap=True, overflow="ellipsis")
    if meta.get("state") == "ingesting":
        text.append(" · last ingest was interrupted: ctrl+g finishes it")
    return text


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def progress_text(p: Any) -> str:
    """'embedding · 3/10 files · 40/120 chunks · 35.2 chunks/s · ETA 0:03'."""
    parts = [p.phase, f"{p.files_done}/{p.files_total} files"]
    if p.phase == "embedding":
        parts += [f"{p.chunks_done}/{p.chunks_total} chunks", f"{p.chunks_per_s:.1f} chunks/s",
                  f"ETA {_clock(p.eta_s)}"]
    return " · ".join(parts)


def ingest_summary(report: Any) -> str:
    """The toast after an ingest (same facts as `workbench ingest` prints)."""
    if report.cancelled:
        return (f"Ingest cancelled: kept {len(report.added) + len(report.updated)} completed files; "
                f"{len(report.pending)} not done. ctrl+g finishes the job.")
    if report.nothing_changed:
        return f"Nothing changed: {len(report.unchanged)} documents unchanged."
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    return (f"Ingested: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.removed)} removed{skipped}; {report.chunks_embedded} chunks embedded. "
            f"Index: {report.docs_total} documents, {report.chunks_total} chunks.")
