"""Streaming an answer into the pane without starving the keyboard.

Details: docs/NOTES.md, section tui/widgets/stream_view.py.
"""

from __future__ import annotations

import time
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from workbench.core.safetext import terminal_safe

RENDER_EVERY_S = 0.08  # live tail refresh while tokens arrive
MIN_TAIL_CHARS = 400
SCREENS = 1.5  # the text handed to the renderer covers this many screenfuls of the pane


def tail_start(text: str, keep: int) -> int:
    """Where a tail of about `keep` characters should start so that it parses like the answer:
    after a blank line (else a newline) outside any code fence; 0 when the text is short."""
    if len(text) <= keep:
        return 0
    limit = len(text) - keep
    for sep in ("\n\n", "\n"):
        pos = text.rfind(sep, 0, limit)
        while pos >= 0 and limit - pos < 4 * keep:
            start = pos + len(sep)
            if text.count("```", 0, start) % 2 == 0:
                return start
            pos = text.rfind(sep, 0, pos)
    space = text.rfind(" ", 0, limit)
    return space + 1 if space >= 0 and text.count("```", 0, space) % 2 == 0 else limit


class LiveTail(Widget):
    """The last screenful of a streaming answer, painted line by line (fixed size)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._strips: list[Strip] = []

    def show(self, text: str, hidden_chars: int) -> None:
        from rich.markdown import Markdown as RichMarkdown

        width, height = self.size.width or 40, self.size.height or 10
        console = self.app.console
        options = console.options.update(width=width, height=None, highlight=False)
        lines = console.render_lines(RichMarkdown(terminal_safe(text), hyperlinks=False), options, pad=False)
        while lines and not Segment.get_line_length(lines[-1]):
            lines.pop()  # trailing blank lines would push the newest text up
        room = height
        note: list[Strip] = []
        if hidden_chars:
            room -= 1
            message = Text(
                f"… {hidden_chars:,} earlier characters (all shown when it ends)",
                style=Style(italic=True, dim=True),
                no_wrap=True,
                overflow="ellipsis",
            )
            note = [Strip(console.render_lines(message, options, pad=False)[0])]
        base = self.rich_style
        strips = [Strip(line).apply_style(base) for line in lines[-room:]] if room > 0 else []
        self._strips = note + strips
        self.refresh()

    def clear(self) -> None:
        self._strips = []
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y].extend_cell_length(self.size.width, self.rich_style)
        return Strip.blank(self.size.width, self.rich_style)


class StreamView:
    """Owns one answer's display: the live tail while streaming, then the full Markdown view."""

    def __init__(self, pane: Any, markdown: Any, live: LiveTail) -> None:
        self.pane = pane
        self.markdown = markdown
        self.live = live
        self.text = ""
        self.pending = False  # tokens arrived since the last render
        self.last_render = 0.0

    async def begin(self) -> None:
        await self.markdown.update("")
        self.live.clear()
        self.pane.add_class("-streaming")

    async def add(self, token: str) -> None:
        """Take one token; refresh the tail when it is due."""
        self.text += token
        self.pending = True
        if time.monotonic() - self.last_render >= RENDER_EVERY_S:
            await self.render()

    async def render(self) -> None:
        self.last_render = time.monotonic()
        if not self.pending:
            return
        self.pending = False
        size = self.live.size
        keep = int(max(MIN_TAIL_CHARS, SCREENS * size.width * size.height))
        start = tail_start(self.text, keep)
        self.live.show(self.text[start:], start)

    async def finish(self) -> None:
        """Show the whole answer, exactly, in the Markdown view (scrolled to its end)."""
        self.pending = False
        self.pane.remove_class("-streaming")
        self.live.clear()
        await self.markdown.update(terminal_safe(self.text))
        scroll = self.markdown.parent
        if scroll is not None:
            scroll.call_after_refresh(scroll.scroll_end, animate=False, immediate=True)
