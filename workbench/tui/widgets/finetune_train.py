"""Training from the Fine-tune tab: the LoRA form, start / cancel / resume, the live loss curve.

Details: docs/NOTES.md, section tui/widgets/finetune_train.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Sparkline, Static
from textual.worker import Worker, WorkerState, get_current_worker

from workbench.core.errors import WorkbenchError
from workbench.present.evals import safe
from workbench.present.finetune import outcome_line, plan_warnings, progress_line
from workbench.present.finetune_guard import refused_message
from workbench.tui.widgets.evals_controls import error_line
from workbench.tui.widgets.finetune_form import FIELDS, field_value


class ProgressArea(Vertical, can_focus=True):
    """The run's status and loss curve: focusable, so a keyboard user in the Train view always
    has a place to stand (the form is disabled while locked or training) and Esc reaches the tab."""


class TrainPanel(Vertical):
    """Lock line, form, Start / Override buttons, then the run's progress and loss curve."""

    DEFAULT_CSS = """
    TrainPanel { height: 1fr; }
    TrainPanel #ft-train-lock { height: auto; max-height: 2; }
    TrainPanel #ft-train-lock.-locked { color: $error; }
    TrainPanel #ft-train-lock.-open { color: $success; }
    TrainPanel #ft-train-lock.-override { color: $warning; }
    TrainPanel #ft-train-lock.-checking { color: $text-muted; }
    TrainPanel .ft-row { height: 1; }
    TrainPanel .ft-label { width: auto; padding: 0 1 0 1; color: $text-muted; }
    TrainPanel .ft-row Input { width: 1fr; }
    TrainPanel #ft-buttons { height: 1; margin-top: 1; }
    TrainPanel #ft-buttons Button { margin-right: 2; }
    TrainPanel #ft-form-error { height: auto; color: $error; }
    TrainPanel #ft-progress { height: 1fr; min-height: 4; margin-top: 1;
                              border-top: hkey $panel-lighten-1; }
    TrainPanel #ft-progress:focus { background: $surface; }
    TrainPanel #ft-status { height: auto; max-height: 2; }
    TrainPanel #ft-plot { height: 1fr; min-height: 2; }
    TrainPanel #ft-axis { width: 7; height: 1fr; color: $text-muted; }
    TrainPanel #ft-axis-top { height: 1; }
    TrainPanel #ft-axis-bottom { height: 1; dock: bottom; }
    TrainPanel #ft-plot-area { width: 1fr; height: 1fr; }
    TrainPanel #ft-curve { height: 1fr; width: 0; }
    TrainPanel #ft-curve > .sparkline--max-color { color: $warning; }
    TrainPanel #ft-curve > .sparkline--min-color { color: $success; }
    TrainPanel #ft-train-hint { height: 1; color: $text-muted; text-wrap: nowrap;
                                text-overflow: ellipsis; }
    """

    @dataclass
    class Phase(Message, bubble=False):
        """The worker is doing something slow before the first step (a sentence for people)."""

        text: str

    @dataclass
    class Prepared(Message):
        """The job row exists (a new job was prepared, or an old one is being resumed)."""

        job_id: int
        total: int
        text: str
        warnings: list[str]

    @dataclass
    class Progress(Message, bubble=False):
        """One event of the training subprocess, with the loss curve so far (a copy)."""

        job_id: int
        event: dict[str, Any]
        curve: list[dict[str, Any]]
        total: int

        def can_replace(self, message: Message) -> bool:
            return (
                isinstance(message, TrainPanel.Progress)
                and message.job_id == self.job_id
                and message.event.get("event") == "step"
                and self.event.get("event") == "step"
            )

    @dataclass
    class Finished(Message):
        """The run ended (done, cancelled or failed); the job row says the same."""

        outcome: Any

    @dataclass
    class Failed(Message):
        """The job did not start: bad settings or data, or the guard refused (`report`)."""

        error: str
        report: Any = None

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.running = False
        self.run: Any = None  # the TrainingRun, while its subprocess may be running
        self.job_id: int | None = None
        self._cancel_requested = False
        self._subprocess_started = False
        self._lock = ("", "checking")

    def compose(self) -> ComposeResult:
        s = self.project.config.finetune
        yield Static("", id="ft-train-lock")
        for row in (FIELDS[:4], FIELDS[4:]):
            with Horizontal(classes="ft-row"):
                for input_id, label, name, kind in row:
                    yield Static(label, classes="ft-label")
                    yield Input(
                        field_value(getattr(s, name)),
                        compact=True,
                        id=input_id,
                        type="integer" if kind is int else "number",
                        placeholder="by epochs" if name == "max_steps" else "",
                        tooltip=f"finetune.{name} for this job (default from workbench.yaml)",
                    )
        with Horizontal(classes="ft-row"):
            yield Static("targets", classes="ft-label")
            yield Input(
                ", ".join(s.target_modules),
                compact=True,
                id="ft-targets",
                tooltip="LoRA target modules, comma-separated (Ollama exports q/k/v/o, gate/up/down projections only)",
            )
            yield Static("data", classes="ft-label")
            yield Input(
                "",
                compact=True,
                id="ft-data",
                placeholder="eval set (or a JSONL file)",
                tooltip="Blank: the eval set's train cases with `expected`. Or a JSONL "
                "file of {messages} or {prompt, completion} rows",
            )
        with Horizontal(id="ft-buttons"):
            yield Button("Start training (ctrl+r)", id="ft-start", compact=True, variant="primary")
            yield Button("Override… (ctrl+y)", id="ft-override", compact=True, variant="warning")
        yield Static("", id="ft-form-error")
        with ProgressArea(id="ft-progress"):
            yield Static(Text("No training run yet."), id="ft-status")
            with Horizontal(id="ft-plot"):
                with Vertical(id="ft-axis"):
                    yield Static("", id="ft-axis-top")
                    yield Static("", id="ft-axis-bottom")
                with Vertical(id="ft-plot-area"):
                    yield Sparkline([], id="ft-curve")
            yield Static("", id="ft-train-hint")

    def on_mount(self) -> None:
        self.query_one("#ft-form-error").display = False
        self.set_lock("Checking the evidence in the run store…", "checking")
        self._hint("ctrl+r starts · Esc cancels (the checkpoint is kept) · Jobs (ctrl+l): ctrl+e resumes a job")

    # -- the lock and the form ------------------------------------------------------------------
    def set_lock(self, text: str, state: str) -> None:
        """Show the lock; the form and Start are usable only when open (and not training)."""
        self._lock = (text, state)
        lock = self.query_one("#ft-train-lock", Static)
        lock.update(Text(text))
        lock.set_classes(f"-{state}")
        unlocked = state in ("open", "override")
        for widget in self.query(Input):
            widget.disabled = not unlocked or self.running
        self.query_one("#ft-start", Button).disabled = not unlocked or self.running
        self.query_one("#ft-override", Button).display = state == "locked" and not self.running

    def form_values(self) -> dict[str, str]:
        return {w.id: w.value for w in self.query(Input) if w.id}

    def show_form_error(self, text: str | None) -> None:
        error = self.query_one("#ft-form-error", Static)
        error.update(Text(text or ""))
        error.display = bool(text)

    def _hint(self, text: str) -> None:
        self.query_one("#ft-train-hint", Static).update(Text(text))

    def _status(self, text: str) -> None:
        self.query_one("#ft-status", Static).update(Text(text))

    def draw_curve(self, curve: list[dict[str, Any]], total: int) -> None:
        """The loss so far; the plot grows left to right as the steps go (its width is the
        share of the steps done), so a half-finished run looks half-finished."""
        spark = self.query_one("#ft-curve", Sparkline)
        losses = [float(p["loss"]) for p in curve]
        spark.data = losses
        done = curve[-1]["step"] if curve else 0
        share = min(1.0, done / total) if total else 0.0
        spark.styles.width = f"{share * 100:.1f}%" if curve else 0
        self._draw_axis(losses)

    def _draw_axis(self, losses: list[float]) -> None:
        """The highest loss at the top of the plot, the lowest at the bottom."""
        top = f"{max(losses):>6.3g}" if losses else ""
        bottom = f"{min(losses):>6.3g}" if len(losses) > 1 else ""
        self.query_one("#ft-axis-top", Static).update(top)
        self.query_one("#ft-axis-bottom", Static).update(bottom)

    # -- starting and stopping --------------------------------------------------------------------
    def start(self, settings: Any, data: str | None, signal: str | None, override: str | None) -> None:
        self._begin()
        self._status("Preparing…")
        self.train(None, settings, data, signal, override)

    def resume(self, job_id: int) -> None:
        self._begin()
        self._status(f"Resuming f{job_id}…")
        self.train(job_id, None, None, None, None)

    def _begin(self) -> None:
        self.running = True
        self._cancel_requested = False
        self._subprocess_started = False
        self.show_form_error(None)
        self.draw_curve([], 0)
        for widget in self.query(Input):
            widget.disabled = True
        self.query_one("#ft-start", Button).disabled = True
        self.query_one("#ft-override", Button).display = False
        self._hint("Esc cancels: the subprocess saves a checkpoint at the current step")

    def cancel(self, *, quiet: bool = False) -> None:
        """Stop the run, keeping its checkpoint (safe to call more than once; `quiet` when the
        widgets are already gone, as the app closes)."""
        if not self.running:
            return
        self._cancel_requested = True
        run = self.run
        if run is None:
            return  # still preparing: the worker checks the flag before it starts anything
        if self._subprocess_started:
            run.cancel()  # SIGTERM + cancel file: checkpoint at the current step
        else:
            try:  # the subprocess may not handle signals yet: the file stops it before step 1
                (run.folder / "cancel").touch()
            except OSError:
                pass
        if not quiet:
            self._status("Cancelling: saving a checkpoint at the current step…")

    # -- the worker (thread) ----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="ft-train", exit_on_error=False)
    def train(
        self, resume: int | None, settings: Any, data: str | None, signal: str | None, override: str | None
    ) -> None:
        from workbench.core.finetune import jobs
        from workbench.core.finetune.train import GuardRefused, JobOutcome, TrainingRun, prepare_job

        project = self.project
        worker = get_current_worker()
        try:
            if resume is None:
                self.post_message(
                    self.Phase(
                        "Preparing: checking the guard, loading the base model's tokenizer and building the dataset…"
                    )
                )
                plan = prepare_job(project, signal=signal, override=override, data=data, settings=settings)
                job_id, ds = plan.job_id, plan.dataset
                text = (
                    f"f{job_id}: {ds.train} train / {ds.heldout} held-out examples, "
                    f"{ds.answer_tokens} answer tokens, {plan.total_steps} steps on "
                    f"{plan.base.spec} — starting the training process…"
                )
                self.post_message(self.Prepared(job_id, plan.total_steps, text, plan_warnings(plan)))
            else:
                job_id = resume
            run = TrainingRun(project, job_id, resume=resume is not None)
            if resume is not None:
                where = f"step {run.step}" if run.resume else "step 0 (no checkpoint yet)"
                self.post_message(
                    self.Prepared(job_id, run.total, f"f{job_id}: resuming from {where} of {run.total}…", [])
                )
            run.on_event = lambda event: self._on_event(job_id, run, event)
            if self._cancel_requested or worker.is_cancelled:
                if resume is None:
                    jobs.update_job(project.store, job_id, {"status": "cancelled"})
                self.post_message(self.Finished(JobOutcome(job_id, "cancelled", run.step, run.total, list(run.curve))))
                return
            self.run = run
            run.start()
            if self._cancel_requested:
                (run.folder / "cancel").touch()
            outcome = run.wait()
        except GuardRefused as refused:
            self.post_message(self.Failed(safe(refused_message(refused.report)), refused.report))
            return
        except WorkbenchError as exc:
            self.post_message(self.Failed(safe(error_line(exc))))
            return
        finally:
            self.run = None
        self.post_message(self.Finished(outcome))

    def _on_event(self, job_id: int, run: Any, event: dict[str, Any]) -> None:
        """Called on the worker thread for each line of the subprocess: post, never draw."""
        if event.get("event") == "start":
            self._subprocess_started = True
            if self._cancel_requested:
                run.cancel()
        self.post_message(self.Progress(job_id, dict(event), list(run.curve), run.total))

    # -- what the worker reports (UI thread) --------------------------------------------------------
    @on(Phase)
    def _phase(self, message: Phase) -> None:
        self._status(message.text)

    @on(Prepared)
    def _prepared(self, message: Prepared) -> None:
        self.job_id = message.job_id
        self._status(message.text)
        for warning in message.warnings:
            self.notify(safe(warning), title=f"f{message.job_id}", severity="warning", timeout=8, markup=False)

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        event = message.event
        kind = event.get("event")
        if kind == "start":
            self._status(
                f"f{message.job_id}: training on {safe(event.get('device'))} "
                f"({event.get('threads')} threads), {event.get('trainable_params', 0):,} "
                f"trainable parameters, steps {event.get('start_step')}→"
                f"{event.get('total_steps')}"
            )
        elif kind == "step":
            self._status(progress_line(message.job_id, event, message.curve, message.total))
        elif kind == "heldout":
            self._status(
                progress_line(message.job_id, None, message.curve, message.total)
                + f" · held-out loss {event.get('loss', 0):.3f}"
            )
        self.draw_curve(message.curve, message.total)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        outcome = message.outcome
        self.draw_curve(outcome.loss_curve, outcome.total_steps)
        self._status(outcome_line(outcome))
        self._hint("ctrl+r starts another job · ctrl+l lists the jobs")

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self._status("The job did not start.")
        self.show_form_error(message.error)

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "ft-train":
            return
        self.running = worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
        if worker.state == WorkerState.ERROR:
            error = worker.error
            self._status(f"Training stopped with an error: {type(error).__name__}: {safe(error)}")
            self.notify(f"training failed: {type(error).__name__}: {error}", severity="error", timeout=10, markup=False)
        if not self.running:
            self.set_lock(*self._lock)  # the form comes back as the lock allows
        self.screen.refresh_bindings()
