"""Citations like [1], [2, 3] in an answer, mapped back to the numbered sources it was given.

Shared by the pipeline (which marks each stored source as cited or not) and the `cites` eval
assertion, so "cited" means the same thing in the Prompt tab and in an eval run.
"""

from __future__ import annotations

import re
from typing import Any

_CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def cited_numbers(text: str) -> list[int]:
    """[1], [2, 3] and [1][4] style citations, in order of first appearance."""
    seen: list[int] = []
    for m in _CITE.finditer(text):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def source_line(source: dict[str, Any]) -> str:
    """'[1] wal.md › Write-Ahead Logging > 4. The WAL File (cited)': one numbered source as the
    CLI lists it, so a reader can see what [1] in an answer points at."""
    heading = f" › {source['heading']}" if source.get("heading") else ""
    return f"[{source.get('n')}] {source.get('path') or source.get('chunk_id')}{heading}" + (
        " (cited)" if source.get("cited") else ""
    )
