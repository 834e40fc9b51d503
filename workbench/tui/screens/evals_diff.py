"""Two eval runs side by side: which cases flipped, is it real, and what changed in the text.

A full screen (not a modal) so the case table and both outputs get the whole terminal at 80x24.
The diff (`diff_runs`: results of both runs, word diff, McNemar and bootstrap) is computed in a
thread worker that posts `DiffReady`; until then the screen says so and stays responsive.

Model output is untrusted: the word-diff segments are appended to `rich.text.Text` after
`terminal_safe`, with styles built from the theme's variables, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from workbench.present.evals import (
    case_head,
    change_text,
    counts_line,
    filter_line,
    first_nonempty_filter,
    flip_lines,
    retrieval_line,
    safe,
    side_texts,
    stats_line,
    totals_line,
    visible_cases,
)
from workbench.tui.widgets.key_hints import KeyHints
from workbench.tui.widgets.text import cell, diff_styles

CASE_MIN, CHANGE_WIDTH = 11, 12
# The left pane beside the case column: the change column, both columns' padding, the border.
LEFT_EXTRA = CHANGE_WIDTH + 2 * 2 + 1
LEFT_MIN, LEFT_SHARE, LEFT_MAX = CASE_MIN + LEFT_EXTRA, 0.3, 64


def case_column_width(screen_width: int, longest_id: int) -> int:
    """The case column: 11 at 80 columns (the outputs need the room), growing with the
    terminal (30% of it for the list) up to the longest id shown."""
    room = min(LEFT_MAX, max(LEFT_MIN, int(screen_width * LEFT_SHARE))) - LEFT_EXTRA
    return max(CASE_MIN, min(room, longest_id))


class EvalsDiffScreen(Screen[None]):
    """Run A (before) against run B (after), case by case."""

    BINDINGS = [
        Binding("escape", "close", "Back", id="evals_diff.close", tooltip="Back to the Evals tab"),
        Binding(
            "r",
            "only('regressions')",
            "Regressions",
            id="evals_diff.regressions",
            tooltip="Show only cases that passed in A and fail in B",
        ),
        Binding(
            "f",
            "only('fixes')",
            "Fixes",
            id="evals_diff.fixes",
            tooltip="Show only cases that failed in A and pass in B",
        ),
        Binding(
            "c",
            "only('changed')",
            "Changed",
            id="evals_diff.changed",
            tooltip="Show cases whose verdict or output changed",
        ),
        Binding("a", "only('all')", "All", id="evals_diff.all", tooltip="Show every case"),
        Binding("s", "swap", "Swap A/B", id="evals_diff.swap", tooltip="Exchange the before and after runs"),
    ]

    DEFAULT_CSS = """
    EvalsDiffScreen { layout: vertical; }
    EvalsDiffScreen #diff-title { height: 1; text-style: bold; color: $primary;
                                  text-wrap: nowrap; text-overflow: ellipsis; }
    EvalsDiffScreen #diff-stats { height: auto; }
    EvalsDiffScreen #diff-warnings { height: auto; max-height: 8; color: $warning; }
    EvalsDiffScreen #diff-body { height: 1fr; min-height: 8; border-top: hkey $panel-lighten-1; }
    EvalsDiffScreen #diff-left { width: 28; height: 1fr; border-right: vkey $panel-lighten-1; }
    EvalsDiffScreen #diff-filter { height: 1; color: $text-muted; }
    EvalsDiffScreen #diff-cases { height: 1fr; }
    EvalsDiffScreen #diff-detail { width: 1fr; height: 1fr; padding: 0 0 0 1;
                                   scrollbar-size-vertical: 1; }
    EvalsDiffScreen #diff-case-head { text-style: bold; height: auto; }
    EvalsDiffScreen #diff-flips { height: auto; color: $text; }
    EvalsDiffScreen #diff-retrieval { height: auto; color: $text-muted; }
    EvalsDiffScreen #diff-outputs { height: auto; margin-top: 1; }
    EvalsDiffScreen .diff-side { width: 1fr; height: auto; }
    EvalsDiffScreen #diff-side-b { border-left: vkey $panel-lighten-1; padding-left: 1; }
    EvalsDiffScreen .diff-side-title { height: 1; color: $text-muted; text-style: bold;
                                       text-wrap: nowrap; text-overflow: ellipsis; }
    EvalsDiffScreen .diff-output { height: auto; }
    """

    which: reactive[str] = reactive("changed", init=False)

    @dataclass
    class DiffReady(Message):
        """The diff worker finished; `diff` is a RunDiff, or `error` says why not."""

        diff: Any = None
        error: str | None = None

    def __init__(self, project: Any, store: Any, run_a: int, run_b: int) -> None:
        super().__init__()
        self.project = project
        self.store = store
        self.run_a = run_a
        self.run_b = run_b
        self.diff: Any = None
        self.cases: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(f"diff e{self.run_a} → e{self.run_b}"), id="diff-title")
        yield Static(Text("computing the diff…"), id="diff-stats")
        yield Static("", id="diff-warnings")
        with Horizontal(id="diff-body"):
            with Vertical(id="diff-left"):
                yield Static("", id="diff-filter")
                table: DataTable[Any] = DataTable(id="diff-cases", cursor_type="row")
                table.add_column("case", key="case", width=CASE_MIN)
                table.add_column("change", key="change", width=CHANGE_WIDTH)
                yield table
            with VerticalScroll(id="diff-detail", can_focus=True):
                yield Static("", id="diff-case-head")
                yield Static("", id="diff-flips")
                yield Static("", id="diff-retrieval")
                with Horizontal(id="diff-outputs"):
                    with Vertical(classes="diff-side", id="diff-side-a"):
                        yield Static("", classes="diff-side-title", id="diff-title-a")
                        yield Static("", classes="diff-output", id="diff-out-a")
                    with Vertical(classes="diff-side", id="diff-side-b"):
                        yield Static("", classes="diff-side-title", id="diff-title-b")
                        yield Static("", classes="diff-output", id="diff-out-b")
        yield KeyHints()

    def on_mount(self) -> None:
        self.query_one("#diff-warnings").display = False
        self.query_one("#diff-cases", DataTable).focus()
        self.watch(self.app, "theme", lambda _: self._restyle(), init=False)
        self.compute(self.run_a, self.run_b)

    # -- the worker ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="eval-diff", exit_on_error=False)
    def compute(self, run_a: int, run_b: int) -> None:
        from workbench.core.errors import WorkbenchError
        from workbench.core.evals import runstore
        from workbench.core.evals.diff import diff_runs

        try:
            info_a = runstore.run_info(runstore.get_run(self.store, run_a))
            info_b = runstore.run_info(runstore.get_run(self.store, run_b))
            diff = diff_runs(
                runstore.load_results(self.store, run_a), runstore.load_results(self.store, run_b), a=info_a, b=info_b
            )
        except WorkbenchError as exc:
            self.post_message(self.DiffReady(error=str(exc)))
            return
        self.post_message(self.DiffReady(diff=diff))

    @on(DiffReady)
    def _ready(self, message: DiffReady) -> None:
        if message.error:
            self.query_one("#diff-stats", Static).update(Text(safe(message.error)))
            return
        diff = self.diff = message.diff
        title = f"diff  A: {safe(diff.a.label)}  →  B: {safe(diff.b.label)}"
        if diff.a.evalset_name:
            title += f"  · {safe(diff.a.evalset_name)}"
        self.query_one("#diff-title", Static).update(Text(title))
        stats = Text(counts_line(diff) + "\n", no_wrap=False)
        stats.append(stats_line(diff), style="bold")
        totals = totals_line(diff)
        if totals:
            stats.append(f"\n{totals}")
        self.query_one("#diff-stats", Static).update(stats)
        warnings = self.query_one("#diff-warnings", Static)
        warnings.update(Text("\n".join(f"⚠ {safe(w)}" for w in diff.warnings)))
        warnings.display = bool(diff.warnings)
        self.query_one("#diff-title-a", Static).update(Text(f"A · {safe(diff.a.label)}"))
        self.query_one("#diff-title-b", Static).update(Text(f"B · {safe(diff.b.label)}"))
        which = first_nonempty_filter(diff)
        if which == self.which:
            self._fill()
        else:
            self.which = which

    # -- the case table ------------------------------------------------------------------------
    def watch_which(self, which: str) -> None:
        self._fill()

    def _fill(self) -> None:
        if self.diff is None:
            return
        table = self.query_one("#diff-cases", DataTable)
        table.clear()
        styles = diff_styles(self.app.theme_variables)
        self.cases = visible_cases(self.diff, self.which)
        self._size_case_column()
        for case in self.cases:
            table.add_row(cell(case.case_id), change_text(case, styles), key=case.case_id)
        self.query_one("#diff-filter", Static).update(
            Text(filter_line(self.which, len(self.cases), len(self.diff.cases)))
        )
        if self.cases:
            table.move_cursor(row=0)
        self._show_case()
        self.refresh_bindings()

    def _size_case_column(self) -> None:
        """Fit the case column (and the left pane) to the terminal and the longest case id."""
        table = self.query_one("#diff-cases", DataTable)
        longest = max((len(safe(c.case_id)) for c in (self.diff.cases if self.diff else [])), default=CASE_MIN)
        width = case_column_width(self.size.width or self.app.size.width, longest)
        column = table.columns.get(ColumnKey("case"))
        if column is not None and column.width != width:
            column.width = width
            table.refresh(layout=True)
        self.query_one("#diff-left").styles.width = width + LEFT_EXTRA

    def on_resize(self) -> None:
        if self.diff is not None:
            self._restyle()

    def _restyle(self) -> None:
        """A new theme: rebuild the styled cells and the outputs, keeping the selection."""
        row = self.query_one("#diff-cases", DataTable).cursor_row
        self._fill()
        if self.cases:
            self.query_one("#diff-cases", DataTable).move_cursor(row=min(row, len(self.cases) - 1))

    @on(DataTable.RowHighlighted, "#diff-cases")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_case()

    def selected_case(self) -> Any:
        table = self.query_one("#diff-cases", DataTable)
        if not self.cases or not 0 <= table.cursor_row < len(self.cases):
            return None
        return self.cases[table.cursor_row]

    def _show_case(self) -> None:
        case = self.selected_case()
        head = self.query_one("#diff-case-head", Static)
        if case is None:
            empty = f"No {self.which} in this diff." if self.which != "all" else "No cases."
            head.update(Text(empty + " Keys: r regressions · f fixes · c changed · a all"))
            for name in ("#diff-flips", "#diff-retrieval", "#diff-out-a", "#diff-out-b"):
                self.query_one(name, Static).update("")
            return
        styles = diff_styles(self.app.theme_variables)
        head.update(Text(case_head(case)))
        flips = flip_lines(case)
        self.query_one("#diff-flips", Static).update(
            Text("flipped: " + "\n         ".join(flips)) if flips else Text("no assertion changed outcome")
        )
        self.query_one("#diff-retrieval", Static).update(Text(retrieval_line(case)))
        out_a, out_b = side_texts(case, styles["delete"], styles["insert"])
        self.query_one("#diff-out-a", Static).update(out_a)
        self.query_one("#diff-out-b", Static).update(out_b)

    # -- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "only" and self.diff is None:
            return None
        return True

    def action_only(self, which: str) -> None:
        self.which = which
        self.query_one("#diff-cases", DataTable).focus()

    def action_swap(self) -> None:
        self.run_a, self.run_b = self.run_b, self.run_a
        self.diff = None
        self.query_one("#diff-stats", Static).update(Text("computing the diff…"))
        self.compute(self.run_a, self.run_b)

    def action_close(self) -> None:
        self.dismiss(None)
