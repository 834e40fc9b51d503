"""The guard's evidence, as the Fine-tune tab shows it: the advice first, the knowledge warning
as a warning, the signal choice with the lock state, then each rule with ✓/✗, its numbers and
its next step.

The panel only shows a `GuardReport` it is given; the tab's thread worker produces it (the
check reads the run store and the corpus, never a model). Choosing a signal posts
`SignalChanged`, and the tab re-runs the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Select, Static

from workbench.present.finetune import checklist, lead_advice, warning_text
from workbench.tui.widgets.text import SIGNAL_HELP, SIGNAL_OPTIONS, lock_line, rule_styles


class GuardPanel(Vertical):
    """Advice band, warning band, the signal, the lock line, the checklist (scrolls)."""

    DEFAULT_CSS = """
    GuardPanel { height: 1fr; }
    GuardPanel #ft-advice { height: auto; max-height: 4; padding: 0 1; text-style: bold;
                            border-left: outer $error; background: $error-muted; color: $text; }
    GuardPanel #ft-advice.-open { border-left: outer $success; background: $success-muted; }
    GuardPanel #ft-advice.-checking { border-left: outer $panel-lighten-2; background: $panel;
                                      text-style: none; color: $text-muted; }
    GuardPanel #ft-warning { height: auto; max-height: 4; padding: 0 1; color: $text;
                             border-left: outer $warning; background: $warning-muted; }
    GuardPanel #ft-guard-bar { height: 1; }
    GuardPanel #ft-signal-label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    GuardPanel #ft-signal { width: 20; margin-right: 1; }
    GuardPanel #ft-signal-hint { width: 1fr; color: $text-muted; text-wrap: nowrap;
                                 text-overflow: ellipsis; }
    GuardPanel #ft-lock { height: auto; max-height: 2; }
    GuardPanel #ft-lock.-locked { color: $error; }
    GuardPanel #ft-lock.-open { color: $success; }
    GuardPanel #ft-lock.-override { color: $warning; }
    GuardPanel #ft-lock.-checking { color: $text-muted; }
    GuardPanel #ft-checklist { height: 1fr; border-top: hkey $panel-lighten-1;
                               scrollbar-size-vertical: 1; }
    GuardPanel #ft-checklist:focus { background: $surface; }
    GuardPanel #ft-rules { height: auto; }
    """

    @dataclass
    class SignalChanged(Message):
        """The user named another signal ('' for none): the guard must be checked again."""

        signal: str

    def compose(self) -> ComposeResult:
        yield Static(Text("Checking the evidence in the run store…"), id="ft-advice", classes="-checking")
        yield Static("", id="ft-warning")
        with Horizontal(id="ft-guard-bar"):
            yield Static("Signal", id="ft-signal-label")
            yield Select(
                SIGNAL_OPTIONS,
                value="",
                allow_blank=False,
                compact=True,
                id="ft-signal",
                tooltip="Why a fine-tune: format, capability or prompt-cost (the guard "
                "checks that the stored runs show it)",
            )
            yield Static(SIGNAL_HELP[""], id="ft-signal-hint")
        yield Static("", id="ft-lock")
        with VerticalScroll(id="ft-checklist", can_focus=True):
            yield Static("", id="ft-rules")

    def on_mount(self) -> None:
        self.query_one("#ft-warning").display = False

    @property
    def signal(self) -> str:
        value = self.query_one("#ft-signal", Select).value
        return value if isinstance(value, str) else ""

    @on(Select.Changed, "#ft-signal")
    def _signal_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.query_one("#ft-signal-hint", Static).update(SIGNAL_HELP.get(self.signal, ""))
        self.post_message(self.SignalChanged(self.signal))

    def show_report(self, report: Any, override: str | None) -> None:
        advice = self.query_one("#ft-advice", Static)
        advice.update(Text(lead_advice(report)))
        advice.set_class(False, "-checking")
        advice.set_class(report.passed, "-open")
        warning = self.query_one("#ft-warning", Static)
        text = warning_text(report)
        warning.update(Text(text))
        warning.display = bool(text)
        styles = rule_styles(self.app.theme_variables)
        self.query_one("#ft-rules", Static).update(checklist(report, styles))
        self.show_lock(report, override)

    def show_error(self, message: str) -> None:
        """The check itself failed (a broken eval file, a bad config): say so where advice goes."""
        advice = self.query_one("#ft-advice", Static)
        advice.update(Text(f"The guard could not read the evidence: {message}"))
        advice.set_class(False, "-checking", "-open")
        self.query_one("#ft-rules", Static).update("")
        self.show_lock(None, None)
        lock = self.query_one("#ft-lock", Static)
        lock.update(Text("✗ Locked: fix the error above, then ctrl+g checks again."))
        lock.set_classes("-locked")

    def show_lock(self, report: Any, override: str | None, checking: bool = False) -> None:
        text, state = lock_line(report, override, checking)
        lock = self.query_one("#ft-lock", Static)
        lock.update(Text(text))
        lock.set_classes(f"-{state}")
