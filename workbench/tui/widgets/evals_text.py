"""The Evals tab's own cells and choices (runs table, which pair `d` compares, theme styles).

The wording shared with the CLI (summary, diff lines, a case's two outputs) is in
workbench/present/evals.py; the names the tab's widgets import are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.style import Style
from rich.text import Text

from workbench.core.evals.lookup import evalset_files
from workbench.present.evals import eval_coverage, rate_with_ci, safe, stats_line

__all__ = [
    "RESUMABLE",
    "cell",
    "default_pair",
    "diff_styles",
    "evalset_files",
    "rate_with_ci",
    "run_cells",
    "safe",
    "stats_line",
    "summary_body",
    "variant_text",
    "when",
]

RESUMABLE = ("cancelled", "interrupted")


def cell(value: Any, style: str | Style = "") -> Text:
    return Text(safe(value), style=style, no_wrap=True, overflow="ellipsis")


def when(iso: str | None) -> str:
    """`MM-DD HH:MM` from a stored UTC stamp (the Runs tab shows the same)."""
    return (iso or "").replace("T", " ")[5:16]


def run_label(row: dict[str, Any]) -> str:
    return f"e{row['id']}"


def variant_text(row: dict[str, Any]) -> str:
    """ "base (e6cf543b)" or "k8 (1a2b3c4d)": the label the CLI prints too."""
    from workbench.core.variants import variant_label

    return variant_label(row.get("variant_name"), row.get("variant_id"))


def run_cells(row: dict[str, Any], *, mark: str = "") -> list[Text]:
    """The runs table's cells: run, eval set, variant, pass rate [CI], date, status."""
    label = run_label(row) + (f" {mark}" if mark else "")
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
    rows: Sequence[dict[str, Any]], current: int | None, mark_a: int | None, mark_b: int | None
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


# ------------------------------------------------------------------------------------- summary


def summary_body(summary: dict[str, Any]) -> list[str]:
    """The summary's lines without the advice (shown on its own, first): the same lines as a
    run's report in the Runs tab, made safe for one terminal line each."""
    from workbench.present.eval_report import panel_lines

    return [safe(line) for line in panel_lines(summary)]


# ---------------------------------------------------------------------------------------- diff


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
