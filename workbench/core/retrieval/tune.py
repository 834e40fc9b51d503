"""`workbench retrieval tune`: score a small grid of retrieval settings on a labelled eval set.

Settings tuned on one corpus do not carry over to another (issue 13), so a user measures on
their own labels. Each chunking (chunk_tokens, overlap_tokens) needs its own index; those are
built under `<data_dir>/tune/` with an embedding cache (embed_cache.py) seeded from the project's
index, so a text is embedded once whatever configurations share it. Everything else in the grid
(mode, fusion weights, rrf_k, doc_weight, doc_vector) re-ranks the same two candidate lists with
search.fuse, the code `retrieve` runs, so a winner applied reproduces its score in
`retrieval eval`. Each configuration's nDCG@10 delta against the current settings gets a paired
bootstrap CI; a difference whose interval excludes 0 is marked real.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.retrieval.bootstrap import is_real, paired_delta_ci
from workbench.core.retrieval.embed_cache import CachedEmbedder
from workbench.core.retrieval.index import Index, path_filter
from workbench.core.retrieval.metrics import _norm, case_metrics, mean_metrics
from workbench.core.retrieval.search import _sort_key, doc_similarities, fuse
from workbench.core.retrieval.settings import RetrievalSettings

TUNED = (
    "chunk_tokens",
    "overlap_tokens",
    "mode",
    "fts_weight",
    "rrf_k",
    "doc_weight",
    "doc_vector",
    "heading_context",
)


@dataclass(frozen=True)
class TuneConfig:
    chunk_tokens: int
    overlap_tokens: int
    mode: str
    fts_weight: float
    rrf_k: int
    doc_weight: float
    doc_vector: str = "first-window"
    heading_context: bool = True  # (a sweep stored before it existed had it on)

    @classmethod
    def of(cls, s: RetrievalSettings) -> TuneConfig:
        return cls(
            s.chunk_tokens,
            s.overlap_tokens,
            s.mode,
            s.fts_weight,
            s.rrf_k,
            s.doc_weight,
            s.doc_vector,
            s.heading_context,
        )

    @property
    def chunking(self) -> tuple[int, int, bool]:
        """What its index depends on: configurations that share it share one index."""
        return (self.chunk_tokens, self.overlap_tokens, self.heading_context)

    def settings(self, base: RetrievalSettings) -> RetrievalSettings:
        return dataclasses.replace(base, **dataclasses.asdict(self))

    def label(self) -> str:
        fusion = f" fts={self.fts_weight:g} rrf_k={self.rrf_k}" if self.mode == "hybrid" else ""
        doc = f" doc={self.doc_weight:g}" + (f" ({self.doc_vector})" if self.doc_weight else "")
        heading = "" if self.heading_context else " no-heading"
        return f"{self.mode} chunk={self.chunk_tokens}/{self.overlap_tokens}{heading}{fusion}{doc}"

    def changes(self, base: RetrievalSettings) -> dict[str, Any]:
        """The settings this configuration changes, name -> new value (doc_vector only where a
        document vector is used: without one it changes nothing)."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if getattr(base, k) != v}
        if not self.doc_weight:
            out.pop("doc_vector", None)
        return out


def default_grid(current: RetrievalSettings) -> list[TuneConfig]:
    """Current settings first, then 2 chunkings x (dense, fts, hybrid fusions) x doc vector,
    then the current configuration and dense with the heading context flipped (its own index).

    Each extra chunking is a re-embed of the corpus: on the sample, 120-token chunks cost 2,533 of
    3,437 new embeddings (over 5 minutes of a loaded 2-core box) and never won, so the second
    chunking is the larger one, which shares most texts with 200-token chunks. Everything else
    re-ranks the same candidates, so both kinds of document vector are tried at no embedding cost.
    """
    cur = TuneConfig.of(current)
    other_vec = "chunk-mean" if current.doc_vector == "first-window" else "first-window"
    chunkings = [(current.chunk_tokens, current.overlap_tokens)]
    for c in ((250, 50), (200, 40)):
        if c not in chunkings and len(chunkings) < 2:
            chunkings.append(c)
    grid = [cur]
    for ct, ov in chunkings:

        def cfg(mode: str, fw: float, rk: int, dw: float, dv: str = current.doc_vector) -> TuneConfig:
            return TuneConfig(ct, ov, mode, fw, rk, dw, dv)  # noqa: B023  (called in this iteration)

        for dw in (0.0, 0.5, 1.0):
            grid.append(cfg("dense", current.fts_weight, current.rrf_k, dw))
        grid.append(cfg("dense", current.fts_weight, current.rrf_k, 0.5, other_vec))
        grid.append(cfg("fts", current.fts_weight, current.rrf_k, 0.0))
        for fw in (0.25, 0.5, 1.0):
            for rk in (10, 60):
                for dw in (0.0, 0.5):
                    grid.append(cfg("hybrid", fw, rk, dw))
        grid.append(cfg("hybrid", current.fts_weight, current.rrf_k, 0.5, other_vec))
    # Heading context on/off changes every embedded text, so it costs a re-embed of the corpus
    # (on the sample ~1,650 texts, about as much as the rest of a first sweep): two
    # configurations on the current chunking, not the whole grid again.
    flip = not current.heading_context
    grid.append(dataclasses.replace(cur, heading_context=flip))
    grid.append(dataclasses.replace(cur, mode="dense", heading_context=flip))
    return list(dict.fromkeys(grid))  # without repeats, in order


@dataclass
class TuneRow:
    config: TuneConfig
    metrics: dict[str, float]
    ndcg: list[float]  # per case, in case order
    delta: tuple[float, float, float] = (0.0, 0.0, 0.0)  # nDCG@10 vs current: (mean, low, high)

    @property
    def real(self) -> bool:
        return is_real(self.delta[1], self.delta[2])

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": dataclasses.asdict(self.config),
            "label": self.config.label(),
            "metrics": self.metrics,
            "ndcg_delta": list(self.delta),
            "real": self.real,
        }


@dataclass
class TuneResult:
    current: TuneConfig
    rows: list[TuneRow]
    k: int
    n_cases: int
    cancelled: bool = False
    seconds: float = 0.0
    embedded: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def winner(self) -> TuneRow | None:
        """Best nDCG@10, but only a configuration whose gain over current is real; else current."""
        cur = next((r for r in self.rows if r.config == self.current), None)
        better = [r for r in self.rows if r.real and r.delta[0] > 0]
        if better:
            return max(better, key=lambda r: (r.metrics["ndcg@10"], r.metrics["mrr@10"]))
        return cur

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuneResult:
        """A stored sweep (`to_dict`), for `runs show rtN`: the per-case scores are not stored,
        so the rows carry their means and deltas only."""
        rows = [
            TuneRow(TuneConfig(**r["config"]), dict(r["metrics"]), [], tuple(r["ndcg_delta"]))
            for r in d.get("rows") or []
        ]
        return cls(
            current=TuneConfig(**d["current"]),
            rows=rows,
            k=int(d["k"]),
            n_cases=int(d["n_cases"]),
            cancelled=bool(d.get("cancelled")),
            seconds=float(d.get("seconds") or 0.0),
            embedded=int(d.get("embedded") or 0),
            notes=list(d.get("notes") or []),
        )

    def to_dict(self) -> dict[str, Any]:
        w = self.winner
        return {
            "current": dataclasses.asdict(self.current),
            "k": self.k,
            "n_cases": self.n_cases,
            "cancelled": self.cancelled,
            "seconds": round(self.seconds, 1),
            "embedded": self.embedded,
            "winner": w.to_dict() if w else None,
            "rows": [r.to_dict() for r in self.rows],
            "notes": list(self.notes),
        }


def _unindexed_labels_note(cases: Sequence[Any], index: Index) -> list[str]:
    """A note naming the documents the labels name but the corpus does not hold (a typo, a file
    moved or not ingested): their cases score 0 in every configuration, which says nothing
    about the settings. Chunk labels (PATH#N) are left out: they depend on the chunking."""
    from workbench.core.message_numbers import plural
    from workbench.core.retrieval.whynot import missing_labels

    labels = sorted({_norm(r) for c in cases for r in c.relevant if "#" not in r})
    gone = missing_labels(labels, index)
    if not gone:
        return []
    hit = sum(1 for c in cases if any(_norm(r) in gone for r in c.relevant))
    shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
    return [
        f"{len(gone)} labelled document{'s are' if len(gone) != 1 else ' is'} not in the corpus ({shown}): "
        f"{plural(hit, 'case')} can only score 0 here, in every configuration; "
        "fix the `relevant:` labels or ingest the documents"
    ]


def case_question(case: Any) -> str:
    """What a labelled case searches for: its `question` input, else its first input."""
    inputs = case.inputs or {}
    return str(inputs.get("question") or next(iter(inputs.values()), ""))


def chunkings(grid: Sequence[TuneConfig]) -> list[tuple[int, int, bool]]:
    """The distinct (chunk_tokens, overlap_tokens, heading_context) of `grid`: one index each."""
    return list(dict.fromkeys(c.chunking for c in grid))


def seed_cache(cache: CachedEmbedder, index: Index) -> int:
    """Put the project index's (embedded text, vector) pairs into the cache; returns how many."""
    import numpy as np

    if index.table is None:
        return 0
    tbl = index.table.search().select(["search_text", "vector"]).limit(None).to_arrow()
    texts = tbl.column("search_text").to_pylist()
    col = tbl.column("vector").combine_chunks()
    vecs = np.asarray(col.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(texts), -1)
    return cache.put(texts, vecs)


def embed_cost(
    paths: Sequence[Path],
    bases: Sequence[Path],
    settings_list: Sequence[RetrievalSettings],
    cache: Any,
    questions: Sequence[str] = (),
) -> tuple[int, int]:
    """(texts to embed that the cache lacks, total texts) over the chunkings given: what the
    sweep's indexing embeds (each chunk, and each document's first window, as ingest does) and
    the questions."""
    from workbench.core.retrieval.chunking import chunk_with, doc_window_text, tokens_for
    from workbench.core.retrieval.documents import Document, discover, read_document
    from workbench.core.retrieval.ingest import doc_window_tokens

    sources, _ = discover(list(paths), list(bases))
    tokens = tokens_for(str(cache.path))
    docs = [
        d
        for d in (read_document(s, int(settings_list[0].max_file_mb * 1e6)) for s in sources)
        if isinstance(d, Document)
    ]
    window = doc_window_tokens(cache)
    texts: set[str] = set(questions)
    for s in settings_list:
        for d in docs:
            chunks = chunk_with(d, s, tokens)
            texts.update(c.embed_text for c in chunks)
            if chunks:
                texts.add(doc_window_text(d, chunks, window, tokens))
    texts_l = sorted(texts)
    return cache.missing(texts_l), len(texts_l)


def run_tune(
    cases: Sequence[Any],
    current: RetrievalSettings,
    grid: Sequence[TuneConfig],
    *,
    paths: Sequence[Path],
    bases: Sequence[Path],
    tune_dir: Path,
    embedder: Any,
    k: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> TuneResult:
    """Score every configuration of `grid` on the labelled `cases`; see the module docstring.

    Cancelling stops after the current chunking's indexing or case; configurations whose every
    case was scored are kept (a chunking is scored for all its configurations at once).
    """
    import time

    from workbench.core.retrieval.ingest import ingest

    t0 = time.perf_counter()
    k = k or current.k
    labelled = [c for c in cases if getattr(c, "relevant", None)]
    cur = TuneConfig.of(current)
    res = TuneResult(current=cur, rows=[], k=k, n_cases=len(labelled))
    where = path_filter(current.path_glob)
    misses0 = getattr(embedder, "misses", 0)
    say = progress or (lambda what, done, total: None)
    for ct, ov, hc in chunkings(grid):
        configs = [c for c in grid if c.chunking == (ct, ov, hc)]
        # uri=None: the scratch indexes stay in tune_dir, never in a shared retrieval.uri index
        s_chunk = dataclasses.replace(current, chunk_tokens=ct, overlap_tokens=ov, heading_context=hc, uri=None)
        data_dir = tune_dir / (f"chunks-{ct}-{ov}-{s_chunk.min_tokens()}" + ("" if hc else "-no-heading"))
        what = f"chunk={ct}/{ov}" + ("" if hc else " no-heading")
        say(f"indexing {what}", 0, len(labelled))
        rep = ingest(list(paths), data_dir, s_chunk, embedder=embedder, bases=list(bases), cancel=cancel)
        if cancel is not None and cancel.is_set() or getattr(rep, "cancelled", False):
            res.cancelled = True
            break
        index = Index.open(data_dir, current.embedding_model)
        if not res.rows and not res.notes:  # once: labels the corpus does not hold score 0 everywhere
            res.notes += _unindexed_labels_note(labelled, index)
        per: dict[TuneConfig, list[dict[str, Any]]] = {c: [] for c in configs}
        for i, case in enumerate(labelled):
            if cancel is not None and cancel.is_set():
                res.cancelled = True
                break
            q = case_question(case)
            rel = [_norm(r) for r in case.relevant]
            vec = embedder.encode_query(q)
            depth = max(current.candidates, k)
            dense_rows = index.dense(vec, depth, where)
            fts_rows = index.fts(q, depth, where)
            sims = {
                kind: doc_similarities(index, vec, dense_rows, kind)
                for kind in {c.doc_vector for c in configs if c.doc_weight}
            }
            for c in configs:
                s = c.settings(current)
                doc_sims = sims[c.doc_vector] if c.doc_weight else None
                hits = fuse(dense_rows, fts_rows, s, fuse_depth=s.candidates, doc_sims=doc_sims)
                ranked = sorted((h for h in hits if h.rank_in(c.mode) is not None), key=lambda h: _sort_key(h, c.mode))
                per[c].append(case_metrics([(h.chunk_id, h.path) for h in ranked], rel, k))
            say(f"scoring {what}", i + 1, len(labelled))
        if res.cancelled:
            break
        for c in configs:
            res.rows.append(TuneRow(c, mean_metrics(per[c]), [m["ndcg@10"] for m in per[c]]))
    base = next((r for r in res.rows if r.config == cur), None)
    if base is not None:
        for i, r in enumerate(res.rows):
            r.delta = paired_delta_ci(r.ndcg, base.ndcg, seed=i) if r is not base else (0.0, 0.0, 0.0)
    else:
        res.notes.append("the current settings were not scored (cancelled first): no deltas")
    res.rows.sort(key=lambda r: (-r.metrics["ndcg@10"], -r.metrics["mrr@10"]))
    res.seconds = time.perf_counter() - t0
    res.embedded = getattr(embedder, "misses", 0) - misses0
    return res
