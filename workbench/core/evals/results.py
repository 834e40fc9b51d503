"""Per-case results of an eval run, as stored and as read back for summaries and diffs.

One `CaseResult` is one (case, repeat) row of `eval_results`, joined with the facts of its
generation (output, tokens, cost). Everything downstream (summary, diff, gate, reports) works on
these plain objects, so it can be tested without a database and reads the same whether the run
finished a second ago or was resumed after a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.core.evals.assertions import AssertionResult

VERDICTS = ("pass", "fail", "judge-error", "unscored")


@dataclass
class CaseResult:
    case_id: str
    verdict: str  # pass | fail | judge-error | unscored
    assertions: list[AssertionResult] = field(default_factory=list)
    failure_kind: str | None = None
    repeat_index: int = 0
    output: str = ""
    status: str = "ok"  # the generation's status
    error: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    generation_id: int | None = None
    cached: bool = False
    tags: tuple[str, ...] = ()
    relevant: tuple[str, ...] = ()
    retrieved: tuple[str, ...] | None = None  # doc paths, best first; None: no retrieval step
    gold_rank: int | None = None
    chunks: tuple[tuple[str, str], ...] = ()  # (chunk_id, path) of the sources, best first

    @property
    def passed(self) -> bool | None:
        return {"pass": True, "fail": False}.get(self.verdict)

    # -- store encoding -------------------------------------------------------------------------
    def to_row(self) -> dict[str, Any]:
        """Columns of `eval_results` (run_id and created_at are added by the writer)."""
        row = self.to_dict()
        row["assertions"] = json.dumps(row["assertions"], ensure_ascii=False)
        row["retrieval"] = json.dumps(row["retrieval"], ensure_ascii=False)
        return row

    def to_dict(self) -> dict[str, Any]:
        """The row's fields as JSON-ready objects (`eval show --json`): the same keys as the
        stored columns, with `assertions` and `retrieval` as real lists and objects, not the
        JSON text SQLite holds."""
        return {
            "case_id": self.case_id,
            "repeat_index": self.repeat_index,
            "generation_id": self.generation_id,
            "passed": None if self.passed is None else int(self.passed),
            "judge_error": int(self.verdict == "judge-error"),
            "failure_kind": self.failure_kind,
            "assertions": [a.to_dict() for a in self.assertions],
            # Retrieval evidence plus the case facts the summary needs (tags), so a stored run can
            # be summarised again without the eval file it came from.
            "retrieval": {
                "retrieved": list(self.retrieved) if self.retrieved is not None else None,
                "relevant": list(self.relevant),
                "gold_rank": self.gold_rank,
                "chunks": [list(c) for c in self.chunks],
                "tags": list(self.tags),
                "verdict": self.verdict,
                # for a case that failed before a generation existed (no row to join)
                "status": self.status if self.generation_id is None else None,
                "error": self.error if self.generation_id is None else None,
            },
            "cached": int(self.cached),
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any], generation: dict[str, Any] | None = None) -> CaseResult:
        retrieval = _json(row.get("retrieval")) or {}
        assertions = [AssertionResult.from_dict(d) for d in (_json(row.get("assertions")) or [])]
        verdict = retrieval.get("verdict")
        if verdict not in VERDICTS:
            passed = row.get("passed")
            verdict = (
                "pass"
                if passed == 1
                else "fail"
                if passed == 0
                else ("judge-error" if row.get("judge_error") else "unscored")
            )
        g = generation or {}
        retrieved = retrieval.get("retrieved")
        return cls(
            case_id=row["case_id"],
            verdict=verdict,
            assertions=assertions,
            failure_kind=row.get("failure_kind"),
            repeat_index=row.get("repeat_index") or 0,
            output=g.get("output") or "",
            status=g.get("status") or retrieval.get("status") or "ok",
            error=g.get("error") or retrieval.get("error"),
            latency_ms=row.get("latency_ms") if row.get("latency_ms") is not None else g.get("total_ms"),
            prompt_tokens=g.get("prompt_tokens"),
            completion_tokens=g.get("completion_tokens"),
            cost=g.get("cost"),
            generation_id=row.get("generation_id"),
            cached=bool(row.get("cached")),
            tags=tuple(retrieval.get("tags") or ()),
            relevant=tuple(retrieval.get("relevant") or ()),
            retrieved=tuple(retrieved) if retrieved is not None else None,
            gold_rank=retrieval.get("gold_rank"),
            chunks=tuple(tuple(c) for c in retrieval.get("chunks") or ()),
        )


def _json(value: Any) -> Any:
    if isinstance(value, str) and value:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


@dataclass
class CaseSummary:
    """All repeats of one case folded into one verdict (majority of decided repeats)."""

    case_id: str
    verdict: str
    repeats: list[CaseResult]
    passes: int
    fails: int

    @property
    def flaky(self) -> bool:
        """Repeats disagreed (some passed, some failed)."""
        return self.passes > 0 and self.fails > 0

    @property
    def first(self) -> CaseResult:
        return self.repeats[0]

    @property
    def evidence(self) -> CaseResult:
        """The repeat to show for this case: the first one whose verdict is the case's, so a
        flaky case listed as failing shows a failing answer and its reason, not repeat 0's pass."""
        return next((r for r in self.repeats if r.verdict == self.verdict), self.first)

    @property
    def passed(self) -> bool | None:
        return {"pass": True, "fail": False}.get(self.verdict)


def fold_repeats(results: Iterable[CaseResult]) -> dict[str, CaseSummary]:
    """case_id -> CaseSummary, in first-seen order. A tie between passes and fails is a fail."""
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(r.case_id, []).append(r)
    out: dict[str, CaseSummary] = {}
    for cid, reps in groups.items():
        reps.sort(key=lambda r: r.repeat_index)
        passes = sum(1 for r in reps if r.verdict == "pass")
        fails = sum(1 for r in reps if r.verdict == "fail")
        if passes or fails:
            verdict = "pass" if passes > fails else "fail"
        elif any(r.verdict == "judge-error" for r in reps):
            verdict = "judge-error"
        else:
            verdict = "unscored"
        out[cid] = CaseSummary(cid, verdict, reps, passes, fails)
    return out


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of the non-None values; None when empty."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    if len(vals) == 1:
        return float(vals[0])
    pos = (len(vals) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(vals) - 1)
    return float(vals[lo] + (vals[hi] - vals[lo]) * (pos - lo))
