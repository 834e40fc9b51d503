"""The Evals tab's two read-only panels: live run progress, and one run's summary.

Both only show what they are given (a `RunProgress` copy, a summary dict); the tab's workers
produce those. The advice sentence leads the summary in its own band, because it is the one
line that says which lever to pull next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import ProgressBar, Static

from workbench.present.eval_report import VERDICT_MARK
from workbench.present.evals import panel_body, safe
from workbench.present.numbers import secs
from workbench.present.progress import host_line
from workbench.present.runs import when
from workbench.tui.widgets.text import variant_text


def progress_counts(p: Any) -> str:
    """`3/4 · pass 2 · fail 1 · cached 1`: the numbers beside the bar."""
    parts = [f"{p.done}/{p.total}", f"pass {p.passed}", f"fail {p.failed}"]
    if p.judge_errors:
        parts.append(f"judge errors {p.judge_errors}")
    if p.cached:
        parts.append(f"cached {p.cached}")
    if p.skipped:
        parts.append(f"kept {p.skipped}")
    return " · ".join(parts)


def last_case_text(result: Any) -> Text:
    """`last: italy ✗ fail (icontains rome: …) 0.4 s`, literal."""
    if result is None:
        return Text("waiting for the first case…")
    mark = VERDICT_MARK.get(result.verdict, "")
    why = ""
    if result.verdict != "pass":
        failing = [a for a in result.assertions if a.passed is not True]
        why = failing[0].name if failing else (result.error or "")
        why = f" ({safe(why)[:60]})" if why else ""
    took = f" · {secs(result.latency_ms / 1000, 1)}" if result.latency_ms is not None else ""
    cached = " · from cache" if result.cached else ""
    return Text(
        f"last: {safe(result.case_id)} {mark} {result.verdict}{why}{took}{cached}", no_wrap=True, overflow="ellipsis"
    )


class RunProgressPanel(Vertical):
    """A bar with pass/fail counts, and the last finished case (or the idle hint)."""

    DEFAULT_CSS = """
    RunProgressPanel { height: auto; }
    RunProgressPanel > Horizontal { height: 1; }
    RunProgressPanel ProgressBar { width: auto; }
    RunProgressPanel ProgressBar Bar { width: 20; }
    RunProgressPanel .evals-counts { width: 1fr; padding: 0 1; text-wrap: nowrap;
                                      text-overflow: ellipsis; }
    RunProgressPanel .evals-last { height: 1; color: $text-muted; text-wrap: nowrap;
                                    text-overflow: ellipsis; }
    RunProgressPanel.-idle ProgressBar { display: none; }
    RunProgressPanel.-idle .evals-counts { padding: 0; }
    RunProgressPanel.-idle .evals-last { height: auto; max-height: 4; text-wrap: wrap; }
    RunProgressPanel .evals-hosts { height: auto; color: $text-muted; text-wrap: nowrap;
                                     text-overflow: ellipsis; }
    RunProgressPanel.-idle .evals-hosts { display: none; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield ProgressBar(total=None, show_eta=False, show_percentage=False)
            yield Static("", classes="evals-counts")
        yield Static("", classes="evals-last")
        yield Static("", classes="evals-hosts")  # one line per host when the model has several

    def on_mount(self) -> None:
        self.idle("No run in progress.", "ctrl+r runs the chosen eval set with the chosen variant.")

    def idle(self, headline: str, hint: str = "") -> None:
        """Between runs: a sentence about the last run (or what to do) instead of the bar; the
        hint wraps (up to four lines), so an instruction is read whole at 80 columns."""
        self.add_class("-idle")
        self.query_one(".evals-counts", Static).update(Text(headline))
        self.query_one(".evals-last", Static).update(Text(hint))

    def start(self, title: str, total: int) -> None:
        self.remove_class("-idle")
        self.query_one(ProgressBar).update(total=total, progress=0)
        self.query_one(".evals-counts", Static).update(Text(f"0/{total} · {title}"))
        self.query_one(".evals-last", Static).update(Text("starting…"))

    def show(self, progress: Any) -> None:
        self.remove_class("-idle")
        self.query_one(ProgressBar).update(total=progress.total, progress=progress.done)
        self.query_one(".evals-counts", Static).update(Text(progress_counts(progress)))
        self.query_one(".evals-last", Static).update(last_case_text(progress.last))
        hosts = getattr(progress, "hosts", None) or []
        self.query_one(".evals-hosts", Static).update(Text("\n".join(host_line(h) for h in hosts)))


class SummaryPanel(VerticalScroll):
    """The selected run: its advice first, then pass rate with CI, tags, latency, tokens, cache."""

    DEFAULT_CSS = """
    SummaryPanel { height: 1fr; scrollbar-size-vertical: 1; border-top: hkey $panel-lighten-1; }
    SummaryPanel .evals-summary-title { text-style: bold; color: $primary; height: auto; }
    SummaryPanel .evals-advice { height: auto; padding: 0 1; margin: 0 0 0 0;
                                 border-left: outer $warning; color: $text; text-style: bold;
                                 background: $warning-muted; }
    SummaryPanel .evals-advice.-clean { border-left: outer $success; background: $success-muted; }
    SummaryPanel .evals-summary-body { height: auto; }
    """

    can_focus = True

    def compose(self) -> ComposeResult:
        yield Static(Text("No run selected."), classes="evals-summary-title")
        yield Static("", classes="evals-advice")
        yield Static("", classes="evals-summary-body")

    def on_mount(self) -> None:
        self.query_one(".evals-advice").display = False

    def show_message(self, text: str) -> None:
        self.query_one(".evals-summary-title", Static).update(Text(text))
        self.query_one(".evals-advice").display = False
        self.query_one(".evals-summary-body", Static).update("")

    def show_summary(self, row: Mapping[str, Any], summary: dict[str, Any] | None) -> None:
        title = (
            f"e{row['id']} · {safe(row.get('evalset_name'))} · {safe(variant_text(row))} · "
            f"{row.get('status')} · {when(row.get('created_at'))}"
        )
        self.query_one(".evals-summary-title", Static).update(Text(title))
        advice = self.query_one(".evals-advice", Static)
        if not summary:
            advice.display = False
            self.query_one(".evals-summary-body", Static).update(
                Text(
                    "Running: the progress is below; the summary appears when the run ends."
                    if row.get("status") == "running"
                    else "No results stored for this run."
                )
            )
            return
        text = summary.get("advice") or ""
        advice.update(Text(safe(text)))
        advice.set_class(text == "No failures.", "-clean")
        advice.display = bool(text)
        self.query_one(".evals-summary-body", Static).update(Text("\n".join(panel_body(summary))))
