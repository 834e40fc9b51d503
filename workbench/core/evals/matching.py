"""User-written patterns (regex assertions, a JSON schema's `pattern`) matched with a time limit.

`re` has no timeout and never releases the GIL while it backtracks, so `(a|aa)+$` against a
35-character answer hung an eval run and held Ctrl-C until the match ended. The `regex` package
(default VERSION0 = `re`'s syntax) takes `timeout=` and raises TimeoutError; a timed-out match
becomes an assertion error that names the cause, never a hang.
"""

from __future__ import annotations

import functools
from typing import Any

# Seconds one match may take. Real assertions on real answers take microseconds; a second is
# far beyond any honest pattern and keeps a Ctrl-C waiting at most that long. The `regex`
# package counts CPU time, so on a busy machine the wall-clock wait is longer (3.3 s measured
# at load 10 on 2 cores).
REGEX_TIMEOUT_S = 1.0


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


def search(pattern: str, text: str, *, timeout: float = REGEX_TIMEOUT_S, what: str = "answer") -> Any:
    """`regex.search(pattern, text)` within `timeout` seconds; raises PatternTimeout past it."""
    try:
        return compile_pattern(pattern).search(text, timeout=timeout)
    except TimeoutError:
        raise PatternTimeout(f"regex timed out after {timeout:g} s on a {len(text)}-char {what}: "
                             "simplify the pattern (nested repeats like (a+)+ or (a|aa)+ backtrack "
                             "exponentially)") from None
