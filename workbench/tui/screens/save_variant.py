"""Ask for a name, then save the editor's template and system prompt as a named variant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from workbench.core.errors import WorkbenchError


class SaveVariantScreen(ModalScreen[Any]):
    """Returns the SavedVariant, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save.cancel", tooltip="Close without saving")]

    def __init__(self, save: Callable[[str], Any], suggestion: str = "") -> None:
        super().__init__()
        self.save = save
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box -small"):
            yield Static("Save as variant", classes="modal-title", markup=False)
            yield Static(
                "Writes prompts/<name>.yaml from the editor and adds variants.<name> "
                "to workbench.yaml. Enter saves, Esc cancels.",
                markup=False,
            )
            yield Input(value=self.suggestion, placeholder="name, e.g. qa-v2", id="variant-name")
            yield Static("", id="save-error")

    @on(Input.Submitted, "#variant-name")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            saved = self.save(event.value)
        except (WorkbenchError, OSError) as exc:
            self.query_one("#save-error", Static).update(Text(str(exc)))
            return
        self.dismiss(saved)

    def action_cancel(self) -> None:
        self.dismiss(None)
