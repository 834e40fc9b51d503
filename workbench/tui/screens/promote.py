"""Promote a stored answer to an eval case: ask where to, and optionally the expected answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from workbench.core.errors import WorkbenchError


class PromoteScreen(ModalScreen[Any]):
    """Returns the PromotedCase, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="promote.cancel",
                        tooltip="Close without promoting")]

    def __init__(self, generation_id: int, default_path: Path,
                 promote: Callable[[int, Path, str | None], Any]) -> None:
        super().__init__()
        self.generation_id = generation_id
        self.default_path = default_path
        self.promote = promote

    def compose(self) -> ComposeResult:
        # The answer first and focused: it is what the user came to type. Bordered inputs, so
        # the focused one is plain to see.
        with Vertical(classes="modal-box -small"):
            yield Static(f"Promote generation {self.generation_id} to an eval case",
                         classes="modal-title", markup=False)
            yield Static("Expected answer (scored by a `similar` check; needed unless the file's "
                         "defaults check answers):", markup=False)
            yield Input(placeholder="the reference answer", id="promote-expected")
            yield Static("Eval file (appended to, never rewritten):", markup=False)
            yield Input(value=str(self.default_path), id="promote-to")
            yield Static("Enter promotes · Tab moves between the fields · Esc cancels",
                         classes="modal-hint", markup=False)
            yield Static("", id="promote-error")

    def on_mount(self) -> None:
        self.query_one("#promote-expected", Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        target = Path(self.query_one("#promote-to", Input).value.strip())
        expected = self.query_one("#promote-expected", Input).value.strip() or None
        try:
            case = self.promote(self.generation_id, target, expected)
        except (WorkbenchError, OSError) as exc:
            self.query_one("#promote-error", Static).update(Text(str(exc)))
            return
        self.dismiss(case)

    def action_cancel(self) -> None:
        self.dismiss(None)
