"""Ingest against a real LanceDB table and the real embedding model."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.index import Index, IndexMismatch, IndexUnavailable
from workbench.core.retrieval.ingest import ingest
from workbench.core.retrieval.search import search
from workbench.core.retrieval.settings import RetrievalSettings

SETTINGS = RetrievalSettings(chunk_tokens=60, overlap_tokens=10)


def chunk_rows(data: Path) -> dict[str, list[str]]:
    idx = Index.open(data)
    rows = idx.table.search().select(["path", "chunk_id", "file_hash"]).limit(None).to_list()
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["path"], []).append(r["chunk_id"])
    return {p: sorted(ids) for p, ids in out.items()}


def test_incremental_reingest(corpus: Path, tmp_path: Path, counting_embedder):
    data = tmp_path / "data"
    (corpus / "notes.bin.md").write_bytes(b"\x00\x01binary")
    first = ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    assert sorted(first.added) == ["cats.md", "dogs.md", "guide/install.rst", "page.html", "sqlite.md"]
    assert [(s.path, s.reason) for s in first.skipped] == [("notes.bin.md", "binary file (contains NUL bytes)")]
    assert first.chunks_embedded == first.chunks_total > 5
    # besides the chunks, the first window of each document of several chunks (doc_vector)
    assert counting_embedder.texts == first.chunks_embedded + first.windows_embedded
    assert first.windows_embedded == first.docs_total  # here every document has 2+ chunks
    assert first.docs_total == 5 and not first.nothing_changed
    meta = json.loads((data / "index" / "meta.json").read_text())
    assert meta["embedding_model"] == "all-MiniLM-L6-v2" and meta["dimension"] == 384
    assert meta["state"] == "ready" and meta["chunks"] == first.chunks_total
    assert meta["chunking"]["chunk_tokens"] == 60 and meta["chunking"]["tokenizer"].startswith("tokenizer.json")
    before = chunk_rows(data)

    # unchanged: nothing embedded, nothing written
    counting_embedder.texts = 0
    again = ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    assert again.nothing_changed and counting_embedder.texts == 0
    assert len(again.unchanged) == 5 and chunk_rows(data) == before

    # one file changed, one deleted, one added: only the changed/added are embedded
    (corpus / "dogs.md").write_text("# Dogs\n\nDogs bark at the mail carrier every morning.\n", encoding="utf-8")
    (corpus / "cats.md").unlink()
    (corpus / "new.txt").write_text("Parrots can imitate human speech.\n", encoding="utf-8")
    counting_embedder.texts = 0
    third = ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    assert third.updated == ["dogs.md"] and third.added == ["new.txt"] and third.removed == ["cats.md"]
    assert counting_embedder.texts == third.chunks_embedded == 2
    after = chunk_rows(data)
    assert "cats.md" not in after and after["dogs.md"] == ["dogs.md#0"] and after["new.txt"] == ["new.txt#0"]
    assert after["sqlite.md"] == before["sqlite.md"]
    # the replaced text is what full-text search finds now; the old text is gone
    idx = Index.open(data, SETTINGS.embedding_model)
    res = search("mail carrier bark", idx, SETTINGS, mode="fts", k=3, embedder=counting_embedder)
    assert res.hits[0].chunk_id == "dogs.md#0"
    assert not [
        h
        for h in search("wolves companions", idx, SETTINGS, mode="fts", embedder=counting_embedder).hits
        if "wolves" in h.text
    ]


def test_changed_chunking_settings_rechunk_everything(corpus: Path, tmp_path: Path, counting_embedder):
    data = tmp_path / "data"
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    counting_embedder.texts = 0
    report = ingest([corpus], data, RetrievalSettings(chunk_tokens=40, overlap_tokens=5), embedder=counting_embedder)
    assert report.rechunked and "chunking settings changed" in report.rechunked
    assert sorted(report.updated) == ["cats.md", "dogs.md", "guide/install.rst", "page.html", "sqlite.md"]
    assert counting_embedder.texts == report.chunks_total + report.windows_embedded


def test_cancel_keeps_completed_files_and_a_consistent_index(corpus: Path, tmp_path: Path, counting_embedder):
    data = tmp_path / "data"
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.phase == "embedding" and p.chunks_done >= p.chunks_total - 2:
            cancel.set()  # before the last batch: the files owning its chunks stay pending

    settings = RetrievalSettings(chunk_tokens=60, overlap_tokens=10, batch_size=2)
    report = ingest([corpus], data, settings, embedder=counting_embedder, progress=progress, cancel=cancel)
    assert report.cancelled and report.pending
    done = set(report.added)
    assert done and not done & set(report.pending)
    # every committed file has all its chunks; pending ones have none
    rows = chunk_rows(data)
    assert set(rows) == done
    embedding = [p for p in seen if p.phase == "embedding"]
    assert embedding[0].chunks_total > 0 and embedding[0].files_total == 5
    assert embedding[-1].chunks_per_s > 0 and embedding[-1].eta_s is not None
    # searching works on the partial index, and the next run finishes the job
    idx = Index.open(data, settings.embedding_model)
    assert search("cats", idx, settings, embedder=counting_embedder).hits
    rest = ingest([corpus], data, settings, embedder=counting_embedder)
    assert sorted(rest.added) == sorted(report.pending) and not rest.cancelled
    assert set(chunk_rows(data)) == {"cats.md", "dogs.md", "guide/install.rst", "page.html", "sqlite.md"}


def test_missing_corrupt_and_mismatched_index(tmp_path: Path, corpus: Path, counting_embedder):
    data = tmp_path / "data"
    with pytest.raises(IndexUnavailable, match="run `workbench ingest` first"):
        Index.open(data, "all-MiniLM-L6-v2")
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)

    # the user switched models in workbench.yaml
    with pytest.raises(IndexMismatch, match="ingest --reindex") as err:
        Index.open(data, "models/other-model")
    assert "all-MiniLM-L6-v2" in str(err.value) and "models/other-model" in str(err.value)
    assert isinstance(err.value, WorkbenchError) and err.value.exit_code == 2
    # ingest refuses to mix vectors of two models without --reindex
    other = tmp_path / "other-model"
    shutil.copytree(counting_embedder.path, other)
    with pytest.raises(IndexMismatch):
        ingest([corpus], data, RetrievalSettings(embedding_model=str(other)), embedder=counting_embedder)
    # with --reindex it rebuilds for the new model name
    rebuilt = ingest(
        [corpus],
        data,
        RetrievalSettings(embedding_model=str(other), chunk_tokens=60),
        reindex=True,
        embedder=counting_embedder,
    )
    assert rebuilt.reindexed and len(rebuilt.added) == 5
    assert Index.open(data, str(other)).meta["embedding_model"] == str(other)

    # corrupt metadata
    (data / "index" / "meta.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="corrupt"):
        Index.open(data, str(other))
    # table files deleted under a valid meta.json
    (data / "index" / "meta.json").write_text(
        json.dumps({"index_version": 1, "embedding_model": str(other), "dimension": 384, "chunks": 9}), encoding="utf-8"
    )
    shutil.rmtree(data / "index" / "chunks.lance")
    with pytest.raises(IndexUnavailable, match="--reindex"):
        Index.open(data, str(other))


def test_second_concurrent_ingest_is_refused(tmp_path: Path, corpus: Path, counting_embedder):
    data = tmp_path / "data"
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    idx = Index.open(data)
    with idx.write_lock():
        with pytest.raises(WorkbenchError, match="another `workbench ingest`"):
            ingest([corpus], data, SETTINGS, embedder=counting_embedder)


def test_ingest_killed_before_finishing_is_mended_by_the_next_run(corpus: Path, tmp_path: Path, counting_embedder):
    data = tmp_path / "data"
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    # what a `kill -9` after the chunk commits but before the full-text build leaves behind
    idx = Index.open(data)
    idx.table.drop_index("search_text_idx")
    idx.meta["state"] = "ingesting"
    idx.write_meta()
    assert not Index.open(data).has_fts()
    counting_embedder.texts = 0
    report = ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    assert report.nothing_changed and counting_embedder.texts == 0
    fixed = Index.open(data)
    assert fixed.has_fts() and fixed.meta["state"] == "ready"
    assert (
        search("AUTOINCREMENT", fixed, SETTINGS, mode="fts", k=1, embedder=counting_embedder).hits[0].path
        == "sqlite.md"
    )


def test_mistyped_corpus_path_changes_nothing(corpus: Path, tmp_path: Path, counting_embedder):
    data = tmp_path / "data"
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    with pytest.raises(WorkbenchError, match="corpus path not found: .*dcos") as err:
        ingest([tmp_path / "dcos"], data, SETTINGS, embedder=counting_embedder)
    assert err.value.field == "retrieval.corpus"
    assert len(chunk_rows(data)) == 5


SOURCE_PAGE = """# Atomic Commit In SQLite

Source: https://sqlite.org/atomiccommit.html

## 1. Introduction

An important feature of transactional databases like SQLite is "atomic commit". Atomic commit
means that either all database changes within a single transaction occur or none of them occur.

## 2. Hardware Assumptions

We assume that disk is written in chunks which we call a "sector". It is not possible to modify
any part of the disk smaller than a sector.
"""


def test_index_built_before_tiny_section_folding_is_rechunked_not_mixed(
    corpus: Path, tmp_path: Path, counting_embedder
):
    (corpus / "atomic.md").write_text(SOURCE_PAGE, encoding="utf-8")
    data = tmp_path / "data"
    old = RetrievalSettings(chunk_tokens=60, overlap_tokens=10, min_chunk_tokens=0)
    ingest([corpus], data, old, embedder=counting_embedder)
    # what the previous chunker recorded in meta.json: no min_chunk_tokens, no chunker version
    meta_path = data / "index" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["chunking"] = {k: meta["chunking"][k] for k in ("chunk_tokens", "overlap_tokens", "tokenizer")}
    meta_path.write_text(json.dumps(meta))
    idx = Index.open(data)
    lone = [r for r in idx.chunks_of("atomic.md") if r["text"] == "Source: https://sqlite.org/atomiccommit.html"]
    assert len(lone) == 1 and lone[0]["chunk_id"] == "atomic.md#0"

    counting_embedder.texts = 0
    new = RetrievalSettings(chunk_tokens=60, overlap_tokens=10, min_chunk_tokens=20)
    report = ingest([corpus], data, new, embedder=counting_embedder)
    assert report.rechunked and "chunking settings changed" in report.rechunked
    assert "'min_chunk_tokens': 20" in report.rechunked and "'chunker': 2" in report.rechunked
    assert sorted(report.updated) == ["atomic.md", "cats.md", "dogs.md", "guide/install.rst", "page.html", "sqlite.md"]
    # every chunk (and document window) re-embedded, none kept from before
    assert counting_embedder.texts == report.chunks_total + report.windows_embedded
    idx = Index.open(data)
    rows = idx.chunks_of("atomic.md")
    assert [(r["chunk_id"], r["heading_path"], r["line_start"]) for r in rows] == [
        ("atomic.md#0", "Atomic Commit In SQLite > 1. Introduction", 3),
        ("atomic.md#1", "Atomic Commit In SQLite > 2. Hardware Assumptions", 12),
    ]
    assert rows[0]["text"].startswith("Source: https://sqlite.org/atomiccommit.html\n\n## 1. Introduction\n\n")
    assert SOURCE_PAGE[rows[0]["char_start"] : rows[0]["char_end"]] == rows[0]["text"]
    for path, ids in chunk_rows(data).items():  # no stale ids of the old chunking left behind
        assert sorted(ids, key=lambda i: int(i.split("#")[1])) == [f"{path}#{n}" for n in range(len(ids))]
    assert json.loads(meta_path.read_text())["chunking"]["min_chunk_tokens"] == 20
    # and the index is now current: a second ingest does nothing
    assert ingest([corpus], data, new, embedder=counting_embedder).nothing_changed


def test_ingesting_given_files_adds_and_updates_without_dropping_the_rest(
    corpus: Path, tmp_path: Path, counting_embedder
):
    data = tmp_path / "data"
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    before = chunk_rows(data)
    (corpus / "notes.txt").write_text("Parrots can imitate human speech.\n", encoding="utf-8")
    (corpus / "guide" / "install.rst").write_text(
        "Installing\n==========\n\nDouble-click the installer.\n", encoding="utf-8"
    )
    (corpus / "cats.md").unlink()  # gone, but not among the files given: it stays
    counting_embedder.texts = 0
    report = ingest(
        [corpus / "notes.txt", corpus / "guide" / "install.rst"],
        data,
        SETTINGS,
        embedder=counting_embedder,
        bases=[corpus],
        prune=False,
    )
    # document paths are the corpus's ("guide/install.rst"), not the file name alone
    assert report.added == ["notes.txt"] and report.updated == ["guide/install.rst"]
    assert report.removed == [] and report.docs_total == 6
    assert counting_embedder.texts == report.chunks_embedded == 2
    after = chunk_rows(data)
    assert after["cats.md"] == before["cats.md"] and after["notes.txt"] == ["notes.txt#0"]
    assert ingest(
        [corpus / "notes.txt"], data, SETTINGS, embedder=counting_embedder, bases=[corpus], prune=False
    ).nothing_changed

    # --prune: documents under the given folder whose files are gone go; others stay
    (corpus / "guide" / "install.rst").unlink()
    (corpus / "guide" / "setup.md").write_text("# Setup\n\nSet the PATH variable.\n", encoding="utf-8")
    report = ingest([corpus / "guide"], data, SETTINGS, embedder=counting_embedder, bases=[corpus], prune=True)
    assert report.added == ["guide/setup.md"] and report.removed == ["guide/install.rst"]
    assert "cats.md" in chunk_rows(data)
    # the whole corpus mirrors it
    assert ingest([corpus], data, SETTINGS, embedder=counting_embedder).removed == ["cats.md"]


def test_a_given_file_that_can_no_longer_be_indexed_loses_its_old_chunks(
    corpus: Path, tmp_path: Path, counting_embedder
):
    data = tmp_path / "data"
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    (corpus / "dogs.md").write_text("", encoding="utf-8")
    report = ingest([corpus / "dogs.md"], data, SETTINGS, embedder=counting_embedder, bases=[corpus], prune=False)
    assert report.removed == ["dogs.md"] and [(s.path, s.reason) for s in report.skipped] == [("dogs.md", "empty file")]
    assert sorted(chunk_rows(data)) == ["cats.md", "guide/install.rst", "page.html", "sqlite.md"]


def test_a_partial_ingest_after_a_chunking_change_does_not_claim_the_rest_is_rechunked(
    corpus: Path, tmp_path: Path, counting_embedder
):
    data = tmp_path / "data"
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    narrower = RetrievalSettings(chunk_tokens=40, overlap_tokens=5)
    report = ingest([corpus / "dogs.md"], data, narrower, embedder=counting_embedder, bases=[corpus], prune=False)
    assert report.updated == ["dogs.md"]
    assert "run `workbench ingest` to re-chunk the other 4" in report.rechunked
    # still recorded as the old chunking, so the next full ingest re-chunks the rest
    assert Index.open(data).meta["chunking"]["chunk_tokens"] == 60
    full = ingest([corpus], data, narrower, embedder=counting_embedder)
    assert len(full.updated) == 5 and Index.open(data).meta["chunking"]["chunk_tokens"] == 40


def test_a_headings_only_file_is_skipped_with_a_reason_and_the_next_run_changes_nothing(
    corpus: Path, tmp_path: Path, counting_embedder
):
    data = tmp_path / "data"
    (corpus / "roadmap.md").write_text("# Roadmap\n\n## Coming soon\n", encoding="utf-8")
    first = ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    assert "roadmap.md" not in first.added
    assert [(s.path, s.reason) for s in first.skipped] == [("roadmap.md", "no text to index (headings only)")]
    version = first.index_version
    again = ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    assert again.nothing_changed and again.index_version == version
    assert [s.path for s in again.skipped] == ["roadmap.md"]
    # a document that had text and is emptied down to its headings loses its old chunks
    (corpus / "dogs.md").write_text("# Dogs\n\n## Walks\n", encoding="utf-8")
    emptied = ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    assert emptied.removed == ["dogs.md"] and "dogs.md" not in chunk_rows(data)


def test_a_named_pipe_in_the_corpus_is_skipped_not_read(corpus: Path, tmp_path: Path, counting_embedder):
    """Opening a FIFO for reading blocks until a writer comes: ingest must not even open it."""
    import os

    fifo = corpus / "pipe.md"
    os.mkfifo(fifo)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = ingest([corpus], tmp_path / "data", SETTINGS, embedder=counting_embedder)
            outcome["given"] = ingest(
                [fifo], tmp_path / "data", SETTINGS, embedder=counting_embedder, bases=[corpus], prune=False
            )
        except BaseException as exc:  # reported below, in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():
        with open(fifo, "wb"):  # unblock the reader so the thread can end, then fail
            pass
        worker.join()
        pytest.fail("ingest blocked reading the named pipe")
    assert "error" not in outcome, outcome.get("error")
    for report in (outcome["report"], outcome["given"]):
        assert ("pipe.md", "not a regular file (a named pipe)") in [(s.path, s.reason) for s in report.skipped]
    assert len(outcome["report"].added) == 5


def test_utf16_and_utf8_bom_files_are_read_by_their_byte_order_mark(corpus: Path, tmp_path: Path, counting_embedder):
    """Windows "Unicode" text is UTF-16 with a BOM: every other byte is NUL, yet it is text."""
    (corpus / "windows.txt").write_bytes("Pelicans gulp fish.\r\nSecond line: café.\r\n".encode("utf-16"))
    (corpus / "notepad.md").write_bytes("# Notepad\n\nFlamingos stand on one leg.\n".encode("utf-8-sig"))
    (corpus / "bad16.txt").write_bytes(b"\xff\xfe" + b"\x00\xd8")  # a lone surrogate
    data = tmp_path / "data"
    report = ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    assert {"windows.txt", "notepad.md"} <= set(report.added)
    assert [(s.path, s.reason.split(" (")[0]) for s in report.skipped] == [("bad16.txt", "not valid UTF-16")]
    idx = Index.open(data)
    [row] = idx.chunks_of("windows.txt")
    assert row["text"] == "Pelicans gulp fish.\nSecond line: café." and (row["line_start"], row["line_end"]) == (1, 2)
    assert idx.chunks_of("notepad.md")[0]["text"] == "Flamingos stand on one leg."
    assert search("pelicans", idx, SETTINGS, mode="fts", k=1, embedder=counting_embedder).hits[0].path == "windows.txt"
