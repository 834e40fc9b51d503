"""Parity: a search hit, an ingest report, ingest progress and the index's status say the same
facts in the CLI and in the Retrieval tab.

Both surfaces render through workbench/present/retrieval.py; the CLI side is captured from a Rich
console as `retrieve` / `ingest` / `retrieval status` print it, the TUI side is the text the tab's
results table, toast, progress line and stats line show.
"""

from __future__ import annotations

import io
import re

from rich.console import Console, RenderableType

from workbench.core.retrieval.ingest import IngestProgress, IngestReport, Skipped
from workbench.core.retrieval.search import Hit
from workbench.present import retrieval as present


def cli(*renderables: RenderableType) -> str:
    buf = io.StringIO()
    out = Console(file=buf, width=200, highlight=False, color_system=None)
    for r in renderables:
        out.print(r)
    return buf.getvalue()


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)


HIT = Hit(
    "guide/cats.md#2",
    "guide/cats.md",
    "Cats > Sleep",
    12,
    20,
    "Cats sleep 16 hours.",
    dense_score=0.6123,
    dense_rank=2,
    fts_score=3.2,
    fts_rank=1,
    fused_score=0.03252,
    hybrid_rank=1,
)


def test_a_hit_shows_the_same_document_and_ranks_in_both():
    text = cli(present.hit_header(1, HIT, ["guide/cats.md"]), present.scores_line(HIT))
    cells = [c.plain for c in present.row_cells(HIT, "hybrid", 5, True, {})]
    assert "guide/cats.md" in text and "guide/cats.md" in cells[1]
    assert "Sleep" in text and "Sleep" in cells[1]
    assert "gold" in text and cells[0] == f"{present.GOLD_MARK}1"
    # rank under each method: `dense 0.612 (#2)` in the CLI, `2 .61` in the tab's dense column
    cli_ranks = [int(r) for r in re.findall(r"\(#(\d+)\)", text)]
    tab_ranks = [int(c.split()[0]) for c in cells[2:]]
    assert cli_ranks == tab_ranks == [2, 1, 1]
    assert "0.612" in text and cells[2] == "2 .61"


def test_a_method_that_missed_the_chunk_reads_as_a_dash_in_both():
    hit = Hit("a.md#0", "a.md", "", 1, 2, "x", dense_score=0.5, dense_rank=1)
    assert "full-text –" in cli(present.scores_line(hit)) and "fused –" in cli(present.scores_line(hit))
    assert [c.plain for c in present.row_cells(hit, "dense", 5, False, {})][3:] == ["–", "–"]


def test_document_names_that_look_like_markup_or_escapes_are_shown_as_written():
    hit = Hit(
        "[bold]x[/bold].md#0",
        "[bold]x[/bold].md",
        "\x1b[31mred",
        1,
        2,
        "[red]text[/red]",
        dense_score=0.5,
        dense_rank=1,
    )
    text = cli(present.hit_header(1, hit, []), present.highlighted(hit.text, "text"))
    assert "[bold]x[/bold].md" in text and "[red]text[/red]" in text and "\x1b" not in text
    assert "[bold]x[/bold].md" in present.row_cells(hit, "dense", 5, False, {})[1].plain


REPORT = IngestReport(
    added=["a.md", "b.md"],
    updated=["c.md"],
    removed=["d.md"],
    unchanged=["e.md"],
    skipped=[Skipped("f.pdf", "unsupported type")],
    chunks_embedded=17,
    docs_total=4,
    chunks_total=30,
    seconds=2.0,
    embedding_model="all-MiniLM-L6-v2",
    index_version=7,
)


def test_an_ingest_reports_the_same_counts_in_both():
    buf = io.StringIO()
    present.print_ingest_report(Console(file=buf, width=300, color_system=None), REPORT)
    text, toast = buf.getvalue(), present.ingest_summary(REPORT)
    for fact in ("2 added", "1 updated", "1 removed", "1 skipped", "17 chunks embedded", "4 documents", "30 chunks"):
        assert fact in text and fact in toast, fact
    assert "8.5 chunks/s" in text  # 17 chunks in 2.0 s


def test_a_cancelled_ingest_says_what_was_kept_in_both():
    report = IngestReport(added=["a.md"], updated=["b.md"], pending=["c.md", "d.md", "e.md"], cancelled=True)
    buf = io.StringIO()
    present.print_ingest_report(Console(file=buf, width=300, color_system=None), report)
    for text in (buf.getvalue(), present.ingest_summary(report)):
        assert "kept 2 completed files; 3 not done" in text


def test_ingest_progress_reads_the_same_in_the_cli_bar_and_the_tab():
    p = IngestProgress("embedding", 3, 10, 40, 120, 35.25, 125.0)
    fields = present.progress_fields(p)  # the CLI progress bar's columns
    assert fields == {"files": "3/10 files", "chunks": "40/120 chunks", "rate": "35.2 chunks/s", "eta": "ETA 2:05"}
    assert present.progress_text(p) == "embedding · 3/10 files · 40/120 chunks · 35.2 chunks/s · ETA 2:05"
    scanning = IngestProgress("scanning", 1, 10, 0, 0, 0.0, None)
    assert present.progress_text(scanning) == "scanning · 1/10 files"


def test_the_index_status_names_the_same_index_in_both():
    meta = {
        "docs": 4,
        "chunks": 30,
        "table_rows": 30,
        "embedding_model": "all-MiniLM-L6-v2",
        "table_version": 7,
        "last_ingest_at": "2026-05-01T10:20:00",
        "state": "ready",
        "dimension": 384,
    }
    line, stats = cli(present.status_line(meta)), present.stats_text(meta).plain
    assert "4 documents, 30 chunks" in line and "4 docs · 30 chunks" in stats
    assert "all-MiniLM-L6-v2" in line and "all-MiniLM-L6-v2" in stats
    assert "version 7" in line and "index v7" in stats
    assert "2026-05-01" in line and "2026-05-01 10:20 UTC" in stats
    weird = cli(present.status_line({**meta, "embedding_model": "m\nodel", "chunking": {"chunk_tokens": 256}}))
    assert "m\\nodel" in weird and "chunking chunk_tokens 256" in weird
