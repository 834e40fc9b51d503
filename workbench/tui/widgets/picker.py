"""A one-line chooser that opens its list in a modal: a light stand-in for `Select`.

Each Textual `Select` carries an option-list overlay and four more widgets from the start; the
editor has several pickers, and every widget on the first screen costs styling time before the
first paint. A Picker is one widget until it is opened (Enter, Space or a click), so start-up
stays close to a bare Textual app. Same surface as Select where the Prompt tab needs it: `value`,
`set_options()`, and a `Changed` message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class Picker(Widget, can_focus=True):
    """`label: current choice ▾`; Enter opens the list."""

    BINDINGS = [
        Binding("enter,space", "open", "Choose", id="picker.open", show=False, tooltip="Open the list of choices"),
    ]

    value: reactive[Any] = reactive(None, init=False)

    @dataclass
    class Changed(Message):
        """The user (or code) picked another value."""

        picker: Picker
        value: Any

        @property
        def control(self) -> Picker:
            return self.picker

    def __init__(self, label: str, options: list[tuple[str, Any]], value: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.options = list(options)
        self.set_reactive(Picker.value, value)

    def render(self) -> Text:
        current = next((text for text, value in self.options if value == self.value), "—")
        line = Text(f"{self.label}: ", style="dim", no_wrap=True, overflow="ellipsis")
        line.append(current)
        room = max(self.content_region.width - 2, 1)
        line.truncate(room, overflow="ellipsis")
        line.append(" ▾")
        return line

    def set_options(self, options: list[tuple[str, Any]]) -> None:
        self.options = list(options)
        self.refresh()

    def watch_value(self, value: Any) -> None:
        self.refresh()
        self.post_message(self.Changed(self, value))

    def action_open(self) -> None:
        from workbench.tui.screens.choose import ChooseScreen

        def chosen(value: Any) -> None:
            if value is not None:
                self.value = value

        self.app.push_screen(ChooseScreen(self.label, self.options, self.value), chosen)

    def on_click(self) -> None:
        self.action_open()
