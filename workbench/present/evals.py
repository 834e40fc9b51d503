"""Eval runs as people read them: summaries, failing cases, run diffs, the runs table, history.

One home for the CLI (`workbench eval ...`) and the Evals tab, so both say the same numbers the
same way. Model output and user files are untrusted: they go through `terminal_safe` into
`rich.text.Text` with `append`, never markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.style import Style
from rich.table import Table
from rich.text import Text

from workbench.core.evals.diff import CaseDiff, RunDiff
from workbench.core.evals.gate import GateResult
from workbench.core.evals.history import History, HistoryPoint
from workbench.core.evals.results import CaseResult
from workbench.core.safetext import terminal_safe
from workbench.present.eval_report import panel_lines
from workbench.present.eval_report import summary_body as summary_body
from workbench.present.eval_report import summary_lines as summary_lines
from workbench.present.gate import gate_checks, gate_reasons
from workbench.present.numbers import pct, pct_ci, resolution_words, resolves, signed_cost, signed_ms

Texts = dict[str, tuple[str | None, str | None]]


def text(value: Any, style: str | Style = "") -> Text:
    """Untrusted text as a Rich `Text` (control characters made visible, never markup)."""
    return Text(terminal_safe("" if value is None else str(value)), style=style)


def safe(value: Any) -> str:
    """One line of untrusted text, control characters made visible."""
    return terminal_safe("" if value is None else str(value)).replace("\n", " ")


def one_line(value: str, width: int = 200) -> str:
    flat = " ".join(str(value).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def ci_range(lo: float | None, hi: float | None) -> str:
    """`30%–95%`, the form every eval summary line and table uses."""
    return "" if lo is None or hi is None else f"{pct(lo)}–{pct(hi)}"


# --------------------------------------------------------------------------------- summary


def eval_coverage(row: Mapping[str, Any], summary: dict[str, Any] | None) -> str | None:
    """How much of the eval set a run's pass rate covers, when not all of it: '5/84' when it
    stored fewer results than planned (cancelled, interrupted), 'subset 10/93' when `--limit`,
    `--tag` or `--case` ran part of the file, '5/10 of a subset of 93' for both; else None.
    A pass rate over 5 cases must not read like one over the whole set."""
    planned = (row.get("total_cases") or 0) * (row.get("repeat") or 1)
    missing = (summary or {}).get("missing") or 0
    config = row.get("config")
    if isinstance(config, str):  # an undecoded eval_runs row
        try:
            config = json.loads(config) if config else None
        except json.JSONDecodeError:
            config = None
    selection = (config if isinstance(config, dict) else {}).get("selection") or {}
    stopped = f"{max(planned - missing, 0)}/{planned}" if planned and missing > 0 else None
    if selection.get("of"):
        return (
            f"{stopped} of a subset of {selection['of']}"
            if stopped
            else f"subset {row.get('total_cases') or 0}/{selection['of']}"
        )
    return stopped


def panel_body(summary: dict[str, Any]) -> list[str]:
    """The Evals tab's summary panel without the advice (shown on its own, first): the lines of
    a run's report in the Runs tab, each made safe for one terminal line."""
    return [safe(line) for line in panel_lines(summary)]


def summary_texts(summary: dict[str, Any]) -> list[Text]:
    """The summary for a terminal: the advice in bold (what to do next), then the numbers."""
    return [
        text(line, "bold" if n == 0 and summary.get("advice") else "") for n, line in enumerate(summary_lines(summary))
    ]


def rate_with_ci(summary: dict[str, Any] | None) -> str:
    """`75% [30–95]`: pass rate and its 95% interval (a table cell), `–` when none decided."""
    s = summary if isinstance(summary, dict) else {}
    lo, hi = (s.get("ci") or [None, None])[:2]
    return pct_ci(s.get("pass_rate"), lo, hi)


def run_header(
    evalset: str, cases: int, repeat: int, variant: str, models: Sequence[str], concurrency: int, resume: int | None
) -> Text:
    """`eval capitals (4 cases × 1) with variant base, models ollama:a → embedded, concurrency 4`."""
    return text(
        f"eval {evalset} ({cases} case{'s' if cases != 1 else ''} × {repeat}) with variant "
        f"{variant}, models {' → '.join(models)}, concurrency {concurrency}"
        + (f", resuming run {resume}" if resume else "")
    )


def show_header(row: Mapping[str, Any], variant: str) -> Text:
    """`run e3 · capitals · variant base (e6cf543b) · completed · 2025-01-02 10:00:00`."""
    return text(
        f"run e{row['id']} · {row.get('evalset_name')} · variant {variant} · "
        f"{row.get('status')} · {(row.get('created_at') or '')[:19].replace('T', ' ')}",
        "bold",
    )


def show_texts(
    row: Mapping[str, Any], results: Sequence[CaseResult], summary: dict[str, Any], *, everything: bool = False
) -> list[Text]:
    """`eval show eN` (and `runs show eN`): the header, the summary with the advice first, the
    run's identity (what decides the answers), then the failing cases (every case with `everything`)."""
    from workbench.core.evals.runstore import run_info
    from workbench.core.variants import variant_label

    info = run_info(row)
    variant = variant_label(info.variant_name, info.variant_id, hash_chars=len(info.variant_id or ""))
    return [
        show_header(row, variant),
        *summary_texts(summary),
        text(f"identity: {info.identity}", "dim"),
        *failure_texts(results, limit=10_000 if everything else 30, everything=everything),
    ]


def gate_texts(gate: GateResult) -> list[Text]:
    if gate.passed:
        return [text("gate passed: " + "; ".join(gate_checks(gate)), "green")]
    return [text(f"gate FAILED: {reason}", "bold red") for reason in gate_reasons(gate)]


def import_lines(report: Any, to: Any) -> tuple[list[str], list[str]]:
    """`eval import`'s result (stdout) and its notes: duplicates, invalid lines, unchecked cases
    (stderr); terminal-safe, since questions come from a user's log."""
    out = [
        terminal_safe(
            f"imported {len(report.added)} case(s) into {to}; {len(report.duplicates)} "
            f"near-duplicate(s) skipped, {len(report.invalid)} invalid line(s)"
        )
    ]
    notes = [terminal_safe(f"  line {n}: duplicate of {dup}: {q[:80]}") for n, q, dup in report.duplicates[:20]]
    notes += [terminal_safe(f"  line {n}: {why}") for n, why in report.invalid[:20]]
    if report.unchecked:
        shown = ", ".join(report.unchecked[:5]) + (", …" if len(report.unchecked) > 5 else "")
        notes.append(
            terminal_safe(
                f"warning: {len(report.unchecked)} imported case(s) have no check of the answer (a "
                f"logged answer is kept as `expected`, a reference to review, not a check); until you "
                f"add `assert:` to them in {to} they are unscored, or pass on a latency/token budget "
                f"alone: {shown}"
            )
        )
    return out, notes


# -------------------------------------------------------------------------------- failures


def failure_texts(results: Sequence[CaseResult], *, limit: int = 15, everything: bool = False) -> list[Text]:
    """The failing cases (every case with `everything`), each with why and the answer given."""
    from workbench.core.evals.python_scorer import scorer_error_only
    from workbench.core.evals.results import fold_repeats

    folded = fold_repeats(results)
    shown = [s for s in folded.values() if everything or s.verdict in ("fail", "judge-error")]
    if not shown:
        return []
    out = [Text(), text("cases:" if everything else "failing cases:", "bold")]
    for s in shown[:limit]:
        r = s.evidence
        failing = [a for a in r.assertions if a.passed is not True]
        why = "; ".join(f"{a.name}: {a.detail}" for a in failing[:2]) or r.error or ""
        kind = f" [{r.failure_kind}]" if r.failure_kind else ""
        flaky = f" (flaky: {s.passes} pass / {s.fails} fail)" if s.flaky else ""
        style = {"pass": "green", "fail": "red", "judge-error": "yellow"}.get(s.verdict, "")
        shown_as = s.verdict
        if s.verdict == "judge-error" and scorer_error_only(r):  # a python check, not a judge
            shown_as, kind = "scorer-err", ""
        line = text(f"  {shown_as:<11} ", style)
        line.append_text(text(f"{s.case_id}{kind}{flaky}  {why}"[:300]))
        out.append(line)
        answer = " ".join((r.output or "").split())
        if answer and s.verdict != "pass":
            out.append(text(f"               answer: {answer[:160]}{'…' if len(answer) > 160 else ''}", "dim"))
    if len(shown) > limit:
        out.append(text(f"  … and {len(shown) - limit} more (workbench eval show RUN --all)", "dim"))
    return out


# ------------------------------------------------------------------------------------ diff


def totals_parts(diff: RunDiff, *, tokens: str = "tokens") -> list[str]:
    """Latency, tokens and cost deltas of B against A (`tokens` names the token count)."""
    d = (diff.totals or {}).get("delta") or {}
    parts = []
    if d.get("latency_p50_ms") is not None:
        parts.append(f"latency p50 {signed_ms(d['latency_p50_ms'])}")
    if d.get("completion_tokens") is not None:
        parts.append(f"{tokens} {d['completion_tokens']:+.0f}")
    if d.get("cost"):
        parts.append(f"cost {signed_cost(d['cost'])}")
    return parts


def word_diff_text(words: Sequence[tuple[str, str]], *, plain: bool) -> Text:
    """A word diff: struck red / underlined green on a colour terminal; `[-old-]{+new+}` markers
    (as `git diff --word-diff=plain`) where styles do not show: pipes, CI logs, NO_COLOR."""
    line = Text("    ")
    equal = sum(len(seg) for op, seg in words if op == "equal")
    changed = sum(len(seg) for op, seg in words if op != "equal")
    if changed > 2 * max(equal, 1):  # little in common: before and after read better
        before = "".join(seg for op, seg in words if op != "insert")
        after = "".join(seg for op, seg in words if op != "delete")
        line.append("A: ")
        line.append(terminal_safe(before), style="" if plain else "red")
        line.append("\n    B: ")
        line.append(terminal_safe(after), style="" if plain else "green")
        return line
    previous = ""
    for op, raw in words:
        seg = terminal_safe(raw)
        if (
            op == "insert"
            and previous == "delete"
            and not plain
            and not line.plain[-1:].isspace()
            and not seg[:1].isspace()
        ):
            line.append(" ")  # struck 'answer' + underlined 'error' must not read 'answererror'
        if op == "equal":
            line.append(seg)
        elif op == "delete":
            line.append(f"[-{seg}-]" if plain else seg, style="red strike")
        else:
            line.append(f"{{+{seg}+}}" if plain else seg, style="green underline")
        previous = op
    return line


def diff_texts(
    diff: RunDiff, *, only: str | None, limit: int | None = None, texts: Texts | None = None, plain: bool = True
) -> list[Text]:
    """A run diff for people: counts, then regressions, fixes and the rest, each case with its
    question and expected answer (`texts`) and its answer's word diff (`plain`: no styles)."""
    out = [text(diff.heading, "bold")]
    if diff.stats:
        st = diff.stats
        out.append(
            text(
                f"{st.words}; pass rate {pct(st.pass_rate_a)} -> {pct(st.pass_rate_b)}, "
                f"delta 95% CI {st.ci_low:+.0%} to {st.ci_high:+.0%}"
            )
        )
        out.append(text(resolution_words(st.n, st.fixes + st.regressions, st.resolution)))
    totals = totals_parts(diff, tokens="completion tokens")
    if totals:
        out.append(text(", ".join(totals)))
    out += [text(f"warning: {w}", "yellow") for w in diff.warnings]
    cases = [c for c in diff.only(only) if not (c.label == "same" and only is None)]
    # Regressions first, then fixes, then the rest: what needs a look comes first (stable sort).
    cases.sort(key=lambda c: {"regression": 0, "fix": 1}.get(c.change, 2))
    texts = texts or {}
    for c in cases[:limit] if limit else cases:
        style = {"regression": "bold red", "fix": "bold green", "added": "cyan", "removed": "cyan"}.get(c.change, "")
        out.append(Text())  # a blank line between cases: one case's answer never runs into the next
        head = text(f"{c.label:<10} ", style)  # the counts' words: answer, retrieval, verdict
        head.append_text(text(f"{c.case_id}  {c.before or '-'} -> {c.after or '-'}"))
        if c.gold_rank_before != c.gold_rank_after and (c.gold_rank_before or c.gold_rank_after):
            head.append_text(text(f"  gold rank {c.gold_rank_before or '-'} -> {c.gold_rank_after or '-'}"))
        if c.latency_delta_ms is not None:
            head.append_text(text(f"  {signed_ms(c.latency_delta_ms)}", "dim"))
        out.append(head)
        question, expected = texts.get(c.case_id, (None, None))
        if question:
            out.append(text(f"    question: {one_line(question)}"))
        if expected:
            out.append(text(f"    expected: {one_line(expected)}", "dim"))
        for f in c.assertion_flips:
            out.append(text(f"    {f.name}: {f.before} -> {f.after}  {f.detail_after}"[:200], "dim"))
        if c.output_changed:
            out.append(word_diff_text(c.words, plain=plain))
    if limit and len(cases) > limit:
        out.append(text(f"  … {len(cases) - limit} more (workbench eval diff A B)", "dim"))
    return out


# ------------------------------------------------------------------ the diff screen's content


FILTER_NAMES = {"regressions": "regressions", "fixes": "fixes", "changed": "changed", "all": "all cases"}
CHANGE_MARK = {
    "regression": "▼",
    "fix": "▲",
    "verdict": "~",
    "answer": "~",
    "retrieval": "~",
    "same": "=",
    "added": "+",
    "removed": "-",
}


def counts_line(diff: RunDiff) -> str:
    """`4 cases · 1 changed (1 regression, 0 fixes) · 3 unchanged`: the filters' words."""
    return diff.counts_text


def filter_line(which: str, shown: int, total: int) -> str:
    """The case list's heading: `changed: 1 of 4`, `all cases: 4`."""
    name = FILTER_NAMES.get(which, which)
    return f"{name}: {total}" if which == "all" else f"{name}: {shown} of {total}"


def stats_line(diff: RunDiff) -> str:
    """`+4 cases, p=0.34: could be noise · pass 62% → 70% (Δ 95% CI -5% to +21%) · the set
    resolves ±9 points`: a change below the resolution usually reads as noise."""
    st = diff.stats
    if st is None:
        return "no case was decided in both runs: nothing to compare"
    return (
        f"{st.words} · pass {pct(st.pass_rate_a)} → {pct(st.pass_rate_b)} "
        f"(Δ 95% CI {st.ci_low * 100:+.0f}% to {st.ci_high * 100:+.0f}%) · "
        f"the set {resolves(st.resolution)}"
    )


def totals_line(diff: RunDiff) -> str:
    return " · ".join(totals_parts(diff))


def change_text(case: CaseDiff, styles: dict[str, Style]) -> Text:
    """The case table's change cell: `▼ regression`, `~ answer` (same verdict, new output)."""
    return Text(f"{CHANGE_MARK.get(case.label, ' ')} {case.label}", style=styles.get(case.change, ""), no_wrap=True)


def case_head(case: CaseDiff) -> str:
    """`italy · regression · pass → fail · +12 ms · tokens +3 · now: context-ignored`."""
    parts = [safe(case.case_id), case.label, f"{case.before or 'absent'} → {case.after or 'absent'}"]
    if case.latency_delta_ms is not None:
        parts.append(signed_ms(case.latency_delta_ms))
    if case.tokens_delta:
        parts.append(f"tokens {case.tokens_delta:+d}")
    if case.cost_delta:
        parts.append(f"cost {signed_cost(case.cost_delta)}")
    if case.failure_kind_after and case.after in ("fail", "judge-error"):
        parts.append(f"now: {case.failure_kind_after}")
    if case.flaky_before or case.flaky_after:
        parts.append("flaky")
    return " · ".join(parts)


def _ok(value: bool | None) -> str:
    return {True: "pass", False: "fail", None: "–"}[value]


def flip_lines(case: CaseDiff) -> list[str]:
    """One line per assertion whose outcome moved: `icontains rome: pass → fail (detail)`."""
    out = []
    for f in case.assertion_flips:
        detail = f" ({safe(f.detail_after)})" if f.detail_after else ""
        out.append(safe(f"{f.name}: {_ok(f.before)} → {_ok(f.after)}") + detail)
    return out


def _rank(rank: int | None) -> str:
    return "not retrieved" if rank is None else f"#{rank}"


def retrieval_line(case: CaseDiff) -> str:
    """The gold document's rank before → after."""
    before, after = case.gold_rank_before, case.gold_rank_after
    if before is None and after is None:
        return "retrieval: gold document not retrieved in either run (or no retrieval step)"
    if before == after:
        return f"retrieval: gold document rank {_rank(before)} in both runs"
    return f"retrieval: gold document rank {_rank(before)} → {_rank(after)}"


def side_texts(case: CaseDiff, delete: Style, insert: Style) -> tuple[Text, Text]:
    """Output A with the deleted words styled, output B with the inserted ones; literal text."""
    a, b = Text(), Text()
    if not case.output_changed or not case.words:
        a.append(terminal_safe(case.output_before or ""))
        b.append(terminal_safe(case.output_after or ""))
    else:
        for op, segment in case.words:
            seg = terminal_safe(segment)
            if op == "equal":
                a.append(seg)
                b.append(seg)
            elif op == "delete":
                a.append(seg, style=delete)
            else:
                b.append(seg, style=insert)
    for side, present in ((a, case.before is not None), (b, case.after is not None)):
        if not present:
            side.append("(case not in this run)", style="italic")
        elif not side.plain:
            side.append("(empty output)", style="italic")
    return a, b


def visible_cases(diff: RunDiff, which: str) -> list[CaseDiff]:
    return diff.only(None if which == "all" else which)


def first_nonempty_filter(diff: RunDiff, order: Iterable[str] = ("changed", "all")) -> str:
    for which in order:
        if visible_cases(diff, which):
            return which
    return "all"


# ------------------------------------------------------------------------------ runs table


RUN_COLUMNS = (
    "run",
    "when",
    "eval set",
    "variant",
    "model",
    "status",
    "pass rate",
    "95% CI",
    "cases",
    "cached",
    "judge err",
)
# the only columns cut (with …): the run id is what show/diff need
_NAMES = ("eval set", "variant", "model")


def cases_cell(row: Mapping[str, Any], summary: dict[str, Any]) -> str:
    """'93', or '10/93' for a --limit/--tag subset run (its pass rate is over those 10 only)."""
    selection = (row.get("config") or {}).get("selection") if isinstance(row.get("config"), dict) else None
    cases = str(summary.get("cases", row.get("total_cases") or ""))
    return f"{cases}/{selection['of']}" if selection and selection.get("of") else cases


def run_row_cells(row: Mapping[str, Any]) -> dict[str, str]:
    """One `eval runs` line's cells, by column name."""
    from workbench.core.evals.answered import answered_cell
    from workbench.core.variants import variant_label

    s = row["summary"] if isinstance(row.get("summary"), dict) else {}
    config = row["config"] if isinstance(row.get("config"), dict) else {}
    variant = config["variant"] if isinstance(config.get("variant"), dict) else {}
    rate = s.get("pass_rate")
    lo, hi = (s.get("ci") or [None, None])[:2]
    return {
        "run": f"e{row['id']}",
        "when": (row.get("created_at") or "")[5:16].replace("T", " "),
        "eval set": terminal_safe(row.get("evalset_name") or ""),
        "variant": terminal_safe(variant_label(row.get("variant_name"), row.get("variant_id"))),
        "model": terminal_safe(answered_cell(variant.get("model"), s.get("answered_by"))),
        "_fell_back": "yes" if any(g.get("fell_back_from") for g in s.get("answered_by") or []) else "",
        "status": row.get("status") or "",
        "pass rate": "" if rate is None else pct(rate),
        "95% CI": "" if rate is None else ci_range(lo, hi),
        "cases": cases_cell(row, s),
        "cached": str(s.get("cache_hits", "")),
        "judge err": str(s.get("judge_errors", "")),
    }


def fit_run_columns(cells: list[dict[str, str]], width: int) -> tuple[dict[str, int], dict[str, str]]:
    """Column widths (in order) and headers for `eval runs`: one line per run within `width`.
    The model column is there only when a listed run was answered (in part) by a fallback.
    Only the names are ever cut; cache hits and judge errors give way first, then `pass rate`
    is headed `pass`, the names shrink to 12, the date goes, the names shrink to 6."""
    from rich.cells import cell_len  # terminal cells, not characters: a CJK name is twice as wide

    natural = {c: max([len(c), *(cell_len(row[c]) for row in cells)]) for c in RUN_COLUMNS}
    headers = {c: c for c in RUN_COLUMNS}
    cols = list(RUN_COLUMNS)
    if not any(row.get("_fell_back") for row in cells):  # the variant's own model answered: said already
        cols.remove("model")
    shown = [n for n in _NAMES if n in cols]

    def room_for_names() -> int:
        fixed = sum(natural[c] for c in cols if c not in _NAMES)
        return width - fixed - 2 * (len(cols) - 1)

    def fits(least: int) -> bool:
        return room_for_names() >= sum(min(natural[n], least) for n in shown)

    for step in ("cached", "judge err", "pass"):
        if fits(18):
            break
        if step == "pass":
            headers["pass rate"] = "pass"
            natural["pass rate"] = max([4, *(len(row["pass rate"]) for row in cells)])
        else:
            cols.remove(step)
    if not fits(12):
        cols.remove("when")
    names = {n: natural[n] for n in shown}
    room = room_for_names()
    while sum(names.values()) > room and max(names.values()) > 6:  # the wider name gives way first
        # ... the model last: `embedded (fallback)` is the one thing a fell-back run must say
        names_first = [n for n in shown if n != "model" and names[n] > 6] or shown
        wider = max(names_first, key=lambda n: names[n])
        names[wider] -= 1
    return {c: names.get(c, natural[c]) for c in cols}, headers


def runs_table(rows: Sequence[Mapping[str, Any]], width: int) -> Table:
    """`eval runs`: one line per run within `width` columns."""
    cells = [run_row_cells(row) for row in rows]
    widths, headers = fit_run_columns(cells, width)
    table = Table(box=None, pad_edge=False)
    for col, w in widths.items():
        table.add_column(headers[col], no_wrap=True, overflow="ellipsis", width=w)
    for c in cells:
        table.add_row(*(Text(c[col]) for col in widths))
    return table


def no_runs_line(evalset: str | None, names: list[str]) -> Text:
    """What `eval runs` says with nothing to list; a filter that matched nothing (most often a
    typo) names the sets that would match."""
    if names:
        return text(f"No runs of eval set '{evalset}'. Eval sets with runs: {', '.join(names)}")
    return text(
        f"No runs of eval set '{evalset}' (no eval runs yet). Try: workbench eval run"
        if evalset
        else "No eval runs yet. Try: workbench eval run"
    )


# --------------------------------------------------------------------------------- history


BAR_WIDTH = 40


def bar(p: HistoryPoint, width: int = BAR_WIDTH) -> str:
    """The CI as a whisker on a 0-100% scale, the pass rate as a dot: `   ├──●───┤      `."""
    cells = [" "] * (width + 1)
    if p.rate is None:
        return "".join(cells)

    def at(x: float) -> int:
        return min(width, max(0, round(x * width)))

    lo, mid, hi = at(p.lo or 0.0), at(p.rate), at(p.hi if p.hi is not None else 1.0)
    for i in range(lo, hi + 1):
        cells[i] = "─"
    cells[lo], cells[hi] = "├", "┤"
    cells[mid] = "●"
    return "".join(cells)


def history_lines(h: History, *, width: int = BAR_WIDTH) -> list[str]:
    """`eval history` as a text chart (plain text: variant names are user text; fits a pipe)."""
    if not h.points:
        more = f" ({h.skipped} subset runs left out)" if h.skipped else ""
        return [f"no finished whole-set runs of {h.evalset} yet{more}: `workbench eval run {h.evalset}`"]
    lines = [f"{h.evalset}: pass rate and 95% CI per run, oldest first (0% … 100%)"]
    name_w = min(20, max(len(p.variant) for p in h.points))
    id_w = max(len(f"e{p.run_id}") for p in h.points)
    segment = None
    for p in h.points:
        if p.segment != segment:
            segment = p.segment
            if len(h.segments) > 1 or segment:
                lines.append(f"── {h.segments[segment].label()} ──")
        if p.rate is None:
            nums = "no decided case".ljust(15)
        else:
            nums = f"{p.rate:>4.0%} [{ci_range(p.lo, p.hi)}]".ljust(15)
        variant = p.variant if len(p.variant) <= name_w else p.variant[: name_w - 1] + "…"
        mark = "  ← best" if p.best else ""
        lines.append(f"{f'e{p.run_id}':<{id_w}}  {variant:<{name_w}}  {nums} |{bar(p, width)}|{mark}")
    if len(h.segments) > 1:
        lines.append(
            "runs under different lines used other weights or another eval-set version: compare within a section"
        )
    if h.skipped:
        lines.append(f"({h.skipped} subset runs — --tag/--case/--limit — left out)")
    return lines
