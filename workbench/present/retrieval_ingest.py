"""A CLI ingest as a person sees it: a progress bar on stderr, Ctrl-C that stops after the
current batch, and the re-index offer for an index built with another embedding model.

Shared by `workbench ingest`, `retrieve` and `retrieval tune --apply`; the TUI has its own worker.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.text import Text

from workbench.present.progress import progress_bar
from workbench.present.retrieval import progress_fields, progress_text

if TYPE_CHECKING:
    from workbench.core.project import Project
    from workbench.core.retrieval.ingest import IngestProgress, IngestReport
    from workbench.core.retrieval.settings import RetrievalSettings

# After the first Ctrl-C (or SIGTERM), how long the current batch may take to finish before the
# ingest is stopped where it is: loading the embedding model alone took 5-12 s on a busy box.
STOP_GRACE_S = 1.5

T = TypeVar("T")


def ingest_with_progress(
    project: Project,
    settings: RetrievalSettings,
    paths: list[str] | None,
    *,
    reindex: bool = False,
    prune: bool = False,
    quiet: bool = False,
    embedder: Any = None,
) -> IngestReport:
    """`ingest_project` with a progress bar on stderr (when it is a terminal and not `quiet`)
    and Ctrl-C handling: the first stops after the current batch, keeping completed files."""
    from workbench.core.retrieval.service import ingest_project

    err = Console(stderr=True, highlight=False)
    cancel = threading.Event()
    deadline: list[threading.Timer] = []

    def on_sigint(signum: int, frame: FrameType | None) -> None:  # first Ctrl-C: finish the batch
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err.print(Text("stopping after this batch (Ctrl-C again to abort now)...", style="yellow"))
        # ... unless that takes long (a model load, a big batch): then as a second Ctrl-C would.
        # Safe at any point: a file's chunks are one LanceDB commit (core/retrieval/ingest.py).
        deadline.append(threading.Timer(STOP_GRACE_S, _thread.interrupt_main))
        deadline[0].daemon = True
        deadline[0].start()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    progress = progress_bar(err, "files", "chunks", "rate", "eta", elapsed=True, disable=quiet)
    task = progress.add_task("scanning", total=None, files="", chunks="", rate="", eta="")
    log = None if quiet or not progress.disable else PlainIngestLog(err)  # CI, a redirect: lines

    def on_progress(p: IngestProgress) -> None:
        if log is not None:
            log(p)
            return
        f = progress_fields(p)
        if p.phase == "embedding":
            progress.update(
                task,
                description="embedding",
                total=max(p.chunks_total, 1),
                completed=p.chunks_done,
                files=f["files"],
                chunks=f["chunks"],
                rate=f["rate"],
                eta=f["eta"],
            )
        else:
            progress.update(task, description=p.phase, files=f["files"])

    try:
        with progress:
            report: IngestReport = ingest_project(
                project,
                settings,
                paths,
                reindex=reindex,
                prune=prune,
                progress=on_progress,
                cancel=cancel,
                embedder=embedder,
            )
            return report
    finally:
        for timer in deadline:
            timer.cancel()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


class PlainIngestLog:
    """The ingest's progress where no bar can be drawn (stderr is a pipe or a file: CI, a
    redirect): one plain line at each phase, then every tenth of the chunks or every
    `every_s` seconds, whichever comes first, so a long ingest is never silent for minutes.
    `ingest: embedding · 3/10 files · 40/120 chunks · 35.2 chunks/s · ETA 0:03`."""

    def __init__(self, console: Console, *, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.every_s, self.clock = console, every_s, clock
        self.phase = ""
        self.tenth = -1
        self.last = 0.0

    def __call__(self, p: IngestProgress) -> None:
        if p.phase == "done":  # the report follows
            return
        now = self.clock()
        tenth = 10 * p.chunks_done // p.chunks_total if p.phase == "embedding" and p.chunks_total else -1
        if p.phase == self.phase and tenth <= self.tenth and now - self.last < self.every_s:
            return
        self.phase, self.tenth, self.last = p.phase, tenth, now
        self.console.print(Text(f"ingest: {progress_text(p)}"), soft_wrap=True)


def interactive() -> bool:
    """Whether a person can answer a question: stdin and stderr are both a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def ask_on_stderr(question: str) -> str:
    """input(), but the question goes to stderr: stdout may be piped (`retrieve --json | jq`)."""
    print(question, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def offer_reindex(
    problem: Exception, model: str, *, ask: Callable[[str], str] | None = None, is_interactive: bool | None = None
) -> bool:
    """At a terminal, say the problem and ask "Re-index now with MODEL? [y/N]"; True on yes.
    Without one nothing is asked and False comes back: the caller re-raises, and the message
    with its `workbench ingest --reindex` advice is the exit-2 error."""
    if not (interactive() if is_interactive is None else is_interactive):
        return False
    print(f"{problem}", file=sys.stderr)
    try:
        answer = (ask or ask_on_stderr)(
            f"Re-index now with {model}? This rebuilds the index from retrieval.corpus. [y/N] "
        )
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def ingest_command(project: Project, paths: list[str] | None, *, reindex: bool, prune: bool, as_json: bool) -> int:
    """`workbench ingest`: the progress, the re-index offer, the report (stdout, or stderr with
    --json so stdout stays JSON) and the exit code: 0, or 130/143 when stopped."""
    import json

    from workbench.core.interrupts import interrupt_exit_code
    from workbench.core.retrieval.index import IndexMismatch
    from workbench.present.retrieval import print_ingest_report

    settings = project.config.retrieval
    out = Console(stderr=True, highlight=False) if as_json else Console(highlight=False)
    try:
        try:
            report = ingest_with_progress(project, settings, paths or None, reindex=reindex, prune=prune, quiet=as_json)
        except IndexMismatch as exc:
            if reindex or not offer_reindex(exc, settings.embedding_model):
                raise
            report = ingest_with_progress(project, settings, None, reindex=True, quiet=as_json)
            if paths and not report.cancelled:  # then what was asked: these files, added/updated
                print_ingest_report(out, report)
                report = ingest_with_progress(project, settings, paths, prune=prune, quiet=as_json)
    except KeyboardInterrupt:  # a second Ctrl-C, or the batch outlived STOP_GRACE_S: stopped mid-batch
        print(
            "stopped: the files committed before the signal are kept (each file is all or nothing); "
            "run `workbench ingest` again to finish",
            file=sys.stderr,
        )
        return interrupt_exit_code()
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_ingest_report(out, report)
    if report.cancelled:  # Ctrl-C 130, SIGTERM 143 (routed to the ingest's handler by core/interrupts.py)
        return interrupt_exit_code()
    return 0


def with_reindex_offer(project: Project, settings: RetrievalSettings, action: Callable[[], T]) -> T | None:
    """ACTION, and when the index was built with another embedding model: at a terminal, offer a
    re-index, run it with progress (its report on stderr: stdout is for results) and ACTION again.
    None when the re-index was stopped; without a terminal the mismatch is raised."""
    from workbench.core.retrieval.index import IndexMismatch
    from workbench.present.retrieval import print_ingest_report

    try:
        return action()
    except IndexMismatch as exc:
        if not offer_reindex(exc, settings.embedding_model):
            raise
        report = ingest_with_progress(project, settings, None, reindex=True)
        print_ingest_report(Console(stderr=True, highlight=False), report)
        if report.cancelled:
            return None
        return action()
