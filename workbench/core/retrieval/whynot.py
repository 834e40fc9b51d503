"""Why wasn't the right document retrieved?

Details: docs/NOTES.md, section core/retrieval/whynot.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.core.message_numbers import plural
from workbench.core.retrieval.embedder import Embedder
from workbench.core.retrieval.index import Index, sql_str
from workbench.core.retrieval.metrics import _norm, first_rank, units
from workbench.core.retrieval.search import Hit, SearchResult, search
from workbench.core.retrieval.settings import MODES, RetrievalSettings

MIN_SPLIT_WORDS = 6
MIN_SPLIT_GAIN = 3


@dataclass
class ChunkRef:
    chunk_id: str
    path: str
    heading_path: str
    line_start: int
    line_end: int
    dense_score: float | None
    dense_rank: int | None
    fts_score: float | None
    fts_rank: int | None
    fused_score: float
    hybrid_rank: int | None

    @classmethod
    def of(cls, h: Hit) -> ChunkRef:
        return cls(
            h.chunk_id,
            h.path,
            h.heading_path,
            h.line_start,
            h.line_end,
            h.dense_score,
            h.dense_rank,
            h.fts_score,
            h.fts_rank,
            h.fused_score,
            h.hybrid_rank,
        )


@dataclass
class ModeReport:
    mode: str
    k: int
    depth: int  # how deep this mode's list was searched
    chunk_rank: int | None  # rank of the best gold chunk among chunks (None: not within depth)
    doc_rank: int | None  # rank of the first gold document after deduplicating documents
    gold: ChunkRef | None  # that chunk, with all its scores
    cut_at_k: bool  # True when no gold chunk is in the top k
    outranked_by: list[ChunkRef] = field(default_factory=list)  # chunks above it (max 10)
    cutoff_score: float | None = None  # this mode's score of the k-th chunk
    unranked_gold_score: float | None = None  # best gold score when not within depth
    # retrieval.candidates, for dense and full-text: fusion (hybrid, and the gold ranks of
    # `retrieval eval`'s table) only sees that many of each; this report searches deeper
    candidates: int | None = None

    def sentence(self) -> str:
        name = {"fts": "full-text"}.get(self.mode, self.mode)
        if self.chunk_rank is None:
            extra = ""
            if self.unranked_gold_score is not None:
                extra = (
                    f" (its best score {self.unranked_gold_score:.3f} vs {self.cutoff_score:.3f} at k)"
                    if self.cutoff_score is not None
                    else ""
                )
            elif self.mode == "fts":
                extra = " (no query term matches it)"
            return f"not in the top {self.depth} under {name}{extra}"
        if self.candidates is not None and self.chunk_rank > self.candidates:
            # else it reads as a contradiction of the eval table's "—" (not in the candidates)
            return f"ranked {self.chunk_rank} under {name} (beyond the {plural(self.candidates, 'candidate')} fusion looks at)"
        return f"ranked {self.chunk_rank} under {name}"


@dataclass
class BoundaryReport:
    split: bool
    path: str | None = None
    chunk_ids: tuple[str, str] | None = None  # the adjacent pair the answer straddles
    words_in_one_chunk: int = 0
    words_across_boundary: int = 0
    answer_excerpt: str = ""


@dataclass
class WhyNot:
    query: str
    relevant: list[str]
    k: int
    modes: dict[str, ModeReport]
    boundary: BoundaryReport | None = None
    case_id: str | None = None
    missing: list[str] = field(default_factory=list)  # labelled docs/chunks not in the index at all

    @property
    def retrieved_somewhere(self) -> bool:
        return any(not m.cut_at_k for m in self.modes.values())

    def summary(self) -> str:
        """One line: 'gold chunk ranked 17 under dense, 2 under full-text; cut at k=5 under dense'."""
        if self.missing and len(self.missing) == len(self.relevant):
            return f"gold document(s) not in the index: {', '.join(self.missing)}"
        parts = [m.sentence() for m in self.modes.values()]
        text = "gold chunk " + ", ".join(parts)
        cut = [("full-text" if m.mode == "fts" else m.mode) for m in self.modes.values() if m.cut_at_k]
        if cut:
            text += f"; cut at k={self.k} under {', '.join(cut)}"
        else:
            text += f"; within k={self.k} under every mode"
        if self.boundary and self.boundary.split and self.boundary.chunk_ids:
            text += f"; the answer is split across {self.boundary.chunk_ids[0]} | {self.boundary.chunk_ids[1]}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "query": self.query,
            "relevant": self.relevant,
            "k": self.k,
            "missing": self.missing,
            "summary": self.summary(),
            "modes": {m: asdict(r) for m, r in self.modes.items()},
            "boundary": asdict(self.boundary) if self.boundary else None,
        }


def why_not(
    query: str,
    relevant: Sequence[str],
    index: Index,
    settings: RetrievalSettings,
    *,
    k: int | None = None,
    expected: str | None = None,
    depth: int = 100,
    embedder: Embedder | None = None,
    case_id: str | None = None,
    result: SearchResult | None = None,
    modes: Sequence[str] = MODES,
) -> WhyNot:
    """Build the why-not report for one labelled question (see the module docstring).

    `result` may pass a search already made at least `depth` deep (saves a query).
    """
    k = k or settings.k
    rel = [_norm(r) for r in relevant]
    missing = missing_labels(rel, index)
    if result is None or len(result.ranking("dense")) < min(depth, index.count()):
        result = search(query, index, settings, k=k, depth=depth, embedder=embedder, mode="hybrid")
    reports: dict[str, ModeReport] = {}
    for mode in modes:
        ranking = result.ranking(mode)
        gold_i = next((i for i, h in enumerate(ranking) if _is_gold(h, rel)), None)
        doc_rank = first_rank(units([(h.chunk_id, h.path) for h in ranking], rel), rel)
        cutoff = ranking[k - 1].score_in(mode) if len(ranking) >= k else None
        mode_depth = settings.candidates if mode == "hybrid" else depth
        if gold_i is None:
            rep = ModeReport(
                mode, k, mode_depth, None, doc_rank, None, True, [ChunkRef.of(h) for h in ranking[:10]], cutoff
            )
            rep.unranked_gold_score = _unranked_score(mode, query, rel, index, settings, embedder, result)
        else:
            g = ranking[gold_i]
            rep = ModeReport(
                mode,
                k,
                mode_depth,
                gold_i + 1,
                doc_rank,
                ChunkRef.of(g),
                gold_i + 1 > k,
                [ChunkRef.of(h) for h in ranking[: min(gold_i, 10)]],
                cutoff,
            )
        rep.candidates = None if mode == "hybrid" else settings.candidates
        reports[mode] = rep
    boundary = None
    if expected and expected.strip():
        boundary = boundary_check(expected, rel, index)
    return WhyNot(query, rel, k, reports, boundary, case_id, missing)


def missing_labels(
    relevant: Sequence[str], index: Index, paths: set[str] | None = None, chunk_ids: set[str] | None = None
) -> list[str]:
    """The labels that name a document or chunk the index does not hold (a typo, label rot after
    a re-chunk, a corpus not ingested): such a case can never be a hit, and must say why.
    `paths` / `chunk_ids` (what the index holds) save a scan per case when the caller has them."""
    rel = [_norm(r) for r in relevant]
    if paths is None:
        paths = set(index.paths())
    if chunk_ids is None and any("#" in r for r in rel):
        chunk_ids = index.chunk_ids()
    return [r for r in rel if (r not in (chunk_ids or ()) if "#" in r else r not in paths)]


def unknown_gold(label: str, index: Index) -> str | None:
    """None when the index holds `label` (a document path, or a chunk PATH#N); else why not,
    with the closest indexed names: a typo'd gold document would read as a bad ranking."""
    import difflib

    if not missing_labels([label], index):
        return None
    paths = index.paths()
    known = sorted(index.chunk_ids()) if "#" in label else paths
    close = difflib.get_close_matches(_norm(label), known, n=3, cutoff=0.7)  # 0.6 offered sqlite.md for cast.md
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else f"{len(paths)} documents are indexed (see `workbench retrieval status`)"
    )
    return f"{label}: not in the index: {hint}"


def _is_gold(h: Hit, rel: Sequence[str]) -> bool:
    return h.chunk_id in rel or _norm(h.path) in rel


def _unranked_score(
    mode: str,
    query: str,
    rel: list[str],
    index: Index,
    settings: RetrievalSettings,
    embedder: Embedder | None,
    result: SearchResult,
) -> float | None:
    """Best score any gold chunk gets under `mode` when it is below the searched depth."""
    paths = [r.split("#")[0] for r in rel]
    where = "path IN (" + ", ".join(sql_str(p) for p in paths) + ")"
    try:
        if mode == "dense":
            from workbench.core.retrieval.embedder import get_embedder

            emb = embedder or get_embedder(settings.embedding_model)
            rows = index.dense(emb.encode_query(query), 50, where)
            rows = [r for r in rows if r["chunk_id"] in rel or r["path"] in rel]
            return max((1.0 - r["_distance"] for r in rows), default=None)
        if mode == "fts":
            rows = index.fts(query, 50, where)
            rows = [r for r in rows if r["chunk_id"] in rel or r["path"] in rel]
            return max((float(r["_score"]) for r in rows), default=None)
    except Exception:  # a report helper: a failed extra query just leaves the score out
        return None
    return None


# --- chunk-boundary check ------------------------------------------------------------------------

_W = re.compile(r"[a-z0-9_]+")


def _words(text: str) -> list[str]:
    return _W.findall(text.lower())


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> tuple[int, int]:
    """(length, end index in a) of the longest common contiguous run of words."""
    best, best_end = 0, 0
    prev = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        cur = [0] * (len(b) + 1)
        ai = a[i - 1]
        for j in range(1, len(b) + 1):
            if ai == b[j - 1]:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best, best_end = cur[j], i
        prev = cur
    return best, best_end


def boundary_check(expected: str, relevant: Sequence[str], index: Index) -> BoundaryReport:
    """Does the reference answer straddle two adjacent chunks of a gold document?"""
    ans = _words(expected)
    best = BoundaryReport(split=False)
    if len(ans) < MIN_SPLIT_WORDS:
        return best
    for path in dict.fromkeys(r.split("#")[0] for r in relevant):
        chunks = index.chunks_of(path)
        single = 0
        for c in chunks:
            single = max(single, longest_common_run(ans, _words(c["text"]))[0])
        best.words_in_one_chunk = max(best.words_in_one_chunk, single)
        for a, b in zip(chunks, chunks[1:], strict=False):  # adjacent pairs
            joined = a["text"]
            if b["char_start"] < a["char_end"]:  # overlapping windows: count the overlap once
                joined += b["text"][a["char_end"] - b["char_start"] :]
            else:
                joined += "\n" + b["text"]
            across, end = longest_common_run(ans, _words(joined))
            if across >= MIN_SPLIT_WORDS and across >= single + MIN_SPLIT_GAIN and across > best.words_across_boundary:
                best = BoundaryReport(
                    True,
                    path,
                    (a["chunk_id"], b["chunk_id"]),
                    single,
                    across,
                    " ".join(ans[end - across : end]),
                )
        if not best.split:
            best.path = path
    return best
