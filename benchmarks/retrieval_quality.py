"""Retrieval quality on the sample corpus: each search mode vs plain whole-document search.

The bar (issue 3): chunking and fusion must not lose quality, i.e. the best mode's nDCG@10 must
be at least that of plain whole-document all-MiniLM-L6-v2 search on the same labelled data. The
baseline is measured here, in the same run, on the same questions: every document embedded
whole (so the model truncates it at its 256 word-pieces, as a naive pipeline would), documents
ranked by cosine similarity to the question.

Metrics are document-level (metrics.py): nDCG@10, MRR@10, hit@k, recall@k, by eval split
(train / heldout / all). `--sweep` also shows hybrid nDCG@10 over fusion weights and rrf_k,
computed from the same candidate lists (tune on train, read on heldout).

Run from the repository root: `python benchmarks/retrieval_quality.py [--k 5] [--sweep]`.
The index is built incrementally in --data-dir (default: sample_data/.workbench, the sample
project's own index), so a second run costs only the queries.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.core.evals.evalset import load_evalset  # noqa: E402
from workbench.core.retrieval.documents import Document, discover, read_document  # noqa: E402
from workbench.core.retrieval.embedder import get_embedder  # noqa: E402
from workbench.core.retrieval.index import Index  # noqa: E402
from workbench.core.retrieval.ingest import ingest  # noqa: E402
from workbench.core.retrieval.metrics import case_metrics, mean_metrics  # noqa: E402
from workbench.core.retrieval.search import search  # noqa: E402
from workbench.core.retrieval.settings import RetrievalSettings  # noqa: E402

SHOWN = ("ndcg@10", "mrr@10", "hit@k", "recall@k", "chunk_hit@k")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(ROOT / "sample_data" / "docs"))
    ap.add_argument("--evalset", default=str(ROOT / "sample_data" / "evals" / "sqlite_qa.yaml"))
    ap.add_argument("--data-dir", default=str(ROOT / "sample_data" / ".workbench"))
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--chunk-tokens", type=int, default=RetrievalSettings.chunk_tokens)
    ap.add_argument("--overlap-tokens", type=int, default=RetrievalSettings.overlap_tokens)
    ap.add_argument("--min-chunk-tokens", type=int, default=RetrievalSettings.min_chunk_tokens,
                    help="fold sections with fewer body tokens into the next (default: chunk_tokens/8; 0: off)")
    ap.add_argument("--sweep", action="store_true", help="hybrid nDCG@10 over fusion weights / rrf_k")
    args = ap.parse_args(argv)

    settings = RetrievalSettings(k=args.k, chunk_tokens=args.chunk_tokens, overlap_tokens=args.overlap_tokens,
                                 min_chunk_tokens=args.min_chunk_tokens)
    t0 = time.perf_counter()
    embedder = get_embedder()
    report = ingest([Path(args.corpus)], Path(args.data_dir), settings, embedder=embedder)
    print(f"index: {report.docs_total} docs, {report.chunks_total} chunks "
          f"(chunk_tokens={settings.chunk_tokens}, overlap={settings.overlap_tokens}, "
          f"min_chunk_tokens={settings.min_tokens()}); "
          f"ingest {report.seconds:.1f} s, {report.chunks_embedded} chunks embedded")
    index = Index.open(Path(args.data_dir), settings.embedding_model)

    evalset = load_evalset(args.evalset)
    cases = [c for c in evalset.cases if c.relevant]
    splits = {"all": cases, "train": [c for c in cases if c.split != "heldout"],
              "heldout": [c for c in cases if c.split == "heldout"]}

    # --- chunked modes: one search per case gives all three rankings ---------------------------
    per_case: dict[str, dict[str, dict]] = {}
    candidates: dict[str, list] = {}
    lat = []
    for c in cases:
        q = c.inputs["question"]
        res = search(q, index, settings, embedder=embedder, mode="hybrid")
        lat.append(res.latency_ms)
        candidates[c.id] = res.candidates
        per_case[c.id] = {
            m: case_metrics([(h.chunk_id, h.path) for h in res.ranking(m)], list(c.relevant), args.k)
            for m in ("dense", "fts", "hybrid")
        }

    # --- baseline: whole documents, truncated by the model -------------------------------------
    sources, _ = discover([Path(args.corpus)])
    docs = [d for d in (read_document(s, 50_000_000) for s in sources) if isinstance(d, Document)]
    tb = time.perf_counter()
    doc_vecs = embedder.encode([d.text for d in docs], batch_size=16)
    base_embed_s = time.perf_counter() - tb
    for c in cases:
        qv = embedder.encode_query(c.inputs["question"])
        order = (doc_vecs @ qv).argsort()[::-1]
        ranking = [(docs[i].path, docs[i].path) for i in order]
        per_case[c.id]["whole-doc dense"] = case_metrics(ranking, list(c.relevant), args.k)

    methods = ["whole-doc dense", "dense", "fts", "hybrid"]
    print(f"\n{len(cases)} labelled questions ({len(splits['train'])} train, {len(splits['heldout'])} heldout), "
          f"k={args.k}; whole-doc baseline embedded {len(docs)} docs in {base_embed_s:.1f} s")
    for split, items in splits.items():
        if not items:
            continue
        print(f"\n[{split}: {len(items)} questions]")
        print(f"{'method':<18}" + "".join(f"{n.replace('@k', f'@{args.k}'):>14}" for n in SHOWN))
        base = mean_metrics([per_case[c.id]["whole-doc dense"] for c in items])["ndcg@10"]
        for m in methods:
            mm = mean_metrics([per_case[c.id][m] for c in items])
            line = f"{m:<18}" + "".join(f"{mm[n]:>14.3f}" for n in SHOWN)
            if m != "whole-doc dense":
                line += f"   nDCG@10 ratio vs whole-doc {mm['ndcg@10'] / base:.3f}" if base else ""
            print(line)
    lat.sort()
    print(f"\nquery latency (all three lists + fusion, model loaded): p50 {lat[len(lat) // 2]:.1f} ms, "
          f"p95 {lat[int(len(lat) * 0.95)]:.1f} ms; total {time.perf_counter() - t0:.0f} s")

    if args.sweep:
        print("\nhybrid nDCG@10 by fusion setting (train / heldout):")
        for rrf_k in (10, 30, 60):
            for fw in (0.0, 0.25, 0.5, 0.75, 1.0):
                vals = []
                for split in ("train", "heldout"):
                    scores = []
                    for c in splits[split]:
                        ranked = sorted(
                            candidates[c.id],
                            key=lambda h: -(
                                (1.0 / (rrf_k + h.dense_rank) if h.dense_rank else 0.0)
                                + (fw / (rrf_k + h.fts_rank) if h.fts_rank else 0.0)
                            ),
                        )
                        scores.append(case_metrics([(h.chunk_id, h.path) for h in ranked], list(c.relevant), args.k))
                    vals.append(mean_metrics(scores)["ndcg@10"] if scores else float("nan"))
                print(f"  rrf_k={rrf_k:<3} dense_weight=1.0 fts_weight={fw:<5} {vals[0]:.3f} / {vals[1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
