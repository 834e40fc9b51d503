"""Narrowing an eval set to some of its cases (`--tag`, `--case`, `--limit`), and the pace of
past runs that turns a case count into a time estimate before anything is called.

Shared by `workbench eval run` and the Evals tab, so a quick run from either is the same stored
subset run (same file hash: resume and diff still match).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.store import Store


PACE_RUNS = 10  # recent runs whose gaps between finished cases make the pace


def select_cases(evalset: Any, *, tags: list[str], case_ids: list[str], limit: int | None) -> Any:
    """The eval set narrowed to the chosen cases: `case_ids`, then any of `tags`, then the first
    `limit`. The whole set comes back unchanged when nothing is left out."""
    cases = list(evalset.cases)
    unknown = [c for c in case_ids if c not in evalset.ids]
    if unknown:
        raise WorkbenchError(f"no case {unknown[0]!r} in {evalset.path}", path=evalset.path, field="--case")
    if case_ids:
        cases = [c for c in cases if c.id in case_ids]
    if tags:
        cases = [c for c in cases if set(c.tags) & set(tags)]
    if limit is not None:
        if limit < 1:
            raise WorkbenchError("--limit must be at least 1", field="--limit")
        cases = cases[:limit]
    if not cases:
        raise WorkbenchError(
            f"no case in {evalset.path} matches --tag {', '.join(tags)}", path=evalset.path, field="--tag"
        )
    if len(cases) == len(evalset.cases):
        return evalset
    how = (
        ([f"--case {','.join(case_ids)}"] if case_ids else [])
        + [f"--tag {t}" for t in tags]
        + ([f"--limit {limit}"] if limit is not None else [])
    )
    return dataclasses.replace(evalset, cases=tuple(cases), selection=" ".join(how), file_size=len(evalset.cases))


@dataclass(frozen=True)
class Pace:
    """Seconds between finished, uncached cases in past eval runs that asked `model`;
    `answered_by` is the model that answered most of them when it was another one (the
    fallback, with Ollama down): the pace is that model's, and says so."""

    model: str
    seconds_per_case: float
    samples: int
    runs: int
    answered_by: str | None = None

    def estimate(self, cases: int) -> float:
        return self.seconds_per_case * cases

    @property
    def on(self) -> str:
        """`embedded`, or `embedded, the fallback for ollama:llama3.2`: whose pace this is."""
        return f"{self.answered_by}, the fallback for {self.model}" if self.answered_by else self.model


def measured_pace(store: Store, model: str) -> Pace | None:
    """The median gap between consecutive uncached cases of the last runs that asked `model` (a
    spec as configured, e.g. `embedded` or `ollama:llama3.2`), or None when no run has two such
    cases yet. The pace is of the model that answered: with Ollama down that was the fallback,
    and `answered_by` names it (the next run will most likely fall back too).

    Gaps, not each answer's own duration: a case's `total_ms` includes its wait for the model
    (the embedded model answers one case at a time whatever the concurrency), while the gap
    is the run's real throughput. The median drops the pause of a run that was resumed later.
    An answer cut at num_predict counts: the call finished (the small embedded model hits the
    limit on most cases, which left it with no estimate at all).
    """
    with store.lock:
        rows = store.conn.execute(
            "SELECT r.run_id, r.created_at, g.model_used FROM eval_results r "
            "JOIN generations g ON g.id = r.generation_id "
            "WHERE r.cached = 0 AND g.model_requested = ? AND g.status IN ('ok', 'truncated') "
            "AND r.run_id IN (SELECT DISTINCT r2.run_id FROM eval_results r2 "
            "  JOIN generations g2 ON g2.id = r2.generation_id "
            "  WHERE r2.cached = 0 AND g2.model_requested = ? ORDER BY r2.run_id DESC LIMIT ?) "
            "ORDER BY r.run_id, r.created_at",
            (model, model, PACE_RUNS),
        ).fetchall()
    gaps: list[float] = []
    previous: dict[int, datetime] = {}
    used = Counter(u for _, _, u in rows if u)
    for run_id, created, _ in rows:
        try:
            at = datetime.fromisoformat(created)
        except (TypeError, ValueError):
            continue
        if run_id in previous:
            gaps.append(max(0.0, (at - previous[run_id]).total_seconds()))
        previous[run_id] = at
    if not gaps:
        return None
    most = used.most_common(1)[0][0] if used else None
    return Pace(model, statistics.median(gaps), len(gaps), len(previous), most if most != model else None)


def duration_text(seconds: float) -> str:
    """'40 s', '4 min', '1 h 05 min': an estimate, so rounded."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def run_concurrency(store: Store, configured: int, requested: int | None, resume: int | None) -> int:
    """Cases in flight for a run: `requested` if given (0 is bad input the runner refuses, not
    "default"), else a resumed run's own stored pace, else evals.concurrency. The CLI and the
    Evals tab both ask here, so a run resumed from either keeps its pace."""
    if requested is not None:
        return requested
    if resume is not None:
        from workbench.core.evals import runstore

        stored = (runstore.get_run(store, resume).get("config") or {}).get("concurrency")
        if isinstance(stored, int) and stored > 0:
            return stored
    return configured
