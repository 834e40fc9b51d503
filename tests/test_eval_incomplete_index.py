"""An eval made on an incomplete index (a first ingest stopped part-way) says so when it runs,
keeps the note in its run row, and a diff against it warns: its retrieval misses may be files
that were not indexed yet, not the variant's."""

from __future__ import annotations

import threading
from pathlib import Path

from fixtures_retrieval import EVALSET, write_grounded_project
from test_retrieval_hostile import _many_docs

from workbench.cli import main
from workbench.core.evals import runstore
from workbench.core.project import Project
from workbench.core.retrieval.index import Index


def _stop_first_ingest_part_way(root: Path, monkeypatch) -> str:
    """Ctrl-C's path in-process: the cancel event is set once some files are indexed."""
    import workbench.core.retrieval.ingest as ingest
    from workbench.core.retrieval.service import ingest_project

    monkeypatch.setattr(ingest, "COMMIT_CHUNKS", 4)
    project = Project.open(root)
    try:
        cancel = threading.Event()

        def stop_after_some(pr) -> None:
            if 0 < pr.files_done:
                cancel.set()

        report = ingest_project(project, project.config.retrieval, cancel=cancel, progress=stop_after_some)
        assert report.cancelled
    finally:
        project.close()
    note = Index.open(root / ".workbench").incomplete()
    assert note and note.startswith("index incomplete: ") and "/45 files" in note
    return note


def test_an_eval_on_an_incomplete_index_records_it_and_the_diff_warns(
    ollama_standin, tmp_path, embedder, monkeypatch, capsys
):
    """Before: the run finished `done` without a word, and the diff blamed nothing."""
    root = write_grounded_project(tmp_path / "p", host=ollama_standin.url)
    (root / "evals").mkdir()
    (root / "evals" / "tiny.yaml").write_text(EVALSET, encoding="utf-8")
    _many_docs(root, 40)  # 45 files
    note = _stop_first_ingest_part_way(root, monkeypatch)
    p = ["--project", str(root)]

    main([*p, "eval", "run", "--prompt", "grounded"])
    assert f"warning: {note}" in " ".join(capsys.readouterr().err.split())
    assert main([*p, "ingest"]) == 0
    main([*p, "eval", "run", "--prompt", "grounded"])
    assert "incomplete" not in capsys.readouterr().err

    project = Project.open(root)
    try:
        first, second = (runstore.get_run(project.store, i) for i in (1, 2))
        assert runstore.as_dict(first["config"])["index_incomplete"] == note
        assert runstore.as_dict(second["config"]).get("index_incomplete") is None
    finally:
        project.close()
    assert main([*p, "eval", "diff", "1", "2"]) in (0, 1)
    shown = " ".join(capsys.readouterr().out.split())
    assert (
        f"e1 ran on an incomplete index ({note}): its retrieval misses may be files that were not indexed yet" in shown
    )
    assert "e2 ran on an incomplete index" not in shown
