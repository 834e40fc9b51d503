"""A stored run in full: the same Markdown report `workbench runs show` prints.

Stored text (prompts, model output, documents) passes through `terminal_safe` before rendering,
so escape sequences show as `\\x1b` instead of reaching the terminal.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from workbench.core.safetext import terminal_safe
from workbench.tui.widgets.key_hints import KeyHints


def run_report(project: Any, kind: str, row: dict[str, Any]) -> str:
    """The Markdown report `runs show --markdown` prints; plain JSON when its renderer is not in this build."""
    from workbench.present.runs import run_markdown

    try:
        return run_markdown(project.store if project is not None else None, kind, row)
    except ImportError:
        body = json.dumps(row, indent=2, ensure_ascii=False, default=str)
        return f"### {kind} {row.get('id')}\n\n```json\n{body}\n```"


class RunDetailScreen(ModalScreen[None]):
    """One run (generation, retrieval, eval run or fine-tune job) in full."""

    BINDINGS = [
        Binding("escape", "dismiss_screen", "Close", id="run.close", tooltip="Back to the runs list"),
        Binding(
            "ctrl+o",
            "copy",
            "Copy report",
            id="run.copy",
            tooltip="Copy this run's Markdown report to the clipboard (OSC 52)",
        ),
        Binding(
            "ctrl+g",
            "promote",
            "Promote",
            id="run.promote",
            tooltip="Append this generation's question to an eval set as a new case",
        ),
    ]

    def __init__(self, project: Any, run_id: str, kind: str, row: dict[str, Any]) -> None:
        super().__init__()
        self.project = project
        self.run_id = run_id
        self.kind = kind
        self.row = row
        self.report = run_report(project, kind, row)

    def compose(self) -> ComposeResult:
        status = self.row.get("status") or ""
        with Vertical(classes="modal-box"):
            yield Static(Text(terminal_safe(f"{self.kind} {self.run_id} · {status}")), classes="modal-title")
            with VerticalScroll(classes="modal-body", can_focus=True):
                yield Markdown(terminal_safe(self.report), classes="run-report")
            yield KeyHints()

    def on_mount(self) -> None:
        self.query_one(".modal-body").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "promote":
            return True if self.kind == "generation" else None
        return True

    def action_promote(self) -> None:
        from workbench.tui.promote_flow import open_promote

        if self.kind == "generation":
            open_promote(self, int(self.row["id"]), f"run {self.run_id}")

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        from workbench.tui.clipboard import copy_text

        copy_text(self, self.report, "Run report")
