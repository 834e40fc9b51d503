"""What is wrong with a project's runs.db, in words that name the file and the fix.

SQLite says "database disk image is malformed" or "attempt to write a readonly database" with no
path; shown as-is, `ask` even read it as a retrieval failure. `StoreError` carries the path and
what to do: restore a backup (`backup` copies runs.db into `<data_dir>/backups/` before every
schema migration) or move the file aside, fix permissions, free disk space. `check` is what
`workbench doctor` runs: PRAGMA integrity_check over a read-only connection.
"""

from __future__ import annotations

import datetime as _dt
import shlex
import sqlite3
from pathlib import Path
from urllib.parse import quote

from workbench.core.errors import WorkbenchError

BACKUPS = "backups"  # under the data folder: <data_dir>/backups/runs-v1-20250101T120000.db


class StoreError(WorkbenchError):
    """runs.db cannot be opened or written; the message names the file and the fix."""

    def __str__(self) -> str:
        return self.message  # it names the file itself (in full: the fix is a command on it)


def backups_dir(db_path: Path) -> Path:
    return Path(db_path).parent / BACKUPS


def _aside(db_path: Path) -> str:
    """The fix as a shell command that moves runs.db with its -wal/-shm files: in WAL mode the
    latest writes may live only in -wal, and SQLite reads `<db>-wal` beside `<db>` (sqlite
    src/pager.c sqlite3PagerOpen: zWal = zFilename + "-wal"), so they move under the new name."""
    path = Path(db_path)
    moves = [f"mv {shlex.quote(str(path))} {shlex.quote(str(path) + '.bad')}"]
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            moves.append(f"mv {shlex.quote(str(side))} {shlex.quote(str(path) + '.bad' + suffix)}")
    return (
        f"restore it from {backups_dir(db_path)}/ or move the file aside "
        f"(`{' && '.join(moves)}`; a new, empty one is then created)"
    )


def store_problem(exc: BaseException, db_path: Path, doing: str) -> StoreError:
    """What a sqlite3/OS error while `doing` something with runs.db at `db_path` means."""
    if isinstance(exc, StoreError):
        return exc
    text = str(exc)
    low = text.lower()
    path = Path(db_path)
    if path.is_dir():
        return StoreError(f"the run store {path} is a folder, not a database file: move it aside", path=path)
    if "malformed" in low or "not a database" in low or "file is encrypted" in low:
        return StoreError(
            f"the run store {path} is damaged ({text}) while {doing}: {_aside(path)}; `workbench doctor` checks it",
            path=path,
        )
    if "readonly" in low or "read-only" in low or isinstance(exc, PermissionError) or "permission denied" in low:
        return StoreError(
            f"cannot write the run store {path} ({text}) while {doing}: it or its folder is "
            "read-only; fix the permissions (owner or mode) of the file, its -wal/-shm files "
            "and the folder",
            path=path,
        )
    if "disk is full" in low or "no space left" in low:
        return StoreError(
            f"the disk holding the run store {path} is full ({text}) while {doing}: free some "
            "space, then run the command again",
            path=path,
        )
    if "unable to open" in low:
        return StoreError(
            f"cannot open the run store {path} ({text}): check that its folder exists and is writable", path=path
        )
    if "locked" in low or "busy" in low:
        return StoreError(
            f"the run store {path} is locked by another process ({text}) while {doing}: wait "
            "for it to finish, then run the command again",
            path=path,
        )
    return StoreError(f"the run store {path} failed while {doing} ({text}): {_aside(path)}", path=path)


def backup(conn: sqlite3.Connection, db_path: Path, version: int) -> Path:
    """A consistent copy of the open database (the online backup API: WAL content included),
    named for its schema version and the time, in `<data_dir>/backups/`."""
    folder = backups_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    target = folder / f"{Path(db_path).stem}-v{version}-{stamp}.db"
    dest = sqlite3.connect(str(target))
    try:
        conn.backup(dest)
    finally:
        dest.close()
    return target


def check(db_path: Path) -> list[str]:
    """Problems PRAGMA integrity_check finds in runs.db (empty: healthy), read-only."""
    path = Path(db_path)
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        return [str(store_problem(exc, path, "opening it"))]
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as exc:
        return [str(store_problem(exc, path, "checking it"))]
    finally:
        conn.close()
    lines = [line for row in rows for line in str(row).splitlines() if line.strip() and not line.startswith("***")]
    if lines == ["ok"]:
        return []
    more = f" (and {len(lines) - 5} more)" if len(lines) > 5 else ""
    return [
        f"the run store {path} is damaged: PRAGMA integrity_check reports "
        + "; ".join(lines[:5])
        + more
        + f": {_aside(path)}"
    ]
