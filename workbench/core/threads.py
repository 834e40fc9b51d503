"""Blocking work (loading a model, embedding a query) off the event loop, in a daemon thread.

`asyncio.to_thread` uses the loop's default executor, and `asyncio.run` joins that executor's
threads before it returns: a Ctrl-C during a model load then waited for the load to finish
(6.5 s measured for the embedded model). A daemon thread is simply abandoned when the process
exits, so Ctrl-C is immediate; the awaiting task is cancelled as usual meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_IDS = itertools.count(1)


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """`await fn(*args)` run in a fresh daemon thread; its exception is raised here."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # the awaiting task was cancelled meanwhile
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome: tuple[bool, object] = (False, exc)
        else:
            outcome = (True, result)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    name = f"workbench-{getattr(fn, '__name__', 'work')}-{next(_IDS)}"
    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


def busy_daemon_threads() -> list[threading.Thread]:
    """Daemon threads still running (a model load, a generation, a query embedding)."""
    return [t for t in threading.enumerate() if t.daemon and t.is_alive() and t is not threading.current_thread()]


def exit_now_if_threads_are_busy(code: int) -> None:
    """Leave with `code` at once (os._exit) when a daemon thread still runs; else return.

    At interpreter exit CPython 3.11 ends each daemon thread that next asks for the GIL with
    pthread_exit (Python/ceval_gil.c take_gil -> tstate_must_exit -> PyThread_exit_thread). In
    a thread inside torch's C++ that forced unwind crosses a noexcept frame: std::terminate,
    'terminate called without an active exception', exit 134. Callers have already stored
    what ran and closed the store, so skipping finalization loses nothing.
    """
    if busy_daemon_threads():
        import os
        import sys

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
                pass
        os._exit(code)
