"""`eval run --junit/--markdown`, `eval show --markdown`: JUnit XML (every CI shows it as tests)
and Markdown (a pull-request comment), with times, rates and CIs formatted by present/numbers.py.

Model output is untrusted text. In XML, ElementTree escapes markup and the characters XML 1.0
forbids are dropped; in Markdown, outputs only ever appear inside code fences whose length is
chosen longer than any backtick run in the text, so an answer cannot break out of its block.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.evals.diff import CaseDiff, RunDiff, RunInfo
from workbench.core.evals.gate import GateResult
from workbench.core.evals.results import CaseResult, fold_repeats
from workbench.core.markdown import fence, md_cell
from workbench.present.gate import gate_reasons
from workbench.present.numbers import fixed, pct, plural, signed_pct

if TYPE_CHECKING:
    from workbench.core.evals.run_plan import Verdict

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str | None) -> str:
    return _XML_BAD.sub("", text or "")


def junit_xml(results: Sequence[CaseResult], *, suite: str, summary: dict[str, Any] | None = None) -> str:
    """One <testcase> per case (repeats folded): failure for fail, error for judge errors,
    skipped for unscored cases."""
    folded = fold_repeats(results)
    counts = {"fail": 0, "judge-error": 0, "unscored": 0}
    ts = ET.Element("testsuite", name=_xml_text(suite))
    total_ms = 0.0
    for cid, s in folded.items():
        r = s.evidence
        ms = sum(x.latency_ms or 0 for x in s.repeats)
        total_ms += ms
        tc = ET.SubElement(ts, "testcase", name=_xml_text(cid), classname=_xml_text(suite), time=fixed(ms / 1000, 3))
        if s.verdict in counts:
            counts[s.verdict] += 1
        if s.verdict == "fail":
            failing = [a for x in s.repeats for a in x.assertions if a.passed is False]
            message = "; ".join(f"{a.name}: {a.detail}" for a in failing[:5]) or r.error or "failed"
            el = ET.SubElement(tc, "failure", message=_xml_text(message[:500]), type=r.failure_kind or "fail")
            el.text = _xml_text(message)
        elif s.verdict == "judge-error":
            errs = [a for a in r.assertions if a.error_kind == "judge-error"]
            el = ET.SubElement(
                tc, "error", message=_xml_text("; ".join(a.detail for a in errs)[:500]), type="judge-error"
            )
            el.text = _xml_text("\n".join(a.raw or "" for a in errs))
        elif s.verdict == "unscored":
            ET.SubElement(tc, "skipped", message="no checks on this case")
        out = ET.SubElement(tc, "system-out")
        out.text = _xml_text(r.output)
    ts.set("tests", str(len(folded)))
    ts.set("failures", str(counts["fail"]))
    ts.set("errors", str(counts["judge-error"]))
    ts.set("skipped", str(counts["unscored"]))
    ts.set("time", fixed(total_ms / 1000, 3))
    if summary and summary.get("pass_rate") is not None:
        props = ET.SubElement(ts, "properties")
        ET.SubElement(props, "property", name="pass_rate", value=fixed(summary["pass_rate"], 4))
    ET.indent(ts)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(ts, encoding="unicode") + "\n"


def write_junit(
    path: str | Path, results: Sequence[CaseResult], *, suite: str, summary: dict[str, Any] | None = None
) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(junit_xml(results, suite=suite, summary=summary), encoding="utf-8")


def _diff_block(c: CaseDiff) -> str:
    if c.output_changed:
        lines = ["- " + line for line in (c.output_before or "").splitlines() or [""]]
        lines += ["+ " + line for line in (c.output_after or "").splitlines() or [""]]
        return fence("\n".join(lines), "diff")
    return fence(c.output_after or c.output_before or "")


def markdown_report(
    summary: dict[str, Any],
    run: RunInfo,
    *,
    diff: RunDiff | None = None,
    gate: GateResult | None = None,
    max_cases: int = 20,
) -> str:
    out: list[str] = []
    title = f"Eval: {run.evalset_name or 'eval set'} — {run.label}"
    out.append(f"## {md_cell(title)}")
    if gate is not None:
        out.append("")
        out.append(f"**Gate: {'passed ✅' if gate.passed else 'FAILED ❌'}**")
        for reason in gate_reasons(gate):
            out.append(f"- {md_cell(reason)}")
    out.append("")
    out.append(f"> {md_cell(summary.get('advice', ''))}")  # leads, as in the CLI and the TUI
    out.append("")
    if run.identity:
        out.append(f"Identity: {md_cell(run.identity)}")
        out.append("")
    if summary.get("pass_rate") is not None:
        lo, hi = summary["ci"]
        out.append(
            f"Pass rate **{pct(summary['pass_rate'], 1)}** ({summary['passed']}/{summary['total']}), "
            f"95% CI {pct(lo, 1)}–{pct(hi, 1)}; {plural(summary.get('judge_errors', 0), 'judge error')}, "
            f"{summary.get('cache_hits', 0)} cached."
        )
    sel = summary.get("selection")
    if sel:
        out.append("")
        out.append(f"⚠️ A subset: {sel['cases']} of the set's {sel['of']} cases ({md_cell(sel['how'])}).")
    if diff is not None:
        counts = diff.counts
        out.append("")
        out.append(f"### Against {md_cell(diff.a.label)}")
        if diff.stats:
            st = diff.stats
            out.append(
                f"{md_cell(st.words)} — pass rate {pct(st.pass_rate_a, 1)} → {pct(st.pass_rate_b, 1)}, "
                f"delta 95% CI {signed_pct(st.ci_low)} to {signed_pct(st.ci_high)}."
            )
        out.append("")
        out.append("| regressions | fixes | changed | unchanged | added | removed |")
        out.append("|---|---|---|---|---|---|")
        out.append(
            "| "
            + " | ".join(str(counts[k]) for k in ("regression", "fix", "changed", "unchanged", "added", "removed"))
            + " |"
        )
        for w in diff.warnings:
            out.append(f"\n⚠️ {md_cell(w)}")
        for title, cases in (("Regressions", diff.regressions), ("Fixes", diff.fixes)):
            if not cases:
                continue
            out.append("")
            out.append(f"#### {title}")
            for c in cases[:max_cases]:
                flips = ", ".join(f"{f.name}: {f.before}→{f.after}" for f in c.assertion_flips)
                kind = f" ({c.failure_kind_after})" if c.change == "regression" and c.failure_kind_after else ""
                out.append("")
                out.append(f"<details><summary>{md_cell(c.case_id)}{md_cell(kind)}: {md_cell(flips)}</summary>")
                out.append("")
                out.append(_diff_block(c))
                out.append("")
                out.append("</details>")
            if len(cases) > max_cases:
                out.append(f"\n…and {len(cases) - max_cases} more.")
    failing = summary.get("failing_cases") or {}
    if failing and diff is None:
        out.append("")
        out.append("| failing case | kind |")
        out.append("|---|---|")
        for cid, kind in list(failing.items())[:max_cases]:
            out.append(f"| {md_cell(cid)} | {md_cell(kind)} |")
    return "\n".join(out) + "\n"


def write_reports(verdict: Verdict, evalset: Any, outcome: Any, *, junit: str | None, markdown: str | None) -> None:
    """The JUnit XML and Markdown files asked for (a Markdown report shows the gate when gated)."""
    if junit:
        write_junit(junit, outcome.results, suite=evalset.name, summary=outcome.summary)
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(
            markdown_report(
                outcome.summary, verdict.info, diff=verdict.diff, gate=verdict.gate if verdict.gated else None
            ),
            encoding="utf-8",
        )
