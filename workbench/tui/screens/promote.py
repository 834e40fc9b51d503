"""Promote a stored answer to an eval case: what is promoted (question, answer, from where),
where to, the case id, the expected answer, and what promoting does to the set's earlier runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe

SHOWN_CHARS = 160  # of the question and the answer: enough to recognise them


@dataclass
class PromoteRequest:
    generation_id: int
    where: str  # 'pane A · base', 'run e3 · case italy'
    question: str
    answer: str
    default_path: Path
    case_id: str
    note: Callable[[Path], str]  # what promoting into this file does to its earlier runs
    promote: Callable[[Path, str | None, str | None], Any]


def _short(text: str) -> str:
    one_line = " ".join(terminal_safe(text).split())
    return one_line if len(one_line) <= SHOWN_CHARS else one_line[: SHOWN_CHARS - 1] + "…"


class PromoteScreen(ModalScreen[Any]):
    """Returns the PromotedCase, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="promote.cancel", tooltip="Close without promoting")]
    DEFAULT_CSS = """
    PromoteScreen .promote-where { height: auto; }
    PromoteScreen .promote-where Input { width: 1fr; }
    """

    def __init__(self, request: PromoteRequest) -> None:
        super().__init__()
        self.request = request
        self.generation_id = request.generation_id

    def compose(self) -> ComposeResult:
        # The answer first and focused: it is what the user came to type. Bordered inputs, so
        # the focused one is plain to see. Model text is shown as plain Text, never markup.
        r = self.request
        with Vertical(classes="modal-box -small"):
            yield Static(
                Text(f"Promote generation {r.generation_id} ({terminal_safe(r.where)}) to an eval case"),
                classes="modal-title",
            )
            yield Static(Text(f"Q: {_short(r.question)}"), id="promote-question")
            yield Static(Text(f"A: {_short(r.answer)}"), id="promote-answer")
            yield Static(
                "Expected answer (scored by a `similar` check; needed unless the file's defaults check answers):",
                markup=False,
            )
            yield Input(placeholder="the reference answer", id="promote-expected")
            yield Static("Eval file (appended to, never rewritten) · case id:", markup=False)
            with Horizontal(classes="promote-where"):
                yield Input(value=str(r.default_path), id="promote-to")
                yield Input(value=r.case_id, id="promote-id")
            yield Static(Text(r.note(r.default_path)), id="promote-note", classes="modal-hint")
            yield Static(
                "Enter promotes · Tab moves between the fields · Esc cancels", classes="modal-hint", markup=False
            )
            yield Static("", id="promote-error")

    def on_mount(self) -> None:
        self.query_one("#promote-expected", Input).focus()

    @on(Input.Changed, "#promote-to")
    def _target_changed(self, event: Input.Changed) -> None:
        self.query_one("#promote-note", Static).update(Text(self.request.note(Path(event.value.strip() or "."))))

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        target = Path(self.query_one("#promote-to", Input).value.strip())
        expected = self.query_one("#promote-expected", Input).value.strip() or None
        case_id = self.query_one("#promote-id", Input).value.strip() or None
        try:
            case = self.request.promote(target, expected, case_id)
        except (WorkbenchError, OSError) as exc:
            self.query_one("#promote-error", Static).update(Text(str(exc)))
            return
        self.dismiss(case)

    def action_cancel(self) -> None:
        self.dismiss(None)
