"""`workbench retrieval eval`: retrieval metrics per mode against an eval set's `relevant:` labels.

Details: docs/NOTES.md, section core/retrieval/evaluate.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.core.retrieval.embedder import Embedder, get_embedder
from workbench.core.retrieval.index import Index, chunking_drift
from workbench.core.retrieval.metrics import METRIC_NAMES, _norm, case_metrics, first_rank, mean_metrics, units
from workbench.core.retrieval.search import search
from workbench.core.retrieval.settings import MODES, RetrievalSettings
from workbench.core.retrieval.whynot import WhyNot, missing_labels, why_not


@dataclass
class CaseResult:
    case_id: str
    question: str
    relevant: list[str]
    metrics: dict[str, dict[str, float]]  # mode -> metric -> value
    gold_rank: dict[str, int | None]  # mode -> rank of the first gold unit (metrics.units: a
    # document, deduplicated; a chunk when the case labels chunks)
    top_docs: dict[str, list[str]]  # mode -> top k documents
    missing: list[str] = field(default_factory=list)
    whynot: WhyNot | None = None
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "question": self.question,
            "relevant": self.relevant,
            "metrics": self.metrics,
            "gold_rank": self.gold_rank,
            "top_docs": self.top_docs,
            "missing": self.missing,
            "whynot": self.whynot.to_dict() if self.whynot else None,
            "latency_ms": round(self.latency_ms, 2),
        }


@dataclass
class RetrievalEval:
    evalset: str
    evalset_path: str
    evalset_hash: str
    k: int
    modes: list[str]
    metrics: dict[str, dict[str, float]]  # mode -> metric -> mean
    cases: list[CaseResult]
    settings: dict[str, Any]
    index_version: int | None  # None: a stored eval from before versions were recorded
    unlabelled: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    index_build: str | None = None  # Index.build_id: tells a rebuild from an ingest (compare.py)
    # index.chunking_drift's sentence when the index was chunked with other settings than
    # `settings`: the scores are of the old chunks, so its chunking settings were not measured
    stale_index: str | None = None

    @property
    def best_mode(self) -> str:
        return max(self.modes, key=lambda m: (self.metrics[m]["ndcg@10"], self.metrics[m]["mrr@10"]))

    def misses(self, mode: str) -> list[CaseResult]:
        return [c for c in self.cases if c.metrics[mode]["hit@k"] == 0.0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "evalset": self.evalset,
            "evalset_path": self.evalset_path,
            "evalset_hash": self.evalset_hash,
            "k": self.k,
            "modes": self.modes,
            "metrics": self.metrics,
            "best_mode": self.best_mode if self.cases else None,
            "n_cases": len(self.cases),
            "unlabelled": self.unlabelled,
            "index_version": self.index_version,
            "index_build": self.index_build,
            "stale_index": self.stale_index,
            "settings": self.settings,
            "seconds": round(self.seconds, 2),
            "cancelled": self.cancelled,
            "cases": [c.to_dict() for c in self.cases],
        }


def evaluate(
    cases: Sequence[Any],
    index: Index,
    settings: RetrievalSettings,
    *,
    k: int | None = None,
    modes: Sequence[str] = MODES,
    embedder: Embedder | None = None,
    evalset_name: str = "",
    evalset_path: str = "",
    evalset_hash: str = "",
    whynot: bool = True,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RetrievalEval:
    """Score retrieval on `cases` (objects with .id, .inputs['question'], .relevant, .expected).

    Cancelling (the Event) stops after the current case; the metrics cover the cases done.
    """
    t0 = time.perf_counter()
    k = k or settings.k
    embedder = embedder or get_embedder(settings.embedding_model)
    labelled = [c for c in cases if getattr(c, "relevant", None)]
    unlabelled = [c.id for c in cases if not getattr(c, "relevant", None)]
    indexed = set(index.paths())
    chunk_ids = index.chunk_ids() if any("#" in r for c in labelled for r in c.relevant) else set()
    results: list[CaseResult] = []
    cancelled = False
    for i, case in enumerate(labelled):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        question = _question(case)
        rel = [_norm(r) for r in case.relevant]
        res = search(question, index, settings, k=k, embedder=embedder, mode="hybrid")
        per_mode: dict[str, dict[str, float]] = {}
        ranks: dict[str, int | None] = {}
        tops: dict[str, list[str]] = {}
        for mode in modes:
            ranking = [(h.chunk_id, h.path) for h in res.ranking(mode)]
            per_mode[mode] = case_metrics(ranking, rel, k)
            doc_units = units(ranking, rel)
            ranks[mode] = first_rank(doc_units, rel)
            tops[mode] = doc_units[:k]
        cr = CaseResult(
            case.id,
            question,
            rel,
            per_mode,
            ranks,
            tops,
            missing=missing_labels(rel, index, indexed, chunk_ids),
            latency_ms=res.latency_ms,
        )
        if whynot and any(per_mode[m]["chunk_hit@k"] == 0.0 for m in modes):
            cr.whynot = why_not(
                question,
                rel,
                index,
                settings,
                k=k,
                expected=getattr(case, "expected", None),
                embedder=embedder,
                case_id=case.id,
                modes=modes,
            )
        results.append(cr)
        if progress:
            progress(i + 1, len(labelled))
    metrics = {m: mean_metrics([c.metrics[m] for c in results]) for m in modes}
    return RetrievalEval(
        evalset=evalset_name,
        evalset_path=evalset_path,
        evalset_hash=evalset_hash,
        k=k,
        modes=list(modes),
        metrics=metrics,
        cases=results,
        settings=settings.to_dict(),
        index_version=index.version,
        unlabelled=unlabelled,
        seconds=time.perf_counter() - t0,
        cancelled=cancelled,
        index_build=index.build_id,
        stale_index=chunking_drift(index.meta, settings),
    )


def _question(case: Any) -> str:
    inputs = getattr(case, "inputs", {}) or {}
    q = inputs.get("question")
    if q is None and inputs:
        q = next(iter(inputs.values()))
    return str(q or "")


def deltas(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """after - before for every mode and metric both have (comparing two stored evals)."""
    out: dict[str, dict[str, float]] = {}
    for mode, ms in after.items():
        if mode in before:
            out[mode] = {n: ms[n] - before[mode][n] for n in ms if n in before[mode]}
    return out


__all__ = ["CaseResult", "RetrievalEval", "evaluate", "deltas", "METRIC_NAMES"]
