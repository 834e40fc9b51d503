"""The Runs tab: every stored generation, retrieval, retrieval eval, eval run and fine-tune job,
newest first.

Reads through `workbench.core.runlog` (the same rows and ids as `workbench runs`), in a thread
worker so a large or busy database never stalls typing in the search box; the worker posts the
rows and the handler fills the table. Enter opens a run in full.

F5 lands on the table (the count line says "Enter opens one", so Enter must); the search box is
one key away (ctrl+f), and a letter typed in the table goes to the search box as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static

from workbench.core.safetext import terminal_safe
from workbench.present.runs import listing_row, when
from workbench.tui.widgets.table_fit import apply_widths, longest

ALL = "__all__"
KIND_OPTIONS = [
    ("all kinds", ALL),
    ("generation", "generation"),
    ("retrieval", "retrieval"),
    ("retr. eval", "retrieval-eval"),
    ("retr. tune", "retrieval-tune"),
    ("eval", "eval"),
    ("fine-tune", "finetune"),
]
STATUS_OPTIONS = [("any status", ALL)] + [
    (s, s) for s in ("ok", "running", "interrupted", "error", "timeout", "truncated", "incomplete", "done", "cancelled")
]
# Most telling first: at 80 columns the summary and created show, tokens and time start past the
# right edge (a column is whole or scrolled off, never cut mid-value).
COLUMNS = (
    ("id", "id", 5),
    ("kind", "kind", 4),
    ("status", "status", 11),
    ("summary", "summary", 28),
    ("model / variant", "model", 16),
    ("created", "created_at", 11),
    ("tokens", "tokens", 8),
    ("time", "time", 6),
)
SUMMARY_MIN, SUMMARY_MAX = 28, 100  # the summary column takes what a wide terminal has spare
MODEL_MIN = 16
MODEL_NARROW = 8  # where not all fit, the model narrows to this (`embedded` whole) to keep `created` in view
KIND_SHORT = {
    "generation": "gen",
    "retrieval": "ret",
    "retrieval-eval": "rev",
    "retrieval-tune": "tune",
    "eval": "eval",
    "finetune": "ft",
}
ROW_LIMIT = 500


def _cell(key: str, value: Any) -> Text:
    text = "" if value is None else str(value)
    if key == "created_at":
        text = when(text)  # MM-DD HH:MM (UTC), as the CLI lists it; the full stamp is in the detail
    elif key == "kind":
        text = KIND_SHORT.get(text, text)
    return Text(terminal_safe(text).replace("\n", " "), no_wrap=True, overflow="ellipsis")


def _layout(want: dict[str, int], view: int, pad: int) -> tuple[dict[str, int], bool]:
    """Column widths for cells `want` wide in `view` terminal cells (each column has `pad`), and
    whether all columns show. Fixed columns only as wide as their cells; the model gets up to
    MODEL_MIN, then the summary up to its longest cell (SUMMARY_MAX), then the model the rest
    it wants: at 120 columns every column shows, at 160 `ollama:qwen2.5:0.5b · base` too.

    Where not all fit (80 columns), the summary keeps SUMMARY_MIN and the columns after it
    show while each fits whole (the model narrowing to MODEL_NARROW for `created`, never for
    the numbers); the rest start exactly at the right edge, to be scrolled to: the last shown
    column takes the spare width as blank."""
    keys = [key for _, key, _ in COLUMNS]
    summary_want = min(SUMMARY_MAX, want["summary"])
    widths = {key: min(width, want[key]) for _, key, width in COLUMNS if key not in ("summary", "model")}
    widths["model"] = min(MODEL_MIN, want["model"])
    narrowest = min(MODEL_NARROW, want["model"])
    # The summary (the question: what tells runs apart) takes what leaves room for every other
    # column (120 columns), else for a narrowed model and `created` (80 columns: a question of
    # ~40 characters still shows whole), never less than SUMMARY_MIN.
    low = min(SUMMARY_MIN, summary_want)
    before = sum(widths[key] + pad for key in keys[: keys.index("summary")])
    after_all = sum(widths[key] + pad for key in keys[keys.index("summary") + 1 :])
    after_some = narrowest + pad + widths["created_at"] + pad
    room_all = view - before - pad - after_all
    room = room_all if room_all >= low else view - before - pad - after_some
    widths["summary"] = max(low, min(summary_want, room))
    shown = keys.index("summary") + 1
    spare = view - sum(widths[key] + pad for key in keys[:shown])
    for key in keys[shown:]:
        # The model narrows for itself or for `created` to show; tokens and time never narrow it.
        give = widths["model"] - narrowest if key in ("model", "created_at") else 0
        short = widths[key] + pad - spare
        if short > give:
            break
        if short > 0:
            widths["model"] -= short
            if key != "model":  # the model, already counted, frees what `created` lacks
                spare += short
        spare -= widths[key] + pad
        shown += 1
    if shown > keys.index("model"):
        for key, upto in (("summary", summary_want), ("model", want["model"])):
            grow = max(0, min(spare, upto - widths[key]))
            widths[key] += grow
            spare -= grow
    whole = shown == len(keys)
    if not whole:
        widths[keys[shown - 1]] += max(0, spare)
    return widths, whole


class RunsTab(Vertical):
    """Search box, kind and status filters, the table of runs."""

    BINDINGS = [
        Binding("ctrl+r", "refresh", "Refresh", id="runs.refresh", tooltip="Read the run store again"),
        Binding(
            "ctrl+f", "search", "Search", id="runs.search", tooltip="Type to filter runs by their summary or model"
        ),
        Binding(
            "ctrl+l", "table", "Runs list", id="runs.table", tooltip="Move to the table (Enter opens the selected run)"
        ),
        Binding(
            "ctrl+g",
            "promote",
            "Promote",
            id="runs.promote",
            tooltip="Append the selected generation's question to an eval set as a new case",
        ),
    ]

    @dataclass
    class Loaded(Message):
        """Rows read by the loader worker."""

        rows: list[dict[str, Any]]
        error: str | None = None

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="runs-filters"):
            yield Input(placeholder="search summary or model", id="runs-search", compact=True)
            yield Select(KIND_OPTIONS, value=ALL, allow_blank=False, compact=True, id="runs-kind")
            yield Select(STATUS_OPTIONS, value=ALL, allow_blank=False, compact=True, id="runs-status")
        table: DataTable[Any] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        self._add_columns(table, SUMMARY_MIN)
        yield table
        yield Static("", id="runs-count")

    @staticmethod
    def _add_columns(table: DataTable[Any], summary_width: int) -> None:
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=summary_width if key == "summary" else width)

    def _fit_columns(self, cells: list[list[Text]]) -> None:
        """Widths for the cells (see `_layout`) in the width the table shows: all of it, or
        less a vertical scrollbar's when the rows will not fit its height. Reserving the
        scrollbar always would leave two cells where the next column's first letter shows."""
        if not cells:
            return
        table = self.query_one("#runs-table", DataTable)
        keys = [key for _, key, _ in COLUMNS]
        want = {key: longest([row[keys.index(key)] for row in cells], label) for label, key, _ in COLUMNS}
        pad = 2 * table.cell_padding
        full = table.size.width or table.app.size.width
        widths, whole = _layout(want, full, pad)
        styles = table.styles
        rows_fit = table.size.height - (table.header_height if table.show_header else 0)
        if not whole:
            rows_fit -= styles.scrollbar_size_horizontal
        if not table.size.height or len(cells) > rows_fit:  # unknown height: keep the scrollbar's room
            widths, _ = _layout(want, full - styles.scrollbar_size_vertical, pad)
        apply_widths(table, widths)

    def on_resize(self) -> None:
        if self.rows:
            self.call_after_refresh(self._fill, self.Loaded(self.rows))

    def on_mount(self) -> None:
        self.refresh_runs()

    def on_show(self) -> None:
        self.refresh_runs()

    def _filters(self) -> dict[str, Any]:
        kind = self.query_one("#runs-kind", Select).value
        status = self.query_one("#runs-status", Select).value
        search = self.query_one("#runs-search", Input).value.strip()
        return {
            "kind": None if kind == ALL else kind,
            "status": None if status == ALL else status,
            "search": search or None,
        }

    def refresh_runs(self) -> None:
        # The store is opened here, on the UI thread, so there is only ever one Store object.
        self.load(self.project.store, **self._filters())

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def load(self, store: Any, kind: str | None, status: str | None, search: str | None) -> None:
        from workbench.core.runlog import list_runs

        try:
            rows = [listing_row(r) for r in list_runs(store, kind=kind, status=status, search=search, limit=ROW_LIMIT)]
        except Exception as exc:  # noqa: BLE001 - shown in the tab, not a crash
            self.post_message(self.Loaded([], f"cannot read runs: {exc}"))
            return
        self.post_message(self.Loaded(rows))

    @on(Loaded)
    def _fill(self, message: Loaded) -> None:
        table = self.query_one("#runs-table", DataTable)
        cursor = table.cursor_row
        selected = self.rows[cursor]["id"] if 0 <= cursor < len(self.rows) else None
        table.clear()
        self.rows = message.rows
        cells = [[_cell(key, row.get(key)) for _, key, _ in COLUMNS] for row in message.rows]
        self._fit_columns(cells)
        for row, row_cells in zip(message.rows, cells, strict=True):
            table.add_row(*row_cells, key=row["id"])
        if message.rows:
            # Newer runs push the list down: keep the cursor on the run the user had selected
            # (Enter must open what is highlighted), else on the same row number.
            ids = [row["id"] for row in message.rows]
            table.move_cursor(row=ids.index(selected) if selected in ids else min(cursor, len(ids) - 1))
        count = self.query_one("#runs-count", Static)
        if message.error:
            count.update(Text(message.error))
        else:
            shown = len(message.rows)
            more = " (newest shown; narrow the search)" if shown >= ROW_LIMIT else ""
            opens = " · Enter opens one" if shown else ""
            count.update(Text(f"{shown} run{'s' if shown != 1 else ''}{more}{opens}"))

    @on(Input.Changed, "#runs-search")
    @on(Select.Changed, "#runs-kind")
    @on(Select.Changed, "#runs-status")
    def _filters_changed(self) -> None:
        self.refresh_runs()

    @on(Input.Submitted, "#runs-search")
    def _search_done(self) -> None:
        self.query_one("#runs-table", DataTable).focus()

    @on(DataTable.RowSelected, "#runs-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        self.open_run(str(event.row_key.value))

    def open_run(self, run_id: str) -> None:
        from workbench.core.runlog import load_run
        from workbench.tui.screens.run_detail import RunDetailScreen

        kind, row = load_run(self.project.store, run_id)
        if row is None:
            self.notify(f"run {run_id} is no longer in the store", severity="warning")
            return
        self.app.push_screen(RunDetailScreen(self.project, run_id, kind, row))

    def focus_first_field(self) -> bool:
        """Where F5 lands (the app asks): the table, so Enter opens the highlighted run."""
        self.query_one("#runs-table", DataTable).focus()
        return True

    def on_key(self, event: events.Key) -> None:
        """A printable key the table does not use starts a search with that character."""
        table = self.query_one("#runs-table", DataTable)
        if self.app.focused is not table or not event.is_printable or not event.character or event.character.isspace():
            return
        search = self.query_one("#runs-search", Input)
        # The box selects its text on focus; here that would make the next key replace this one.
        # set_focus now (not focus(), which defers it) queues the Focus event before the reset.
        search.select_on_focus = False
        self.screen.set_focus(search)
        search.call_later(setattr, search, "select_on_focus", True)
        search.insert_text_at_cursor(event.character)
        event.stop()
        event.prevent_default()

    def selected_generation(self) -> int | None:
        """The numeric id of the highlighted row when it is a generation (what can be promoted)."""
        from workbench.core.run_ids import parse_run_id

        cursor = self.query_one("#runs-table", DataTable).cursor_row
        if not 0 <= cursor < len(self.rows):
            return None
        parsed = parse_run_id(str(self.rows[cursor]["id"]))
        return parsed[1] if parsed and parsed[0] == "generation" else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "promote":
            return True if self.selected_generation() is not None else None
        return True

    @on(DataTable.RowHighlighted, "#runs-table")
    def _highlighted(self) -> None:
        self.refresh_bindings()

    def action_promote(self) -> None:
        from workbench.tui.promote_flow import open_promote

        number = self.selected_generation()
        if number is None:
            self.notify("Select a generation (gen) to promote.", severity="warning")
            return
        open_promote(self, number, f"Runs tab · g{number}")

    def action_refresh(self) -> None:
        self.refresh_runs()

    def action_search(self) -> None:
        self.query_one("#runs-search", Input).focus()

    def action_table(self) -> None:
        self.query_one("#runs-table", DataTable).focus()
