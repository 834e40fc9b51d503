"""Quit at many points while a torch thread runs, each time through real interpreter exit.

Run as a script: `python tests/quit_hammer.py N [--no-fix]` prints one exit code per line.
torch is imported once; each quit point is a forked child that starts torch work in a daemon
thread (core/threads.py in_daemon_thread, as model loads and generations run), cancels the
awaiting task after a delay (as quitting the app cancels its workers), then leaves the way
`workbench` does (tui/launch.py: exit_now_if_threads_are_busy, then the interpreter's exit).
`--no-fix` skips the helper: what the app did before, to show the hammer really hits the race.
"""

from __future__ import annotations

import asyncio
import os
import sys

import torch

from workbench.core.threads import exit_now_if_threads_are_busy, in_daemon_thread


def _spin() -> None:
    torch.set_num_threads(1)
    a = torch.randn(300, 300)
    while True:
        a @ a


async def _run_then_quit(delay: float) -> None:
    task = asyncio.ensure_future(in_daemon_thread(_spin))
    await asyncio.sleep(delay)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _child(delay: float, fix: bool) -> None:
    asyncio.run(_run_then_quit(delay))
    if fix:
        exit_now_if_threads_are_busy(0)
    sys.exit(0)  # interpreter finalization, with the torch thread still inside a matmul


def main() -> None:
    count, fix = int(sys.argv[1]), "--no-fix" not in sys.argv
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            _child(0.005 + 0.02 * i, fix)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    main()
