"""The two file locks (ingest's, the embedded model's build) are filelock's FileLock: an ingest
in progress is seen by a second one and by the status probe, and nothing is seen after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.index import Index
from workbench.core.retrieval.ingest import ingest
from workbench.core.retrieval.settings import RetrievalSettings

SETTINGS = RetrievalSettings(chunk_tokens=60, overlap_tokens=10)


def test_the_ingest_lock_is_seen_while_held_and_gone_after(tmp_path: Path, corpus: Path, counting_embedder) -> None:
    data = tmp_path / "data"
    ingest([corpus], data, SETTINGS, embedder=counting_embedder)
    idx = Index.open(data)
    assert not idx.ingest_running()
    with idx.write_lock():
        assert Index.open(data).ingest_running()
        with pytest.raises(WorkbenchError, match="another `workbench ingest` is writing this index"):
            with Index.open(data).write_lock():
                pass
    assert not Index.open(data).ingest_running()
    with idx.write_lock():  # taken again once released
        pass
