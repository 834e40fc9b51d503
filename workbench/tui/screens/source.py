"""One retrieved source in full, as literal text, with a key to copy it (OSC 52)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.core.safetext import terminal_safe
from workbench.tui.widgets.key_hints import KeyHints


class SourceScreen(ModalScreen[None]):
    """Shows `[n] path — heading` and the chunk text; Esc closes."""

    BINDINGS = [
        Binding("escape", "dismiss_screen", "Close", id="source.close", tooltip="Back to the answer"),
        Binding(
            "ctrl+o",
            "copy",
            "Copy chunk",
            id="source.copy",
            tooltip="Copy the chunk text to the clipboard (OSC 52; works over SSH)",
        ),
    ]

    def __init__(self, source: Any) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        s = self.source
        score = f" · score {s.score:.3f}" if isinstance(s.score, (int, float)) else ""
        with Vertical(classes="modal-box"):
            yield Static(Text(terminal_safe(f"[{s.n}] {s.path} — {s.heading}{score}")), classes="modal-title")
            with VerticalScroll(classes="modal-body", can_focus=True):
                yield Static(Text(terminal_safe(s.text)), classes="source-text")
            yield KeyHints()

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        from workbench.tui.clipboard import copy_text

        copy_text(self, self.source.text, "Chunk")
