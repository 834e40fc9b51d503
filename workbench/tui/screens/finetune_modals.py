"""The Fine-tune tab's two questions: why train without the evidence (the override reason, which
is stored with the job), and what to call the exported Ollama model.

Both are small modals that only return the answer; the tab does the work. The reason must not
be empty: an override nobody can explain later is the thing the guard exists to prevent.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static

from workbench.present.evals import safe

MODAL_CSS = """
{name} {{ align: center middle; }}
{name} .modal-box {{ height: auto; max-height: 90%; }}
{name} .ft-modal-body {{ height: auto; max-height: 8; color: $text; }}
{name} .ft-modal-hint {{ height: auto; color: $text-muted; }}
{name} .ft-modal-error {{ height: auto; color: $error; }}
"""


class OverrideScreen(ModalScreen[str | None]):
    """Returns the reason for training although the guard refuses, or None when cancelled."""

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="finetune_override.cancel",
            tooltip="Close without overriding: the tab stays locked",
        )
    ]
    DEFAULT_CSS = MODAL_CSS.format(name="OverrideScreen")

    def __init__(self, advice: str) -> None:
        super().__init__()
        self.advice = advice

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box -small"):
            yield Static("Override the guard: train without the evidence", classes="modal-title", markup=False)
            yield Static(Text(f"The guard says: {safe(self.advice)}"), classes="ft-modal-body")
            yield Static(
                "The reason is stored with the job and shown wherever the job is "
                "(the Jobs list, the Runs tab, `workbench finetune show`).",
                classes="ft-modal-hint",
                markup=False,
            )
            yield Input(
                placeholder="why train anyway? e.g. a format experiment on 20 cases",
                id="ft-override-reason",
                compact=True,
            )
            yield Static(
                "Enter unlocks the LoRA form for the next job · Esc cancels", classes="ft-modal-hint", markup=False
            )
            yield Static("", id="ft-override-error", classes="ft-modal-error")

    @on(Input.Submitted, "#ft-override-reason")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        reason = " ".join(event.value.split())
        if not reason:
            self.query_one("#ft-override-error", Static).update(
                Text("Give a reason: an override without one is not recorded.")
            )
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[tuple[str, bool] | None]):
    """Returns (model name, re-run the eval set on it), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="finetune_export.cancel", tooltip="Close without exporting")]
    DEFAULT_CSS = MODAL_CSS.format(name="ExportScreen")

    def __init__(self, job_id: int, suggestion: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box -small"):
            yield Static(f"Export job f{self.job_id} to Ollama", classes="modal-title", markup=False)
            yield Static(
                "Writes the adapter and a Modelfile (FROM the same base, the training "
                "chat template) into the job folder; when Ollama runs, uploads the blobs "
                "and creates the model.",
                classes="ft-modal-body",
                markup=False,
            )
            yield Input(
                value=self.suggestion, placeholder="model name, e.g. smollm2-sql", id="ft-export-name", compact=True
            )
            yield Checkbox(
                "then run the eval set on the exported model (flags a drop)",
                value=True,
                compact=True,
                id="ft-export-eval",
            )
            yield Static("Enter exports · Esc cancels", classes="ft-modal-hint", markup=False)
            yield Static("", id="ft-export-error", classes="ft-modal-error")

    @on(Input.Submitted, "#ft-export-name")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if not name:
            self.query_one("#ft-export-error", Static).update(Text("Name the model."))
            return
        self.dismiss((name, bool(self.query_one("#ft-export-eval", Checkbox).value)))

    def action_cancel(self) -> None:
        self.dismiss(None)
