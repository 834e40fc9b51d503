"""The Evals tab: past runs with their summaries, a run started with live per-case progress,
resume of a cancelled or interrupted run, and the diff of any two runs.

Everything slow is a named worker that posts a message; handlers change the widgets:
- the run itself lives in `EvalRunControls` (widgets/evals_controls.py): the same `EvalRunner`
  the CLI uses, so a run started here is an ordinary stored run (`workbench eval runs` lists
  it). Esc cancels it keeping the finished cases; ctrl+e resumes a cancelled or interrupted run.
- `eval-list` and `eval-summary` (threads) read the store.
The diff of two runs is its own screen (screens/evals_diff.py), computed in its own worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from workbench.core.records import EvalRun
from workbench.present.finetune import RESUMABLE
from workbench.tui.widgets.eval_history_plot import EvalHistoryPlot
from workbench.tui.widgets.evals_controls import EvalRunControls, resume_choice
from workbench.tui.widgets.evals_panels import SummaryPanel
from workbench.tui.widgets.table_fit import apply_widths, fit_widths, longest, room
from workbench.tui.widgets.text import default_pair, run_cells

COLUMNS = (("run", 6), ("eval set", 10), ("variant", 12), ("pass [95% CI]", 13), ("date", 11), ("status", 14))
ROW_LIMIT = 200
GROW_FIRST = ("status", "variant", "eval set", "run", "pass [95% CI]", "date")


class EvalsTab(Vertical):
    """Runs table, the selected run's summary, the run controls; `d` opens a diff."""

    BINDINGS = [
        Binding("ctrl+r", "run", "Run", id="evals.run", tooltip="Run the chosen eval set with the chosen variant"),
        Binding(
            "escape",
            "cancel",
            "Cancel run",
            id="evals.cancel",
            tooltip="Stop the run; finished cases are kept and the run can be resumed",
        ),
        Binding(
            "ctrl+e",
            "resume",
            "Resume",
            id="evals.resume",
            tooltip="Continue the selected cancelled or interrupted run",
        ),
        Binding(
            "d",
            "diff",
            "Diff",
            id="evals.diff",
            tooltip="Compare two runs (the marked A and B, else the two newest of the set)",
        ),
        Binding(
            "a", "mark('a')", "Mark A", id="evals.mark_a", tooltip="Use the selected run as A (before) in the diff"
        ),
        Binding("b", "mark('b')", "Mark B", id="evals.mark_b", tooltip="Use the selected run as B (after) in the diff"),
        Binding("ctrl+l", "table", "Runs", id="evals.table", show=False, tooltip="Move to the runs table"),
        Binding(
            "ctrl+u",
            "refresh",
            "Refresh",
            id="evals.refresh",
            show=False,
            tooltip="Read the eval sets and the run store again",
        ),
    ]

    # The controls are docked at the bottom, above the footer's keys: Textual orders focus by
    # position, so F3 lands on the runs table, where a, b, d and ctrl+e act.
    DEFAULT_CSS = """
    EvalsTab { height: 1fr; }
    EvalsTab #evals-controls { dock: bottom; }
    EvalsTab #evals-runs { height: auto; min-height: 3; max-height: 40%; }
    EvalsTab SummaryPanel { min-height: 5; }
    EvalsTab EvalHistoryPlot { display: none; }
    EvalsTab.-tall EvalHistoryPlot { display: block; }
    """
    PLOT_MIN_HEIGHT = 36  # below this the summary needs the rows; `eval history` still works

    @dataclass
    class RunsLoaded(Message):
        """Eval runs read from the store, newest first."""

        rows: list[EvalRun]
        error: str | None = None

    @dataclass
    class SummaryLoaded(Message):
        """A run's row and summary (recomputed from its results when none is stored)."""

        row: EvalRun
        summary: dict[str, Any] | None

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.rows: list[EvalRun] = []
        self.marks: dict[str, int | None] = {"a": None, "b": None}
        self._select_after_load: int | None = None

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="evals-runs", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        yield table
        yield SummaryPanel(id="evals-summary")
        yield EvalHistoryPlot(id="evals-history")
        yield EvalRunControls(self.project, id="evals-controls")

    def on_mount(self) -> None:
        self.store = self.project.store  # opened on the UI thread: one Store object
        self.refresh_runs()

    def on_show(self) -> None:
        # The eval files may have changed meanwhile (`workbench eval promote` adds a case):
        # the Set labels count the cases, so they are read again too.
        self.controls.load_sets()
        if not self.running:
            self.refresh_runs()

    @property
    def controls(self) -> EvalRunControls:
        return self.query_one(EvalRunControls)

    @property
    def running(self) -> bool:
        return self.controls.running

    def refresh_runs(self, select: int | None = None) -> None:
        if select is not None:
            self._select_after_load = select
        self.load_runs(self.store)

    # -- loaders (threads) -------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="eval-list", exit_on_error=False)
    def load_runs(self, store: Any) -> None:
        from workbench.core.evals.runstore import list_runs

        try:
            rows = list_runs(store, limit=ROW_LIMIT)
        except Exception as exc:  # noqa: BLE001 - shown in the tab, not a crash
            self.post_message(self.RunsLoaded([], f"cannot read eval runs: {exc}"))
            return
        self.post_message(self.RunsLoaded(rows))

    @work(thread=True, exclusive=True, group="eval-summary", exit_on_error=False)
    def load_summary(self, store: Any, run_id: int) -> None:
        from workbench.core.evals import runstore
        from workbench.core.runlog import eval_summary

        row = runstore.get_run(store, run_id)
        # a killed run has results but no stored summary: recomputed from them
        results = [] if isinstance(row.get("summary"), dict) else runstore.load_results(store, run_id)
        self.post_message(self.SummaryLoaded(row, eval_summary(row, results)))

    # -- the runs table ------------------------------------------------------------------------
    @on(RunsLoaded)
    def _runs_loaded(self, message: RunsLoaded) -> None:
        table = self.query_one("#evals-runs", DataTable)
        keep = self._select_after_load or self._current_run_id()
        self._select_after_load = None
        self.rows = message.rows
        self._fill_table()
        if message.error:
            self.query_one(SummaryPanel).show_message(message.error)
            return
        if not self.rows:
            self.query_one(SummaryPanel).show_message(
                "No eval runs yet. Choose an eval set and a variant below, then ctrl+r."
            )
            return
        ids = [r["id"] for r in self.rows]
        table.move_cursor(row=ids.index(keep) if keep in ids else 0)
        self._show_current()

    def _fill_table(self) -> None:
        table = self.query_one("#evals-runs", DataTable)
        cursor = table.cursor_row
        table.clear()
        rows = [
            run_cells(row, mark="".join(k.upper() for k in ("a", "b") if self.marks[k] == row["id"]))
            for row in self.rows
        ]
        # eval set, variant and status names take the room a wide terminal has (cut only at 80)
        wanted = {label: longest([cells[i] for cells in rows], label) for i, (label, _) in enumerate(COLUMNS)}
        minimum = dict(COLUMNS)
        apply_widths(
            table,
            fit_widths(room(table, len(COLUMNS)), [(label, minimum[label], wanted[label]) for label in GROW_FIRST]),
        )
        for row, cells in zip(self.rows, rows, strict=True):
            table.add_row(*cells, key=str(row["id"]))
        if self.rows:
            table.move_cursor(row=min(max(cursor, 0), len(self.rows) - 1))

    def _current_run_id(self) -> int | None:
        table = self.query_one("#evals-runs", DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return int(self.rows[table.cursor_row]["id"])

    def current_row(self) -> EvalRun | None:
        run_id = self._current_run_id()
        return next((r for r in self.rows if r["id"] == run_id), None)

    def _show_current(self) -> None:
        run_id = self._current_run_id()
        if run_id is not None:
            self.load_summary(self.store, run_id)
        self.refresh_bindings()

    @on(DataTable.RowHighlighted, "#evals-runs")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_current()

    @on(SummaryLoaded)
    def _summary_loaded(self, message: SummaryLoaded) -> None:
        if message.row["id"] == self._current_run_id():
            self.query_one(SummaryPanel).show_summary(message.row, message.summary)
            if message.row.get("evalset_name"):  # the plateau of the selected run's set
                self.query_one(EvalHistoryPlot).load(self.store, message.row["evalset_name"])

    def on_resize(self) -> None:
        self.set_class(self.size.height >= self.PLOT_MIN_HEIGHT, "-tall")
        if self.rows:
            self.call_after_refresh(self._fill_table)  # the columns follow the new width

    # -- what the run controls report ------------------------------------------------------------
    @on(EvalRunControls.Started)
    def _run_started(self, message: EvalRunControls.Started) -> None:
        self.refresh_runs(select=message.run_id)  # the run's row exists now: list it

    @on(EvalRunControls.Finished)
    def _run_finished(self, message: EvalRunControls.Finished) -> None:
        self.refresh_runs(select=message.run_id)

    @on(EvalRunControls.Stopped)
    def _run_stopped(self) -> None:
        self.refresh_runs()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """A failure in one of this tab's loaders becomes a toast (these messages do not
        bubble, so the app's handler never sees them)."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                f"{event.worker.name or event.worker.group} failed: {type(error).__name__}: {error}",
                severity="error",
                timeout=10,
                markup=False,
            )

    # -- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return True if self.running else False  # False: Esc falls through to others
        if action == "run":
            return None if self.running else True
        if action == "resume":
            row = self.current_row()
            return True if (not self.running and row and row.get("status") in RESUMABLE) else None
        if action in ("mark", "diff"):
            return True if self.rows else None
        return True

    def action_run(self) -> None:
        self.controls.start_chosen()
        self.refresh_bindings()

    def action_cancel(self) -> None:
        self.controls.cancel()

    def action_resume(self) -> None:
        row = self.current_row()
        if row is None or row.get("status") not in RESUMABLE:
            self.notify("Select a cancelled or interrupted run to resume.", severity="warning")
            return
        self.controls.start(Path(row.get("evalset_path") or ""), resume_choice(self.project, row), resume=row["id"])
        self.refresh_bindings()

    def action_mark(self, which: str) -> None:
        run_id = self._current_run_id()
        if run_id is None:
            return
        other = "b" if which == "a" else "a"
        if self.marks[other] == run_id:
            self.marks[other] = None
        self.marks[which] = None if self.marks[which] == run_id else run_id
        self._fill_table()
        chosen = self.marks[which]
        self.notify(f"Diff {which.upper()}: " + (f"e{chosen}" if chosen else "cleared"), timeout=2)

    def action_diff(self) -> None:
        pair = default_pair(self.rows, self._current_run_id(), self.marks["a"], self.marks["b"])
        if pair is None:
            self.notify("A diff needs two runs of the eval set (mark them with a and b).", severity="warning")
            return
        from workbench.tui.screens.evals_diff import EvalsDiffScreen

        self.app.push_screen(EvalsDiffScreen(self.project, self.store, *pair))

    def action_table(self) -> None:
        self.query_one("#evals-runs", DataTable).focus()

    def action_refresh(self) -> None:
        self.controls.load_sets()
        self.refresh_runs()
