"""The preview of a retrieved chunk inside its document: context, chunk boundaries, query terms.

Details: docs/NOTES.md, section tui/widgets/retrieval_preview.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe

CONTEXT_LINES = 3
CONTEXT_CHARS = 320  # documents with one long line per paragraph: cap the context by size too


@dataclass(frozen=True)
class ChunkSpan:
    """One indexed chunk, placed in the view's text."""

    chunk_id: str
    n: int
    heading: str
    start: int
    end: int
    line_start: int
    line_end: int


@dataclass
class DocView:
    """A document as the preview shows it: text, its chunks' spans in it, and any caveat."""

    path: str
    text: str
    chunks: list[ChunkSpan]
    note: str | None = None  # why the file on disk is not what is shown

    def chunk(self, chunk_id: str) -> ChunkSpan | None:
        return next((c for c in self.chunks if c.chunk_id == chunk_id), None)


def _read_current(project: Any, settings: Any, path: str) -> str | None:
    """The document's text as ingest would read it now, found under the configured corpus."""
    from workbench.core.retrieval.documents import KINDS, Document, SourceFile, read_document
    from workbench.core.retrieval.service import corpus_paths

    for root in corpus_paths(project, settings):
        candidate = root if root.is_file() and root.name == path else root / path
        kind = KINDS.get(Path(path).suffix.lower())
        if kind is None or not candidate.is_file():
            continue
        doc = read_document(SourceFile(candidate, path, kind), int(settings.max_file_mb * 1_000_000))
        if isinstance(doc, Document):
            return doc.text
    return None


def _spans(rows: list[dict[str, Any]], starts: list[int]) -> list[ChunkSpan]:
    return [
        ChunkSpan(
            r["chunk_id"],
            int(r["n"]),
            r.get("heading_path") or "",
            s,
            s + len(r["text"]),
            int(r["line_start"]),
            int(r["line_end"]),
        )
        for r, s in zip(rows, starts, strict=True)
    ]


def rebuild_from_chunks(rows: list[dict[str, Any]]) -> tuple[str, list[int]]:
    """Document-like text from chunks in order: overlaps once, gaps as a blank line."""
    text = ""
    starts: list[int] = []
    prev_end: int | None = None
    for r in rows:
        chunk, cs, ce = r["text"], int(r["char_start"]), int(r["char_end"])
        if prev_end is not None and cs < prev_end and prev_end - cs <= len(chunk):
            overlap = prev_end - cs
            starts.append(len(text) - overlap)
            text += chunk[overlap:]
        else:
            if text:
                text += "\n\n"
            starts.append(len(text))
            text += chunk
        prev_end = ce if prev_end is None else max(prev_end, ce)
    return text, starts


def load_doc_view(project: Any, settings: Any, path: str) -> DocView:
    """What the preview needs for `path` (slow: LanceDB query and a file read; use a worker)."""
    from workbench.core.retrieval.service import open_index

    rows = open_index(project, settings).chunks_of(path)
    current = _read_current(project, settings, path)
    if (
        current is not None
        and rows
        and all(current[int(r["char_start"]) : int(r["char_end"])] == r["text"] for r in rows)
    ):
        return DocView(path, current, _spans(rows, [int(r["char_start"]) for r in rows]))
    text, starts = rebuild_from_chunks(rows)
    note = (
        "the file is no longer under the corpus folders"
        if current is None
        else "the file changed since the last ingest"
    )
    return DocView(path, text, _spans(rows, starts), f"{note}: showing the indexed chunks (ctrl+g re-ingests)")


# -- rendering ----------------------------------------------------------------------------------


def _line_start(text: str, pos: int, back: int) -> int:
    start = text.rfind("\n", 0, pos) + 1
    for _ in range(back):
        if start == 0:
            break
        start = text.rfind("\n", 0, start - 1) + 1
    return start


def _line_end(text: str, pos: int, ahead: int) -> int:
    end = pos
    for _ in range(ahead + 1):
        nl = text.find("\n", end)
        if nl == -1:
            return len(text)
        end = nl + 1
    return end - 1


def _label(events: list[tuple[int, int, ChunkSpan]]) -> str:
    parts = []
    for _, kind, c in events:
        if kind == 0:
            parts.append(f"end #{c.n}")
        else:
            where = f" {c.heading} ·" if c.heading else ""
            parts.append(f"#{c.n}{where} lines {c.line_start}-{c.line_end}")
    return "┄┄ " + " │ ".join(parts) + " ┄┄"


def render_preview(
    view: DocView, chunk_id: str, query: str, styles: dict[str, str], context_lines: int = CONTEXT_LINES
) -> Text:
    """The selected chunk with `context_lines` of document around it (see the module docstring).

    `styles` holds Rich colours resolved from the theme: "term", "selected", "marker",
    "marker_selected", "note".
    """
    return render_preview_at(view, chunk_id, query, styles, context_lines)[0]


def render_preview_at(
    view: DocView, chunk_id: str, query: str, styles: dict[str, str], context_lines: int = CONTEXT_LINES
) -> tuple[Text, int]:
    """`render_preview`, plus where in its text the selected chunk's start marker begins."""
    from workbench.core.retrieval.search import highlight_spans

    out = Text(no_wrap=False)
    if view.note:
        out.append(terminal_safe(view.note) + "\n", style=styles.get("note", "italic"))
    sel = view.chunk(chunk_id)
    if sel is None:
        out.append(terminal_safe(f"{chunk_id} is no longer in the index (re-run the search)"))
        return out, 0
    text = view.text
    ws = _line_start(text, sel.start, context_lines)
    if sel.start - ws > CONTEXT_CHARS:
        ws = text.find(" ", sel.start - CONTEXT_CHARS, sel.start) + 1 or sel.start - CONTEXT_CHARS
        out.append("…", style="dim")
    we = max(_line_end(text, max(sel.end - 1, sel.start), context_lines), sel.end)
    if we - sel.end > CONTEXT_CHARS:
        cut = text.rfind(" ", sel.end, sel.end + CONTEXT_CHARS)
        we = cut if cut > sel.end else sel.end + CONTEXT_CHARS
    clipped = we < len(text) and text[we] != "\n"
    events = []
    for c in view.chunks:
        if ws <= c.start < we:
            events.append((c.start, 1, c))
        if ws < c.end <= we:
            events.append((c.end, 0, c))
    events.sort(key=lambda e: (e[0], e[1], e[2].n))
    terms = [(a + ws, b + ws) for a, b in highlight_spans(text[ws:we], query)]
    cuts = {ws, we, sel.start, sel.end} | {p for span in terms for p in span}
    points = sorted(p for p in cuts if ws <= p <= we)

    def emit(a: int, b: int) -> None:
        """Document text [a, b): pieces at every style change, each made terminal-safe alone."""
        inner = [p for p in points if a < p < b]
        for x, y in zip([a, *inner], [*inner, b], strict=True):
            if x >= y:
                continue
            style = styles.get("selected", "") if sel.start <= x < sel.end else "dim"
            if any(s <= x < e for s, e in terms):
                style = f"{style} {styles.get('term', 'bold')}".strip()
            out.append(terminal_safe(text[x:y]), style=style)

    pos, i, marker_at = ws, 0, 0
    while i < len(events):
        at = events[i][0]
        group = [e for e in events[i:] if e[0] == at]
        i += len(group)
        emit(pos, at)
        pos = max(pos, at)
        if out.plain and not out.plain.endswith("\n"):
            out.append("\n")
        mine = any(e[2].chunk_id == chunk_id for e in group)
        if any(e[2].chunk_id == chunk_id and e[1] == 1 for e in group):
            marker_at = len(out.plain)
        out.append(
            terminal_safe(_label(group)) + "\n", style=styles.get("marker_selected" if mine else "marker", "dim")
        )
    emit(pos, we)
    out.rstrip()
    if clipped:
        out.append("…", style="dim")
    return out, marker_at


def preview_title(view: DocView | None, hit: Any) -> Text:
    """The pane's one-line title: chunk id, heading and line span."""
    if hit is None:
        return Text("Preview — select a result")
    head = f" · {hit.heading_path}" if hit.heading_path else ""
    return Text(
        terminal_safe(f"Preview · {hit.chunk_id}{head} · lines {hit.line_start}-{hit.line_end}"),
        no_wrap=True,
        overflow="ellipsis",
    )


# -- the pane -----------------------------------------------------------------------------------


class PreviewPane(Vertical):
    """Title line and the scrollable preview; documents load in a worker and are cached."""

    @dataclass
    class Loaded(Message):
        """A document's view for the preview, or why it could not be read."""

        path: str
        view: DocView | None = None
        error: str | None = None

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.docs: dict[str, DocView] = {}
        self.hit: Any = None
        self.query_text = ""  # not `query`: that would hide Widget.query
        self.palette: dict[str, str] = {}
        self._text: Text | None = None
        self._marker_at = 0

    def compose(self) -> ComposeResult:
        yield Static(preview_title(None, None), id="rt-preview-title", classes="rt-pane-title")
        with VerticalScroll(id="rt-preview-scroll", classes="rt-scroll"):
            yield Static("", id="rt-preview")

    def forget(self) -> None:
        """Drop cached documents (after an ingest they may have changed)."""
        self.docs.clear()

    def show(self, hit: Any, query: str, palette: dict[str, str]) -> None:
        """Preview `hit` (a search Hit, or None to clear) with `query`'s terms highlighted."""
        self.hit, self.query_text, self.palette = hit, query, palette
        self.query_one("#rt-preview-title", Static).update(preview_title(None, hit))
        body = self.query_one("#rt-preview", Static)
        self._text = None
        if hit is None:
            body.update("")
            return
        view = self.docs.get(hit.path)
        if view is None:
            body.update(Text(terminal_safe(f"loading {hit.path}…"), style="dim"))
            self.load_doc(hit.path)
            return
        self._text, self._marker_at = render_preview_at(view, hit.chunk_id, query, palette)
        body.update(self._text)
        self.call_after_refresh(self._scroll_to_chunk)

    def on_resize(self) -> None:
        self.call_after_refresh(self._scroll_to_chunk)

    def _scroll_to_chunk(self) -> None:
        """Context above the chunk is there to scroll back to; a short pane starts at the chunk."""
        scroll = self.query_one("#rt-preview-scroll", VerticalScroll)
        region = scroll.scrollable_content_region
        if self._text is None or region.width <= 0:
            return
        above = len(self._text[: self._marker_at].wrap(self.app.console, region.width)) if self._marker_at else 0
        top = max(0, above - 1) if above + 4 > region.height else 0
        scroll.scroll_to(y=top, animate=False)

    @work(thread=True, exclusive=True, group="retrieval-doc", exit_on_error=False)
    def load_doc(self, path: str) -> None:
        try:
            view = load_doc_view(self.project, self.project.config.retrieval, path)
        except WorkbenchError as exc:
            self.post_message(self.Loaded(path, error=str(exc)))
            return
        self.post_message(self.Loaded(path, view))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.view is not None:
            self.docs[message.path] = message.view
        if self.hit is None or self.hit.path != message.path:
            return
        if message.error:
            self.query_one("#rt-preview", Static).update(Text(terminal_safe(message.error)))
        else:
            self.show(self.hit, self.query_text, self.palette)
