"""Name the document a free-text search should have found, for the why-not report (the TUI's
`workbench retrieve --gold DOC`). A name the index does not hold is refused with close matches."""

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

from workbench.core.safetext import terminal_safe

GOLD_KEY = "expected::"  # the CaseChoice key of a named document, apart from eval cases
SHOWN = 6  # indexed documents listed under the input as the user types


class GoldDocScreen(ModalScreen[str | None]):
    """Returns the document (or chunk PATH#N) to explain, "" to clear it, None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="gold.cancel", tooltip="Close, keep the current one")]

    def __init__(self, paths: list[str], check: Callable[[str], str | None], current: str = "") -> None:
        super().__init__()
        self.paths = paths
        self.check = check
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box -small"):
            yield Static("Expected document", classes="modal-title", markup=False)
            yield Static(
                "Which document should this search have found? The why-not report says "
                "where it ranked under each method. Enter sets it (empty: none), Esc cancels.",
                markup=False,
            )
            yield Input(value=self.current, placeholder="path as indexed, e.g. docs/wal.md", id="gold-name")
            yield Static("", id="gold-error")
            yield Static(self._matches(self.current), id="gold-matches")

    def _matches(self, typed: str) -> Text:
        """The indexed documents whose path contains what was typed (all of them when empty)."""
        t = typed.strip().lower()
        hits = [p for p in self.paths if t in p.lower()]
        more = f" (+{len(hits) - SHOWN} more)" if len(hits) > SHOWN else ""
        if not hits:
            return Text("no indexed document contains that", style="dim")
        return Text(terminal_safe("\n".join(hits[:SHOWN]) + more), style="dim")

    @on(Input.Changed, "#gold-name")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#gold-matches", Static).update(self._matches(event.value))
        self.query_one("#gold-error", Static).update("")

    @on(Input.Submitted, "#gold-name")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        label = event.value.strip()
        problem = self.check(label) if label else None
        if problem:
            self.query_one("#gold-error", Static).update(Text(terminal_safe(problem), style="bold red"))
            return
        self.dismiss(label)

    def action_cancel(self) -> None:
        self.dismiss(None)


def ask_gold(tab: Any) -> None:
    """ctrl+e on the Retrieval tab: ask for the expected document, then search again with it as
    the gold label (a one-document case, like `retrieve --gold`); empty clears it."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.retrieval.service import open_index
    from workbench.core.retrieval.whynot import unknown_gold
    from workbench.tui.widgets.retrieval_cases import CaseChoice, CasePicker

    try:
        index = open_index(tab.project, tab.settings)
        paths = index.paths()
    except WorkbenchError as exc:
        tab.notify(f"Naming the expected document needs an index: {exc}", severity="warning", markup=False)
        return
    case = tab.case
    current = case.relevant[0] if case is not None and case.key.startswith(GOLD_KEY) else ""

    def chosen(label: str | None) -> None:
        if label is None:
            return
        picker = tab.query_one(CasePicker)
        if picker.value is not picker.BLANK:
            with picker.prevent(picker.Changed):
                picker.clear()
        query = tab.query_one("#rt-query").value.strip()
        tab.case = CaseChoice(f"{GOLD_KEY}{label}", "", f"expected {label}", query, (label,), None) if label else None
        if tab.case is None:
            tab.report = None
            tab._show_result()
            tab._show_whynot()
        elif query:
            tab.action_search()
        else:
            tab.notify("Now type the question and press Enter.", markup=False)

    tab.app.push_screen(GoldDocScreen(paths, lambda label: unknown_gold(label, index), current), chosen)
