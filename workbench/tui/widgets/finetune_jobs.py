"""Past fine-tune jobs: the list (status, loss first → last, override mark, eval verdict,
export), the selected job in full, and the two things a finished job leads to: the eval of its
adapter on the same eval set (`e`), and the export to Ollama (`x`).

All slow work is in named workers that post messages: `ft-jobs` (thread) reads the store,
`ft-eval` (async, on the app's loop, like the Evals tab's runs) awaits the core's
`evaluate_job`, whose model calls run off the loop; `ft-export` is a thread with its own event
loop, because `export_job` loads the base model's tokenizer before its first await. Esc cancels
an eval (the finished cases stay in its eval run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from workbench.core.errors import WorkbenchError
from workbench.core.records import FinetuneJob
from workbench.core.store import as_dict
from workbench.present.evals import safe
from workbench.present.finetune import eval_result_lines, export_result_lines, job_detail, job_hint
from workbench.tui.widgets.evals_controls import error_line
from workbench.tui.widgets.text import job_cells

COLUMNS = (("job", 4), ("status", 9), ("steps", 7), ("loss", 13), ("⚑", 1), ("eval", 8), ("export", 12))
ROW_LIMIT = 200


class JobsPanel(Vertical):
    """The jobs table, what is happening to the selected job, and the job in full."""

    BINDINGS = [
        Binding(
            "e",
            "eval",
            "Eval",
            id="finetune.eval",
            tooltip="Run the eval set on the selected job's adapter and diff it against the "
            "best non-fine-tuned variant",
        ),
        Binding(
            "x",
            "export",
            "Export",
            id="finetune.export",
            tooltip="Write the adapter and a Modelfile; create the model in Ollama when it runs",
        ),
    ]

    DEFAULT_CSS = """
    JobsPanel { height: 1fr; }
    JobsPanel #ft-jobs-table { height: auto; min-height: 3; max-height: 45%; }
    JobsPanel #ft-activity { height: auto; max-height: 5; padding: 0 1;
                             border-left: outer $panel-lighten-2; background: $panel; }
    JobsPanel #ft-activity.-ok { border-left: outer $success; }
    JobsPanel #ft-activity.-bad { border-left: outer $error; }
    JobsPanel #ft-job-hint { height: 1; color: $text-muted; text-wrap: nowrap;
                             text-overflow: ellipsis; }
    JobsPanel #ft-job-detail { height: 1fr; border-top: hkey $panel-lighten-1;
                               scrollbar-size-vertical: 1; }
    JobsPanel #ft-job-detail:focus { background: $surface; }
    JobsPanel #ft-job-lines { height: auto; }
    """

    @dataclass
    class Loaded(Message):
        """Jobs read from the store, newest first."""

        rows: list[FinetuneJob]
        error: str | None = None

    @dataclass
    class Activity(Message, bubble=False):
        """A line about an eval or export in progress (high-rate: merged)."""

        job_id: int
        text: str

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, JobsPanel.Activity)

    @dataclass
    class Done(Message, bubble=False):
        """An eval or export ended: its result lines (`ok` False for a refusal or a failure)."""

        job_id: int
        what: str  # eval | export
        lines: list[str]
        ok: bool

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.rows: list[FinetuneJob] = []
        self.busy: str | None = None  # eval | export while one runs
        self._select: int | None = None

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="ft-jobs-table", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        yield table
        yield Static("", id="ft-activity")
        yield Static("", id="ft-job-hint")
        with VerticalScroll(id="ft-job-detail", can_focus=True):
            yield Static("", id="ft-job-lines")

    def on_mount(self) -> None:
        self.query_one("#ft-activity").display = False

    # -- the list (thread) ------------------------------------------------------------------------
    def load(self, select: int | None = None) -> None:
        if select is not None:
            self._select = select
        self.load_jobs()

    @work(thread=True, exclusive=True, group="ft-jobs", exit_on_error=False)
    def load_jobs(self) -> None:
        from workbench.core.finetune.jobs import list_jobs

        try:
            rows = list_jobs(self.project.store, limit=ROW_LIMIT)
        except Exception as exc:  # noqa: BLE001 - shown in the panel, not a crash
            self.post_message(self.Loaded([], f"cannot read fine-tune jobs: {exc}"))
            return
        self.post_message(self.Loaded(rows))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        table = self.query_one("#ft-jobs-table", DataTable)
        keep = self._select or self.current_id()
        self._select = None
        self.rows = message.rows
        table.clear()
        for row in self.rows:
            table.add_row(*job_cells(row), key=str(row["id"]))
        if message.error or not self.rows:
            text = message.error or (
                "No fine-tune jobs yet. When the guard passes (or with an override), ctrl+t opens the LoRA form."
            )
            self.query_one("#ft-job-lines", Static).update(Text(text))
            self.query_one("#ft-job-hint", Static).update("")
            return
        ids = [r["id"] for r in self.rows]
        table.move_cursor(row=ids.index(keep) if keep in ids else 0)
        self._show_current()

    def current_id(self) -> int | None:
        table = self.query_one("#ft-jobs-table", DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return int(self.rows[table.cursor_row]["id"])

    def current(self) -> FinetuneJob | None:
        job_id = self.current_id()
        return next((r for r in self.rows if r["id"] == job_id), None)

    @on(DataTable.RowHighlighted, "#ft-jobs-table")
    def _highlighted(self) -> None:
        self._show_current()

    def _show_current(self) -> None:
        job = self.current()
        self.query_one("#ft-job-hint", Static).update(Text(job_hint(job)))
        lines = job_detail(job) if job else []
        self.query_one("#ft-job-lines", Static).update(Text("\n".join(lines)))
        self.screen.refresh_bindings()

    def _activity(self, text: str, state: str = "") -> None:
        activity = self.query_one("#ft-activity", Static)
        activity.update(Text(text))
        activity.set_classes(f"-{state}" if state else "")
        activity.display = bool(text)

    # -- eval (async worker) ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("eval", "export"):
            job = self.current()
            return True if (self.busy is None and job and job.get("status") == "done") else None
        return True

    def action_eval(self) -> None:
        job = self.current()
        if job is None or job.get("status") != "done" or self.busy:
            return
        self.busy = "eval"
        self._activity(
            f"f{job['id']}: evaluating the adapter on the eval set (loading the embedded model and the adapter)…"
        )
        self.run_eval(job["id"])
        self.screen.refresh_bindings()

    @work(exclusive=True, group="ft-eval", exit_on_error=False)
    async def run_eval(self, job_id: int) -> None:
        from workbench.core.finetune.evaluate import evaluate_job

        def progress(p: Any) -> None:
            self.post_message(
                self.Activity(
                    job_id, f"f{job_id}: eval {p.done}/{p.total} · pass {p.passed} · fail {p.failed} (Esc cancels)"
                )
            )

        try:
            result = await evaluate_job(self.project, job_id, on_progress=progress)
        except WorkbenchError as exc:
            self.post_message(self.Done(job_id, "eval", [f"eval did not finish: {safe(error_line(exc))}"], False))
            return
        self.post_message(self.Done(job_id, "eval", eval_result_lines(result), result.verdict != "regression"))

    def cancel_eval(self) -> bool:
        for worker in self.app.workers:
            if worker.node is self and worker.group == "ft-eval" and worker.is_running:
                worker.cancel()
                return True
        return False

    # -- export (modal, then a thread worker) ------------------------------------------------------
    def action_export(self) -> None:
        job = self.current()
        if job is None or job.get("status") != "done" or self.busy:
            return
        from workbench.tui.screens.finetune_modals import ExportScreen

        job_id = job["id"]

        def chosen(answer: tuple[str, bool] | None) -> None:
            if answer is None:
                return
            name, run_eval = answer
            self.busy = "export"
            self._activity(f"f{job_id}: exporting as {safe(name)}: checking the adapter, writing the Modelfile…")
            self.run_export(job_id, name, run_eval)
            self.screen.refresh_bindings()

        self.app.push_screen(ExportScreen(job_id, suggest_name(job)), chosen)

    @work(thread=True, exclusive=True, group="ft-export", exit_on_error=False)
    def run_export(self, job_id: int, name: str, run_eval: bool) -> None:
        import asyncio

        from workbench.core.finetune.export import ExportRefused, export_job

        def status(text: str) -> None:
            self.post_message(self.Activity(job_id, f"f{job_id}: ollama: {safe(text)}"))

        try:
            result = asyncio.run(export_job(self.project, job_id, name, run_eval=run_eval, on_status=status))
        except ExportRefused as exc:
            self.post_message(self.Done(job_id, "export", [f"export refused: {safe(error_line(exc))}"], False))
            return
        except WorkbenchError as exc:
            self.post_message(self.Done(job_id, "export", [f"export failed: {safe(error_line(exc))}"], False))
            return
        drop = bool(result.eval and result.eval.get("drop"))
        self.post_message(self.Done(job_id, "export", export_result_lines(result), not drop))

    # -- results (UI thread) ----------------------------------------------------------------------
    @on(Activity)
    def _activity_message(self, message: Activity) -> None:
        if self.busy:
            self._activity(message.text)

    @on(Done)
    def _done(self, message: Done) -> None:
        self.busy = None
        self._activity("\n".join(message.lines), "ok" if message.ok else "bad")
        self.load(select=message.job_id)  # the job row now holds the eval / export

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group not in ("ft-eval", "ft-export", "ft-jobs"):
            return
        if worker.group != "ft-jobs" and worker.state == WorkerState.CANCELLED:
            self.busy = None
            self._activity(
                "eval cancelled: the finished cases are kept in its eval run (`workbench eval runs`).", "bad"
            )
        if worker.state == WorkerState.ERROR:
            error = worker.error
            if worker.group != "ft-jobs":
                self.busy = None
                self._activity(
                    f"{worker.group[3:]} stopped with an error: {type(error).__name__}: {safe(error)}", "bad"
                )
            self.notify(
                f"{worker.group} failed: {type(error).__name__}: {error}", severity="error", timeout=10, markup=False
            )
        self.screen.refresh_bindings()


def suggest_name(job: FinetuneJob) -> str:
    """`smollm2-f3`: the base's short name and the job, a valid Ollama model name."""
    base = as_dict(as_dict(job.get("config")).get("base")).get("ollama_base") or "model"
    stem = str(base).split("/")[-1].split(":")[0] or "model"
    from workbench.core.finetune.jobs import exports

    done = exports(job)
    return str(done[-1]["name"]) if done else f"{stem}-f{job['id']}"
