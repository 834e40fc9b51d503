"""User-written patterns (regex assertions, a JSON schema's `pattern`) matched with a time limit.

`re` has no timeout and never releases the GIL while it backtracks, so `(a|aa)+$` against a
35-character answer hung an eval run and held Ctrl-C until the match ended. The `regex` package
(default VERSION0 = `re`'s syntax) takes `timeout=` and raises TimeoutError; a timed-out match
becomes an assertion error that names the cause, never a hang.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

# Seconds one check may spend matching (all its patterns together: a JSON schema's `pattern`
# on many strings shares one deadline). Real assertions on real answers take microseconds; a
# second is far beyond any honest pattern and keeps a Ctrl-C waiting at most that long. The
# `regex` package's own timeout counts CPU time (3.3 s of wall time measured at load 10 on
# 2 cores), so a match that outlives its first slice runs in a thread and the wait for it is
# cut off in wall time too.
REGEX_TIMEOUT_S = 1.0
# CPU seconds a match runs inline before moving to a thread: honest patterns end far sooner,
# so they never pay for a thread.
_INLINE_S = 0.05


class PatternTimeout(Exception):
    """A user pattern ran past its time limit (the message says which limit and what to do)."""


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """The `regex` engine's compiled pattern (cached: an eval set repeats its patterns)."""
    import regex  # ~15 ms; only eval runs with a regex check pay it

    return regex.compile(pattern)


def pattern_problem(pattern: Any) -> str | None:
    """Why `pattern` cannot be used (None if it can): checked by both `re`, the syntax users
    know, and `regex`, the engine that runs it, so a loader error comes before any run."""
    import re

    import regex

    try:
        re.compile(pattern)
        compile_pattern(pattern)
    except (re.error, regex.error, TypeError) as exc:
        return str(exc)
    return None


def deadline(seconds: float = REGEX_TIMEOUT_S) -> float:
    """A `time.monotonic()` instant `seconds` from now: one per check, shared by its matches."""
    return time.monotonic() + seconds


def search(pattern: str, text: str, *, until: float | None = None, what: str = "answer") -> Any:
    """`regex.search(pattern, text)` ended by `until` (a `deadline()`; default: a fresh one)
    in wall time as well as CPU time; raises PatternTimeout past it."""
    compiled = compile_pattern(pattern)
    until = deadline() if until is None else until
    left = until - time.monotonic()
    if left > 0:
        try:
            return compiled.search(text, timeout=min(left, _INLINE_S))
        except TimeoutError:
            left = until - time.monotonic()
        if left > 0:
            return _search_in_thread(compiled, text, left, what)
    raise _timed_out(text, what)


def _search_in_thread(compiled: Any, text: str, left: float, what: str) -> Any:
    """The match in a daemon thread (`concurrent=True` releases the GIL), waited for at most
    `left` wall seconds; a match given up on still stops itself at `left` CPU seconds."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["match"] = compiled.search(text, timeout=left, concurrent=True)
        except BaseException as exc:  # handed to the waiting caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="workbench-regex", daemon=True).start()
    if not done.wait(left) or isinstance(box.get("error"), TimeoutError):
        raise _timed_out(text, what)
    if "error" in box:
        raise box["error"]
    return box["match"]


def _timed_out(text: str, what: str) -> PatternTimeout:
    return PatternTimeout(
        f"regex timed out after {REGEX_TIMEOUT_S:g} s on a {len(text)}-char {what}: "
        "simplify the pattern (nested repeats like (a+)+ or (a|aa)+ backtrack "
        "exponentially)"
    )
