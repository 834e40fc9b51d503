"""Retrieval metrics against labels: hit@k, recall@k, precision@k, MRR@10, nDCG@10.

Details: docs/NOTES.md, section core/retrieval/metrics.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

METRIC_NAMES = ("hit@k", "recall@k", "precision@k", "mrr@10", "ndcg@10", "chunk_hit@k")


def _norm(p: str) -> str:
    p = p.replace("\\", "/").strip()
    while p.startswith("./"):
        p = p[2:]
    return p


def units(chunks: Iterable[tuple[str, str]], relevant: Iterable[str]) -> list[str]:
    """The ranking of relevance units from (chunk_id, path) pairs in rank order.

    With document labels only, a chunk's unit is its document path, deduplicated (first
    occurrence). When any label names a chunk, every chunk is its own unit (its chunk id),
    except the chunks of a document labelled by path: those are that document, once.
    """
    rel = {_norm(r) for r in relevant}
    by_chunk = any("#" in r for r in rel)
    seen: set[str] = set()
    out: list[str] = []
    for chunk_id, path in chunks:
        doc = _norm(path)
        unit = chunk_id if chunk_id in rel or (by_chunk and doc not in rel) else doc
        if unit not in seen:
            seen.add(unit)
            out.append(unit)
    return out


def hit_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = {_norm(r) for r in relevant}
    return 1.0 if any(u in rel for u in ranking[:k]) else 0.0


def recall_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = {_norm(r) for r in relevant}
    if not rel:
        return 0.0
    return len(rel & set(ranking[:k])) / len(rel)


def precision_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = {_norm(r) for r in relevant}
    if k <= 0:
        return 0.0
    return len(rel & set(ranking[:k])) / k


def mrr_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    rel = {_norm(r) for r in relevant}
    for i, u in enumerate(ranking[:k]):
        if u in rel:
            return 1.0 / (i + 1)
    return 0.0


def ndcg_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    rel = {_norm(r) for r in relevant}
    if not rel:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, u in enumerate(ranking[:k]) if u in rel)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / idcg


def first_rank(ranking: Sequence[str], relevant: Iterable[str]) -> int | None:
    """1-based rank of the first relevant unit, None if absent."""
    rel = {_norm(r) for r in relevant}
    for i, u in enumerate(ranking):
        if u in rel:
            return i + 1
    return None


def case_metrics(chunks: Sequence[tuple[str, str]], relevant: Sequence[str], k: int) -> dict[str, float]:
    """Every metric for one case, from its chunk ranking (chunk_id, path) best first."""
    ranking = units(chunks, relevant)
    chunk_units = units(chunks[:k], relevant)
    return {
        "hit@k": hit_at_k(ranking, relevant, k),
        "recall@k": recall_at_k(ranking, relevant, k),
        "precision@k": precision_at_k(ranking, relevant, k),
        "mrr@10": mrr_at_k(ranking, relevant, 10),
        "ndcg@10": ndcg_at_k(ranking, relevant, 10),
        "chunk_hit@k": hit_at_k(chunk_units, relevant, k),
    }


def mean_metrics(per_case: Sequence[dict[str, float]]) -> dict[str, float]:
    """Macro average over cases (each case weighs the same)."""
    if not per_case:
        return {name: 0.0 for name in METRIC_NAMES}
    return {name: sum(m[name] for m in per_case) / len(per_case) for name in per_case[0]}
