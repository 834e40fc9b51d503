"""The CI gate: did this run keep the bar? Exit 0 when it did, 1 when it did not.

Rules (each only when asked for):
- `fail_on_regression`: more than `max_regressions` (default 0) pass->fail flips against the
  baseline fails the gate. Judge errors are never regressions (see diff.py).
- `max_regressions` alone implies the regression rule with that allowance.
- `min_pass_rate`: the run's pass rate (decided cases) below it fails the gate. Accepts 0.8 or 80.
A gate that asks for a baseline rule without a baseline is bad input (WorkbenchError, exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.evals.diff import RunDiff


@dataclass
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)  # why it failed (or what it checked)
    checks: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def normalize_rate(value: float) -> float:
    if value < 0 or value > 100:
        raise WorkbenchError(
            f"--min-pass-rate must be between 0 and 1 (or 0 and 100), got {value}", field="min-pass-rate"
        )
    return value / 100 if value > 1 else value


def evaluate_gate(
    summary: dict[str, Any],
    diff: RunDiff | None,
    *,
    fail_on_regression: bool = False,
    max_regressions: int | None = None,
    min_pass_rate: float | None = None,
) -> GateResult:
    result = GateResult(True)
    if max_regressions is not None and max_regressions < 0:
        raise WorkbenchError("--max-regressions must be 0 or more", field="max-regressions")
    if fail_on_regression or max_regressions is not None:
        if diff is None:
            raise WorkbenchError(
                "the regression gate needs a baseline run (--baseline RUN|best|last)", field="baseline"
            )
        allowed = max_regressions or 0
        regressions = [c.case_id for c in diff.regressions]
        result.checks.append(f"regressions {len(regressions)} (allowed {allowed}) against {diff.a.label}")
        if len(regressions) > allowed:
            result.passed = False
            shown = ", ".join(regressions[:10]) + (" …" if len(regressions) > 10 else "")
            result.reasons.append(
                f"{len(regressions)} regression(s) against {diff.a.label} (allowed {allowed}): {shown}"
            )
    if min_pass_rate is not None:
        wanted = normalize_rate(min_pass_rate)
        rate = summary.get("pass_rate")
        result.checks.append(f"pass rate {'n/a' if rate is None else f'{rate:.1%}'} (minimum {wanted:.1%})")
        if rate is None:
            result.passed = False
            result.reasons.append("no case was decided, so the pass rate is unknown")
        elif rate + 1e-12 < wanted:
            result.passed = False
            result.reasons.append(f"pass rate {rate:.1%} is below the minimum {wanted:.1%}")
    return result
