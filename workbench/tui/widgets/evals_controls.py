"""Starting an eval run: the eval-set and variant pickers, the cache switch, the live progress,
and the worker that drives the core's `EvalRunner`.

The run is an async worker on the app's loop (`group="eval-run"`): the runner's awaits (model
calls) never block it, the eval file is parsed in a thread, and `on_progress` posts a `Progress`
copy per finished case. `cancel()` calls `runner.cancel()`, which keeps the finished cases and
stores the run as `cancelled` (resumable, like a killed run the store marks `interrupted`).
The widget tells its parent what happened through `Started`, `Finished` and `Failed`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, Label, Select
from textual.worker import Worker, WorkerState

from workbench.core.errors import WorkbenchError
from workbench.core.evals.lookup import evalset_files
from workbench.present.evals import safe
from workbench.tui.widgets.evals_panels import RunProgressPanel
from workbench.tui.widgets.evals_selection import EvalSelection

NO_SETS = "__none__"
READING = "__reading__"


def resume_choice(project: Any, row: Mapping[str, Any]) -> str:
    """The variant picker value a stored run was made with (the runner checks the id)."""
    from workbench.tui.variant_choice import BASE

    name: str | None = row.get("variant_name")
    if name and name in project.config.variants:
        return name
    if name and name in project.prompts:
        return f"prompt:{name}"
    return BASE


def error_line(exc: WorkbenchError) -> str:
    """The message as a sentence (capital first: it follows "The run did not start."), then
    the file and line it is about."""
    where = ""
    if exc.path:
        where = f" ({Path(exc.path).name}" + (f":{exc.line}" if exc.line else "") + ")"
    return exc.message[:1].upper() + exc.message[1:] + where


class EvalRunControls(Vertical):
    """Progress above, pickers below; `start()` / `cancel()` drive one run at a time."""

    DEFAULT_CSS = """
    EvalRunControls { height: auto; border-top: hkey $panel-lighten-1; }
    EvalRunControls #evals-bar { height: 1; }
    EvalRunControls #evals-bar Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    EvalRunControls #evals-set { width: 1fr; max-width: 36; margin-right: 1; }
    EvalRunControls #evals-variant { width: 1fr; max-width: 36; margin-right: 1; }
    EvalRunControls #evals-cache { width: auto; }
    """

    @dataclass
    class SetsLoaded(Message):
        """Eval-set files read: (label, path) per file; a broken file says why in its label."""

        options: list[tuple[str, str]]
        evalsets: dict[str, Any] = dataclasses.field(default_factory=dict)  # path -> EvalSet

    @dataclass
    class Progress(Message):
        """One more case finished (a copy of the runner's RunProgress)."""

        progress: Any

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EvalRunControls.Progress)

    @dataclass
    class Started(Message):
        """The run's row exists in the store (the first progress of a run)."""

        run_id: int

    @dataclass
    class Finished(Message):
        """The run ended: `status` is done or cancelled; its summary is stored."""

        run_id: int
        status: str
        summary: dict[str, Any]
        kept: int
        total: int

    @dataclass
    class Stopped(Message):
        """The run's worker was cancelled or crashed; what finished is kept in the store."""

    @dataclass
    class Failed(Message):
        """The run could not start or resume (bad eval file, changed variant...)."""

        error: str  # in full, with the path
        line: str  # the message first, for the one-line hint

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.runner: Any = None
        self.running = False
        self._announced: int | None = None
        self._set_options: list[tuple[str, str]] | None = None
        self.evalsets: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        from workbench.tui.variant_choice import BASE, variant_options

        yield RunProgressPanel(id="evals-progress")
        with Horizontal(id="evals-bar"):
            yield Label("Set")
            yield Select(
                [("(reading eval sets…)", READING)], value=READING, allow_blank=False, compact=True, id="evals-set"
            )
            yield Label("Variant")
            yield Select(variant_options(self.project), value=BASE, allow_blank=False, compact=True, id="evals-variant")
            yield Checkbox(
                "cache",
                value=True,
                compact=True,
                id="evals-cache",
                tooltip="Reuse stored answers for unchanged cases (off: call "
                "the model for every case, like --no-cache)",
            )
        yield EvalSelection(self.project, id="evals-selection")

    def on_mount(self) -> None:
        self.load_sets()

    @property
    def panel(self) -> RunProgressPanel:
        return self.query_one(RunProgressPanel)

    # -- eval sets (thread) --------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="eval-sets", exit_on_error=False)
    def load_sets(self) -> None:
        from workbench.core.evals.evalset import load_evalset

        options, evalsets = [], {}
        for path in evalset_files(self.project):
            try:
                evalset = load_evalset(path)
            except WorkbenchError as exc:
                options.append((f"{path.name} (invalid: {exc.message[:40]})", str(path)))
                continue
            options.append((f"{evalset.name} ({len(evalset.cases)} cases)", str(path)))
            evalsets[str(path)] = evalset
        self.post_message(self.SetsLoaded(options, evalsets))

    @on(SetsLoaded)
    def _sets_loaded(self, message: SetsLoaded) -> None:
        select = self.query_one("#evals-set", Select)
        current = select.value
        self.evalsets = message.evalsets
        self._update_estimate()
        if message.options == self._set_options:
            return  # nothing changed: leave the picker (and an open dropdown) alone
        self._set_options = message.options
        if message.options:
            select.set_options(message.options)
            values = [v for _, v in message.options]
            chosen = current if current in values else values[0]
            if select.value == chosen:
                # set_options kept the value, so Select did not redraw its label ("84 cases"
                # stayed until the dropdown was opened): make it.
                # textual's way to re-fire a reactive; Select is generic, so mypy calls the class access ambiguous
                select.mutate_reactive(Select.value)  # type: ignore[misc]
            else:
                select.value = chosen
        else:
            folder = self.project.config.evals.dir
            select.set_options([(f"(no eval sets in {folder}/)", NO_SETS)])

    @on(Select.Changed, "#evals-set, #evals-variant")
    def _choice_changed(self) -> None:
        self._update_estimate()

    def _update_estimate(self) -> None:
        """Tell the quick-run row the chosen set and the model its variant calls first."""
        from workbench.core.llm.registry import chain_specs
        from workbench.tui.variant_choice import resolve_choice

        try:
            variant = resolve_choice(self.project, str(self.query_one("#evals-variant", Select).value), None)
            model = chain_specs(self.project.config, variant.model)[0]
        except WorkbenchError:
            model = ""
        evalset = self.evalsets.get(str(self.query_one("#evals-set", Select).value))
        self.query_one(EvalSelection).update_for(evalset, model)

    # -- starting and stopping -------------------------------------------------------------------
    def start_chosen(self) -> None:
        """Run the picked eval set with the picked variant."""
        path = self.query_one("#evals-set", Select).value
        if path == READING:
            self.notify("Still reading the eval sets; try again in a moment.", timeout=2)
            return
        if path in (NO_SETS, Select.NULL):  # NULL: nothing picked (Select.BLANK is a render flag)
            folder = self.project.root / self.project.config.evals.dir
            self.notify(
                f"No eval set to run: write one in {folder} (see `workbench eval run --help`).",
                severity="warning",
                markup=False,
            )
            return
        self.start(Path(str(path)), str(self.query_one("#evals-variant", Select).value))

    def start(self, path: Path, choice: str, resume: int | None = None) -> None:
        self.running = True
        self._announced = None  # a resumed run announces itself again: its row is running now
        self.run_eval(path, choice, resume, bool(self.query_one("#evals-cache", Checkbox).value))

    def cancel(self) -> None:
        if self.runner is not None:
            self.runner.cancel()
        else:
            for worker in self.app.workers:
                if worker.node is self and worker.group == "eval-run":
                    worker.cancel()
        self.notify("Cancelling — finished cases are kept; the run can be resumed.", timeout=3)

    # -- the run (async, on the app's loop) ------------------------------------------------------
    @work(exclusive=True, group="eval-run", exit_on_error=False)
    async def run_eval(self, path: Path, choice: str, resume: int | None, use_cache: bool) -> None:
        from workbench.core.evals.evalset import load_evalset
        from workbench.core.evals.runner import EvalRunner
        from workbench.core.evals.selection import run_concurrency
        from workbench.tui.variant_choice import resolve_choice

        try:
            evalset = await asyncio.to_thread(load_evalset, path)
            if resume is None:  # a resumed run finishes its own cases (the runner narrows it)
                evalset = self.query_one(EvalSelection).narrow(evalset)
            variant = resolve_choice(self.project, choice, None)
            runner = EvalRunner(
                self.project,
                evalset,
                variant,
                concurrency=run_concurrency(self.project.store, self.project.config.evals.concurrency, None, resume),
                use_cache=use_cache,
                on_progress=lambda p: self.post_message(self.Progress(dataclasses.replace(p))),
            )
        except WorkbenchError as exc:
            self.post_message(self.Failed(str(exc), error_line(exc)))
            return
        self.runner = runner
        what = f"resuming e{resume}: " if resume else ""
        subset = f" ({evalset.selection})" if evalset.selection else ""
        self.panel.start(safe(f"{what}{evalset.name}{subset} with {variant.label}"), len(evalset.cases))
        try:
            outcome = await runner.run(resume=resume)
        except WorkbenchError as exc:  # resume refused: the set or the variant changed
            self.post_message(self.Failed(str(exc), error_line(exc)))
            return
        finally:
            self.runner = None
        self.post_message(
            self.Finished(
                outcome.run_id,
                outcome.status,
                outcome.summary,
                len(outcome.results),
                len(evalset.cases) * runner.repeat,
            )
        )

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        p = message.progress
        self.panel.show(p)
        if self._announced != p.run_id:
            self._announced = p.run_id
            self.post_message(self.Started(p.run_id))

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        s = message.summary
        counts = f"pass {s.get('passed', 0)} · fail {s.get('failed', 0)}"
        if s.get("judge_errors"):
            counts += f" · judge errors {s['judge_errors']}"
        if message.status == "cancelled":
            self.panel.idle(
                f"e{message.run_id} cancelled · {message.kept} of {message.total} cases kept · {counts}",
                "Stored as cancelled: select it and press ctrl+e to resume.",
            )
        else:
            self.panel.idle(
                f"e{message.run_id} {message.status} · {message.total} cases · "
                f"{counts} · {s.get('cache_hits', 0)} from cache",
                "Select two runs with a / b, or press d for the two newest.",
            )

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.panel.idle("The run did not start.", safe(message.line))
        self.notify(message.error, title="Eval run", severity="error", timeout=8, markup=False)

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """Track the run worker; a failure in one of these workers becomes a toast."""
        worker = event.worker
        if worker.group == "eval-run":
            self.running = worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
            if worker.state == WorkerState.CANCELLED:
                self.panel.idle("Run stopped; the finished cases are kept.", "ctrl+e resumes it.")
                self.post_message(self.Stopped())
        if worker.state == WorkerState.ERROR:
            error = worker.error
            if worker.group == "eval-run":
                self.panel.idle("The run stopped with an error.", safe(f"{type(error).__name__}: {error}"))
                self.post_message(self.Stopped())
            self.notify(
                f"{worker.name or worker.group} failed: {type(error).__name__}: {error}",
                severity="error",
                timeout=10,
                markup=False,
            )
        self.screen.refresh_bindings()
