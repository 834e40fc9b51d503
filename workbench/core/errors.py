"""Errors a user can cause and fix (bad config, bad input), as opposed to bugs.

The CLI turns a WorkbenchError into one line on stderr and exit code 2; a traceback only with
--debug. Locating the problem (file, line, field) is the whole point, so every raiser that knows
where the problem is passes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class WorkbenchError(Exception):
    """A problem the user can fix, reported as `path:line: message`."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.path:
            shown = _display_path(self.path)
            where = shown if self.line is None else f"{shown}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


def _display_path(path: str) -> str:
    """Relative to the current folder when inside it: `workbench.yaml:12:` reads best."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


class NoModelAnswered(Exception):
    """Every model in the fallback chain failed; `attempts` says why each did (CLI exit 3)."""

    exit_code = 3

    def __init__(self, message: str, attempts: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []
