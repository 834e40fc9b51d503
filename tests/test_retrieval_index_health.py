"""A damaged or inaccessible index, as a user meets it: every command says what is wrong and
what to do (rebuild when the files are damaged; fix permissions when they are not readable)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from workbench.cli import main


def damage_data_files(project_dir: Path) -> None:
    """What the auditor did: overwrite the table's data files with something else."""
    files = list((project_dir / ".workbench" / "index" / "chunks.lance" / "data").glob("*.lance"))
    assert files
    for f in files:
        f.write_bytes(b"not a lance file" * 64)


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_damaged_data_files_are_reported_by_status_ingest_retrieve_and_ask(retrieval_project: Path, capsys):
    from workbench.core.pipeline import ground
    from workbench.core.project import Project
    from workbench.core.variants import resolve_variant

    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    assert main([*p, "retrieval", "status"]) == 0
    assert "state ready" in one_line(capsys.readouterr().out)
    damage_data_files(retrieval_project)

    assert main([*p, "retrieval", "status"]) == 2
    out = one_line(capsys.readouterr().out)
    assert "looks damaged" in out and "run `workbench ingest --reindex`" in out and "state ready" not in out
    assert main([*p, "retrieval", "status", "--json"]) == 2
    status = json.loads(capsys.readouterr().out)
    assert status["ok"] is False and "looks damaged" in status["problem"]

    for command in (["ingest"], ["retrieve", "cats sleep"]):
        assert main([*p, *command]) == 2, command
        err = one_line(capsys.readouterr().err)
        assert err.startswith("error: the retrieval index looks damaged ("), command
        assert "run `workbench ingest --reindex` to rebuild it" in err, command
        assert ".rs:" not in err  # no Rust source locations from lance

    project = Project.open(retrieval_project)
    try:
        g = ground(project, resolve_variant(project, prompt="grounded"), "How many hours do cats sleep?")
        assert g.status.startswith("unavailable: the retrieval index looks damaged (")
    finally:
        project.close()

    # the advice works
    assert main([*p, "ingest", "--reindex"]) == 0
    capsys.readouterr()
    assert main([*p, "retrieve", "cats sleep", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["path"] == "cats.md"
    assert main([*p, "retrieval", "status"]) == 0


def test_a_damaged_full_text_index_says_rebuild(retrieval_project: Path, capsys):
    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    indices = retrieval_project / ".workbench" / "index" / "chunks.lance" / "_indices"
    files = [f for f in indices.rglob("*") if f.is_file()]
    assert files
    for f in files:
        f.write_bytes(b"garbage")
    capsys.readouterr()
    assert main([*p, "retrieve", "cats sleep", "--mode", "fts"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "the full-text index of the retrieval index looks damaged" in err
    assert "run `workbench ingest --reindex`" in err


def _as_another_user(args: list[str], home: Path) -> subprocess.CompletedProcess:
    """Run the CLI as a user the index's permissions apply to (root ignores them)."""
    cmd = [sys.executable, "-c", "import sys; from workbench.cli import main; sys.exit(main())", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be exercised")
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_an_unreadable_index_says_permission_denied_not_reindex(retrieval_project: Path, capsys):
    assert main(["--project", str(retrieval_project), "ingest"]) == 0
    # a folder any user can reach (pytest's own tmp folder is private to this user)
    shared = Path(tempfile.mkdtemp(prefix="wb-perm-"))
    try:
        os.chmod(shared, 0o755)
        proj = shared / "proj"
        shutil.copytree(retrieval_project, proj)
        for dirpath, dirnames, filenames in os.walk(proj):
            for name in [*dirnames, *filenames]:
                os.chmod(Path(dirpath) / name, 0o777 if name in dirnames else 0o666)
        os.chmod(proj, 0o777)
        for f in (proj / ".workbench" / "index" / "chunks.lance" / "data").glob("*.lance"):
            os.chmod(f, 0)
        done = _as_another_user(["--project", str(proj), "retrieval", "status"], shared)
        out = one_line(done.stdout)
        assert done.returncode == 2, done.stderr
        assert "not accessible" in out and "permission denied" in out and "fix their permissions" in out
        assert "--reindex" not in out
    finally:
        for dirpath, _dirnames, filenames in os.walk(shared):
            for name in filenames:
                os.chmod(Path(dirpath) / name, 0o644)
        shutil.rmtree(shared, ignore_errors=True)
