"""One method's ranking (dense, full-text or hybrid) as a table, with every method's rank/score.

The tab holds three of these. Wide terminals show them side by side; at 80 columns one is shown
at a time and ctrl+n switches (the same widgets either way, so tests and keys do not change with
the size). Rows are keyed by chunk id; moving the cursor posts `Highlighted` so the tab can
preview the chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from workbench.present.retrieval import MODE_LABEL, is_gold, row_cells

COLUMNS = (("#", 3), ("document › heading", None), ("dense", 7), ("fts", 8), ("hybrid", 8))


class ResultsPanel(Vertical):
    """Title + table of the top chunks under one mode."""

    DEFAULT_CSS = """
    ResultsPanel { height: 1fr; width: 1fr; }
    ResultsPanel > .results-title { height: 1; color: $text-muted; text-style: bold; }
    ResultsPanel > DataTable { height: 1fr; scrollbar-size-vertical: 1; }
    """

    @dataclass
    class Highlighted(Message):
        """The cursor moved onto a chunk (or the table was refilled)."""

        panel: ResultsPanel
        hit: Any

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.hits: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(MODE_LABEL[self.mode]), classes="results-title")
        table: DataTable[Any] = DataTable(cursor_type="row", zebra_stripes=True, id=f"table-{self.mode}")
        yield table

    def on_mount(self) -> None:
        self.set_width(self.size.width)

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one(DataTable)

    def set_width(self, width: int) -> None:
        """(Re)make the columns so the document column takes the room that is left."""
        table = self.table
        fixed = sum(w for _, w in COLUMNS if w) + 2 * len(COLUMNS) + 1
        doc_width = max(12, width - fixed)
        if table.columns and table.ordered_columns[1].width == doc_width:
            return
        row = table.cursor_row
        table.clear(columns=True)
        for label, w in COLUMNS:
            table.add_column(
                Text(label, justify="right" if w and label != "#" else "left"), key=label, width=w or doc_width
            )
        self._fill()
        if 0 < row < len(self.hits):
            table.move_cursor(row=row)

    def on_resize(self) -> None:
        self.set_width(self.size.width)

    def show(
        self, hits: list[Any], k: int, relevant: list[str], styles: dict[str, str], title: str | None = None
    ) -> None:
        """Replace the rows; `relevant` marks gold rows, ranks past k are dimmed."""
        self.hits = hits
        self._k, self._relevant, self._styles = k, relevant, styles
        if title is not None:
            self.query_one(".results-title", Static).update(Text(title))
        self._fill()

    def _fill(self) -> None:
        table = self.table
        if not table.columns:
            return
        table.clear()
        for hit in self.hits:
            gold = is_gold(hit, getattr(self, "_relevant", []))
            table.add_row(
                *row_cells(hit, self.mode, getattr(self, "_k", 5), gold, getattr(self, "_styles", {})), key=hit.chunk_id
            )

    def selected(self) -> Any:
        table = self.table
        if not self.hits or table.cursor_row < 0 or table.cursor_row >= len(self.hits):
            return None
        return self.hits[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        hit = self.selected()
        if hit is not None:
            self.post_message(self.Highlighted(self, hit))
