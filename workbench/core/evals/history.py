"""An eval set's history: pass rate with its 95% CI per finished run, oldest first.

What `workbench eval history` prints and the Evals tab plots, so a plateau is *seen*: the
variants tried, each interval, the best one. Runs on other model weights (the run's recorded
digest, unknown for old runs) or another eval-set version (the set's hash) are a new *segment*:
their numbers do not compare across the boundary, so charts draw one, and `best` is picked
within the newest segment only. Only finished whole-set runs count (a `--limit 5` run at 100%
says nothing about the set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from workbench.core.evals.stats import wilson_interval
from workbench.core.store import as_dict
from workbench.core.variants import variant_label

if TYPE_CHECKING:
    from workbench.core.store import Store


DEFAULT_LIMIT = 30


@dataclass(frozen=True)
class HistoryPoint:
    run_id: int
    created_at: str
    variant: str
    model: str | None
    rate: float | None  # None: no decided case
    lo: float | None
    hi: float | None
    passed: int
    total: int
    segment: int  # index into History.segments
    best: bool = False


@dataclass(frozen=True)
class Segment:
    """Runs that compare: one model digest (None: not recorded) and one eval-set version."""

    model_digest: str | None
    evalset_hash: str | None

    def label(self) -> str:
        from workbench.core.llm.base import short_digest

        digest = short_digest(self.model_digest) if self.model_digest else "not recorded"
        return f"eval set {(self.evalset_hash or 'unknown')[:10]} · weights {digest}"


@dataclass
class History:
    evalset: str
    points: list[HistoryPoint] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    skipped: int = 0  # finished subset runs left out

    @property
    def best(self) -> HistoryPoint | None:
        return next((p for p in self.points if p.best), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "evalset": self.evalset,
            "skipped_subset_runs": self.skipped,
            "segments": [{"model_digest": s.model_digest, "evalset_hash": s.evalset_hash} for s in self.segments],
            "runs": [
                {
                    "run_id": p.run_id,
                    "created_at": p.created_at,
                    "variant": p.variant,
                    "model": p.model,
                    "pass_rate": p.rate,
                    "ci": [p.lo, p.hi],
                    "passed": p.passed,
                    "total": p.total,
                    "segment": p.segment,
                    "best": p.best,
                }
                for p in self.points
            ],
        }


def point_of(row: Mapping[str, Any], segment: int) -> HistoryPoint:
    """One stored run row -> a point (the CI recomputed when an old summary lacks it)."""
    summary = as_dict(row.get("summary"))
    config = as_dict(row.get("config"))
    passed, total = int(summary.get("passed") or 0), int(summary.get("total") or 0)
    rate = summary.get("pass_rate")
    ci = summary.get("ci") or [None, None]
    if rate is not None and (ci[0] is None or ci[1] is None):
        ci = list(wilson_interval(passed, total))
    name = row.get("variant_name")
    variant = variant_label(name, row.get("variant_id"), hash_chars=0 if name else 8) or "?"
    model = (config.get("variant") or {}).get("model") if isinstance(config.get("variant"), dict) else None
    return HistoryPoint(
        int(row["id"]),
        str(row.get("created_at") or ""),
        variant,
        model,
        rate,
        ci[0] if rate is not None else None,
        ci[1] if rate is not None else None,
        passed,
        total,
        segment,
    )


def build_history(rows: Sequence[Mapping[str, Any]], evalset: str, *, limit: int = DEFAULT_LIMIT) -> History:
    """Rows of `eval_runs` (any order) -> the set's history: finished whole-set runs, the newest
    `limit` of them, oldest first, with segments and the best of the newest segment marked."""
    from workbench.core.evals.runstore import selection_of

    done = sorted(
        (r for r in rows if r.get("evalset_name") == evalset and r.get("status") == "done"), key=lambda r: r["id"]
    )
    whole = [r for r in done if selection_of(r) is None]
    history = History(evalset, skipped=len(done) - len(whole))
    for row in whole[-limit:] if limit else whole:
        config = as_dict(row.get("config"))
        seg = Segment(config.get("model_digest"), row.get("evalset_hash"))
        if seg not in history.segments:
            history.segments.append(seg)
        history.points.append(point_of(row, history.segments.index(seg)))
    if history.points:
        newest = history.points[-1].segment
        rated = [p for p in history.points if p.segment == newest and p.rate is not None]
        if rated:  # highest rate; a tie goes to the tighter lower bound, then the newer run
            top = max(rated, key=lambda p: (p.rate, p.lo or 0.0, p.run_id))
            history.points = [replace(p, best=p is top) for p in history.points]
    return history


def load_history(store: Store, evalset: str, *, limit: int = DEFAULT_LIMIT) -> History:
    from workbench.core.evals.runstore import list_runs

    return build_history(list_runs(store, limit=100_000, evalset=evalset), evalset, limit=limit)
