"""The footer: the keys that work where the focus is, on one line, with the palette key at the
right.

Details: docs/NOTES.md, section tui/widgets/key_hints.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widget import Widget

SEPARATOR = "▏"


@dataclass(frozen=True)
class Hint:
    """One key as shown: the key to simulate on click, its display, its description."""

    key: str
    display: str
    description: str
    enabled: bool


def layout_hints(hints: list[Hint], palette: Hint | None, width: int) -> tuple[str, list[tuple[int, int, Hint]]]:
    """The plain line for `width` columns and the (start, end, hint) span of each key shown.

    Keys that do not fit are dropped from the end (the first keys are the tab's main actions);
    the palette key always keeps its place at the right edge. Pure, so tests can pin it.
    """
    right = f"{SEPARATOR}{palette.display} {palette.description} " if palette else ""
    room = max(0, width - len(right))
    line, spans = "", []
    for hint in hints:
        piece = f"{hint.display} {hint.description}"
        start = len(line) + (1 if line else 0)
        if start + len(piece) > room:
            break
        line = f"{line} {piece}" if line else piece
        spans.append((start, start + len(piece), hint))
    line = line.ljust(room)
    if palette:
        start = len(line) + len(SEPARATOR)
        spans.append((start, start + len(right) - len(SEPARATOR) - 1, palette))
    return line + right, spans


class KeyHints(Widget):
    """One line of key hints for the focused widget and its ancestors."""

    DEFAULT_CSS = """
    KeyHints {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    KeyHints > .key-hints--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyHints > .key-hints--separator {
        color: $footer-key-foreground 40%;
    }
    """
    COMPONENT_CLASSES = {"key-hints--key", "key-hints--separator"}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._spans: list[tuple[int, int, Hint]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh()

    def _hints(self) -> tuple[list[Hint], Hint | None]:
        """Shown bindings in the order Textual lists them (focused widget first), one per action,
        and the command palette's binding apart."""
        app = self.app
        active = self.screen.active_bindings
        hints: list[Hint] = []
        seen: set[str] = set()
        for _node, binding, enabled, _tooltip in active.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            hints.append(self._hint(binding, enabled))
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, _tooltip = active[app.COMMAND_PALETTE_BINDING]
            palette = self._hint(binding, enabled)
        return hints, palette

    def _hint(self, binding: Binding, enabled: bool) -> Hint:
        return Hint(binding.key, self.app.get_key_display(binding), binding.description, enabled)

    def render(self) -> Text:
        hints, palette = self._hints()
        line, self._spans = layout_hints(hints, palette, self.size.width)
        text = Text(line, no_wrap=True, overflow="crop", end="")
        key_style = self.get_component_rich_style("key-hints--key")
        for start, end, hint in self._spans:
            key_end = start + len(hint.display)
            text.stylize(key_style, start, key_end)
            if not hint.enabled:
                text.stylize(Style(dim=True), start, end)
        if palette is not None:
            at = line.rindex(SEPARATOR)
            text.stylize(self.get_component_rich_style("key-hints--separator"), at, at + 1)
        return text

    def hint_at(self, x: int) -> Hint | None:
        """The key drawn at column `x`, if any."""
        for start, end, hint in self._spans:
            if start <= x < end:
                return hint
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        hint = self.hint_at(event.x)
        if hint is None:
            return
        event.stop()
        if hint.enabled:
            self.app.simulate_key(hint.key)
        else:
            self.app.bell()
