"""What the Evals tab shows, as pure functions of stored values: table cells, summary lines,
the diff's statistics line and a case's two outputs with word-level highlighting.

Kept apart from the widgets so the wording is tested without a terminal and the CLI's wording
(`summary_lines`, `PairedComparison.words`) is reused rather than rewritten. Everything that
comes from a model or a user file (outputs, case ids, tags, variant names) is passed through
`terminal_safe` and placed in `rich.text.Text` with `append`, which never parses markup.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from rich.style import Style
from rich.text import Text

from workbench.core.evals.lookup import evalset_files  # noqa: F401 (the Evals tab's picker)
from workbench.core.runlog import eval_coverage
from workbench.core.safetext import terminal_safe

RESUMABLE = ("cancelled", "interrupted")


def safe(value: Any) -> str:
    """One line of untrusted text, control characters made visible."""
    return terminal_safe("" if value is None else str(value)).replace("\n", " ")


def cell(value: Any, style: str | Style = "") -> Text:
    return Text(safe(value), style=style, no_wrap=True, overflow="ellipsis")


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def rate_with_ci(summary: dict[str, Any] | None) -> str:
    """`75% [30–95]`: pass rate and its 95% interval, or `–` when nothing was decided."""
    s = summary if isinstance(summary, dict) else {}
    rate = s.get("pass_rate")
    if rate is None:
        return "–"
    lo, hi = (s.get("ci") or [None, None])[:2]
    if lo is None or hi is None:
        return pct(rate)
    return f"{rate:.0%} [{lo * 100:.0f}–{hi * 100:.0f}]"


def when(iso: str | None) -> str:
    """`MM-DD HH:MM` from a stored UTC stamp (the Runs tab shows the same)."""
    return (iso or "").replace("T", " ")[5:16]


def run_label(row: dict[str, Any]) -> str:
    return f"e{row['id']}"


def variant_text(row: dict[str, Any]) -> str:
    """"base (e6cf543b)" or "k8 (1a2b3c4d)": the label the CLI prints too."""
    from workbench.core.variants import variant_label

    return variant_label(row.get("variant_name"), row.get("variant_id"))


def run_cells(row: dict[str, Any], *, mark: str = "") -> list[Text]:
    """The runs table's cells: run, eval set, variant, pass rate [CI], date, status."""
    label = run_label(row) + (f" {mark}" if mark else "")
    coverage = eval_coverage(row, row.get("summary") if isinstance(row.get("summary"), dict) else None)
    status = f"{row.get('status')} {coverage}" if coverage else row.get("status")
    return [cell(label, "bold" if mark else ""), cell(row.get("evalset_name")),
            cell(variant_text(row)), cell(rate_with_ci(row.get("summary"))),
            cell(when(row.get("created_at"))), cell(status)]


def default_pair(rows: Sequence[dict[str, Any]], current: int | None, mark_a: int | None,
                 mark_b: int | None) -> tuple[int, int] | None:
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
    same = [r["id"] for r in sorted(rows, key=lambda r: r["id"], reverse=True)
            if r.get("evalset_name") == anchor.get("evalset_name") and r.get("status") != "running"]
    if mark_a is None and mark_b is None:
        return (same[1], same[0]) if len(same) >= 2 else None
    marked = mark_a if mark_a is not None else mark_b
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
    from workbench.core.runlog import eval_summary_body

    return [safe(line) for line in eval_summary_body(summary)]


# ---------------------------------------------------------------------------------------- diff


def counts_line(diff: Any) -> str:
    """`4 cases · 1 changed (1 regression, 0 fixes) · 3 unchanged`: the CLI's words, which are
    the filters' (r regressions, f fixes, c changed), so a heading and its count agree."""
    return diff.counts_text


FILTER_NAMES = {"regressions": "regressions", "fixes": "fixes", "changed": "changed",
                "all": "all cases"}


def filter_line(which: str, shown: int, total: int) -> str:
    """The case list's heading: `changed: 1 of 4`, `all cases: 4`."""
    name = FILTER_NAMES.get(which, which)
    return f"{name}: {total}" if which == "all" else f"{name}: {shown} of {total}"


def stats_line(diff: Any) -> str:
    """`+4 cases, p=0.34: could be noise · pass 62% → 70% (Δ CI −5% to +21%) · the set
    resolves ±9 points`: a change below the resolution usually reads as noise."""
    from workbench.core.evals.stats import points

    st = diff.stats
    if st is None:
        return "no case was decided in both runs: nothing to compare"
    return (f"{st.words} · pass {st.pass_rate_a:.0%} → {st.pass_rate_b:.0%} "
            f"(Δ 95% CI {st.ci_low * 100:+.0f}% to {st.ci_high * 100:+.0f}%) · "
            f"the set resolves ±{points(st.resolution)} points")


def totals_line(diff: Any) -> str:
    d = (diff.totals or {}).get("delta") or {}
    parts = []
    if d.get("latency_p50_ms") is not None:
        parts.append(f"latency p50 {d['latency_p50_ms']:+.0f} ms")
    if d.get("completion_tokens") is not None:
        parts.append(f"tokens {d['completion_tokens']:+.0f}")
    if d.get("cost") and abs(d["cost"]) >= 0.000005:
        parts.append(f"cost {d['cost']:+.5f}")
    return " · ".join(parts)


CHANGE_MARK = {"regression": "▼", "fix": "▲", "verdict": "~", "answer": "~", "retrieval": "~",
               "same": "=", "added": "+", "removed": "-"}


def change_text(case: Any, styles: dict[str, Style]) -> Text:
    """The case table's change cell: `▼ regression`, `~ answer` (same verdict, new output)."""
    return Text(f"{CHANGE_MARK.get(case.label, ' ')} {case.label}",
                style=styles.get(case.change, ""), no_wrap=True)


def case_head(case: Any) -> str:
    """`italy · regression · pass → fail · +12 ms · tokens +3 · now: context-ignored` (the
    change named as in the case table)."""
    parts = [safe(case.case_id), case.label,
             f"{case.before or 'absent'} → {case.after or 'absent'}"]
    if case.latency_delta_ms is not None:
        parts.append(f"{case.latency_delta_ms:+.0f} ms")
    if case.tokens_delta:
        parts.append(f"tokens {case.tokens_delta:+d}")
    if case.cost_delta and abs(case.cost_delta) >= 0.000005:
        parts.append(f"cost {case.cost_delta:+.5f}")
    if case.failure_kind_after and case.after in ("fail", "judge-error"):
        parts.append(f"now: {case.failure_kind_after}")
    if case.flaky_before or case.flaky_after:
        parts.append("flaky")
    return " · ".join(parts)


def _ok(value: bool | None) -> str:
    return {True: "pass", False: "fail", None: "–"}[value]


def flip_lines(case: Any) -> list[str]:
    """One line per assertion whose outcome moved: `icontains rome: pass → fail (detail)`."""
    out = []
    for f in case.assertion_flips:
        detail = f" ({safe(f.detail_after)})" if f.detail_after else ""
        out.append(safe(f"{f.name}: {_ok(f.before)} → {_ok(f.after)}") + detail)
    return out


def _rank(rank: int | None) -> str:
    return "not retrieved" if rank is None else f"#{rank}"


def retrieval_line(case: Any) -> str:
    """The gold document's rank before → after."""
    before, after = case.gold_rank_before, case.gold_rank_after
    if before is None and after is None:
        return "retrieval: gold document not retrieved in either run (or no retrieval step)"
    if before == after:
        return f"retrieval: gold document rank {_rank(before)} in both runs"
    return f"retrieval: gold document rank {_rank(before)} → {_rank(after)}"


def side_texts(case: Any, delete: Style, insert: Style) -> tuple[Text, Text]:
    """Output A with the deleted words styled, output B with the inserted ones; literal text."""
    a, b = Text(), Text()
    if not case.output_changed or not case.words:
        a.append(terminal_safe(case.output_before or ""))
        b.append(terminal_safe(case.output_after or ""))
    else:
        for op, segment in case.words:
            text = terminal_safe(segment)
            if op == "equal":
                a.append(text)
                b.append(text)
            elif op == "delete":
                a.append(text, style=delete)
            else:
                b.append(text, style=insert)
    for side, present in ((a, case.before is not None), (b, case.after is not None)):
        if not present:
            side.append("(case not in this run)", style="italic")
        elif not side.plain:
            side.append("(empty output)", style="italic")
    return a, b


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
        "delete": style(color=color("text-error", "error"), bgcolor=color("error-muted", "panel"),
                        strike=True),
        "insert": style(color=color("text-success", "success"),
                        bgcolor=color("success-muted", "panel"), underline=True),
        "regression": style(color=color("error", "foreground"), bold=True),
        "fix": style(color=color("success", "foreground"), bold=True),
        "changed": style(color=color("warning", "foreground")),
        "added": style(color=color("accent", "foreground")),
        "removed": style(color=color("accent", "foreground")),
    }


def visible_cases(diff: Any, which: str) -> list[Any]:
    return diff.only(None if which == "all" else which)


def first_nonempty_filter(diff: Any, order: Iterable[str] = ("changed", "all")) -> str:
    for which in order:
        if visible_cases(diff, which):
            return which
    return "all"
