"""Ask before quitting while a run (an answer, an eval, an ingest, a training) is in progress."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmQuitScreen(ModalScreen[bool]):
    """True: quit (the runs are stopped, what they produced is kept); False: keep running."""

    BINDINGS = [
        Binding("y,enter,ctrl+q", "answer(True)", "Quit", id="quit.yes", tooltip="Stop the runs and quit"),
        Binding("n,escape", "answer(False)", "Keep running", id="quit.no", tooltip="Back to the app"),
    ]

    def __init__(self, runs: list[str]) -> None:
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box -small"):
            yield Static("A run is in progress — quit?", classes="modal-title", markup=False)
            yield Static(
                f"Running: {', '.join(self.runs)}.\nQuitting stops it and keeps what it "
                "produced (stored as interrupted / cancelled).\ny or Enter quits, "
                "n or Esc keeps it running.",
                markup=False,
            )

    def action_answer(self, quit_now: bool) -> None:
        self.dismiss(quit_now)
