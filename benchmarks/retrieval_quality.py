"""Retrieval quality on every labelled set: each search mode vs plain whole-document search.

The bar (issues 3 and 13): on every set, the default settings must score at least plain
whole-document all-MiniLM-L6-v2 search on nDCG@10. The baseline is measured here, in the same run,
on the same questions: every document embedded whole (the model truncates it at its 256
word-pieces, as a naive pipeline would), ranked by cosine similarity to the question.

Sets: the sample (SQLite docs, sample_data/) and the sets benchmarks/retrieval_sets.py builds
from corpora nobody tuned for (man pages, Python docstrings). Per set and method: nDCG@10,
recall@k, MRR@10, each with a 95% bootstrap CI over questions, and the nDCG@10 ratio to the
baseline with a paired bootstrap CI (the same resampled questions on both sides).

`--variants` also scores candidate rankings computed from the same candidate lists (document
vector weight, fusion weights, score-normalised fusion): how the defaults were chosen.
`--fts OPTION=VALUE` builds the full-text index with other LanceDB FTS() options (e.g.
`--fts base_tokenizer=ngram`, character trigrams) on a copy of each set's index.

Run from the repository root: `python benchmarks/retrieval_quality.py [--sets a,b] [--variants]`.
Indexes and an embedding cache live in benchmarks/.workbench/ (git-ignored), so a second run,
or a run with another chunking, embeds only texts it has not seen.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import retrieval_sets  # noqa: E402

from workbench.core.evals.evalset import load_evalset  # noqa: E402
from workbench.core.retrieval.bootstrap import is_real, mean_ci, paired_delta_ci, ratio_ci  # noqa: E402
from workbench.core.retrieval.documents import Document, discover, read_document  # noqa: E402
from workbench.core.retrieval.embed_cache import CachedEmbedder  # noqa: E402
from workbench.core.retrieval.embedder import get_embedder  # noqa: E402
from workbench.core.retrieval.index import Index, IndexMismatch  # noqa: E402
from workbench.core.retrieval.ingest import ingest  # noqa: E402
from workbench.core.retrieval.metrics import case_metrics  # noqa: E402
from workbench.core.retrieval.search import Hit, doc_vectors, search  # noqa: E402
from workbench.core.retrieval.settings import MODES, RetrievalSettings  # noqa: E402

WORK = ROOT / "benchmarks" / ".workbench"
SHOWN = ("ndcg@10", "recall@k", "mrr@10")
BASELINE = "whole-doc"


def set_paths(name: str) -> tuple[Path, Path]:
    if name == "sample":
        return ROOT / "sample_data" / "docs", ROOT / "sample_data" / "evals" / "sqlite_qa.yaml"
    folder = retrieval_sets.build(names=(name,))[name]
    return folder / "docs", folder / "evalset.yaml"


def run_set(
    name: str,
    settings: RetrievalSettings,
    embedder: CachedEmbedder,
    k: int,
    variants: bool,
    fts_options: dict[str, Any] | None = None,
) -> tuple[dict[str, list[dict]], int, int]:
    """Per method, the per-case metrics (same case order for every method). `fts_options`:
    LanceDB FTS() options for the full-text index instead of the ones ingest uses."""
    corpus, evalset_path = set_paths(name)
    tag = "-".join(f"{v}" for v in settings.chunking_key().values())
    if fts_options:  # its own copy of the index, so the plain one keeps its full-text index
        tag += "-fts-" + "-".join(f"{key}={val}" for key, val in sorted(fts_options.items()))
    data_dir = WORK / "retrieval" / f"{name}-{tag}"
    try:
        ingest([corpus], data_dir, settings, embedder=embedder)  # type: ignore[arg-type]
    except IndexMismatch:  # an index from an older layout (index.INDEX_VERSION): rebuild it
        ingest([corpus], data_dir, settings, embedder=embedder, reindex=True)  # type: ignore[arg-type]
    index = Index.open(data_dir, settings.embedding_model)
    if fts_options:
        from lancedb.index import FTS

        index.table.create_index("search_text", config=FTS(**fts_options), replace=True)
        index = Index.open(data_dir, settings.embedding_model)
    cases = [c for c in load_evalset(str(evalset_path)).cases if c.relevant]
    out: dict[str, list[dict]] = {}

    # baseline: whole documents, truncated by the model
    sources, _ = discover([corpus])
    docs = [d for d in (read_document(s, 50_000_000) for s in sources) if isinstance(d, Document)]
    doc_vecs = embedder.encode([d.text for d in docs], batch_size=16)
    qvecs = embedder.encode([c.inputs["question"] for c in cases], batch_size=32)
    for c, qv in zip(cases, qvecs, strict=True):
        order = (doc_vecs @ qv).argsort()[::-1]
        out.setdefault(BASELINE, []).append(
            case_metrics([(docs[i].path, docs[i].path) for i in order], list(c.relevant), k)
        )

    extra = _variant_rankers(index) if variants else {}
    for c in cases:
        res = search(c.inputs["question"], index, settings, embedder=embedder, mode="hybrid", k=k)  # type: ignore[arg-type]
        for m in MODES:
            out.setdefault(m, []).append(
                case_metrics([(h.chunk_id, h.path) for h in res.ranking(m)], list(c.relevant), k)
            )
        qv = embedder.encode_query(c.inputs["question"])
        for vname, fn in extra.items():
            out.setdefault(vname, []).append(
                case_metrics([(h.chunk_id, h.path) for h in fn(res.candidates, qv)], list(c.relevant), k)
            )
    return out, len(docs), index.count()


def _variant_rankers(index: Index) -> dict[str, Callable[[list[Hit], np.ndarray], list[Hit]]]:
    """Alternative rankings of the same candidates, for choosing defaults."""
    vecs_of = {}
    for kind in ("chunk-mean", "first-window"):
        rows_of, mat = doc_vectors(index, kind)
        vecs_of[kind] = {p: mat[i] for p, i in rows_of.items()}
    centroid, first = vecs_of["chunk-mean"], vecs_of["first-window"]
    tbl = index.table.to_arrow().select(["path"]).to_pydict()
    n_chunks: dict[str, int] = {}
    for p in tbl["path"]:
        n_chunks[p] = n_chunks.get(p, 0) + 1

    def dense_plus(vecs: dict, w: float) -> Callable:
        def rank(cands: list[Hit], qv: np.ndarray) -> list[Hit]:
            ds = [h for h in cands if h.dense_score is not None]
            return sorted(ds, key=lambda h: -(h.dense_score + w * float(vecs[h.path] @ qv)))

        return rank

    def hybrid_rrf(w_f: float, rrf_k: int, w_doc: float, vecs: dict | None = None) -> Callable:
        def rank(cands: list[Hit], qv: np.ndarray) -> list[Hit]:
            dense = (
                dense_plus(first if vecs is None else vecs, w_doc)(cands, qv)
                if w_doc
                else sorted([h for h in cands if h.dense_score is not None], key=lambda h: -h.dense_score)
            )
            dr = {h.chunk_id: i + 1 for i, h in enumerate(dense)}

            def s(h: Hit) -> float:
                return (1 / (rrf_k + dr[h.chunk_id]) if h.chunk_id in dr else 0) + (
                    w_f / (rrf_k + h.fts_rank) if h.fts_rank else 0
                )

            return sorted(cands, key=lambda h: -s(h))

        return rank

    def hybrid_norm(w_f: float, w_doc: float) -> Callable:
        def rank(cands: list[Hit], qv: np.ndarray) -> list[Hit]:
            d = {
                h.chunk_id: h.dense_score + w_doc * float(first[h.path] @ qv)
                for h in cands
                if h.dense_score is not None
            }
            f = {h.chunk_id: h.fts_score for h in cands if h.fts_score is not None}

            def norm(x: dict) -> dict:
                if not x:
                    return {}
                lo, hi = min(x.values()), max(x.values())
                return {c: (v - lo) / (hi - lo or 1.0) for c, v in x.items()}

            dn, fn_ = norm(d), norm(f)
            return sorted(cands, key=lambda h: -(dn.get(h.chunk_id, 0) + w_f * fn_.get(h.chunk_id, 0)))

        return rank

    def dense_lenprior(beta: float) -> Callable:
        def rank(cands: list[Hit], qv: np.ndarray) -> list[Hit]:
            ds = [h for h in cands if h.dense_score is not None]
            return sorted(ds, key=lambda h: -(h.dense_score - beta * np.log(n_chunks.get(h.path, 1))))

        return rank

    out: dict[str, Callable] = {}
    for w in (0.5, 1.0, 2.0):
        out[f"dense+mean*{w}"] = dense_plus(centroid, w)
        out[f"dense+firstwin*{w}"] = dense_plus(first, w)
    out["dense-0.02*log(n)"] = dense_lenprior(0.02)
    for w_f, rrf_k in ((0.5, 60), (0.25, 60), (0.5, 10), (0.25, 10)):
        for w_doc in (0.0, 0.5, 1.0):
            out[f"rrf f={w_f} k={rrf_k} firstwin={w_doc}"] = hybrid_rrf(w_f, rrf_k, w_doc)
        out[f"rrf f={w_f} k={rrf_k} mean=0.5"] = hybrid_rrf(w_f, rrf_k, 0.5, centroid)
    for w_f in (0.1, 0.2, 0.3, 0.5):
        out[f"minmax f={w_f} firstwin=0.5"] = hybrid_norm(w_f, 0.5)
    return out


def fmt_ci(vals: list[float], seed: int) -> str:
    m, lo, hi = mean_ci(vals, seed=seed)
    return f"{m:.3f} [{lo:.3f},{hi:.3f}]"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(("sample",) + retrieval_sets.SETS + retrieval_sets.HELDOUT_SETS))
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--chunk-tokens", type=int, default=RetrievalSettings.chunk_tokens)
    ap.add_argument("--overlap-tokens", type=int, default=RetrievalSettings.overlap_tokens)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a retrieval setting (e.g. doc_weight=0, fts_weight=0.5)",
    )
    ap.add_argument("--variants", action="store_true", help="also score alternative rankings")
    ap.add_argument(
        "--fts",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a LanceDB FTS() option for the full-text index (e.g. base_tokenizer=ngram, stem=false)",
    )
    args = ap.parse_args(argv)
    fts_options: dict[str, Any] = {}
    for kv in args.fts:
        key, _, val = kv.partition("=")
        fts_options[key] = {"true": True, "false": False}.get(val.lower(), int(val) if val.isdigit() else val)

    settings = RetrievalSettings(k=args.k, chunk_tokens=args.chunk_tokens, overlap_tokens=args.overlap_tokens)
    types = {f.name: f.type for f in dataclasses.fields(RetrievalSettings)}
    for kv in args.set:
        key, _, val = kv.partition("=")
        cur = getattr(settings, key)
        setattr(settings, key, type(cur)(val) if cur is not None else val)
    t0 = time.perf_counter()
    embedder = CachedEmbedder(get_embedder(), WORK / "embed_cache.sqlite")
    print(
        f"settings: mode={settings.mode} chunk_tokens={settings.chunk_tokens} overlap={settings.overlap_tokens} "
        f"dense_weight={settings.dense_weight} fts_weight={settings.fts_weight} rrf_k={settings.rrf_k} "
        + " ".join(f"{k}={getattr(settings, k)}" for k in ("doc_weight", "doc_vector", "fusion") if k in types)
        + (f" full-text index FTS({fts_options})" if fts_options else "")
    )
    summary = []
    for s_i, name in enumerate(args.sets.split(",")):
        ts = time.perf_counter()
        per, n_docs, n_chunks = run_set(name, settings, embedder, args.k, args.variants, fts_options)
        n = len(per[BASELINE])
        print(f"\n[{name}: {n} questions, {n_docs} docs, {n_chunks} chunks, {time.perf_counter() - ts:.0f} s]")
        print(
            f"{'method':<24}"
            + "".join(f"{x.replace('@k', f'@{args.k}'):>22}" for x in SHOWN)
            + f"{'nDCG ratio vs whole-doc':>30}"
            + f"{'nDCG Δ vs ' + settings.mode + ' (paired)':>30}"
        )
        base = [c["ndcg@10"] for c in per[BASELINE]]
        own = [c["ndcg@10"] for c in per[settings.mode]]
        for method, rows in per.items():
            line = f"{method:<24}" + "".join(f"{fmt_ci([r[x] for r in rows], 7 + s_i):>22}" for x in SHOWN)
            if method != BASELINE:
                r, lo, hi = ratio_ci([r["ndcg@10"] for r in rows], base, seed=11 + s_i)
                line += f"{r:>12.3f} [{lo:.3f},{hi:.3f}]"
                if method == settings.mode:
                    summary.append((name, r, lo, hi))
                else:  # "*": the interval excludes 0, a real difference from the default mode
                    d, dlo, dhi = paired_delta_ci([r["ndcg@10"] for r in rows], own, seed=13 + s_i)
                    line += f"{d:>+12.3f} [{dlo:+.3f},{dhi:+.3f}]{'*' if is_real(dlo, dhi) else ''}"
            print(line)
    print(
        f"\ndefault mode ({settings.mode}) nDCG@10 / whole-doc: "
        + ", ".join(
            f"{n}{' (held out)' if n in retrieval_sets.HELDOUT_SETS else ''} {r:.3f} [{lo:.3f},{hi:.3f}]"
            for n, r, lo, hi in summary
        )
    )
    print(f"embedding cache: {embedder.hits} hits, {embedder.misses} encoded; total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
