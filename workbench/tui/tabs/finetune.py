"""The Fine-tune tab: the guard's evidence first, training only when it passes (or with a
recorded override), then the jobs with their eval and export.

Details: docs/NOTES.md, section tui/tabs/finetune.py.
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
from textual.widgets import Button, ContentSwitcher, Input, Static
from textual.worker import Worker, WorkerState

from workbench.core.errors import WorkbenchError
from workbench.present.finetune import RESUMABLE
from workbench.tui.widgets.evals_controls import error_line
from workbench.tui.widgets.finetune_form import read_form
from workbench.tui.widgets.finetune_guard import GuardPanel
from workbench.tui.widgets.finetune_jobs import JobsPanel
from workbench.tui.widgets.finetune_train import TrainPanel
from workbench.tui.widgets.text import lock_line, view_bar


class FinetuneTab(Vertical):
    """The guard, the LoRA form with its live run, and the jobs; one view at a time."""

    # The view keys are shown in the tab's own view bar (like tab titles), not in the footer,
    # so the footer keeps room at 80 columns for what acts on the current view.
    BINDINGS = [
        Binding(
            "ctrl+g",
            "guard",
            "Guard",
            id="finetune.guard",
            show=False,
            tooltip="Show the guard's evidence checklist; pressed again, check the store again",
        ),
        Binding(
            "ctrl+t",
            "view('train')",
            "Train",
            id="finetune.train_view",
            show=False,
            tooltip="Show the LoRA form and the live loss curve",
        ),
        Binding(
            "ctrl+l",
            "view('jobs')",
            "Jobs",
            id="finetune.jobs",
            show=False,
            tooltip="Show past fine-tune jobs with their loss, eval verdict and export",
        ),
        Binding(
            "ctrl+y",
            "override",
            "Override",
            id="finetune.override",
            tooltip="Train although the guard refuses: asks for a reason, stored with the job",
        ),
        Binding(
            "ctrl+r",
            "start",
            "Start",
            id="finetune.start",
            tooltip="Start a LoRA training job with the form's settings",
        ),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="finetune.cancel",
            tooltip="Stop the training run (its checkpoint is kept) or the adapter's eval",
        ),
        Binding(
            "ctrl+e",
            "resume",
            "Resume",
            id="finetune.resume",
            tooltip="Continue the selected cancelled or interrupted job from its checkpoint",
        ),
    ]

    DEFAULT_CSS = """
    FinetuneTab { height: 1fr; }
    FinetuneTab #ft-views { height: 1; padding: 0 1; background: $panel; }
    FinetuneTab #ft-switcher { height: 1fr; }
    """

    @dataclass
    class GuardChecked(Message, bubble=False):
        """The guard's report for `signal` (or the error that stopped the check)."""

        seq: int
        signal: str
        report: Any
        error: str | None = None

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.report: Any = None
        self.check_error: str | None = None
        self.checking = False
        self.override: str | None = None
        self.view = "guard"
        self._seq = 0
        self._signal = ""
        self._override_used = False  # the running job was started with self.override

    def compose(self) -> ComposeResult:
        # Kept as attributes: on_unmount runs after the children are gone from the DOM.
        self.guard = GuardPanel(id="ft-guard")
        self.train = TrainPanel(self.project, id="ft-train")
        self.jobs = JobsPanel(self.project, id="ft-jobs")
        yield Static("", id="ft-views")
        with ContentSwitcher(initial="ft-guard", id="ft-switcher"):
            yield self.guard
            yield self.train
            yield self.jobs

    def on_mount(self) -> None:
        self.check()
        self.jobs.load()

    def on_show(self) -> None:
        if self.is_mounted and not self.train.running and not self.jobs.busy:
            self.jobs.load()

    def on_unmount(self) -> None:
        self.train.cancel(quiet=True)  # the app is closing: the subprocess checkpoints and stops

    # -- the guard (thread) -----------------------------------------------------------------------
    def check(self) -> None:
        """Run the guard for the chosen signal; a newer check makes older answers stale."""
        self._seq += 1
        self._signal = self.guard.signal
        self.checking = True
        self._show_lock()
        self.run_check(self.guard.signal, self._seq)

    @work(thread=True, exclusive=True, group="ft-guard", exit_on_error=False)
    def run_check(self, signal: str, seq: int) -> None:
        from workbench.core.finetune.guard import check
        from workbench.present.finetune_guard import worded

        try:
            report = worded(check(self.project, signal or None))
        except WorkbenchError as exc:
            self.post_message(self.GuardChecked(seq, signal, None, error_line(exc)))
            return
        self.post_message(self.GuardChecked(seq, signal, report))

    @on(GuardChecked)
    def _checked(self, message: GuardChecked) -> None:
        if message.seq != self._seq:
            return  # the signal changed while this check ran
        self.checking = False
        self.report, self.check_error = message.report, message.error
        if message.error:
            self.guard.show_error(message.error)
        else:
            self.guard.show_report(message.report, self.override)
        self._show_lock()

    @on(GuardPanel.SignalChanged)
    def _signal_changed(self, message: GuardPanel.SignalChanged) -> None:
        if message.signal != self._signal:  # not the Select's own start-up message
            self.check()

    def lock_state(self) -> tuple[str, str]:
        if self.check_error and not self.override and not self.checking:
            return f"✗ Locked: the guard could not read the evidence ({self.check_error}).", "locked"
        return lock_line(self.report, self.override, self.checking)

    @property
    def unlocked(self) -> bool:
        return self.lock_state()[1] in ("open", "override")

    def _show_lock(self) -> None:
        text, state = self.lock_state()
        if not self.check_error:
            self.guard.show_lock(self.report, self.override, self.checking)
        self.train.set_lock(text, state)
        self._show_views()
        self.screen.refresh_bindings()

    def _show_views(self) -> None:
        self.query_one("#ft-views", Static).update(view_bar(self.view, self.lock_state()[1], len(self.jobs.rows)))

    # -- views ------------------------------------------------------------------------------------
    def action_view(self, view: str) -> None:
        self.view = view
        self.query_one(ContentSwitcher).current = f"ft-{view}"
        if view == "jobs" and not self.jobs.busy:
            self.jobs.load()  # a job may have changed elsewhere (the CLI, another eval)
        self._show_views()
        self.call_after_refresh(self._focus_view)

    def _focus_view(self) -> None:
        selectors = {
            "guard": ("#ft-signal", "#ft-checklist"),
            "train": ("#ft-rank", "#ft-override", "#ft-progress"),
            "jobs": ("#ft-jobs-table", "#ft-job-detail"),
        }[self.view]
        for selector in selectors:
            widget = self.query_one(selector)
            if widget.focusable and widget.display:
                widget.focus()
                return

    def action_guard(self) -> None:
        if self.view == "guard":
            self.check()
        else:
            self.action_view("guard")

    # -- override, start, cancel, resume ------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return True if (self.train.running or self.jobs.busy == "eval") else False
        if action == "start":  # when locked, still runs: it says why and shows the evidence
            return None if self.train.running else True
        if action == "override":  # hidden when there is nothing to override
            return self.lock_state()[1] == "locked" and not self.train.running
        if action == "resume":
            job = self.jobs.current()
            return True if (not self.train.running and job and job.get("status") in RESUMABLE) else None
        return True

    def action_override(self) -> None:
        from workbench.tui.screens.finetune_modals import OverrideScreen

        advice = self.report.advice if self.report is not None else (self.check_error or "")

        def given(reason: str | None) -> None:
            if not reason:
                return
            self.override = reason
            self._show_lock()
            self.action_view("train")
            self.notify("Override recorded for the next job; the LoRA form is unlocked.", timeout=4)

        self.app.push_screen(OverrideScreen(advice), given)

    def action_start(self) -> None:
        if self.train.running:
            self.notify("A training run is already going (Esc cancels it).", severity="warning")
            return
        if not self.unlocked:
            self.notify(
                "Locked: the guard has not passed. Fix what the checklist says, or ctrl+y to override with a reason.",
                severity="warning",
            )
            self.action_view("guard")
            return
        try:
            settings, data = read_form(self.train.form_values(), self.project.config.finetune)
        except WorkbenchError as exc:
            self.train.show_form_error(exc.message)
            self.action_view("train")
            return
        if data:
            path = Path(data).expanduser()
            data = str(path if path.is_absolute() else self.project.root / path)
        passed = self.report is not None and self.report.passed
        override = None if passed else self.override
        self._override_used = override is not None
        self.train.start(settings, data, self.guard.signal or None, override)
        self.action_view("train")
        self.screen.refresh_bindings()

    def action_cancel(self) -> None:
        if self.train.running:
            self.train.cancel()
            self.notify("Cancelling: the checkpoint is kept; ctrl+e resumes the job.", timeout=3)
        elif self.jobs.cancel_eval():
            self.notify("Cancelling the adapter's eval: finished cases are kept.", timeout=3)

    def action_resume(self) -> None:
        job = self.jobs.current()
        if self.train.running or job is None or job.get("status") not in RESUMABLE:
            self.notify("Select a cancelled or interrupted job in Jobs (ctrl+l) to resume.", severity="warning")
            return
        self._override_used = False
        self.train.resume(job["id"])
        self.action_view("train")
        self.screen.refresh_bindings()

    @on(Button.Pressed, "#ft-start")
    def _start_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_start()

    @on(Button.Pressed, "#ft-override")
    def _override_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_override()

    @on(Input.Submitted)
    def _form_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    # -- what the training and the jobs report ----------------------------------------------------
    @on(TrainPanel.Prepared)
    def _prepared(self, message: TrainPanel.Prepared) -> None:
        self.jobs.load(select=message.job_id)

    @on(TrainPanel.Finished)
    def _train_finished(self, message: TrainPanel.Finished) -> None:
        if self._override_used:
            self.override = None  # the reason belonged to that job; the next one asks again
            self._override_used = False
            self._show_lock()
        self.jobs.load(select=message.outcome.job_id)

    @on(TrainPanel.Failed)
    def _train_failed(self, message: TrainPanel.Failed) -> None:
        if message.report is not None:  # the guard refused at start: the evidence changed
            from workbench.present.finetune_guard import worded

            self.report = worded(message.report)  # core's report carries facts; ctrl+y shows its advice
            self.guard.show_report(self.report, self.override)
            self._show_lock()

    @on(JobsPanel.Loaded)
    def _jobs_loaded(self) -> None:
        self._show_views()
        self.screen.refresh_bindings()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """A failure in the guard worker becomes a toast and an unreadable-evidence lock (these
        messages do not bubble, so the app's handler never sees them)."""
        if event.worker.group != "ft-guard" or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self.checking = False
        self.check_error = f"{type(error).__name__}: {error}"
        self.guard.show_error(self.check_error)
        self._show_lock()
        self.notify(f"guard check failed: {self.check_error}", severity="error", timeout=10, markup=False)
