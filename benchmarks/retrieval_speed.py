"""Retrieval speed: ingest overhead over bare encoding, and query latency at 10k / 100k chunks.

1. Ingest throughput. The same chunk texts are embedded by bare
   `SentenceTransformer.encode(texts, batch_size=32)` (the baseline, in this same run) and by the
   whole `ingest()` pipeline (read, hash, chunk, embed, LanceDB commits, full-text index, meta).
   Target (issue 3): the pipeline adds under 15% over encoding alone. The baseline runs before
   AND after the pipeline and the mean is used, because this 2-core box is shared and load
   drifts; both are printed.
2. Query latency, model already loaded, at 10k and 100k chunks. The index-size part uses
   SYNTHETIC rows: texts sampled from the real sample-corpus chunks (so full-text search sees a
   realistic vocabulary) and synthetic vectors. `--vectors perturbed` (default): a real chunk
   embedding plus Gaussian noise (cosine ~0.78 to its source), i.e. clustered like real
   embeddings; `--vectors random`: uniform random unit vectors, no structure at all - the worst
   case for an ANN index's recall. Either way recall@10 of the vector index against an exact scan
   is printed next to the latency. Queries are the sample eval set's questions, embedded by the
   real model (embedding time is included: it is part of every dense/hybrid query).
   search() always runs both the vector and the BM25 search (every result shows its rank under
   each method), so a dense, fts or hybrid query costs the same; the parts are timed inside it.
   Target: hybrid p50 under 50 ms at 100k on this 2-core machine. This box is shared with other
   jobs (load average 4-10 while this was written), so wall times swing with the load, the query
   embedding most (torch's threads wait on each other when cores are taken); each part of a
   search is therefore timed separately. (Per-query CPU time is no help here: torch's threads
   spin while they wait, so it grows with the load too.)

`--fts OPTION=VALUE` times another full-text index (e.g. `--fts base_tokenizer=ngram`, trigrams).

Run from the repository root: `python benchmarks/retrieval_speed.py [--quick]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from workbench.core.evals.evalset import load_evalset  # noqa: E402
from workbench.core.retrieval.chunking import chunk_with, doc_window_text, tokens_for  # noqa: E402
from workbench.core.retrieval.documents import Document, discover, read_document  # noqa: E402
from workbench.core.retrieval.embedder import get_embedder  # noqa: E402
from workbench.core.retrieval.index import INDEX_VERSION, TABLE, Index, _schema, now_iso  # noqa: E402
from workbench.core.retrieval.ingest import ingest  # noqa: E402
from workbench.core.retrieval.search import search  # noqa: E402
from workbench.core.retrieval.settings import RetrievalSettings  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def ingest_overhead(corpus: Path, n_docs: int, settings: RetrievalSettings) -> None:
    emb = get_embedder()
    sources, _ = discover([corpus])
    # a subset of documents (alphabetical) to keep the run a few minutes on a loaded box
    sub = Path(tempfile.mkdtemp(prefix="wb_speed_corpus_"))
    for s in sources[:n_docs]:
        (sub / s.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.file, sub / s.path)
    tokens = tokens_for(str(emb.path))
    texts, windows = [], []
    for s in sources[:n_docs]:
        d = read_document(s, 50_000_000)
        if isinstance(d, Document):
            cs = chunk_with(d, settings, tokens)
            texts += [c.embed_text for c in cs]
            windows.append(doc_window_text(d, cs, emb.max_seq_length, tokens))
    # ingest also embeds each document's first window (retrieval.doc_vector) unless it is the
    # document's only chunk: the baseline encodes the same texts, so the ratio is overhead only
    windows = list(dict.fromkeys(w for w in windows if w not in set(texts)))
    emb.encode(texts[:8])  # warm-up (first call initialises torch kernels)

    cpu: dict[str, float] = {}

    def bare(tag: str) -> float:
        t, c = time.perf_counter(), time.process_time()
        emb.model.encode(texts + windows, batch_size=32, show_progress_bar=False)
        cpu[tag] = time.process_time() - c
        return time.perf_counter() - t

    b1 = bare("before")
    data = Path(tempfile.mkdtemp(prefix="wb_speed_data_"))
    c = time.process_time()
    rep = ingest([sub], data, settings, embedder=emb)
    cpu["ingest"] = time.process_time() - c
    b2 = bare("after")
    assert rep.chunks_embedded == len(texts), (rep.chunks_embedded, len(texts))
    assert rep.windows_embedded == len(windows), (rep.windows_embedded, len(windows))
    base = (b1 + b2) / 2
    print(f"ingest: {n_docs} docs, {len(texts)} chunks + {len(windows)} document windows")
    print(
        f"  bare SentenceTransformer.encode: {b1:.1f} s before, {b2:.1f} s after "
        f"-> {len(texts) / base:.1f} chunks/s (mean)"
    )
    print(
        f"  workbench ingest():              {rep.seconds:.1f} s -> {len(texts) / rep.seconds:.1f} chunks/s "
        f"(of which encode {rep.embed_seconds:.1f} s)"
    )
    print(
        f"  ratio ingest / bare encode: {rep.seconds / base:.3f}  (overhead {100 * (rep.seconds / base - 1):+.1f}%; "
        f"target < +15%)"
    )
    cbase = (cpu["before"] + cpu["after"]) / 2
    print(
        f"  CPU time (all threads): bare {cpu['before']:.1f} s / {cpu['after']:.1f} s, ingest {cpu['ingest']:.1f} s "
        f"-> ratio {cpu['ingest'] / cbase:.3f}"
    )
    t = time.perf_counter()
    again = ingest([sub], data, settings, embedder=emb)
    print(
        f"  re-ingest with nothing changed: {time.perf_counter() - t:.2f} s "
        f"({again.chunks_embedded} chunks embedded; {rep.seconds / max(again.seconds, 1e-9):.0f}x faster than the first run)"
    )
    shutil.rmtree(sub, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)


def synthetic_vectors(n: int, dim: int, kind: str, real: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    if kind == "random" or real is None or not len(real):
        vecs = rng.standard_normal((n, dim)).astype(np.float32)
    else:
        noise = rng.standard_normal((n, dim)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        vecs = real[rng.integers(0, len(real), n)] + 0.8 * noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs.astype(np.float32)


def synthetic_index(
    data: Path,
    n: int,
    pool: list[tuple[str, str]],
    vecs: np.ndarray,
    rng: np.random.Generator,
    fts_options: dict | None = None,
) -> Index:
    import pyarrow as pa

    dim = vecs.shape[1]

    idx = Index.create(
        data,
        {
            "index_version": INDEX_VERSION,
            "embedding_model": "all-MiniLM-L6-v2",
            "dimension": dim,
            "chunking": {},
            "created_at": now_iso(),
            "state": "ready",
        },
    )
    picks = rng.integers(0, len(pool), n)
    heading = [pool[i][0] for i in picks]
    text = [pool[i][1] for i in picks]
    table = pa.table(
        {
            "chunk_id": [f"doc{i // 20}.md#{i % 20}" for i in range(n)],
            "path": [f"doc{i // 20}.md" for i in range(n)],
            "n": pa.array([i % 20 for i in range(n)], pa.int32()),
            "heading_path": heading,
            "text": text,
            "search_text": [f"{h}\n\n{t}" for h, t in zip(heading, text, strict=True)],
            "char_start": pa.array([0] * n, pa.int32()),
            "char_end": pa.array([len(t) for t in text], pa.int32()),
            "line_start": pa.array([1] * n, pa.int32()),
            "line_end": pa.array([1] * n, pa.int32()),
            "chunk_hash": ["0"] * n,
            "file_hash": ["0"] * n,
            "n_tokens": pa.array([0] * n, pa.int32()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), dim),
            # each synthetic document's first chunk carries its document vector, as ingest writes
            "doc_vector": pa.array(
                [vecs[i].tolist() if i % 20 == 0 else None for i in range(n)], pa.list_(pa.float32())
            ),
        },
        schema=_schema(dim),
    )
    idx._table = idx._db.create_table(TABLE, data=table, schema=_schema(dim))
    idx.rebuild_fts()
    if fts_options:  # another full-text index than ingest builds (--fts)
        from lancedb.index import FTS

        idx.table.create_index("search_text", config=FTS(**fts_options), replace=True)
    idx.ensure_vector_index()
    idx.write_meta()
    return Index.open(data)


def real_vectors(pool: list[tuple[str, str]], emb) -> np.ndarray:
    """Real chunk embeddings: from the sample project's index if built, else embed 256 chunks."""
    try:
        idx = Index.open(ROOT / "sample_data" / ".workbench", "all-MiniLM-L6-v2")
        col = idx.table.search().select(["vector"]).limit(None).to_arrow().column("vector")
        return np.stack(col.to_numpy(zero_copy_only=False)).astype(np.float32)
    except Exception:
        return emb.encode([f"{h}\n\n{t}" for h, t in pool[:256]])


def query_latency(
    sizes: list[int], questions: list[str], settings: RetrievalSettings, kind: str, fts_options: dict | None = None
) -> None:
    emb = get_embedder()
    # text pool: the real chunks of the sample corpus
    sources, _ = discover([ROOT / "sample_data" / "docs"])
    tokens = tokens_for(str(emb.path))
    pool = []
    for s in sources:
        d = read_document(s, 50_000_000)
        if isinstance(d, Document):
            pool += [(c.heading_path, c.text) for c in chunk_with(d, settings, tokens)]
    rng = np.random.default_rng(0)
    real = real_vectors(pool, emb) if kind == "perturbed" else None
    qvecs = [emb.encode_query(q) for q in questions]  # warm
    for n in sizes:
        data = Path(tempfile.mkdtemp(prefix=f"wb_speed_{n}_"))
        t = time.perf_counter()
        idx = synthetic_index(data, n, pool, synthetic_vectors(n, emb.dimension, kind, real, rng), rng, fts_options)
        build = time.perf_counter() - t
        ann = idx.has_vector_index()
        # search() always computes both candidate lists (so every result shows every method's
        # rank), so dense, fts and hybrid queries cost the same; the parts are timed inside it
        lat: dict[str, list[float]] = {"embed": [], "dense": [], "fts": [], "fuse": [], "total": [], "index": []}
        recalls = []
        for q, qv in zip(questions, qvecs, strict=True):
            res = search(q, idx, settings, embedder=emb, mode="hybrid")
            for part in ("embed", "dense", "fts", "fuse"):
                lat[part].append(res.timings_ms[part])
            lat["total"].append(res.latency_ms)
            lat["index"].append(res.latency_ms - res.timings_ms["embed"])
            if ann:
                exact = (
                    idx.table.search(qv, vector_column_name="vector")
                    .distance_type("cosine")
                    .bypass_vector_index()
                    .select(["chunk_id", "_distance"])
                    .limit(10)
                    .to_list()
                )
                got = {r["chunk_id"] for r in idx.dense(qv, 10)}
                recalls.append(len(got & {r["chunk_id"] for r in exact}) / 10)
        print(
            f"{n:>7} chunks (synthetic, {kind} vectors, built in {build:.1f} s, vector index: "
            f"{idx.vector_index_desc() if ann else 'none, exact scan'}"
            + (f", recall@10 vs exact {statistics.mean(recalls):.3f}" if recalls else "")
            + ")"
        )
        notes = {
            "embed": "query embedding (model loaded)",
            "dense": "vector search, top 50",
            "fts": "BM25 search, top 50",
            "fuse": "RRF over both lists",
            "index": "everything but the embedding",
            "total": "one search(): what a dense, fts or hybrid query costs",
        }
        for name, note in notes.items():
            print(f"    {name:<6} p50 {pct(lat[name], 0.5):7.1f} ms   p95 {pct(lat[name], 0.95):7.1f} ms   ({note})")
        shutil.rmtree(data, ignore_errors=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=8, help="documents of the sample corpus to ingest (default 8)")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--quick", action="store_true", help="fewer documents and queries")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--vectors", choices=("perturbed", "random"), default="perturbed")
    ap.add_argument("--fts", action="append", default=[], metavar="OPTION=VALUE", help="a LanceDB FTS() option")
    args = ap.parse_args(argv)
    fts = dict(kv.partition("=")[::2] for kv in args.fts)  # string values, e.g. base_tokenizer=ngram
    settings = RetrievalSettings()
    get_embedder()
    if not args.skip_ingest:
        ingest_overhead(ROOT / "sample_data" / "docs", 3 if args.quick else args.docs, settings)
    if not args.skip_latency:
        evalset = load_evalset(ROOT / "sample_data" / "evals" / "sqlite_qa.yaml")
        questions = [c.inputs["question"] for c in evalset.cases][: 15 if args.quick else 50]
        print(
            f"query latency ({len(questions)} questions, k={settings.k}, {settings.candidates} candidates per method):"
        )
        query_latency([int(s) for s in args.sizes.split(",")], questions, settings, args.vectors, fts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
