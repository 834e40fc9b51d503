"""Dense, full-text and hybrid search that shows where every chunk ranked under every method.

Details: docs/NOTES.md, section core/retrieval/search.py.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.core.markdown import fence_marker
from workbench.core.retrieval.embedder import Embedder, get_embedder
from workbench.core.retrieval.index import Index, check_compatible, path_filter, path_matches
from workbench.core.retrieval.settings import MODES, RetrievalSettings


@dataclass
class Hit:
    """One chunk with its rank and score under each method (None: not in that method's list)."""

    chunk_id: str
    path: str
    heading_path: str
    line_start: int
    line_end: int
    text: str
    n: int = 0
    char_start: int = 0
    char_end: int = 0
    dense_score: float | None = None
    dense_rank: int | None = None
    fts_score: float | None = None
    fts_rank: int | None = None
    fused_score: float = 0.0
    hybrid_rank: int | None = None
    rank: int = 0  # final rank under the result's mode (1-based); 0: not in its top k
    doc_score: float | None = None  # cosine of the query and the chunk's whole document (doc_weight)

    def rank_in(self, mode: str) -> int | None:
        return {"dense": self.dense_rank, "fts": self.fts_rank, "hybrid": self.hybrid_rank}[mode]

    def score_in(self, mode: str) -> float | None:
        return {"dense": self.dense_score, "fts": self.fts_score, "hybrid": self.fused_score}[mode]

    def to_dict(self, with_text: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not with_text:
            d.pop("text")
        return d


@dataclass
class SearchResult:
    query: str
    mode: str
    k: int
    hits: list[Hit]  # the top k under `mode`, ranks 1..k
    candidates: list[Hit]  # every chunk either method returned (dense ∪ fts), hybrid order
    latency_ms: float
    timings_ms: dict[str, float] = field(default_factory=dict)  # embed / dense / fts / fuse
    index_version: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    path_glob: str | None = None
    index_build: str | None = None  # Index.build_id: with index_version, names the exact contents

    def ranking(self, mode: str) -> list[Hit]:
        """All candidates that `mode` ranked, best first."""
        ranked = [(rank, h) for h in self.candidates if (rank := h.rank_in(mode)) is not None]
        return [h for _, h in sorted(ranked, key=lambda pair: pair[0])]

    def top(self, mode: str, k: int | None = None) -> list[Hit]:
        return self.ranking(mode)[: k or self.k]

    def to_dict(self, per_mode: int | None = None) -> dict[str, Any]:
        """JSON-able: the hits, plus each method's top list (chunk ids) and every candidate used."""
        per_mode = per_mode or self.k
        shown: dict[str, Hit] = {}
        tops = {}
        for mode in MODES:
            top = self.top(mode, per_mode)
            tops[mode] = [h.chunk_id for h in top]
            for h in top:
                shown[h.chunk_id] = h
        return {
            "query": self.query,
            "mode": self.mode,
            "k": self.k,
            "latency_ms": round(self.latency_ms, 2),
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "index_version": self.index_version,
            "index_build": self.index_build,
            "path_glob": self.path_glob,
            "settings": self.settings,
            "hits": [h.to_dict() for h in self.hits],
            "top": tops,
            "chunks": {cid: h.to_dict() for cid, h in shown.items()},
        }


def search(
    query: str,
    index: Index,
    settings: RetrievalSettings,
    *,
    mode: str | None = None,
    k: int | None = None,
    path_glob: str | None = None,
    depth: int | None = None,
    embedder: Embedder | None = None,
    root: Any = None,
) -> SearchResult:
    """Search `index` under `mode` (default settings.mode); see the module docstring.

    `path_glob` (default settings.path_glob) restricts to documents whose path matches (fnmatch
    style, "*" crosses "/"). `depth` is how far down each method's list goes (default
    settings.candidates, at least k). Raises IndexMismatch if the embedder's dimension differs
    from the index's, IndexUnavailable if a query fails on a broken index.
    """
    t0 = time.perf_counter()
    mode = mode or settings.mode
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    k = k or settings.k
    glob = path_glob if path_glob is not None else settings.path_glob
    depth = max(depth or settings.candidates, k)
    where = path_filter(glob)
    timings: dict[str, float] = {}

    if embedder is None:
        embedder = get_embedder(settings.embedding_model, root)
    # a model with another dimension than the index's would fail deep inside LanceDB: say why
    check_compatible(index.meta, None, embedder.dimension, index.dir / "meta.json")

    t = time.perf_counter()
    vec = embedder.encode_query(query)
    timings["embed"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    dense_rows = index.dense(vec, depth, where)
    timings["dense"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    fts_rows = index.fts(query, depth, where)
    timings["fts"] = (time.perf_counter() - t) * 1000

    t = time.perf_counter()
    doc_sims = doc_similarities(index, vec, dense_rows, settings.doc_vector) if settings.doc_weight > 0 else None
    hits = fuse(dense_rows, fts_rows, settings, fuse_depth=settings.candidates, doc_sims=doc_sims)
    if glob:  # belt and braces: the where clause already filtered
        hits = [h for h in hits if path_matches(h.path, glob)]
    ordered = sorted((h for h in hits if h.rank_in(mode) is not None), key=lambda h: _sort_key(h, mode))
    for i, h in enumerate(ordered[:k]):
        h.rank = i + 1  # on the candidate too: to_dict's `chunks` are candidates, not the copies
    top = [Hit(**asdict(h)) for h in ordered[:k]]
    timings["fuse"] = (time.perf_counter() - t) * 1000
    return SearchResult(
        query=query,
        mode=mode,
        k=k,
        hits=top,
        candidates=hits,
        latency_ms=(time.perf_counter() - t0) * 1000,
        timings_ms=timings,
        index_version=index.version,
        settings=settings.to_dict(),
        path_glob=glob,
        index_build=index.build_id,
    )


def fuse(
    dense_rows: list[dict[str, Any]],
    fts_rows: list[dict[str, Any]],
    settings: RetrievalSettings,
    fuse_depth: int | None = None,
    doc_sims: dict[str, float] | None = None,
) -> list[Hit]:
    """Merge the two candidate lists into Hits carrying both ranks and the RRF fused score.

    Only ranks <= `fuse_depth` contribute to the fused score, so searching deeper (why-not
    reports look at the top 100) shows deeper dense/fts ranks without changing hybrid ranks:
    hybrid can only rank what either method put in its top `candidates`. `doc_sims` (path ->
    document cosine) re-orders the dense list by cosine + settings.doc_weight x document cosine.
    """
    by_id: dict[str, Hit] = {}
    if doc_sims:
        w = settings.doc_weight
        dense_rows = sorted(
            dense_rows,
            key=lambda r: -((1.0 - float(r.get("_distance", 1.0))) + w * doc_sims.get(r["path"], 0.0)),
        )

    def hit_for(row: dict[str, Any]) -> Hit:
        cid = row["chunk_id"]
        if cid not in by_id:
            by_id[cid] = Hit(
                chunk_id=cid,
                path=row["path"],
                heading_path=row.get("heading_path") or "",
                line_start=int(row.get("line_start") or 0),
                line_end=int(row.get("line_end") or 0),
                text=row.get("text") or "",
                n=int(row.get("n") or 0),
                char_start=int(row.get("char_start") or 0),
                char_end=int(row.get("char_end") or 0),
            )
        return by_id[cid]

    for i, row in enumerate(dense_rows):
        h = hit_for(row)
        h.dense_rank = i + 1
        h.dense_score = 1.0 - float(row.get("_distance", 1.0))
        if doc_sims and row["path"] in doc_sims:
            h.doc_score = doc_sims[row["path"]]
    for i, row in enumerate(fts_rows):
        h = hit_for(row)
        h.fts_rank = i + 1
        h.fts_score = float(row.get("_score", 0.0))
    for h in by_id.values():
        s = 0.0
        limit = fuse_depth or 10**9
        if h.dense_rank is not None and h.dense_rank <= limit:
            s += settings.dense_weight / (settings.rrf_k + h.dense_rank)
        if h.fts_rank is not None and h.fts_rank <= limit:
            s += settings.fts_weight / (settings.rrf_k + h.fts_rank)
        h.fused_score = s
    hybrid = sorted(by_id.values(), key=lambda h: _sort_key(h, "hybrid"))
    for i, h in enumerate(hybrid):
        h.hybrid_rank = i + 1 if h.fused_score > 0 else None
    return hybrid


# --- document vectors -----------------------------------------------------------------------------

_DOC_VECS: dict[tuple[Any, ...], tuple[dict[str, int], Any]] = {}  # (dir, build, version, kind)
_DOC_LOCK = threading.Lock()


def doc_vectors(index: Index, kind: str = "chunk-mean") -> tuple[dict[str, int], Any]:
    """(path -> row, matrix of unit document vectors) of `kind` (settings.doc_vector).

    "first-window": the vectors ingest stored (index.py `doc_vector`). "chunk-mean": each
    document's mean chunk vector, from the index's own vectors: no extra ingest work, and it
    covers the whole document, ~0.1 s per 10k chunks. Either is read once per index contents
    (dir, build id, table version) and kept for the process.
    """
    import numpy as np

    key = (str(index.dir), index.build_id, index.version, kind)
    with _DOC_LOCK:
        got = _DOC_VECS.get(key)
    if got is not None:
        return got
    table = index.table
    if table is None:
        return {}, np.zeros((0, 1), dtype=np.float32)
    if kind == "first-window":
        paths, mat = index.doc_vector_rows()
        got = ({p: i for i, p in enumerate(paths)}, mat)
    else:
        tbl = table.search().select(["path", "vector"]).limit(None).to_arrow()
        paths = tbl.column("path").to_pylist()
        col = tbl.column("vector").combine_chunks()
        vecs = np.asarray(col.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(paths), -1)
        names, inverse = np.unique(np.asarray(paths, dtype=object), return_inverse=True)
        sums = np.zeros((len(names), vecs.shape[1]), dtype=np.float32)
        np.add.at(sums, inverse, vecs)
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        got = ({str(p): i for i, p in enumerate(names)}, sums)
    with _DOC_LOCK:
        for old in [k for k in _DOC_VECS if k[0] == key[0] and k[3] == kind]:
            del _DOC_VECS[old]  # an older version of the same index
        _DOC_VECS[key] = got
    return got


def doc_similarities(
    index: Index, query_vec: Any, rows: list[dict[str, Any]], kind: str = "chunk-mean"
) -> dict[str, float]:
    """Cosine of the query and the document vector (`kind`) of every path in `rows`."""
    rows_of, mat = doc_vectors(index, kind)
    out: dict[str, float] = {}
    for r in rows:
        p = r["path"]
        if p not in out and p in rows_of:
            out[p] = float(mat[rows_of[p]] @ query_vec)
    return out


def _sort_key(h: Hit, mode: str) -> tuple[Any, ...]:
    big = 10**9
    if mode == "dense":
        return (h.dense_rank or big, h.chunk_id)
    if mode == "fts":
        return (h.fts_rank or big, h.chunk_id)
    best = min(h.dense_rank or big, h.fts_rank or big)
    return (-h.fused_score, best, h.chunk_id)


def gold_ranks(result: SearchResult, gold: list[str]) -> dict[str, int | None]:
    """Per mode, the rank of the first gold unit (metrics.units: a document, or a chunk when
    `gold` names chunks) in that mode's whole candidate list; None when not in it."""
    from workbench.core.retrieval.metrics import first_rank, units

    return {m: first_rank(units([(h.chunk_id, h.path) for h in result.ranking(m)], gold), gold) for m in MODES}


# --- highlighting ------------------------------------------------------------------------------

_STOP = set(
    "a an and are as at be by can do does for from how i if in into is it its of on or that the "
    "their then there these this to was what when where which who why will with you your".split()
)
_WORD = re.compile(r"[A-Za-z0-9_]+")


def query_terms(query: str) -> list[str]:
    """Lower-cased content words of a query (stop words and 1-letter words dropped)."""
    terms = []
    for w in _WORD.findall(query.lower()):
        if len(w) > 1 and w not in _STOP and w not in terms:
            terms.append(w)
    return terms


def _stem(word: str) -> str:
    """A crude stem: drop one of -ing/-ed/-es/-s, then a final -e, so "reuse", "reused",
    "reuses" and "reusing" all stem to "reus" (and "table"/"tables" to "tabl")."""
    for suf in ("ing", "ed", "es", "s"):
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            word = word[: -len(suf)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def highlight_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Sorted, non-overlapping (start, end) spans of words in `text` matching a query term.

    A word matches when it equals a term or shares its crude stem ("tables" ~ "table",
    "indexed" ~ "index"), case-insensitively. Returns character offsets into `text`.
    """
    stems = {_stem(t) for t in query_terms(query)}
    if not stems:
        return []
    spans = []
    for m in _WORD.finditer(text):
        w = m.group(0).lower()
        if w in stems or _stem(w) in stems:
            spans.append(m.span())
    return spans


# --- markdown report ---------------------------------------------------------------------------


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def result_markdown(data: dict[str, Any], gold: list[str] | None = None, title: str | None = None) -> str:
    """A self-contained Markdown report of a search (SearchResult.to_dict() or a stored trace).

    Query, settings, then per mode the ranked chunks with every method's rank and score, and
    the chunk texts once each. `gold` (relevant doc paths or chunk ids; default the ones stored
    with the data) marks gold chunks and adds their ranks (`gold_ranks` in the data).
    """
    gold = gold or data.get("gold") or []
    chunks: dict[str, dict[str, Any]] = data.get("chunks", {})
    s = data.get("settings", {})
    lines = [f"# {title or 'Retrieval trace'}", ""]
    lines.append(f"**Query:** {data.get('query', '')}")
    lines.append("")
    lines.append(
        f"- mode `{data.get('mode')}`, k={data.get('k')}, latency {data.get('latency_ms', 0):.1f} ms, "
        f"index version {data.get('index_version')}"
    )
    lines.append(
        f"- embedding `{s.get('embedding_model')}`, chunk_tokens={s.get('chunk_tokens')}, "
        f"overlap={s.get('overlap_tokens')}, rrf_k={s.get('rrf_k')}, weights dense={s.get('dense_weight')} "
        f"fts={s.get('fts_weight')}" + (f", path filter `{data.get('path_glob')}`" if data.get("path_glob") else "")
    )
    if gold:
        lines.append(f"- gold: {', '.join(f'`{g}`' for g in gold)}")
        ranks = data.get("gold_ranks")
        if ranks:
            shown = ", ".join(f"{m} {r if r else 'not in candidates'}" for m, r in ranks.items())
            unit = "chunk" if any("#" in g for g in gold) else "document"
            lines.append(f"- gold {unit} rank: {shown}")
    lines.append("")

    def is_gold(c: dict[str, Any]) -> bool:
        return c["path"] in gold or c["chunk_id"] in gold

    for mode, ids in data.get("top", {}).items():
        lines.append(f"## {mode}")
        lines.append("")
        lines.append("| rank | chunk | heading | lines | dense (rank) | fts (rank) | fused (rank) |")
        lines.append("|---:|---|---|---|---|---|---|")
        for i, cid in enumerate(ids):
            c = chunks.get(cid, {"chunk_id": cid, "path": cid.split("#")[0]})
            mark = " **gold**" if gold and is_gold(c) else ""
            lines.append(
                f"| {i + 1} | `{cid}`{mark} | {_cell(c.get('heading_path', ''))} | "
                f"{c.get('line_start', '?')}-{c.get('line_end', '?')} | "
                f"{_fmt(c.get('dense_score'))} ({c.get('dense_rank') or '-'}) | "
                f"{_fmt(c.get('fts_score'), 2)} ({c.get('fts_rank') or '-'}) | "
                f"{_fmt(c.get('fused_score'), 4)} ({c.get('hybrid_rank') or '-'}) |"
            )
        if gold and not any(is_gold(chunks.get(cid, {"chunk_id": cid, "path": cid.split("#")[0]})) for cid in ids):
            lines.append("")
            lines.append(f"_No gold chunk in the top {len(ids)} under {mode}._")
        lines.append("")
    lines.append("## Chunks")
    lines.append("")
    for cid, c in chunks.items():
        text = c.get("text", "")
        fence = fence_marker(text)
        lines.append(f"### `{cid}` — {c.get('path')} lines {c.get('line_start')}-{c.get('line_end')}")
        if c.get("heading_path"):
            lines.append(f"_{c['heading_path']}_")
        lines.append("")
        lines.append(f"{fence}text\n{text}\n{fence}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
