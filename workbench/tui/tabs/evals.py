"""The Evals tab: pick an eval set and a variant, run it with live per-case progress, browse
past runs and their summaries, resume a cancelled run, and open the diff of two runs.

Everything slow is a named worker that posts a message; handlers change the widgets:
- `eval-run` (async, on the app's loop): the same `EvalRunner` the CLI uses, so a run started
  here is an ordinary stored run (`workbench eval runs` lists it). Its `on_progress` posts a
  `Progress` copy per finished case; Esc calls `runner.cancel()`, which keeps the finished cases
  and stores the run as `cancelled`, resumable with ctrl+e (as is a killed, `interrupted` one).
- `eval-list`, `eval-sets`, `eval-summary` (threads): read the store and the eval files.
The diff of two runs is its own screen (screens/evals_diff.py), computed in its own worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, DataTable, Label, Select
from textual.worker import Worker, WorkerState

from workbench.core.errors import WorkbenchError
from workbench.tui.widgets.evals_panels import RunProgressPanel, SummaryPanel
from workbench.tui.widgets.evals_text import (
    RESUMABLE,
    default_pair,
    evalset_files,
    run_cells,
    safe,
)

COLUMNS = (("run", 6), ("eval set", 10), ("variant", 12), ("pass [95% CI]", 13),
           ("date", 11), ("status", 11))
ROW_LIMIT = 200
NO_SETS = "__none__"
READING = "__reading__"


def resume_choice(project: Any, row: dict[str, Any]) -> str:
    """The variant picker value a stored run was made with (the runner checks the id)."""
    from workbench.tui.tabs.prompt import BASE

    name = row.get("variant_name")
    if name and name in project.config.variants:
        return name
    if name and name in project.prompts:
        return f"prompt:{name}"
    return BASE


class EvalsTab(Vertical):
    """Eval sets, runs, live progress, summary; `d` opens the diff of two runs."""

    BINDINGS = [
        Binding("ctrl+r", "run", "Run", id="evals.run",
                tooltip="Run the chosen eval set with the chosen variant"),
        Binding("escape", "cancel", "Cancel run", id="evals.cancel",
                tooltip="Stop the run; finished cases are kept and the run can be resumed"),
        Binding("ctrl+e", "resume", "Resume", id="evals.resume",
                tooltip="Continue the selected cancelled or interrupted run"),
        Binding("d", "diff", "Diff", id="evals.diff",
                tooltip="Compare two runs (the marked A and B, else the two newest of the set)"),
        Binding("a", "mark('a')", "Mark A", id="evals.mark_a",
                tooltip="Use the selected run as A (before) in the diff"),
        Binding("b", "mark('b')", "Mark B", id="evals.mark_b",
                tooltip="Use the selected run as B (after) in the diff"),
        Binding("ctrl+l", "table", "Runs", id="evals.table", show=False,
                tooltip="Move to the runs table"),
        Binding("ctrl+u", "refresh", "Refresh", id="evals.refresh", show=False,
                tooltip="Read the eval sets and the run store again"),
    ]

    DEFAULT_CSS = """
    EvalsTab { height: 1fr; }
    EvalsTab #evals-controls { dock: bottom; height: 4; border-top: hkey $panel-lighten-1; }
    EvalsTab #evals-bar { height: 1; }
    EvalsTab #evals-bar Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    EvalsTab #evals-set { width: 1fr; max-width: 36; margin-right: 1; }
    EvalsTab #evals-variant { width: 1fr; max-width: 36; margin-right: 1; }
    EvalsTab #evals-cache { width: auto; }
    EvalsTab #evals-runs { height: auto; min-height: 3; max-height: 40%; }
    EvalsTab SummaryPanel { min-height: 5; }
    """

    @dataclass
    class SetsLoaded(Message):
        """Eval-set files read: (label, path) per file; problems name the file and line."""

        options: list[tuple[str, str]]

    @dataclass
    class RunsLoaded(Message):
        """Eval runs read from the store, newest first."""

        rows: list[dict[str, Any]]
        error: str | None = None

    @dataclass
    class SummaryLoaded(Message):
        """A run's row and summary (recomputed from its results when none is stored)."""

        row: dict[str, Any]
        summary: dict[str, Any] | None

    @dataclass
    class RunStarted(Message):
        """The runner was built: the eval set and variant are valid."""

        title: str
        total: int

    @dataclass
    class Progress(Message):
        """One more case finished (a copy of the runner's RunProgress)."""

        progress: Any

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EvalsTab.Progress)

    @dataclass
    class RunFinished(Message):
        """The run ended: `status` is done or cancelled; its summary is stored."""

        run_id: int
        status: str
        summary: dict[str, Any]
        kept: int
        total: int

    @dataclass
    class RunFailed(Message):
        """The run could not start or resume (bad eval file, changed variant...)."""

        error: str

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.rows: list[dict[str, Any]] = []
        self.marks: dict[str, int | None] = {"a": None, "b": None}
        self.runner: Any = None
        self.running = False
        self.last_run_id: int | None = None
        self._select_after_load: int | None = None
        self._seen_run: int | None = None

    def compose(self) -> ComposeResult:
        from workbench.tui.tabs.prompt import BASE, variant_options

        # The pickers and the progress sit at the bottom, above the footer's keys: Textual orders
        # focus by position, so F3 lands on the runs table, where a, b, d and ctrl+e act.
        table: DataTable = DataTable(id="evals-runs", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        yield table
        yield SummaryPanel(id="evals-summary")
        with Vertical(id="evals-controls"):
            yield RunProgressPanel(id="evals-progress")
            with Horizontal(id="evals-bar"):
                yield Label("Set")
                yield Select([("(reading eval sets…)", READING)], value=READING,
                             allow_blank=False, compact=True, id="evals-set")
                yield Label("Variant")
                yield Select(variant_options(self.project), value=BASE, allow_blank=False,
                             compact=True, id="evals-variant")
                yield Checkbox("cache", value=True, compact=True, id="evals-cache",
                               tooltip="Reuse stored answers for unchanged cases (off: call "
                                       "the model for every case, like --no-cache)")

    def on_mount(self) -> None:
        self.store = self.project.store  # opened on the UI thread: one Store object
        self.reload()

    def on_show(self) -> None:
        if not self.running:
            self.refresh_runs()

    def reload(self) -> None:
        self.load_sets()
        self.refresh_runs()

    def refresh_runs(self, select: int | None = None) -> None:
        if select is not None:
            self._select_after_load = select
        self.load_runs(self.store)

    # -- loaders (threads) -------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="eval-sets", exit_on_error=False)
    def load_sets(self) -> None:
        from workbench.core.evals.evalset import load_evalset

        options = []
        for path in evalset_files(self.project):
            try:
                evalset = load_evalset(path)
            except WorkbenchError as exc:
                options.append((f"{path.name} (invalid: {exc.message[:40]})", str(path)))
                continue
            options.append((f"{evalset.name} ({len(evalset.cases)} cases)", str(path)))
        self.post_message(self.SetsLoaded(options))

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
        from workbench.core.evals.summary import summarize

        row = runstore.get_run(store, run_id)
        summary = row.get("summary") if isinstance(row.get("summary"), dict) else None
        if summary is None:
            results = runstore.load_results(store, run_id)
            if results:
                summary = summarize(results, expected_results=(row.get("total_cases") or 0)
                                    * (row.get("repeat") or 1))
        self.post_message(self.SummaryLoaded(row, summary))

    # -- the run (async, on the app's loop; the runner's awaits never block it) -----------------
    @work(exclusive=True, group="eval-run", exit_on_error=False)
    async def run_eval(self, path: Path, choice: str, resume: int | None = None,
                       use_cache: bool = True) -> None:
        from workbench.core.evals.evalset import load_evalset
        from workbench.core.evals.runner import EvalRunner
        from workbench.tui.tabs.prompt import resolve_choice

        try:
            evalset = await asyncio.to_thread(load_evalset, path)
            variant = resolve_choice(self.project, choice, None)
            runner = EvalRunner(self.project, evalset, variant,
                                concurrency=self.project.config.evals.concurrency,
                                use_cache=use_cache,
                                on_progress=lambda p: self.post_message(
                                    self.Progress(dataclasses.replace(p))))
        except WorkbenchError as exc:
            self.post_message(self.RunFailed(str(exc)))
            return
        self.runner = runner
        what = "resuming e%d: " % resume if resume else ""
        self.post_message(self.RunStarted(f"{what}{evalset.name} with {variant.label}",
                                          len(evalset.cases)))
        try:
            outcome = await runner.run(resume=resume)
        except WorkbenchError as exc:  # resume refused: the set or the variant changed
            self.post_message(self.RunFailed(str(exc)))
            return
        finally:
            self.runner = None
        kept = len(outcome.results)
        self.post_message(self.RunFinished(outcome.run_id, outcome.status, outcome.summary, kept,
                                           len(evalset.cases) * runner.repeat))

    # -- message handlers ----------------------------------------------------------------------
    @on(SetsLoaded)
    def _sets_loaded(self, message: SetsLoaded) -> None:
        select = self.query_one("#evals-set", Select)
        current = select.value
        if message.options:
            select.set_options(message.options)
            values = [v for _, v in message.options]
            select.value = current if current in values else values[0]
        else:
            folder = self.project.config.evals.dir
            select.set_options([(f"(no eval sets in {folder}/)", NO_SETS)])
            select.value = NO_SETS

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
                "No eval runs yet. Choose an eval set and a variant, then ctrl+r.")
            return
        ids = [r["id"] for r in self.rows]
        table.move_cursor(row=ids.index(keep) if keep in ids else 0)
        self._show_current()

    def _fill_table(self) -> None:
        table = self.query_one("#evals-runs", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in self.rows:
            mark = "".join(k.upper() for k in ("a", "b") if self.marks[k] == row["id"])
            table.add_row(*run_cells(row, mark=mark), key=str(row["id"]))
        if self.rows:
            table.move_cursor(row=min(max(cursor, 0), len(self.rows) - 1))

    def _current_run_id(self) -> int | None:
        table = self.query_one("#evals-runs", DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]["id"]

    def current_row(self) -> dict[str, Any] | None:
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

    @on(RunStarted)
    def _run_started(self, message: RunStarted) -> None:
        self.query_one(RunProgressPanel).start(message.title, message.total)

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        p = message.progress
        self.query_one(RunProgressPanel).show(p)
        if self._seen_run != p.run_id:  # the run's row exists now: list it
            self._seen_run = p.run_id
            self.refresh_runs(select=p.run_id)

    @on(RunFinished)
    def _run_finished(self, message: RunFinished) -> None:
        self.last_run_id = message.run_id
        s = message.summary
        counts = f"pass {s.get('passed', 0)} · fail {s.get('failed', 0)}"
        if s.get("judge_errors"):
            counts += f" · judge errors {s['judge_errors']}"
        panel = self.query_one(RunProgressPanel)
        if message.status == "cancelled":
            panel.idle(f"e{message.run_id} cancelled · {message.kept} of {message.total} cases "
                       f"kept · {counts}",
                       "Stored as cancelled: select it and press ctrl+e to resume.")
        else:
            panel.idle(f"e{message.run_id} {message.status} · {message.total} cases · {counts} · "
                       f"{s.get('cache_hits', 0)} from cache",
                       "Select two runs with a / b, or press d for the two newest.")
        self.refresh_runs(select=message.run_id)

    @on(RunFailed)
    def _run_failed(self, message: RunFailed) -> None:
        self.query_one(RunProgressPanel).idle("The run did not start.", safe(message.error))
        self.notify(message.error, title="Eval run", severity="error", timeout=8, markup=False)

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """Track the run worker; a failure in any of this tab's workers becomes a toast."""
        worker = event.worker
        if worker.group == "eval-run":
            self.running = worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
            self.refresh_bindings()
            if worker.state == WorkerState.CANCELLED:
                self.query_one(RunProgressPanel).idle(
                    "Run stopped; the finished cases are kept.", "ctrl+e resumes it.")
                self.refresh_runs()
        if worker.state == WorkerState.ERROR:
            error = worker.error
            if worker.group == "eval-run":
                self.query_one(RunProgressPanel).idle("The run stopped with an error.",
                                                      safe(f"{type(error).__name__}: {error}"))
                self.refresh_runs()
            self.notify(f"{worker.name or worker.group} failed: {type(error).__name__}: {error}",
                        severity="error", timeout=10, markup=False)

    @on(Select.Changed, "#evals-set")
    @on(Select.Changed, "#evals-variant")
    def _choice_changed(self) -> None:
        self.refresh_bindings()

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
        path = self.query_one("#evals-set", Select).value
        if path == READING:
            self.notify("Still reading the eval sets; try again in a moment.", timeout=2)
            return
        if path in (NO_SETS, Select.BLANK):
            folder = self.project.root / self.project.config.evals.dir
            self.notify(f"No eval set to run: write one in {folder} (see `workbench eval run "
                        "--help`).", severity="warning", markup=False)
            return
        choice = str(self.query_one("#evals-variant", Select).value)
        self.running = True
        self.refresh_bindings()
        self.run_eval(Path(str(path)), choice, use_cache=self._use_cache())

    def action_cancel(self) -> None:
        if self.runner is not None:
            self.runner.cancel()
        else:
            for worker in self.workers_in_group("eval-run"):
                worker.cancel()
        self.notify("Cancelling — finished cases are kept; the run can be resumed.", timeout=3)

    def workers_in_group(self, group: str) -> list[Worker]:
        return [w for w in self.app.workers if w.node is self and w.group == group]

    def action_resume(self) -> None:
        row = self.current_row()
        if row is None or row.get("status") not in RESUMABLE:
            self.notify("Select a cancelled or interrupted run to resume.", severity="warning")
            return
        path = Path(row.get("evalset_path") or "")
        self.running = True
        self.refresh_bindings()
        self.run_eval(path, resume_choice(self.project, row), resume=row["id"],
                      use_cache=self._use_cache())

    def _use_cache(self) -> bool:
        return bool(self.query_one("#evals-cache", Checkbox).value)

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
            self.notify("A diff needs two runs of the eval set (mark them with a and b).",
                        severity="warning")
            return
        from workbench.tui.screens.evals_diff import EvalsDiffScreen

        self.app.push_screen(EvalsDiffScreen(self.project, self.store, *pair))

    def action_table(self) -> None:
        self.query_one("#evals-runs", DataTable).focus()

    def action_refresh(self) -> None:
        self.reload()
