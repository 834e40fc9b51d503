"""SIGTERM stops long work the way Ctrl-C does: rows stored, resume advice printed, exit 143.

Without a handler, SIGTERM (`kill PID`, a CI job's timeout, a container stop) ends the process
at once, like kill -9: an eval run or a training job stays `running` until some later command
notices, and the training worker runs on alone. `sigterm_as_sigint()` sends SIGTERM down
whatever path handles SIGINT at that moment (asyncio.run's "cancel the main task", ingest's
"stop after this batch", or KeyboardInterrupt) and remembers it, so a command can store
`interrupted` instead of `cancelled` and exit 143 (128 + 15, what a shell reports for a process
killed by SIGTERM) instead of 130 (Ctrl-C). A second SIGTERM, like a second Ctrl-C, aborts.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

EXIT_SIGINT = 130  # 128 + SIGINT: the user pressed Ctrl-C
EXIT_SIGTERM = 143  # 128 + SIGTERM: something outside asked the process to stop

_terminated = False


@contextlib.contextmanager
def sigterm_as_sigint() -> Iterator[None]:
    """Within the block, SIGTERM takes the SIGINT path (main thread only; elsewhere, and for
    the TUI which is not run inside it, nothing changes). The previous handler comes back
    after; `terminated()` keeps its answer so the caller can pick the exit code."""
    global _terminated
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _terminated = False
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum: int, frame: Any) -> None:  # noqa: ARG001
    global _terminated
    _terminated = True
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):  # asyncio's Runner, a command's own, or default_int_handler
        handler(signal.SIGINT, frame)
    else:  # SIG_IGN / SIG_DFL set by someone: still stop, through the Ctrl-C path
        raise KeyboardInterrupt


def terminated() -> bool:
    """Whether a SIGTERM arrived in this process (so the stop came from outside)."""
    return _terminated


def interrupt_exit_code() -> int:
    """143 after SIGTERM, else 130 (Ctrl-C)."""
    return EXIT_SIGTERM if _terminated else EXIT_SIGINT


def stop_status(on_ctrl_c: str = "cancelled") -> str:
    """The status to store for work stopped by a signal: `interrupted` when the stop came from
    outside (SIGTERM, as a kill would be recorded), else what Ctrl-C stores (`on_ctrl_c`)."""
    return "interrupted" if _terminated else on_ctrl_c
