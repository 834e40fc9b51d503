"""Column widths that use the terminal: each column gets its minimum (what 80 columns allow),
then the spare width goes to the columns a user reads first, each up to its longest cell, so
an eval set or model name is cut only when the terminal really has no room for it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey


def fit_widths(room: int, columns: Sequence[tuple[str, int, int]]) -> dict[str, int]:
    """`columns`: (key, minimum, wanted). Each column gets its minimum (only what its cells
    need when they are all shorter); the spare room is then shared out one cell at a time, in
    the given order, to the columns still cut, so two long names are cut alike."""
    widths = {key: min(low, wanted) for key, low, wanted in columns}
    spare = room - sum(widths.values())
    while spare > 0:
        short = [key for key, _, wanted in columns if widths[key] < wanted]
        if not short:
            break
        for key in short[:spare]:
            widths[key] += 1
        spare -= min(spare, len(short))
    return widths


def longest(cells: Iterable[Text | str], header: str = "") -> int:
    """The widest cell (or the header) in terminal cells."""
    return max([cell_len(header)] + [cell_len(c.plain if isinstance(c, Text) else str(c)) for c in cells])


def room(table: DataTable[Any], columns: int) -> int:
    """The width the table's cells can share: less each column's padding and the scrollbar."""
    return (table.size.width or table.app.size.width) - 2 * table.cell_padding * columns - 2


def apply_widths(table: DataTable[Any], widths: dict[str, int]) -> bool:
    """Set the columns' widths; True when one changed. Call between `clear()` and `add_row`."""
    changed = False
    for key, width in widths.items():
        column = table.columns.get(ColumnKey(key))
        if column is not None and column.width != width:
            column.width = width
            changed = True
    if changed:
        table.refresh(layout=True)
    return changed
