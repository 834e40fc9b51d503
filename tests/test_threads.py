"""`in_daemon_thread`: blocking work off the loop that a Ctrl-C never has to wait for."""

from __future__ import annotations

import asyncio
import threading

import pytest

from workbench.core.threads import in_daemon_thread


async def test_result_and_exception_come_back():
    assert await in_daemon_thread(lambda a, b: a + b, 2, 3) == 5

    def boom():
        raise ValueError("no model here")

    with pytest.raises(ValueError, match="no model here"):
        await in_daemon_thread(boom)


def test_asyncio_run_returns_without_waiting_for_a_blocked_load():
    """With asyncio.to_thread, asyncio.run joins the executor: a Ctrl-C during a model load
    waited for the load. Here the cancelled task returns and the thread is left to die."""
    release = threading.Event()

    async def main():
        task = asyncio.create_task(in_daemon_thread(release.wait))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    finished = threading.Event()
    runner = threading.Thread(target=lambda: (asyncio.run(main()), finished.set()), daemon=True)
    runner.start()
    try:
        assert finished.wait(30)  # to_thread would block here until `release` is set
        blocked = [t for t in threading.enumerate() if t.name.startswith("workbench-wait")]
        assert blocked and all(t.daemon for t in blocked)
    finally:
        release.set()
