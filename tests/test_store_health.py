"""runs.db problems as a user meets them (real SQLite files): each error names the file and the
fix; `workbench doctor` finds random bytes in the file; a symlinked or foreign database is
refused; a migration is preceded by a backup; retrieval is never blamed for a store error."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlite_utils
from nobody import run_as_nobody

from workbench.cli import main
from workbench.core.store import MIGRATIONS, SCHEMA_VERSION, Store
from workbench.core.store_health import StoreError, store_problem


def one_line(text: str) -> str:
    return " ".join(text.split())


def _project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "workbench.yaml").write_text("name: t\n", encoding="utf-8")
    return root


def _stored_runs(db: Path, n: int = 300) -> None:
    with Store(db) as store:
        for i in range(n):
            store.insert("generations", {"output": f"answer {i} " + "x" * 400, "status": "ok"})
            store.insert("retrievals", {"query": f"q{i}", "results": "{}" + "y" * 400})
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _scribble(db: Path, table: str) -> None:
    """Random bytes over the pages of one table (what the auditor did with dd)."""
    conn = sqlite3.connect(db)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    start = (root - 1) * page
    data[start : start + page] = os.urandom(page)
    db.write_bytes(bytes(data))


def test_random_bytes_in_runs_db_name_the_file_and_the_fix_and_doctor_finds_them(tmp_path: Path, capsys):
    proj = _project(tmp_path / "proj")
    db = proj / ".workbench" / "runs.db"
    _stored_runs(db)
    assert main(["--project", str(proj), "doctor"]) == 0
    assert "healthy" in capsys.readouterr().out
    _scribble(db, "generations")

    assert main(["--project", str(proj), "doctor"]) == 1
    out = one_line(capsys.readouterr().out)
    assert f"problem runs.db: the run store {db} is damaged" in out
    assert f"restore it from {db.parent / 'backups'}/ or move the file aside" in out

    assert main(["--project", str(proj), "runs"]) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"error: the run store {db} is damaged (database disk image is malformed)")
    assert "move the file aside" in err and "Traceback" not in err


def test_ask_does_not_blame_retrieval_for_a_damaged_store(retrieval_project: Path, capsys):
    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    db = retrieval_project / ".workbench" / "runs.db"
    _stored_runs(db)
    _scribble(db, "retrievals")
    capsys.readouterr()
    assert main([*p, "ask", "--prompt", "grounded", "How long do cats sleep?"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "without retrieval" not in err
    assert f"the run store {db} is damaged" in err and "move the file aside" in err


def test_not_a_database_a_folder_a_symlink_and_a_foreign_database_are_refused(tmp_path: Path):
    db = tmp_path / "a" / "runs.db"
    db.parent.mkdir()
    db.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(StoreError, match=r"is damaged \(file is not a database\).*move the file aside"):
        Store(db)

    folder = tmp_path / "b" / "runs.db"
    folder.mkdir(parents=True)
    with pytest.raises(StoreError, match="is a folder, not a database file: move it aside"):
        Store(folder)

    theirs = tmp_path / "theirs.db"
    conn = sqlite3.connect(theirs)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    link = tmp_path / "c" / "runs.db"
    link.parent.mkdir()
    link.symlink_to(theirs)
    with pytest.raises(StoreError, match=r"is a symlink \(to .*theirs.db\): refusing"):
        Store(link)
    with pytest.raises(StoreError, match=r"is not a workbench database \(it holds other tables: customers\)"):
        Store(theirs)
    assert sqlite_utils.Database(theirs).table_names() == ["customers"]  # nothing of ours was added


def test_a_full_disk_says_so(tmp_path: Path):
    store = Store(tmp_path / "runs.db")
    try:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
        with pytest.raises(
            StoreError, match=r"is full \(database or disk is full\) while writing to generations: free"
        ):
            store.insert("generations", {"output": "z" * 100_000, "status": "ok"})
    finally:
        store.close()


def test_a_read_only_store_says_fix_the_permissions(tmp_path: Path):
    shared = Path(tempfile.mkdtemp(prefix="wb-ro-"))
    try:
        os.chmod(shared, 0o755)
        _stored_runs(shared / "runs.db", 3)
        code = (
            "import sys; from pathlib import Path; from workbench.core.store import Store; "
            "s = Store(Path(sys.argv[1])); s.insert('generations', {'output': 'x'})"
        )
        done = run_as_nobody([sys.executable, "-c", code, str(shared / "runs.db")])
        assert done.returncode != 0
        last = one_line(done.stderr.strip().splitlines()[-1])
        assert last.startswith("workbench.core.store_health.StoreError: ")
        assert str(shared / "runs.db") in last and "fix the permissions" in last, last
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_a_migration_is_preceded_by_a_backup(tmp_path: Path):
    db = tmp_path / "runs.db"
    conn = sqlite3.connect(db)
    MIGRATIONS[0](sqlite_utils.Database(conn))
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO generations (output, status) VALUES ('kept', 'ok')")
    conn.commit()
    conn.close()
    if SCHEMA_VERSION == 1:
        pytest.skip("only one schema version: nothing to migrate")
    with Store(db) as store:
        assert store.schema_version() == SCHEMA_VERSION and store.backup_path is not None
        backup = store.backup_path
    assert backup.parent == tmp_path / "backups" and backup.name.startswith("runs-v1-")
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT output FROM generations").fetchall() == [("kept",)]
    old.close()
    with Store(db) as store:  # up to date: no second backup
        assert store.backup_path is None
    assert len(list((tmp_path / "backups").iterdir())) == 1


def test_a_data_dir_outside_the_project_is_a_warning_naming_it(tmp_path: Path, capsys):
    proj = _project(tmp_path / "a" / "b")
    (proj / "workbench.yaml").write_text("name: t\ndata_dir: ../../x\n", encoding="utf-8")
    assert main(["--project", str(proj), "runs"]) == 0
    err = one_line(capsys.readouterr().err)
    assert (
        f"warning: {proj / 'workbench.yaml'}:2: data_dir '../../x' is outside the project folder {proj}: "
        f"runs.db and the retrieval index are written to {tmp_path / 'x'}"
    ) in err
    assert main(["--project", str(proj), "doctor"]) == 0
    assert "note    data_dir:" in capsys.readouterr().out


def test_the_move_aside_command_keeps_the_writes_still_in_the_wal_file(tmp_path: Path):
    """Before, the advice moved runs.db alone: in WAL mode the latest writes can live only in
    runs.db-wal (a process killed before its checkpoint), and they were lost; a path with a space
    or a quote also broke the command. The advice is run here, as a user would paste it."""
    live = tmp_path / "live.db"
    conn = sqlite3.connect(live)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.executemany("INSERT INTO notes (text) VALUES (?)", [(f"note {i}",) for i in range(50)])
    conn.commit()
    folder = tmp_path / "Bob's runs" / ".workbench"
    folder.mkdir(parents=True)
    db = folder / "runs.db"
    for suffix in ("", "-wal", "-shm"):  # the files as a killed process leaves them
        shutil.copyfile(f"{live}{suffix}", f"{db}{suffix}")
    conn.close()
    assert Path(f"{db}-wal").stat().st_size > 0

    message = str(store_problem(sqlite3.DatabaseError("database disk image is malformed"), db, "reading"))
    command = message.split("`")[1]
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not db.exists() and not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    moved = sqlite3.connect(f"{db}.bad")
    try:
        assert moved.execute("SELECT count(*) FROM notes").fetchone() == (50,)
    finally:
        moved.close()
