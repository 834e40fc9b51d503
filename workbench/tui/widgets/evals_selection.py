"""The Evals tab's quick-run row: which cases to run (limit, tags, case ids) and how long that
should take, from the measured pace of past runs on the same model.

A first run of a whole set on the embedded model takes minutes; a user trying a change wants
ten cases now. The row narrows the set exactly as `workbench eval run --limit/--tag/--case`
does (the same `select_cases`), so the run is the same stored subset run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from workbench.core.errors import WorkbenchError
from workbench.core.evals.selection import Pace, duration_text, select_cases


def split_list(text: str) -> list[str]:
    """'a, b c' -> ['a', 'b', 'c']: tags and case ids are typed comma- or space-separated."""
    return [part for part in text.replace(",", " ").split() if part]


def estimate_text(cases: int, of: int, pace: Pace | None, model: str) -> str:
    """'10 of 84 cases · about 4 min (24 s a case on embedded, 3 past runs)'."""
    count = f"{cases} of {of} cases" if cases != of else f"{cases} cases"
    if pace is None:
        return f"{count} · no past run on {model} to time it by"
    per_case = f"{pace.seconds_per_case:.{1 if pace.seconds_per_case < 10 else 0}f}"
    runs = f"{pace.runs} past run{'s' if pace.runs != 1 else ''}"
    return f"{count} · about {duration_text(pace.estimate(cases))} ({per_case} s a case on {pace.on}, {runs})"


class EvalSelection(Vertical):
    """Limit, tag and case fields over one line that says how many cases and how long."""

    DEFAULT_CSS = """
    EvalSelection { height: auto; }
    EvalSelection > Horizontal { height: 1; }
    EvalSelection Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    EvalSelection Input { margin-right: 1; }
    EvalSelection #evals-limit { width: 7; }
    EvalSelection #evals-tags { width: 1fr; max-width: 24; }
    EvalSelection #evals-cases { width: 1fr; max-width: 36; }
    EvalSelection #evals-estimate { height: 1; color: $text-muted; text-wrap: nowrap;
                                    text-overflow: ellipsis; }
    EvalSelection #evals-estimate.-error { color: $error; }
    """

    @dataclass
    class Estimated(Message):
        """The estimate line's text, worked out in a thread (the pace is a store query)."""

        text: str
        error: bool = False

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.evalset: Any = None
        self.model = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="evals-select-bar"):
            yield Label("Limit")
            yield Input(
                placeholder="all",
                type="integer",
                compact=True,
                id="evals-limit",
                tooltip="Only the first N cases (after tag and case): a quick check",
            )
            yield Label("Tags")
            yield Input(
                placeholder="any",
                compact=True,
                id="evals-tags",
                tooltip="Only cases with any of these tags (comma-separated)",
            )
            yield Label("Cases")
            yield Input(
                placeholder="all ids", compact=True, id="evals-cases", tooltip="Only these case ids (comma-separated)"
            )
        yield Static("", id="evals-estimate")

    # -- what the user chose -------------------------------------------------------------------
    def choice(self) -> dict[str, Any]:
        """The fields as `select_cases` keywords; a bad limit raises WorkbenchError."""
        raw = self.query_one("#evals-limit", Input).value.strip()
        try:
            limit = int(raw) if raw else None
        except ValueError:
            raise WorkbenchError(f"Limit must be a whole number, not {raw!r}", field="limit") from None
        return {
            "tags": split_list(self.query_one("#evals-tags", Input).value),
            "case_ids": split_list(self.query_one("#evals-cases", Input).value),
            "limit": limit,
        }

    def narrow(self, evalset: Any) -> Any:
        """`evalset` cut down to the chosen cases (the whole set when no field is filled)."""
        return select_cases(evalset, **self.choice())

    # -- the estimate ----------------------------------------------------------------------------
    def update_for(self, evalset: Any, model: str) -> None:
        """The chosen set (parsed) or the variant's model changed: estimate again."""
        self.evalset, self.model = evalset, model
        self.refresh_estimate()

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.refresh_estimate()

    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in a field does not start a run: ctrl+r does

    def refresh_estimate(self) -> None:
        if self.evalset is None:
            self.post_message(self.Estimated(""))
            return
        try:
            chosen = self.narrow(self.evalset)
        except WorkbenchError as exc:
            self.post_message(self.Estimated(exc.message, error=True))
            return
        self.estimate(self.project.store, len(chosen.cases), len(self.evalset.cases), self.model)

    @work(thread=True, exclusive=True, group="eval-estimate", exit_on_error=False)
    def estimate(self, store: Any, cases: int, of: int, model: str) -> None:
        from workbench.core.evals.selection import measured_pace

        pace = measured_pace(store, model) if model else None
        self.post_message(self.Estimated(estimate_text(cases, of, pace, model or "?")))

    @on(Estimated)
    def _estimated(self, message: Estimated) -> None:
        line = self.query_one("#evals-estimate", Static)
        line.update(Text(message.text))
        line.set_class(message.error, "-error")
