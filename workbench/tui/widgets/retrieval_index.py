"""The index line of the Retrieval tab: index stats, or what is wrong, or ingest progress.

It owns ingest: `start()` runs `ingest_project` (the same call as `workbench ingest`) in a thread
worker (`retrieval-ingest`) that posts `Progressed` (merged when the UI is behind) and one
`Finished`. `cancel()` sets the core's cancel Event: ingest stops after the current embedding
batch, commits the files that are complete and returns its report, so the worker ends normally,
the index is never half-written, and the report says what is left to do.

Stats come from meta.json alone (`Index.read_meta`, no LanceDB import), so showing them costs a
small file read. A missing index says so and names the key that builds it; an index built with
another embedding model, or a corrupt one, makes the next ingest a full re-index.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import ProgressBar, Static

from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe
from workbench.present.retrieval import progress_text, stats_text

MODEL_LOADING = "loading embedding model… (once per session)"


class IndexStatus(Horizontal):
    """Progress bar (while ingesting) and the stats / problem / progress text."""

    DEFAULT_CSS = """
    IndexStatus { height: 1; }
    IndexStatus > ProgressBar { display: none; width: 28; }
    IndexStatus.-ingesting > ProgressBar { display: block; }
    IndexStatus > #rt-stats { width: 1fr; color: $text-muted; }
    IndexStatus.-problem > #rt-stats { color: $warning; }
    """

    @dataclass
    class Progressed(Message):
        """A progress update from ingest (newer ones replace pending older ones)."""

        progress: Any

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, IndexStatus.Progressed)

    @dataclass
    class ModelLoading(Message):
        """Ingest is loading the embedding model before it can embed."""

    @dataclass
    class Finished(Message):
        """Ingest ended: its report (cancelled or not), or the error that stopped it."""

        report: Any = None
        error: str | None = None
        damaged: bool = False  # the error was IndexDamaged: only a rebuild helps

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.settings = project.config.retrieval
        # Why the index's data could not be read (a search or an ingest said IndexDamaged), or
        # None. meta.json can look fine over damaged data files, so refresh_stats cannot see it.
        self.damage: str | None = None
        self.index_ok = False
        self.needs_reindex = False
        self._cancel: threading.Event | None = None

    def compose(self) -> ComposeResult:
        yield ProgressBar(show_eta=False, id="rt-progress")
        yield Static("", id="rt-stats")

    def on_mount(self) -> None:
        self.refresh_stats()

    def _say(self, text: str | Text) -> None:
        self.query_one("#rt-stats", Static).update(text if isinstance(text, Text) else Text(terminal_safe(text)))

    @property
    def ingesting(self) -> bool:
        return self._cancel is not None

    def refresh_stats(self) -> None:
        """Read meta.json into the line; sets `index_ok` and `needs_reindex`."""
        from workbench.core.retrieval.index import (
            META,
            Index,
            IndexMismatch,
            IndexUnavailable,
            NoIndex,
            check_compatible,
            chunking_drift,
            index_dir,
        )
        from workbench.core.retrieval.service import project_index
        from workbench.core.retrieval.storage import StoreUnavailable

        where = project_index(self.project, self.settings)  # the data folder, or retrieval.uri
        folder = index_dir(where)
        try:
            meta = Index.read_meta(where)
            check_compatible(meta, self.settings.embedding_model, None, folder / META)
        except IndexMismatch as exc:
            self.index_ok, self.needs_reindex = False, True
            self._say(f"{exc.reason} — ctrl+g re-indexes")
        except IndexUnavailable as exc:
            self.index_ok = False
            local = isinstance(folder, Path)
            self.needs_reindex = (folder / META).exists() if local else not isinstance(exc, (NoIndex, StoreUnavailable))
            empty = not folder.exists() if local else isinstance(exc, NoIndex)
            if empty:
                corpus = ", ".join(f"{c}/" for c in self.settings.corpus) or "the corpus"
                self._say(f"No retrieval index yet — press ctrl+g to ingest {corpus}")
            elif isinstance(exc, StoreUnavailable):  # credentials, network: a rebuild would not help
                self._say(exc.reason)
            else:
                self._say(f"{exc.reason} — ctrl+g rebuilds it")
        else:
            if self.damage:  # ctrl+g then rebuilds instead of failing the same way again
                self.index_ok, self.needs_reindex = False, True
                self._say(
                    Text.assemble(
                        ("The index looks damaged: ctrl+g rebuilds it", "bold"),
                        " · ",
                        terminal_safe(self.damage),
                        no_wrap=True,
                        overflow="ellipsis",
                    )
                )
                self.set_class(True, "-problem")
                return
            self.index_ok, self.needs_reindex = True, False
            text = stats_text(meta)
            if chunking_drift(meta, self.settings):  # leads: it must not be cut
                text = Text.assemble(
                    ("chunking settings changed: ctrl+g re-chunks", "bold"),
                    " · ",
                    text,
                    no_wrap=True,
                    overflow="ellipsis",
                )
            note = self._incomplete(meta)
            if note:  # searches still work, on part of the corpus: say so first
                text = Text.assemble(
                    (f"{note}: ctrl+g finishes it", "bold"), " · ", text, no_wrap=True, overflow="ellipsis"
                )
                self._say(text)
                self.set_class(True, "-problem")
                return
            self._say(text)
        self.set_class(not self.index_ok, "-problem")

    def _incomplete(self, meta: dict[str, Any]) -> str | None:
        """ "index incomplete: 36/45 files" when an ingest (not this tab's own, running now)
        stopped part-way; reads the table only then."""
        if self.ingesting or meta.get("state") != "ingesting":
            return None
        from workbench.core.retrieval.service import incomplete_note

        note = incomplete_note(self.project)
        return note.split(" (")[0] if note else None

    def note_damage(self, reason: str | None) -> None:
        """Remember that the index's data is damaged (IndexDamaged's reason): the stats line then
        says so, leading with ctrl+g, and ctrl+g rebuilds."""
        self.damage = reason or "the retrieval index looks damaged"

    # -- ingest --------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start an ingest (a re-index when the index needs one); False if one is running."""
        if self.ingesting:
            return False
        self._cancel = threading.Event()
        self.add_class("-ingesting")
        self.remove_class("-problem")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self._say("starting ingest…")
        self.run_ingest(self.needs_reindex, self._cancel)
        return True

    def cancel(self) -> bool:
        """Ask the running ingest to stop after its current batch; True if there was one."""
        if self._cancel is None or self._cancel.is_set():
            return False
        self._cancel.set()
        self._say("stopping after this batch…")
        return True

    @work(thread=True, exclusive=True, group="retrieval-ingest", exit_on_error=False)
    def run_ingest(self, reindex: bool, cancel: threading.Event) -> None:
        from workbench.core.retrieval.embedder import get_embedder, loaded_embedder
        from workbench.core.retrieval.index import IndexDamaged
        from workbench.core.retrieval.service import ingest_project

        settings, root = self.settings, self.project.root
        try:
            if loaded_embedder(settings.embedding_model, root) is None:
                self.post_message(self.ModelLoading())
                get_embedder(settings.embedding_model, root)

            def progress(p: Any) -> None:
                self.post_message(self.Progressed(p))

            report = ingest_project(self.project, settings, reindex=reindex, cancel=cancel, progress=progress)
        except WorkbenchError as exc:
            self.post_message(self.Finished(error=str(exc), damaged=isinstance(exc, IndexDamaged)))
            return
        except Exception as exc:
            self.post_message(self.Finished(error=f"{type(exc).__name__}: {exc}"))
            raise  # the app's worker-error handler names it
        self.post_message(self.Finished(report))

    @on(ModelLoading)
    def _model_loading(self) -> None:
        self._say(MODEL_LOADING)

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        if not self.ingesting:
            return
        p = message.progress
        bar = self.query_one(ProgressBar)
        if p.phase == "embedding" and p.chunks_total:
            bar.update(total=p.chunks_total, progress=p.chunks_done)
        elif p.phase in ("indexing", "done"):
            bar.update(total=1, progress=1)
        stopping = self._cancel is not None and self._cancel.is_set()
        tail = " · stopping after this batch…" if stopping else " · Esc cancels"
        self._say(progress_text(p) + tail)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        """Reset the line; the message goes on to the tab, which reports the outcome."""
        if message.damaged:
            self.note_damage(message.error)
        elif message.report is not None:
            self.damage = None
        self._cancel = None
        self.remove_class("-ingesting")
        self.refresh_stats()
