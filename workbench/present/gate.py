"""The CI gate's words (core/evals/gate.py decides): what it checked when it passed, why it
failed when it did not; the same lines in the CLI, its JSON and the Markdown report."""

from __future__ import annotations

from typing import Any

from workbench.core.evals.gate import GateCheck, GateResult
from workbench.present.numbers import pct


def check_words(check: GateCheck) -> str:
    """What one rule checked: `regressions 0 (allowed 0) against e1`, `pass rate 75.0% (minimum 60.0%)`."""
    if check.kind == "regressions":
        return f"regressions {int(check.value or 0)} (allowed {int(check.limit)}) against {check.against}"
    shown = "n/a" if check.value is None else pct(check.value, 1)
    return f"pass rate {shown} (minimum {pct(check.limit, 1)})"


def reason_words(check: GateCheck) -> str:
    """Why a failed rule failed."""
    if check.kind == "regressions":
        shown = ", ".join(check.cases[:10]) + (" …" if len(check.cases) > 10 else "")
        return f"{int(check.value or 0)} regression(s) against {check.against} (allowed {int(check.limit)}): {shown}"
    if check.value is None:
        return "no case was decided, so the pass rate is unknown"
    return f"pass rate {pct(check.value, 1)} is below the minimum {pct(check.limit, 1)}"


def gate_checks(gate: GateResult) -> list[str]:
    return [check_words(c) for c in gate.checks]


def gate_reasons(gate: GateResult) -> list[str]:
    return [reason_words(c) for c in gate.checks if not c.passed]


def gate_json(gate: GateResult) -> dict[str, Any]:
    """`eval run --json`'s gate: passed, the reasons (when it failed) and the checks, as words."""
    return {"passed": gate.passed, "reasons": gate_reasons(gate), "checks": gate_checks(gate)}
