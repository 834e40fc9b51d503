"""Ingest that never makes things worse: a file that cannot be indexed is skipped with its reason,
a symlink out of the corpus is not followed, and `--reindex` builds beside the old index (a
killed one leaves the old index serving; a killed first ingest says it is incomplete)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nobody import run_as_nobody

from workbench.cli import main
from workbench.core.retrieval.documents import discover
from workbench.core.retrieval.index import Index

REPO = Path(__file__).resolve().parents[1]


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_a_file_name_that_is_not_utf8_is_skipped_and_ingest_and_reindex_succeed(retrieval_project: Path, capsys):
    docs = os.fsencode(retrieval_project / "docs")
    with open(docs + b"/bad\xff.md", "wb") as fh:
        fh.write(b"# Llamas\n\nLlamas hum when they are curious.\n")
    p = ["--project", str(retrieval_project)]
    for command in (["ingest"], ["ingest", "--reindex"]):
        assert main([*p, *command]) == 0, command
        out = one_line(capsys.readouterr().out)
        assert "skipped bad\\xff.md: the file name is not valid UTF-8: rename it" in out, command
        assert "damaged" not in out and "Index: 5 documents" in out, command
    assert main([*p, "retrieve", "cats sleep", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["path"] == "cats.md"


def test_symlinks_out_of_the_corpus_are_skipped_unless_follow_symlinks(tmp_path: Path):
    corpus = tmp_path / "docs"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.md").write_text("# A\n\ntext\n", encoding="utf-8")
    secret = tmp_path / "outside"
    (secret / "deep").mkdir(parents=True)
    (secret / "passwd.txt").write_text("root:x:0:0\n", encoding="utf-8")
    (secret / "deep" / "b.md").write_text("# B\n\nsecret\n", encoding="utf-8")
    (corpus / "passwd.txt").symlink_to(secret / "passwd.txt")
    (corpus / "linked").symlink_to(secret / "deep")
    (corpus / "sub" / "same.md").symlink_to(corpus / "a.md")  # inside the corpus: fine

    found, skipped = discover([corpus])
    assert [s.path for s in found] == ["a.md", "sub/same.md"]
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"passwd.txt", "linked"}
    assert reasons["passwd.txt"] == (
        f"a symlink to {secret / 'passwd.txt'}, outside the corpus folder: not "
        "indexed (set retrieval.follow_symlinks: true to index it)"
    )

    found, skipped = discover([corpus], follow_symlinks=True)
    assert [s.path for s in found] == ["a.md", "linked/b.md", "passwd.txt", "sub/same.md"] and not skipped


def test_follow_symlinks_is_a_config_field_that_traces_omit_when_off(tmp_path: Path):
    from workbench.core.config import load_config

    (tmp_path / "workbench.yaml").write_text("retrieval:\n  follow_symlinks: true\n", encoding="utf-8")
    assert load_config(tmp_path).retrieval.follow_symlinks is True
    from workbench.core.retrieval.settings import RetrievalSettings

    assert "follow_symlinks" not in RetrievalSettings().to_dict()  # old traces stay reusable


def test_an_unreadable_folder_is_skipped_with_its_reason(tmp_path: Path):
    shared = Path(tempfile.mkdtemp(prefix="wb-perm-"))
    try:
        os.chmod(shared, 0o755)
        (shared / "docs" / "private").mkdir(parents=True)
        (shared / "docs" / "a.md").write_text("# A\n\ntext\n", encoding="utf-8")
        (shared / "docs" / "private" / "b.md").write_text("# B\n\ntext\n", encoding="utf-8")
        os.chmod(shared / "docs", 0o755)
        os.chmod(shared / "docs" / "private", 0)
        code = (
            "import sys; from pathlib import Path; from workbench.core.retrieval.documents import discover; "
            "f, s = discover([Path(sys.argv[1])]); print([x.path for x in f], [(x.path, x.reason) for x in s])"
        )
        done = run_as_nobody([sys.executable, "-c", code, str(shared / "docs")])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "['a.md'] [('private', 'unreadable folder: Permission denied')]"
    finally:
        os.chmod(shared / "docs" / "private", 0o755)
        shutil.rmtree(shared, ignore_errors=True)


def _cli(project: Path, *args: str, commit_chunks: int | None = None) -> subprocess.Popen:
    """The real CLI in its own process (so it can be killed -9); `commit_chunks` makes each
    LanceDB commit small, so a kill lands between commits."""
    knob = f"import workbench.core.retrieval.ingest as i; i.COMMIT_CHUNKS = {commit_chunks}; " if commit_chunks else ""
    code = knob + "import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--project", str(project), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _wait_for(check, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _many_docs(root: Path, n: int) -> None:
    for i in range(n):
        (root / "docs" / f"extra{i:02d}.md").write_text(
            f"# Topic {i}\n\n" + " ".join(f"word{i}x{j}" for j in range(120)) + "\n", encoding="utf-8"
        )


def test_a_killed_reindex_leaves_the_old_index_serving(retrieval_project: Path, capsys):
    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    capsys.readouterr()
    before = json.loads((retrieval_project / ".workbench" / "index" / "meta.json").read_text())
    _many_docs(retrieval_project, 40)
    proc = _cli(retrieval_project, "ingest", "--reindex", commit_chunks=4)
    staging = retrieval_project / ".workbench" / "index.reindex"
    _wait_for(lambda: (staging / "chunks.lance" / "_versions").exists(), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    after = json.loads((retrieval_project / ".workbench" / "index" / "meta.json").read_text())
    assert after == before  # untouched: the same build, ready
    assert main([*p, "retrieve", "cats sleep", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["hits"][0]["path"] == "cats.md" and "incomplete" not in captured.err
    assert main([*p, "retrieval", "status"]) == 0 and "5 documents" in capsys.readouterr().out

    # the next ingest clears the half-built folder
    for extra in (retrieval_project / "docs").glob("extra*.md"):
        extra.unlink()
    assert main([*p, "ingest"]) == 0 and not staging.exists()


def test_a_cancelled_reindex_keeps_the_old_index(retrieval_project: Path, embedder):
    import threading

    from workbench.core.project import Project
    from workbench.core.retrieval.service import ingest_project

    project = Project.open(retrieval_project)
    settings = project.config.retrieval
    try:
        first = ingest_project(project, settings)
        build = Index.open(project.data_dir).build_id
        cancel = threading.Event()
        report = ingest_project(project, settings, reindex=True, cancel=cancel, progress=lambda pr: cancel.set())
        assert report.cancelled and report.docs_total == first.docs_total
        index = Index.open(project.data_dir)
        assert index.build_id == build and index.meta["state"] == "ready" and index.incomplete() is None
        assert not (project.data_dir / "index.reindex").exists()
    finally:
        project.close()


def test_a_killed_first_ingest_is_marked_incomplete_everywhere(retrieval_project: Path, capsys):
    _many_docs(retrieval_project, 40)  # 45 files
    proc = _cli(retrieval_project, "ingest", commit_chunks=4)
    versions = retrieval_project / ".workbench" / "index" / "chunks.lance" / "_versions"
    _wait_for(lambda: versions.exists() and len(list(versions.iterdir())) >= 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    index = Index.open(retrieval_project / ".workbench")
    note = index.incomplete()
    have = len(index.file_hashes())
    assert 0 < have < 45
    assert note == (
        f"index incomplete: {have}/45 files (an ingest stopped before it finished: run "
        "`workbench ingest` to complete it)"
    )
    p = ["--project", str(retrieval_project)]
    main([*p, "retrieve", "topic words", "--json"])
    assert f"warning: index incomplete: {have}/45 files" in capsys.readouterr().err
    assert main([*p, "ingest"]) == 0
    capsys.readouterr()
    assert Index.open(retrieval_project / ".workbench").incomplete() is None
    assert main([*p, "retrieve", "topic words", "--json"]) == 0
    assert "incomplete" not in capsys.readouterr().err
