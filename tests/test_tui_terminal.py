"""The real app in a real pseudo-terminal: keys arrive as the terminal sends them, several in one
read, which Pilot does not reproduce (it hands the app one key at a time).

A user (or tmux, or a paste) who types a query, Enter and F3 in one burst must get the search
and then the Evals tab: the Enter belongs to the query box it was typed into.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from test_tui_retrieval import make_project_dir

F3 = b"\x1bOR"  # what xterm sends for F3


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{marker!r} never appeared; last output: {bytes(seen[-300:])!r}")
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            try:
                seen.extend(os.read(fd, 65536))
            except OSError:
                raise AssertionError(f"the app exited; last output: {bytes(seen[-300:])!r}") from None


def _spawn_app(root: Path, tmp_path: Path, **env: str) -> tuple[int, int]:
    """The workbench on `root` in a 100x30 pseudo-terminal, as a user starts it: (pid, pty fd)."""
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "COLUMNS": "100",
        "LINES": "30",
        **env,
    }
    pid, fd = pty.fork()
    if pid == 0:  # the child: the workbench
        os.execve(sys.executable, [sys.executable, "-m", "workbench.cli", "--project", str(root)], env)
    return pid, fd


def _retrieval_queries(root: Path) -> list[str]:
    with sqlite3.connect(root / ".workbench" / "runs.db") as db:
        try:
            return [q for (q,) in db.execute("SELECT query FROM retrievals ORDER BY id")]
        except sqlite3.OperationalError:  # the app has not created its tables yet
            return []


@pytest.mark.slow
def test_enter_then_f3_in_one_burst_searches_then_switches(tmp_path, embedder):
    from workbench.core.project import Project
    from workbench.core.retrieval.service import ingest_project

    root = make_project_dir(tmp_path / "proj")
    project = Project.open(root)
    try:
        ingest_project(project, project.config.retrieval)
    finally:
        project.close()
    pid, fd = _spawn_app(root, tmp_path, LANCEDB_LOG="error")
    seen = bytearray()
    try:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        _read_until(fd, b"palette", seen)
        os.write(fd, b"\x1bOQ")  # F2: Retrieval
        _read_until(fd, b"Search", seen)
        # Typed into the empty box (no ctrl+u first: Textual's input parser can drop text that
        # follows a ctrl+u closely, an upstream quirk that is not what this test is about).
        os.write(fd, b"cats sleep")
        _read_until(fd, b"cats sleep", seen)
        os.write(fd, b"\r" + F3)  # Enter and F3 in one write, as a fast burst arrives
        _read_until(fd, b"Mark A", seen)  # the Evals tab's keys: F3 was not lost
        deadline = time.monotonic() + 90  # the search loads the embedding model first
        while "cats sleep" not in _retrieval_queries(root) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _retrieval_queries(root) == ["cats sleep"]  # and the Enter searched
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(fd)
