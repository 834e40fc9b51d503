"""An eval run's summary and report as text: `eval show`, the Evals tab's summary panel and the
Markdown of `runs show eN --markdown` (and the Runs tab's detail) say the same lines.

Core (`core/evals/summary.py`, `core/runlog.py`) gives the numbers; the words are made here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from workbench.core.evals.results import CaseResult
from workbench.present.numbers import format_cost, ms, pct, plural, resolution_words

if TYPE_CHECKING:
    from workbench.core.store import Store

VERDICT_MARK = {"pass": "✓", "fail": "✗", "judge-error": "?", "unscored": "·"}
CASES_SHOWN = 40  # per-case verdicts in a run's report; `eval show eN --all` lists every one


def summary_lines(s: dict[str, Any]) -> list[str]:
    """Plain-text lines for the CLI (no markup: case ids and tags are user text): the advice
    first, as the Evals tab shows it, because it says which lever to pull, then `summary_body`."""
    return [line for line in (s.get("advice", ""),) if line] + summary_body(s)


def summary_body(s: dict[str, Any]) -> list[str]:
    """The summary's lines without the advice: pass rate with its CI first, then checks, tags,
    retrieval, latency, tokens and cache hits, flaky cases."""
    lines = []
    if s.get("pass_rate") is None:
        lines.append(f"{plural(s['cases'], 'case')}, none decided")
    else:
        lo, hi = s["ci"]
        lines.append(f"pass rate {pct(s['pass_rate'])} ({s['passed']}/{s['total']}), 95% CI {pct(lo)}–{pct(hi)}")
    res = s.get("resolution")
    if res:
        lines.append(f"vs e{res['against']}: {resolution_words(res['cases'], res['flips'], res['resolution'])}")
    extra = []
    if s.get("judge_errors"):
        extra.append(f"{plural(s['judge_errors'], 'judge error')} (not counted)")
    if s.get("scorer_errors"):
        extra.append(f"{plural(s['scorer_errors'], 'scorer error')} (not counted)")
    if s.get("unscored"):
        extra.append(f"{s['unscored']} unscored")
    if s.get("missing"):
        extra.append(f"{s['missing']} not run")
    sel = s.get("selection")
    if sel:
        extra.append(f"a subset: {sel['cases']} of the set's {sel['of']} cases ({sel['how']})")
    if extra:
        lines.append("  " + ", ".join(extra))
    if s.get("per_assertion"):
        parts = [
            f"{name} {b['passed']}/{b['passed'] + b['failed']}" + (f" ({b['errors']} errors)" if b["errors"] else "")
            for name, b in s["per_assertion"].items()
        ]
        lines.append("by check: " + ", ".join(parts))
    if s.get("per_tag"):
        lines.append("by tag: " + ", ".join(f"{t} {v['passed']}/{v['total']}" for t, v in s["per_tag"].items()))
    r = s.get("retrieval")
    if r:
        lines.append(
            f"retrieval: a relevant document in the top {r['k']} for {pct(r['hit_rate'])} of {r['cases']} "
            f"cases, recall@{r['k']} {r['recall']:.2f}, MRR {r['mrr']:.2f}, nDCG@10 {r['ndcg']:.2f}"
        )
    lat = s.get("latency_ms") or {}
    if lat.get("p50") is not None:
        lines.append(f"latency p50 {ms(lat['p50'])}, p95 {ms(lat['p95'])}")
    tok = s.get("tokens") or {}
    cost = s.get("cost")
    lines.append(
        f"tokens {tok.get('prompt', 0)} in / {tok.get('completion', 0)} out"
        + (f", cost {format_cost(cost)}" if cost else "")
        + f", {s.get('cache_hits', 0)} of {s.get('results', 0)} from cache"
    )
    if s.get("flaky"):
        lines.append(f"flaky (repeats disagree): {', '.join(s['flaky'])}")
    return lines


def panel_lines(summary: dict[str, Any], *, failing: bool = True) -> list[str]:
    """The summary without the advice (shown on its own, first): `summary_body` with per-tag
    rates as percentages and the failures counted by lever; `failing` adds the failing cases'
    ids (a report that lists every case leaves them out). The Evals tab and run reports."""
    lines = summary_body(summary)
    tags = summary.get("per_tag") or {}
    if tags:
        lines = [ln for ln in lines if not ln.startswith("by tag: ")]
        lines.insert(
            1, "by tag: " + ", ".join(f"{t} {pct(v.get('rate'))} ({v['passed']}/{v['total']})" for t, v in tags.items())
        )
    failures = {k: v for k, v in (summary.get("failures") or {}).items() if v}
    if failures:
        lines.append("failures by lever: " + ", ".join(f"{k} {v}" for k, v in failures.items()))
        cases = summary.get("failing_cases") or {}
        if cases and failing:
            shown = list(cases.items())[:8]
            more = f" … +{len(cases) - 8}" if len(cases) > 8 else ""
            lines.append("failing: " + ", ".join(f"{c} ({k})" for c, k in shown) + more)
    return lines


def case_lines(results: Sequence[CaseResult], *, limit: int = CASES_SHOWN) -> tuple[list[str], int]:
    """`✗ fail japan · other · icontains: did not find 'tokyo'` per case, failures first, with
    the answer of each case that did not pass; returns (lines, cases left out)."""
    from workbench.core.evals.results import fold_repeats

    order = {"fail": 0, "judge-error": 1, "unscored": 2, "pass": 3}
    folded = sorted(fold_repeats(results).values(), key=lambda s: order.get(s.verdict, 4))
    lines = []
    for s in folded[:limit]:
        r = s.evidence
        parts = [f"{VERDICT_MARK.get(s.verdict, ' ')} {s.verdict} {s.case_id}"]
        if s.verdict != "pass":
            if r.failure_kind:
                parts.append(r.failure_kind)
            why = "; ".join(f"{a.name}: {a.detail}" for a in r.assertions if a.passed is not True)
            if why or r.error:
                parts.append((why or r.error or "")[:200])
        if s.flaky:
            parts.append(f"flaky: {s.passes} pass / {s.fails} fail")
        answer = " ".join((r.output or "").split())
        lines.append(" · ".join(parts))
        if answer and s.verdict != "pass":
            lines.append(f"  answer: {answer[:160]}{'…' if len(answer) > 160 else ''}")
    return lines, max(0, len(folded) - limit)


def eval_markdown(store: Store | None, row: dict[str, Any], *, limit: int = CASES_SHOWN) -> str:
    """An eval run as `workbench eval show` reads it: the advice first, pass rate with its 95%
    interval, checks, tags, failures by lever, then each case's verdict (failures first)."""
    from workbench.core.evals import runstore
    from workbench.core.markdown import md_cell
    from workbench.core.runlog import eval_summary
    from workbench.core.variants import variant_label

    results = runstore.load_results(store, row["id"]) if store is not None else []
    summary = eval_summary(row, results)
    variant = variant_label(row.get("variant_name"), row.get("variant_id"))
    title = f"eval e{row['id']} · {row.get('evalset_name') or '?'} · {variant or '?'} · {row.get('status')}"
    facts = [(row.get("created_at") or "")[:19].replace("T", " ")]
    if row.get("evalset_path"):
        facts.append(
            PurePath(row["evalset_path"]).name
            + (f" (version {row['evalset_hash'][:10]})" if row.get("evalset_hash") else "")
        )
    if row.get("variant_id"):
        facts.append(f"variant id {row['variant_id']}")
    out = [f"### {md_cell(title)}", "", md_cell(" · ".join(f for f in facts if f)), ""]
    if not summary:
        out.append(
            "No results stored for this run."
            if row.get("status") != "running"
            else "Running: the summary is written when the run ends."
        )
        return "\n".join(out) + "\n"
    if summary.get("advice"):
        out += [f"> **{md_cell(summary['advice'])}**", ""]
    out += [f"- {md_cell(line)}" for line in panel_lines(summary, failing=False)]
    lines, left = case_lines(results, limit=limit)
    if lines:
        out += ["", "#### Cases (failures first)", ""]
        out += [("  - " if line.startswith("  ") else "- ") + md_cell(line.strip()) for line in lines]
        if left:
            out.append(f"- … and {left} more: `workbench eval show e{row['id']} --all`")
    return "\n".join(out) + "\n"
