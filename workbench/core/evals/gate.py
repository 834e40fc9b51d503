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
class GateCheck:
    """One rule the gate applied, as numbers (present/gate.py words it)."""

    kind: str  # regressions | pass_rate
    passed: bool
    value: float | None  # regressions counted, or the pass rate (None: no case decided)
    limit: float  # regressions allowed, or the minimum pass rate (0-1)
    against: str = ""  # regressions: the baseline's label
    cases: list[str] = field(default_factory=list)  # regressions: the cases that regressed


@dataclass
class GateResult:
    passed: bool
    checks: list[GateCheck] = field(default_factory=list)  # in the order applied

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
        ok = len(regressions) <= allowed
        result.checks.append(GateCheck("regressions", ok, len(regressions), allowed, diff.a.label, regressions))
        result.passed = result.passed and ok
    if min_pass_rate is not None:
        wanted = normalize_rate(min_pass_rate)
        rate = summary.get("pass_rate")
        ok = rate is not None and rate + 1e-12 >= wanted
        result.checks.append(GateCheck("pass_rate", ok, rate, wanted))
        result.passed = result.passed and ok
    return result
