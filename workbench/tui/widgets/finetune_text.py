"""The Fine-tune tab's own choices and lines (signal picker, theme styles, lock line, view bar).

The wording shared with the CLI (guard checklist, training progress, jobs) is in
workbench/present/finetune.py; the names the tab's widgets import are re-exported here.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

from workbench.present.evals import safe
from workbench.present.finetune import (
    RESUMABLE,
    checklist,
    job_detail,
    job_hint,
    job_row,
    lead_advice,
    outcome_line,
    progress_line,
    rule_state,
    warning_text,
)
from workbench.tui.widgets.evals_text import cell

__all__ = [
    "RESUMABLE",
    "SIGNAL_HELP",
    "SIGNAL_OPTIONS",
    "checklist",
    "job_cells",
    "job_detail",
    "job_hint",
    "lead_advice",
    "lock_line",
    "outcome_line",
    "progress_line",
    "rule_styles",
    "view_bar",
    "warning_text",
]

SIGNAL_OPTIONS: list[tuple[str, str]] = [
    ("(none named)", ""),
    ("format", "format"),
    ("capability", "capability"),
    ("prompt-cost", "prompt-cost"),
]
# Beside the signal: what naming it claims (the guard then looks for it in the stored runs).
SIGNAL_HELP = {
    "": "name why: the guard looks for it in the runs",
    "format": "a format needed every time, failing in every variant",
    "capability": "failing with the right context, in every variant",
    "prompt-cost": "giant prompts: prompt share of tokens and cost",
}


def rule_styles(variables: dict[str, str]) -> dict[str, Style]:
    """Marks coloured from the theme's variables (never fixed colours); each mark also differs
    in shape (✓ ✗ ⚠), so the checklist reads without colour."""

    def style(color: str | None, **kw: Any) -> Style:
        try:
            return Style(color=color, **kw)
        except Exception:  # noqa: BLE001 - a theme colour Rich cannot parse: drop the colour
            return Style(**kw)

    return {
        "pass": style(variables.get("success"), bold=True),
        "fail": style(variables.get("error"), bold=True),
        "warn": style(variables.get("warning"), bold=True),
        "name": Style(bold=True),
        "next": Style(dim=True),
    }


def lock_line(report: Any | None, override: str | None, checking: bool = False) -> tuple[str, str]:
    """(sentence, state) for the lock: state is checking | open | override | locked."""
    if override:
        return (f"⚑ Override: {safe(override)} — stored with the job and shown wherever it is listed.", "override")
    if report is None or checking:
        return "Checking the evidence in the run store…", "checking"
    if report.passed:
        what = f" for the {report.signal} signal" if report.signal else ""
        return f"✓ Unlocked: the evidence supports a LoRA fine-tune{what}.", "open"
    failing = [r.name for r in report.rules if rule_state(r) == "fail"]
    return (
        f"✗ Locked until the guard passes (failing: {', '.join(failing)}) — or ctrl+y to "
        "override with a recorded reason.",
        "locked",
    )


def view_bar(active: str, lock_state: str, jobs: int) -> Text:
    """`^g Guard ✗ │ ^t Train │ ^l Jobs 2`, the active view in bold and underlined."""
    mark = {"open": " ✓", "override": " ⚑", "locked": " ✗"}.get(lock_state, " …")
    views = [("guard", "^g Guard" + mark), ("train", "^t Train"), ("jobs", f"^l Jobs {jobs}" if jobs else "^l Jobs")]
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, (name, label) in enumerate(views):
        if i:
            out.append(" │ ", "dim")
        out.append(label, Style(bold=True, underline=True) if name == active else Style(dim=True))
    return out


def job_cells(job: dict[str, Any]) -> list[Text]:
    """The jobs table's row (present's cells, cut with an ellipsis in a narrow column)."""
    return [cell(value) for value in job_row(job)]
