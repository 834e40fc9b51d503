"""The list behind a Picker: choose with arrows and Enter, Esc keeps the current value."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ChooseScreen(ModalScreen[Any]):
    """Returns the chosen value, or None when dismissed."""

    BINDINGS = [
        Binding(
            "escape", "cancel", "Keep current", id="choose.cancel", tooltip="Close the list without changing the choice"
        )
    ]

    def __init__(self, title: str, options: list[tuple[str, Any]], current: Any) -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(options)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box -small -choose"):
            yield Static(Text(self.title_text), classes="modal-title")
            yield OptionList(*[Option(Text(text), id=str(i)) for i, (text, _) in enumerate(self.choices)], id="choices")

    def on_mount(self) -> None:
        option_list = self.query_one("#choices", OptionList)
        for index, (_, value) in enumerate(self.choices):
            if value == self.current:
                option_list.highlighted = index
        option_list.focus()

    @on(OptionList.OptionSelected, "#choices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[event.option_index][1])

    def action_cancel(self) -> None:
        self.dismiss(None)
