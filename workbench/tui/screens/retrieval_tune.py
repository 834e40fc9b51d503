"""`workbench retrieval tune` in the Retrieval tab: the same grid, cost line and table, in a thread
worker with progress; Esc stops it after the current case (finished configurations are kept) and
`a` writes the winner to workbench.yaml, re-indexes and stores a `retrieval eval` of it, as
`retrieval tune --apply` does (core/retrieval/tune_project.py holds the shared steps).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe


def _screen_order(cells: Sequence[Any]) -> list[Any]:
    """The CLI's columns (configuration first, mark last) reordered for the screen: the mark and
    the numbers first, the configuration last. Its labels run ~60 characters; placed first they
    pushed every score off an 80-column screen, and the interval and mark off a 120-column one."""
    return [cells[-1], *cells[1:-1], cells[0]]


class TuneScreen(ModalScreen[bool]):
    """Dismisses with True when a winner was applied (the tab must reload its settings)."""

    BINDINGS = [
        Binding(
            "escape",
            "stop",
            "Stop/close",
            id="tune.stop",
            tooltip="Stop the sweep after this case (finished configurations stay); again to close",
        ),
        Binding(
            "a",
            "apply",
            "Apply winner",
            id="tune.apply",
            tooltip="Write the winner to workbench.yaml, re-index and store a retrieval eval",
        ),
    ]
    DEFAULT_CSS = """
    TuneScreen { align: center middle; }
    TuneScreen #tune-line, TuneScreen #tune-foot { height: auto; }
    TuneScreen #tune-table { height: 1fr; }
    """

    @dataclass
    class Progress(Message):
        text: str

    @dataclass
    class Done(Message):
        result: Any = None
        error: str | None = None

    @dataclass
    class Applied(Message):
        text: str
        error: bool = False
        final: bool = True  # False: a re-index progress line

    def __init__(self, project: Any, evalset: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.evalset = evalset
        self.cancel = threading.Event()
        self.result: Any = None
        self.tune_id: int | None = None  # the stored sweep (rtN)
        self.plan: Any = None
        self.running = True
        self.applying = False
        self.applied = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static("Retrieval tune", classes="modal-title", markup=False)
            yield Static("preparing: counting the chunks each chunking needs…", id="tune-line", markup=False)
            yield DataTable(id="tune-table", zebra_stripes=True, cursor_type="row")
            yield Static("Esc stops the sweep (finished configurations are kept).", id="tune-foot", markup=False)

    def on_mount(self) -> None:
        self.sweep()

    def _line(self, text: str, style: str = "") -> None:
        self.query_one("#tune-line", Static).update(Text(terminal_safe(text), style=style))

    def _foot(self, text: str, style: str = "") -> None:
        self.query_one("#tune-foot", Static).update(Text(terminal_safe(text), style=style))

    @work(thread=True, exclusive=True, group="retrieval-tune", exit_on_error=False)
    def sweep(self) -> None:
        from workbench.core.retrieval.tune_project import plan_tune, record_tune_run
        from workbench.present.retrieval import tune_cost_line

        try:
            plan = self.plan = plan_tune(self.project, self.evalset)
            cost = tune_cost_line(
                len(plan.grid), plan.n_chunkings, plan.n_cases, plan.todo, plan.total, plan.seconds
            ).plain
            self.post_message(self.Progress(cost))

            def progress(what: str, done: int, total: int) -> None:
                self.post_message(self.Progress(f"{cost}\n{what} ({done}/{total} cases)"))

            try:
                res = plan.run(self.project, progress=progress, cancel=self.cancel)
            finally:
                plan.cache.close()
            self.tune_id = record_tune_run(self.project, plan, res)
        except WorkbenchError as exc:
            self.post_message(self.Done(error=str(exc)))
            return
        except Exception as exc:
            self.post_message(self.Done(error=f"{type(exc).__name__}: {exc}"))
            raise
        self.post_message(self.Done(res))

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self._line(message.text)

    @on(Done)
    def _done(self, message: Done) -> None:
        self.running = False
        if message.error:
            self._line(message.error, "bold red")
            self._foot("Esc closes.")
            return
        from workbench.present.retrieval import tune_cells, tune_columns

        res = self.result = message.result
        table = self.query_one("#tune-table", DataTable)
        table.clear(columns=True)
        table.add_columns(*_screen_order(tune_columns(res.k)))
        for r in res.rows:
            table.add_row(*(Text(terminal_safe(c)) for c in _screen_order(tune_cells(res, r))))
        stopped = " (stopped early)" if res.cancelled else ""
        self._line(
            f"{res.n_cases} cases, k={res.k}, {len(res.rows)} configurations{stopped}; "
            f"{res.embedded} texts embedded, {res.seconds:.0f} s, stored as rt{self.tune_id}. * the "
            "interval excludes 0: a real difference on these cases."
        )
        winner = res.winner
        if res.cancelled:
            self._foot("Stopped before every configuration was scored: nothing to apply. Esc closes.")
        elif winner is None or winner.config == res.current:
            self._foot("No configuration is really better than the current settings. Esc closes.")
        else:
            changes = ", ".join(f"{k}={v}" for k, v in winner.config.changes(self.project.config.retrieval).items())
            self._foot(f"winner: {winner.config.label()} ({changes}). a applies it and re-indexes; Esc closes.")
        table.focus()

    def action_stop(self) -> None:
        if self.applying:
            self.notify("Applying: the re-index finishes first.", severity="warning")
        elif self.running:
            self.cancel.set()
            self._foot("stopping after the current case…")
        else:
            self.dismiss(self.applied)

    def action_apply(self) -> None:
        res = self.result
        if self.running or self.applying or self.applied or res is None:
            return
        winner = res.winner
        if res.cancelled or winner is None or winner.config == res.current:
            self.notify("Nothing to apply.", severity="warning")
            return
        self.applying = True
        self._foot("applying: writing workbench.yaml and updating the index…")
        self.apply_winner(winner.config.changes(self.project.config.retrieval))

    @work(thread=True, exclusive=True, group="retrieval-tune-apply", exit_on_error=False)
    def apply_winner(self, changes: dict[str, Any]) -> None:
        from workbench.core.retrieval.service import ingest_project
        from workbench.core.retrieval.traces import mark_tune_applied
        from workbench.core.retrieval.tune_project import (
            eval_applied,
            index_line,
            tune_embedder,
            write_retrieval_changes,
        )
        from workbench.present.retrieval import progress_text

        try:
            applied = write_retrieval_changes(self.project, changes)
            self.project.config = applied.config
            settings = applied.config.retrieval

            def progress(p: Any) -> None:
                self.post_message(self.Applied(f"updating the index: {progress_text(p)}", final=False))

            embedder = tune_embedder(self.project)
            try:
                report = ingest_project(self.project, settings, progress=progress, embedder=embedder)
            finally:
                embedder.close()
            eval_id, ev = eval_applied(self.project, self.plan.evalset, self.plan.evalset_path)
            if self.tune_id is not None:
                mark_tune_applied(self.project.store, self.tune_id, eval_id)
        except WorkbenchError as exc:
            self.post_message(self.Applied(str(exc), error=True))
            return
        m = ev.metrics[settings.mode]
        diff = " ".join(line for line in applied.diff if line[:1] in "+-" and line[:3] not in ("+++", "---"))
        self.post_message(
            self.Applied(
                f"applied to {applied.path.name} ({diff}); {index_line(report, embedder.misses)}.\n"
                f"retrieval eval re{eval_id}: {settings.mode} nDCG@10 {m['ndcg@10']:.3f}, MRR@10 {m['mrr@10']:.3f}. "
                "Esc closes."
            )
        )

    @on(Applied)
    def _applied(self, message: Applied) -> None:
        if not message.final:
            self._foot(message.text)
            return
        self.applying = False
        self.applied = not message.error
        self._foot(message.text, "bold red" if message.error else "bold")
