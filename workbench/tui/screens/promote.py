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
        with Vertical(classes="modal-box -small"):
            yield Static(f"Promote generation {self.generation_id} to an eval case",
                         classes="modal-title", markup=False)
            yield Static("Eval file (appended to, never rewritten):", markup=False)
            yield Input(value=str(self.default_path), id="promote-to", compact=True)
            yield Static("Expected answer (scored by a `similar` check; needed unless the file's "
                         "defaults check answers). Enter promotes:", markup=False)
            yield Input(placeholder="the reference answer", id="promote-expected", compact=True)
            yield Static("", id="promote-error")

    @on(Input.Submitted, "#promote-to")
    def _next(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#promote-expected", Input).focus()

    @on(Input.Submitted, "#promote-expected")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        target = Path(self.query_one("#promote-to", Input).value.strip())
        expected = event.value.strip() or None
        try:
            case = self.promote(self.generation_id, target, expected)
        except (WorkbenchError, OSError) as exc:
            self.query_one("#promote-error", Static).update(Text(str(exc)))
            return
        self.dismiss(case)

    def action_cancel(self) -> None:
        self.dismiss(None)
