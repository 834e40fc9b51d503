"""Parity: an eval summary and a run diff say the same facts in the CLI and in the Evals tab.

Both surfaces render through workbench/present/evals.py; the CLI side is captured from a Rich
console as `eval show` / `eval diff` print it, the TUI side is what the Evals tab's summary
panel and the diff screen put in their Statics.
"""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console

from workbench.core.evals.assertions import AssertionResult
from workbench.core.evals.diff import RunDiff, RunInfo, diff_runs
from workbench.core.evals.results import CaseResult
from workbench.core.evals.summary import summarize
from workbench.present import evals as present
from workbench.present.evals import panel_body
from workbench.present.numbers import format_cost, signed_cost


def res(cid: str, verdict: str, output: str, *, ok: bool, **kw: Any) -> CaseResult:
    return CaseResult(
        cid, verdict, [AssertionResult("icontains", "icontains", ok, "did not find 'rome'")], output=output, **kw
    )


def printed(lines: list[object]) -> str:
    console = Console(width=200, record=True, color_system=None, file=io.StringIO())
    for line in lines:
        console.print(line)
    return console.export_text()


# Costs of a local model priced as its hosted equivalent: fractions of a cent. The old `:+.5f`
# printed the per-case and total deltas as -0.00000 in the CLI and hid them in the TUI.
A = [
    res("italy", "pass", "Rome is the capital.", ok=True, latency_ms=100.0, completion_tokens=10, cost=0.0000100),
    res("france", "fail", "Lyon.", ok=False, latency_ms=120.0, completion_tokens=3, cost=0.0000090),
    res("spain", "pass", "Madrid.", ok=True, latency_ms=90.0, completion_tokens=4, cost=0.0000080),
]
B = [
    res("italy", "fail", "Milan is the capital.", ok=False, latency_ms=250.0, completion_tokens=4, cost=0.0000040),
    res("france", "pass", "Paris.", ok=True, latency_ms=110.0, completion_tokens=3, cost=0.0000090),
    res("spain", "pass", "Madrid.", ok=True, latency_ms=95.0, completion_tokens=4, cost=0.0000080),
]


def diff() -> RunDiff:
    return diff_runs(A, B, a=RunInfo(1, variant_name="base"), b=RunInfo(2, variant_name="v2"))


def facts(text: str) -> dict[str, object]:
    """The numbers a person compares, whatever the surface's wording."""

    def find(pattern: str) -> object:
        found = re.findall(pattern, text)
        return found[0] if found else None

    return {
        "rates": find(r"(\d+%) (?:->|→) (\d+%)"),
        "ci": find(r"95% CI ([+-]\d+%) to ([+-]\d+%)"),
        "words": find(r"(\S+ cases? \([^)]*\), p[=<][\d.]+: [a-z ]+)"),
        "cost": find(r"cost ([-+±][\d.]+)"),
        "latency": find(r"latency p50 ([+-]\d+ ms)"),
        "tokens": find(r"tokens ([+-]\d+)"),
    }


def test_a_diff_says_the_same_numbers_in_the_cli_and_the_diff_screen() -> None:
    d = diff()
    cli = printed(present.diff_texts(d, only=None, plain=True))
    tui = "\n".join([present.counts_line(d), present.stats_line(d), present.totals_line(d)])
    cli_facts, tui_facts = facts(cli), facts(tui)
    assert cli_facts == tui_facts
    assert all(v is not None for v in cli_facts.values()), cli_facts
    # the cost delta through the one formatter, in both: not -0.00000
    delta = d.totals["delta"]["cost"]
    assert cli_facts["cost"] == tui_facts["cost"] == signed_cost(delta) == "-0.00000600"
    assert "0.00000 " not in cli + " " and "0.00000 " not in tui + " "
    # the case that regressed: the CLI's case line and the screen's case head agree
    italy = next(c for c in d.cases if c.case_id == "italy")
    head = present.case_head(italy)
    assert "+150 ms" in head and "+150 ms" in cli
    assert f"cost {signed_cost(italy.cost_delta)}" in head and "cost -0.00000600" in head
    assert present.counts_line(d) in cli  # the heading carries the same counts


def test_a_summary_says_the_same_numbers_in_eval_show_and_the_summary_panel() -> None:
    summary = summarize(B, expected_results=3)
    cli = printed(present.summary_texts(summary))
    panel = "\n".join([summary.get("advice") or "", *panel_body(summary)])
    for fact in (
        "pass rate 67% (2/3), 95% CI 21%–94%",
        "latency p50 110 ms, p95 ",
        f"cost {format_cost(summary['cost'])}",
        "0 of 3 from cache",
    ):
        assert fact in cli and fact in panel, fact
    assert summary["advice"] and summary["advice"] in cli and cli.index(summary["advice"]) < cli.index("pass rate")


def test_model_output_in_a_diff_stays_literal_text() -> None:
    d = diff_runs(
        [res("x", "pass", "[bold]rome[/bold]\x1b[31m", ok=True)], [res("x", "fail", "[red]milan[/red]", ok=False)]
    )
    out = printed(present.diff_texts(d, only=None, plain=True))
    assert "[red]milan[/red]" in out and "\x1b" not in out
