"""kill -9 of the terminal app while it streams an answer: the partial answer is already in
runs.db, and the next command marks it `interrupted` and lists it. The real app in a real
pseudo-terminal; the Ollama stand-in's per-token delay keeps the answer streaming."""

from __future__ import annotations

import os
import pty
import signal
import sys
import time
from pathlib import Path

from fixtures_project import write_project
from test_cli_ask_runs import _wait_for_partial_row, workbench
from test_tui_terminal import _read_until, _spawn_app

from workbench.core.store import Store


def _start_app_on_a_long_answer(ollama_standin, tmp_path: Path) -> tuple[Path, int, int]:
    """The app in a pty on a project whose model streams 300 tokens slowly: (root, pid, fd)."""
    ollama_standin.configure(reply=[f"w{i} " for i in range(300)], token_delay_s=0.03)
    root = write_project(
        tmp_path / "p",
        host=ollama_standin.url,
        timeouts="connect_s: 2\n  first_token_s: 30\n  idle_s: 30\n  total_s: 60",
    )
    pid, fd = _spawn_app(root, tmp_path)
    return root, pid, fd


def _ask_and_wait_for_partial(root: Path, fd: int) -> dict:
    """Type "hi there", send it (ctrl+r) and return the generation row once part of it is stored."""
    seen = bytearray()
    _read_until(fd, b"palette", seen)
    os.write(fd, b"hi there")
    _read_until(fd, b"hi there", seen)
    os.write(fd, b"\x12")  # ctrl+r: send
    return _wait_for_partial_row(root / ".workbench" / "runs.db")


def test_kill_9_of_the_app_mid_answer_keeps_the_partial_answer_as_interrupted(ollama_standin, tmp_path):
    root, pid, fd = _start_app_on_a_long_answer(ollama_standin, tmp_path)
    try:
        partial = _ask_and_wait_for_partial(root, fd)
        assert partial["status"] == "running"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    time.sleep(0.1)
    with Store(root / ".workbench" / "runs.db") as store:
        assert store.recovered == 1
        row = store.get("generations", partial["id"])
        assert row["status"] == "interrupted" and row["output"].startswith(partial["output"])
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    listed = workbench("runs", "-p", str(root), "--status", "interrupted")
    assert listed.returncode == 0 and "hi there" in listed.stdout


def test_sigterm_to_the_app_mid_answer_stores_it_interrupted_and_exits_143(ollama_standin, tmp_path):
    """`kill PID` (not -9): the app stops the answer itself, stores it `interrupted` (nothing left
    for the next command to recover) and exits 143, as the CLI commands do."""
    root, pid, fd = _start_app_on_a_long_answer(ollama_standin, tmp_path)
    status = None  # the child's wait status, once it has exited
    try:
        partial = _ask_and_wait_for_partial(root, fd)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:  # keep the pty drained so the app can write while it shuts down
                os.read(fd, 65536)
            except OSError:
                pass
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = wait_status
                break
            time.sleep(0.05)
    finally:
        if status is None:  # still running (or never signalled): do not leave it behind
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status is not None and os.waitstatus_to_exitcode(status) == 143
    with Store(root / ".workbench" / "runs.db") as store:
        assert store.recovered == 0  # the app stored it itself
        row = store.get("generations", partial["id"])
        assert row["status"] == "interrupted" and row["output"].startswith(partial["output"])
