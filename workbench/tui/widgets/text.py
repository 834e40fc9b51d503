"""The TUI's own cells, choices and theme styles (Evals runs table and diff, Fine-tune lock line,
view bar, jobs table). The words CLI and TUI share come from workbench/present/; this module only
fits them into Textual cells and the theme's colours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.style import Style
from rich.text import Text

from workbench.core.records import FinetuneJob
from workbench.present.evals import eval_coverage, rate_with_ci, safe
from workbench.present.finetune import job_row, rule_state
from workbench.present.runs import when


def cell(value: Any, style: str | Style = "") -> Text:
    return Text(safe(value), style=style, no_wrap=True, overflow="ellipsis")


def variant_text(row: Mapping[str, Any]) -> str:
    """ "base (e6cf543b)" or "k8 (1a2b3c4d)": the label the CLI prints too."""
    from workbench.core.variants import variant_label

    return variant_label(row.get("variant_name"), row.get("variant_id"))


def run_cells(row: Mapping[str, Any], *, mark: str = "") -> list[Text]:
    """The runs table's cells: run, eval set, variant, pass rate [CI], date, status."""
    label = f"e{row['id']}" + (f" {mark}" if mark else "")
    coverage = eval_coverage(row, row.get("summary") if isinstance(row.get("summary"), dict) else None)
    status = f"{row.get('status')} {coverage}" if coverage else row.get("status")
    return [
        cell(label, "bold" if mark else ""),
        cell(row.get("evalset_name")),
        cell(variant_text(row)),
        cell(rate_with_ci(row.get("summary"))),
        cell(when(row.get("created_at"))),
        cell(status),
    ]


def default_pair(
    rows: Sequence[Mapping[str, Any]], current: int | None, mark_a: int | None, mark_b: int | None
) -> tuple[int, int] | None:
    """Which two runs `d` compares: the marked ones; one marked and the highlighted (or the
    newest other run of its eval set); none marked: the two newest finished runs of the
    highlighted run's eval set (A the older, B the newer). None when there is no pair."""
    by_id = {r["id"]: r for r in rows}
    if mark_a is not None and mark_b is not None and mark_a != mark_b:
        return mark_a, mark_b
    anchor = by_id.get(mark_a if mark_a is not None else mark_b if mark_b is not None else current)
    if anchor is None and rows:
        anchor = rows[0]
    if anchor is None:
        return None
    same = [
        r["id"]
        for r in sorted(rows, key=lambda r: r["id"], reverse=True)
        if r.get("evalset_name") == anchor.get("evalset_name") and r.get("status") != "running"
    ]
    if mark_a is None and mark_b is None:
        return (same[1], same[0]) if len(same) >= 2 else None
    marked = mark_a if mark_a is not None else mark_b
    assert marked is not None  # one of the marks is set (checked above)
    other = current if current is not None and current != marked else None
    if other is None:
        other = next((i for i in same if i != marked), None)
    if other is None:
        return None
    return (marked, other) if mark_a is not None else (other, marked)


def diff_styles(variables: dict[str, str]) -> dict[str, Style]:
    """Rich styles built from the theme's variables (never fixed colours). Deleted words are
    also struck through and inserted ones underlined, so the diff reads without colour."""

    def color(name: str, fallback: str) -> str | None:
        return variables.get(name) or variables.get(fallback)

    def style(**kw: Any) -> Style:
        try:
            return Style(**kw)
        except Exception:  # noqa: BLE001 - a theme colour Rich cannot parse: drop the colour
            return Style(**{k: v for k, v in kw.items() if k not in ("color", "bgcolor")})

    return {
        "delete": style(color=color("text-error", "error"), bgcolor=color("error-muted", "panel"), strike=True),
        "insert": style(
            color=color("text-success", "success"), bgcolor=color("success-muted", "panel"), underline=True
        ),
        "regression": style(color=color("error", "foreground"), bold=True),
        "fix": style(color=color("success", "foreground"), bold=True),
        "changed": style(color=color("warning", "foreground")),
        "added": style(color=color("accent", "foreground")),
        "removed": style(color=color("accent", "foreground")),
    }


# ------------------------------------------------------------------------------------ fine-tune

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


def job_cells(job: FinetuneJob) -> list[Text]:
    """The jobs table's row (present's cells, cut with an ellipsis in a narrow column)."""
    return [cell(value) for value in job_row(job)]
