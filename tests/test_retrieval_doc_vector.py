"""Issue 13: the first-window document vector stored at ingest (retrieval.doc_vector), the
refusal of an index built before it existed, and the settings/tune plumbing around it. Real
LanceDB, real embedding model, small corpora."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.core.retrieval.chunking import chunk_document, doc_window_text, tokens_for
from workbench.core.retrieval.documents import discover, read_document
from workbench.core.retrieval.index import Index, IndexMismatch
from workbench.core.retrieval.ingest import ingest
from workbench.core.retrieval.search import doc_vectors, search
from workbench.core.retrieval.settings import RetrievalSettings
from workbench.core.retrieval.tune import TuneConfig, default_grid

LONG = "# Tides\n\n" + "\n\n".join(
    f"## Part {i}\n\n" + " ".join(f"The moon pulls the sea toward it, wave {i}.{j}." for j in range(12))
    for i in range(6)
)
SHORT = "# Bread\n\nKnead the dough for ten minutes, then let it rise in a warm place.\n"


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "tides.md").write_text(LONG, encoding="utf-8")
    (root / "bread.md").write_text(SHORT, encoding="utf-8")
    return root


def _stored(index: Index) -> dict[str, tuple[int, list[float] | None, list[float]]]:
    tbl = index.table.search().select(["chunk_id", "n", "doc_vector", "vector"]).limit(None).to_arrow().to_pydict()
    return {
        cid: (n, dv, v)
        for cid, n, dv, v in zip(tbl["chunk_id"], tbl["n"], tbl["doc_vector"], tbl["vector"], strict=True)
    }


def test_ingest_stores_each_documents_first_window_vector_once_on_its_first_chunk(tmp_path: Path, embedder):
    docs = _corpus(tmp_path / "docs")
    settings = RetrievalSettings(chunk_tokens=60, overlap_tokens=10)
    ingest([docs], tmp_path / "data", settings, embedder=embedder)
    index = Index.open(tmp_path / "data", settings.embedding_model)
    rows = _stored(index)
    assert len([c for c in rows if c.startswith("tides.md#")]) > 3  # a long document, many chunks
    assert all((dv is None) == (n != 0) for n, dv, _ in rows.values())  # on chunk 0 only

    # the long document's vector is its start, title first, embedded whole, not chunk 0's
    tokens = tokens_for(str(embedder.path))
    sources, _ = discover([docs])
    doc = next(d for d in (read_document(s, 10**7) for s in sources) if d.path == "tides.md")
    chunks = chunk_document(doc, 60, 10, tokens, settings.min_tokens())
    window = doc_window_text(doc, chunks, embedder.max_seq_length, tokens)
    assert window.startswith("Tides > Part 0\n\nThe moon pulls") and "Part 1" in window
    assert tokens.count(window) <= embedder.max_seq_length + 8  # the heading path is on top
    want = embedder.encode([window])[0]
    assert np.allclose(rows["tides.md#0"][1], want, atol=1e-5)
    assert not np.allclose(rows["tides.md#0"][1], rows["tides.md#0"][2], atol=1e-3)
    # a one-chunk document's window is that chunk: the same vector, embedded once
    assert np.allclose(rows["bread.md#0"][1], rows["bread.md#0"][2], atol=1e-6)

    paths_of, mat = doc_vectors(index, "first-window")
    assert set(paths_of) == {"tides.md", "bread.md"}
    assert np.allclose(mat[paths_of["tides.md"]], want, atol=1e-5)


def test_a_hit_shows_the_cosine_of_the_document_vector_it_was_ranked_with(tmp_path: Path, embedder):
    docs = _corpus(tmp_path / "docs")
    ingest([docs], tmp_path / "data", RetrievalSettings(chunk_tokens=60, overlap_tokens=10), embedder=embedder)
    index = Index.open(tmp_path / "data")
    q = "how long do I knead dough"
    qv = embedder.encode_query(q)
    for kind in ("first-window", "chunk-mean"):
        s = RetrievalSettings(chunk_tokens=60, overlap_tokens=10, doc_vector=kind)  # type: ignore[arg-type]
        res = search(q, index, s, mode="dense", k=3, embedder=embedder)
        rows_of, mat = doc_vectors(index, kind)
        assert res.hits[0].path == "bread.md"
        for h in res.hits:
            assert h.doc_score == pytest.approx(float(mat[rows_of[h.path]] @ qv), abs=1e-5)
    off = search(q, index, RetrievalSettings(doc_weight=0.0), mode="dense", k=3, embedder=embedder)
    assert all(h.doc_score is None for h in off.hits)


def test_an_index_from_before_document_vectors_is_refused_until_reindexed(tmp_path: Path, embedder, capsys):
    from fixtures_retrieval import write_grounded_project

    root = write_grounded_project(tmp_path / "proj")
    assert main(["--project", str(root), "ingest"]) == 0
    meta_path = root / ".workbench" / "index" / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["index_version"] = 1  # what every index built before doc_vector records
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(IndexMismatch, match=r"layout version 1 is not the current 2: run `workbench ingest --reindex`"):
        Index.open(root / ".workbench")
    capsys.readouterr()
    assert main(["--project", str(root), "retrieve", "cats sleep"]) == 2
    assert "workbench ingest --reindex" in capsys.readouterr().err
    assert main(["--project", str(root), "ingest"]) == 2  # a plain ingest does not mix layouts
    assert main(["--project", str(root), "ingest", "--reindex"]) == 0
    capsys.readouterr()
    assert main(["--project", str(root), "retrieve", "How many hours a day do cats sleep?", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hits"][0]["path"] == "cats.md" and out["hits"][0]["doc_score"] is not None


def test_doc_vector_enters_variant_ids_only_where_it_changes_the_ranking():
    base = RetrievalSettings().to_dict()
    assert base["doc_weight"] == 0.5 and base["doc_vector"] == "first-window"
    off = RetrievalSettings(doc_weight=0.0, doc_vector="first-window").to_dict()
    assert "doc_weight" not in off and "doc_vector" not in off
    # doc_weight with chunk-mean is what doc_weight meant before doc_vector: same dict as then
    old = RetrievalSettings(doc_weight=0.5, doc_vector="chunk-mean").to_dict()
    assert old["doc_weight"] == 0.5 and "doc_vector" not in old


def test_tune_tries_the_other_document_vector_and_applies_it_only_with_a_weight():
    current = RetrievalSettings()
    grid = default_grid(current)
    other = [c for c in grid if c.doc_vector == "chunk-mean" and c.doc_weight]
    assert {c.mode for c in other} == {"dense", "hybrid"}
    assert "doc=0.5 (chunk-mean)" in other[0].label()
    assert other[0].changes(current)["doc_vector"] == "chunk-mean"
    no_doc = TuneConfig(current.chunk_tokens, current.overlap_tokens, "dense", 0.5, 10, 0.0, "chunk-mean")
    assert no_doc.changes(current) == {"mode": "dense", "doc_weight": 0.0}
