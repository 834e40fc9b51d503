"""A configured embedding model that cannot be used (Ollama down, a missing folder), as a new
user meets it: every command names workbench.yaml's line and the fix, before any advice to
`ingest --reindex` (which would only fail the same way); a failed first ingest leaves no index
behind, and a folder holding only the ingest lock reads as no index yet."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures_retrieval import write_grounded_project
from ollama_standin import closed_port_url

from workbench.cli import main
from workbench.core.project import Project
from workbench.core.retrieval.service import ingest_project

MODEL = "ollama:nomic-embed-text"


def _said(capsys) -> tuple[str, str]:
    out, err = capsys.readouterr()
    return " ".join(out.split()), " ".join(err.split())


def _set_model(root: Path, model: str) -> int:
    """Set retrieval.embedding_model; the line it is on."""
    cfg = root / "workbench.yaml"
    lines = [ln for ln in cfg.read_text().splitlines() if "embedding_model:" not in ln]
    at = lines.index("retrieval:") + 1
    lines.insert(at, f"  embedding_model: {model}")
    cfg.write_text("\n".join(lines) + "\n")
    return at + 1


def _index(root: Path) -> Path:
    return root / ".workbench" / "index"


def test_ollama_down_after_minilm_names_the_line_and_the_fix_not_reindex(tmp_path: Path, embedder, capsys):
    """The tester's case: indexed with all-MiniLM-L6-v2, then ollama:nomic-embed-text with no
    server. Before: retrieve and doctor said "run `workbench ingest --reindex`", which failed
    with no file:line and no fix."""
    down = closed_port_url()
    root = write_grounded_project(tmp_path / "proj", host=down)
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    line = _set_model(root, MODEL)
    capsys.readouterr()
    fix = "start Ollama (`ollama serve`) and `ollama pull nomic-embed-text`, or set it back to all-MiniLM-L6-v2"
    unreachable = f"Ollama at {down} is not reachable (connection refused)"
    for command in (["retrieve", "cats"], ["ingest", "--reindex"], ["ingest"]):
        assert main([*p, *command]) == 2, command
        _, err = _said(capsys)
        assert f"workbench.yaml:{line}: retrieval.embedding_model: {MODEL}: {unreachable}; {fix}" in err, command
        assert "run `workbench ingest --reindex`" not in err
    assert not (root / ".workbench" / "index.reindex").exists()  # the failed --reindex left nothing

    assert main([*p, "doctor"]) == 1
    out, _ = _said(capsys)
    cfg = root / "workbench.yaml"
    assert f"problem embedding: {cfg}:{line}: retrieval.embedding_model: {MODEL}: {unreachable}; {fix}" in out
    assert (
        "note index: built with embedding model 'all-MiniLM-L6-v2', not the configured "
        f"'{MODEL}': set retrieval.embedding_model back to 'all-MiniLM-L6-v2', or fix it (above) and then "
        "run `workbench ingest --reindex`"
    ) in out
    assert "problem index" not in out and "1 problem(s) found" in out


def test_doctor_says_an_ollama_embedding_model_is_served(tmp_path: Path, ollama_standin, capsys):
    ollama_standin.configure(models=["llama3.2", "nomic-embed-text"], embedding_dims=256)
    root = write_grounded_project(tmp_path / "proj", host=ollama_standin.url)
    _set_model(root, MODEL)
    assert main(["--project", str(root), "doctor"]) == 0
    out, _ = _said(capsys)
    assert f"ok embedding: {MODEL}: Ollama at {ollama_standin.url} serves it, 256-dimensional vectors" in out
    assert "ok index: no retrieval index yet" in out and "healthy" in out


def test_a_failed_first_ingest_leaves_the_project_as_it_was(tmp_path: Path, capsys):
    """Before: `.workbench/index/.ingest.lock` stayed, and retrieve and doctor then said the
    index "has no meta.json (never finished building?): run `workbench ingest --reindex`"."""
    root = write_grounded_project(tmp_path / "proj", host=closed_port_url())
    _set_model(root, MODEL)
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 2
    assert not _index(root).exists()
    _set_model(root, "all-MiniLM-L6-v2")  # the user sets the model back
    capsys.readouterr()
    _no_index_yet(root, capsys)


def test_an_index_folder_holding_only_the_lock_reads_as_no_index_yet(tmp_path: Path, capsys):
    """What an older workbench's failed first ingest left."""
    root = write_grounded_project(tmp_path / "proj")
    _index(root).mkdir(parents=True)
    (_index(root) / ".ingest.lock").write_text("")
    _no_index_yet(root, capsys)
    # chunks without meta.json are still a build that never finished
    (_index(root) / "chunks.lance").mkdir()
    assert main(["--project", str(root), "retrieve", "cats"]) == 2
    _, err = _said(capsys)
    assert "has no meta.json (never finished building?): run `workbench ingest --reindex`" in err


def _no_index_yet(root: Path, capsys) -> None:
    p = ["--project", str(root)]
    assert main([*p, "retrieve", "cats"]) == 2
    _, err = _said(capsys)
    assert f"no retrieval index at {_index(root)}: run `workbench ingest` first" in err
    assert main([*p, "doctor"]) == 0
    out, _ = _said(capsys)
    assert "ok index: no retrieval index yet (`workbench ingest` builds one)" in out and "healthy" in out


def _ingest_failing_after_the_probe(tmp_path: Path, standin) -> tuple[Path, BaseException]:
    """A first ingest whose server answers the width probe, then refuses the chunks (500)."""
    standin.configure(models=["llama3.2", "nomic-embed-text"], embedding_dims=64)
    root = write_grounded_project(tmp_path / "proj", host=standin.url)
    _set_model(root, MODEL)
    project = Project.open(root)

    def fail_from_now(update) -> None:
        if update.phase == "scanning":
            standin.configure(fail_status=500, fail_message="llama runner process has terminated")

    try:
        with pytest.raises(Exception, match="llama runner process has terminated") as raised:
            ingest_project(project, project.config.retrieval, progress=fail_from_now)
    finally:
        project.close()
    return root, raised.value


def test_an_embedding_failure_before_the_first_chunk_removes_the_new_index(tmp_path: Path, ollama_standin, capsys):
    """The index this run created holds nothing and is removed, so retrieve says "run
    `workbench ingest`", not "index incomplete"."""
    root, _ = _ingest_failing_after_the_probe(tmp_path, ollama_standin)
    assert not _index(root).exists()
    ollama_standin.configure(fail_status=None)
    _no_index_yet(root, capsys)


def test_a_failed_cleanup_does_not_hide_why_the_first_ingest_failed(tmp_path: Path, ollama_standin, monkeypatch):
    """Removing the unwritten index can fail too (an object store refusing the delete): the
    user still reads the embedding failure, not the cleanup's."""
    from workbench.core.retrieval.index import Index, IndexUnavailable

    def refuse(self: Index) -> None:
        raise IndexUnavailable("s3://bucket/index: deleting meta.json: Access Denied")

    monkeypatch.setattr(Index, "remove_unwritten", refuse)
    _, raised = _ingest_failing_after_the_probe(tmp_path, ollama_standin)
    assert not isinstance(raised, IndexUnavailable)  # before: the cleanup's error replaced it
    assert any("Access Denied" in note for note in getattr(raised, "__notes__", []))


def test_a_missing_model_folder_is_named_before_reindex_advice(tmp_path: Path, embedder, capsys):
    """Indexed with a copied model folder; the folder then goes, or the setting names another
    that does not exist. Before: doctor said healthy (folder gone) or "run `workbench ingest
    --reindex`" (renamed), as did retrieve; only ingest named the folder."""
    root = write_grounded_project(tmp_path / "proj")
    shutil.copytree(embedder.path, root / "models" / "mini")
    line = _set_model(root, "models/mini")
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    shutil.rmtree(root / "models" / "mini")
    capsys.readouterr()
    folder = root / "models" / "mini"
    missing = f"{root / 'workbench.yaml'}:{line}: retrieval.embedding_model: the embedding model folder {folder} does not exist"
    assert main([*p, "doctor"]) == 1
    out, _ = _said(capsys)
    assert f"problem embedding: {missing}" in out

    line = _set_model(root, "models/mini2")
    missing = missing.replace("models/mini ", "models/mini2 ")
    for command in (["retrieve", "cats"], ["retrieval", "status"]):
        assert main([*p, *command]) == 2, command
        out, err = _said(capsys)
        assert missing in out + err and "(the retrieval index was built with 'models/mini')" in out + err, command
        assert "ingest --reindex" not in out + err
    assert main([*p, "doctor"]) == 1
    out, _ = _said(capsys)
    assert f"problem embedding: {missing}" in out
    assert "note index: built with embedding model 'models/mini', not the configured 'models/mini2'" in out
