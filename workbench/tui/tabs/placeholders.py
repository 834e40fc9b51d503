"""Stand-in panes for tabs whose modules are not written yet.

Each says what the tab will show and which headless command already does the job, so the frame,
the key bindings and the snapshots are real before the tab is. Replaced automatically when
`workbench/tui/tabs/<id>.py` exists (see tabs/__init__.py).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

PLANNED: dict[str, tuple[str, list[str], str]] = {
    "retrieval": (
        "Retrieval inspection",
        [
            "a query box, with dense, full-text and hybrid results side by side",
            "each result's score and rank from every method",
            "a preview of the chunk inside its document, query terms highlighted",
            "an eval case's relevant documents marked, and why one was not retrieved",
            "ingest with a progress bar, and the index statistics",
        ],
        "workbench retrieve / workbench ingest",
    ),
    "evals": (
        "Evaluation",
        [
            "eval sets and past runs with pass rate, variant and date",
            "start a run with live per-case progress, and cancel it",
            "the side-by-side diff of two runs: regressions, fixes, changed cases",
            "both outputs of a case with word-level highlighting, and the flipped assertions",
            "the statistics line and the failure attribution with its advice",
        ],
        "workbench eval run / workbench eval diff",
    ),
    "finetune": (
        "Guarded fine-tuning",
        [
            "the guard's evidence checklist with each rule's status and numbers",
            "locked until the evidence passes (or an explicit, recorded override)",
            "then the LoRA form, a live loss curve and tokens/s, and cancel",
            "the post-training eval diff and the export to Ollama",
        ],
        "workbench finetune check / workbench finetune train",
    ),
}


class PlaceholderTab(VerticalScroll, can_focus=True):
    """A pane that describes a tab that is not built yet."""

    def __init__(self, tab_id: str, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tab_id = tab_id
        self.tab_title = title

    def compose(self) -> ComposeResult:
        heading, items, command = PLANNED.get(self.tab_id, (self.tab_title, [], ""))
        yield Static(f"{heading} — coming soon", classes="placeholder-title", markup=False)
        yield Static("This tab will show:", classes="placeholder-body", markup=False)
        for item in items:
            yield Static(f"  • {item}", classes="placeholder-item", markup=False)
        if command:
            yield Static(f"Until then, from a shell: {command}", classes="placeholder-hint", markup=False)


def placeholder_for(spec: Any, project: Any) -> PlaceholderTab:
    return PlaceholderTab(spec.id, spec.title, id=f"{spec.id}-tab")
