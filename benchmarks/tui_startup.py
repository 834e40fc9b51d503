"""Time from process start to first paint: the workbench vs a bare Textual hello-world app.

Both run as real processes in a real pseudo-terminal (80x24, TERM=xterm-256color), the way a user
starts them; "first paint" is the moment the terminal has received a complete first screen (for
the workbench: the Prompt tab's question field, and the footer with the tab's keys and the
palette key). Runs alternate workbench / hello-world so load on this
shared machine hits both alike. Prints the medians and their ratio. Target: ratio < 2.5, and the
workbench's first paint under 1 s.

Run: .venv/bin/python benchmarks/tui_startup.py [--reps 7] [--project sample_data]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HELLO = """
from textual.app import App
from textual.widgets import Static

class Hello(App):
    def compose(self):
        yield Static("hello-world-first-paint")

Hello().run()
"""


class PtyProcess:
    """A child process on its own pseudo-terminal, with every output chunk timestamped."""

    def __init__(
        self, argv: list[str], *, env: dict[str, str], cols: int = 80, rows: int = 24, cwd: str | None = None
    ) -> None:
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            if cwd:
                os.chdir(cwd)
            os.execve(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.chunks: list[tuple[float, bytes]] = []
        self.buffer = bytearray()
        self.lock = threading.Condition()
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if not ready:
                    if self.closed:
                        return
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            now = time.perf_counter()
            with self.lock:
                if not data:
                    self.closed = True
                    self.lock.notify_all()
                    return
                self.chunks.append((now, data))
                self.buffer.extend(data)
                self.lock.notify_all()
            if b"\x1b[6n" in data:  # cursor position query: answer like a terminal would
                os.write(self.fd, b"\x1b[1;1R")

    def wait_for(self, marker: bytes, *, after: int = 0, timeout: float = 30.0) -> float:
        """perf_counter time of the chunk that completed `marker` (searching from byte `after`)."""
        deadline = time.perf_counter() + timeout
        with self.lock:
            while True:
                index = self.buffer.find(marker, after)
                if index >= 0:
                    end = index + len(marker)
                    seen = 0
                    for stamp, data in self.chunks:
                        seen += len(data)
                        if seen >= end:
                            return stamp
                if self.closed:
                    raise RuntimeError(f"process ended before {marker!r}: {bytes(self.buffer[-400:])!r}")
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"no {marker!r} within {timeout} s: {bytes(self.buffer[-400:])!r}")
                self.lock.wait(left)

    @property
    def size(self) -> int:
        with self.lock:
            return len(self.buffer)

    def write(self, data: bytes) -> float:
        now = time.perf_counter()
        os.write(self.fd, data)
        return now

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.closed = True
        try:
            os.close(self.fd)
        except OSError:
            pass


def child_env(xdg: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TERM="xterm-256color",
        COLUMNS="80",
        LINES="24",
        XDG_CONFIG_HOME=xdg,
        LANCEDB_LOG="error",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("TEXTUAL", None)
    env.pop("WORKBENCH_CONFIG", None)
    return env


def time_to_marker(argv: list[str], markers: tuple[bytes, ...], env: dict[str, str]) -> float:
    """Seconds from process start until every marker has been drawn."""
    proc = PtyProcess(argv, env=env)
    try:
        return max(proc.wait_for(marker) for marker in markers) - proc.started
    finally:
        proc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--project", default=str(ROOT / "sample_data"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as xdg:
        env = child_env(xdg)
        # A complete first screen: the Prompt tab's question field, and the footer with the
        # tab's own keys (Send) as well as the palette key at its right edge.
        workbench = [sys.executable, "-m", "workbench.cli", "--project", args.project]
        wb_markers = (b"question", b"Send", b"palette")
        hello = [sys.executable, "-c", HELLO]
        hello_markers = (b"hello-world-first-paint",)
        time_to_marker(workbench, wb_markers, env)  # warm the OS file cache for both
        time_to_marker(hello, hello_markers, env)
        wb_times, hello_times = [], []
        for _ in range(args.reps):
            wb_times.append(time_to_marker(workbench, wb_markers, env))
            hello_times.append(time_to_marker(hello, hello_markers, env))
    wb, hw = statistics.median(wb_times), statistics.median(hello_times)
    print(f"first paint, median of {args.reps} (80x24 pty, process start -> first frame):")
    print(
        f"  hello-world Textual app: {hw * 1000:7.0f} ms  (runs: "
        + ", ".join(f"{t * 1000:.0f}" for t in hello_times)
        + ")"
    )
    print(
        f"  workbench:               {wb * 1000:7.0f} ms  (runs: "
        + ", ".join(f"{t * 1000:.0f}" for t in wb_times)
        + ")"
    )
    ratio = wb / hw
    print(
        f"  ratio workbench / hello-world: {ratio:.2f}x (target < 2.5x); "
        f"workbench under 1 s: {'yes' if wb < 1.0 else 'no'}"
    )
    return 0 if ratio < 2.5 else 1


if __name__ == "__main__":
    sys.exit(main())
