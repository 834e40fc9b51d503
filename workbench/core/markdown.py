"""Markdown for reports (eval reports, retrieval traces, a run's detail): user and model text is
untrusted, so it goes inside a fence long enough that no backticks in it can close it, or into
an escaped single-line cell."""

from __future__ import annotations

import re


def fence_marker(text: str) -> str:
    """A backtick run longer than any inside `text` (at least three)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def fence(text: str, lang: str = "") -> str:
    """`text` as a fenced block (trailing whitespace dropped), kept literal whatever it holds."""
    ticks = fence_marker(text)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def md_cell(text: str) -> str:
    """User text (ids, names) inside a table cell or a line: no pipes, no newlines, no markup."""
    t = " ".join(str(text).split())
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", t)
