"""The CLI's Rich console: no highlighting (it would restyle numbers and paths in user text) and
soft wrap (a path cut at the width would not paste)."""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.text import Text


def console(file: IO[str] | None = None) -> Console:
    return Console(file=file, highlight=False, soft_wrap=True)


def plain(out: Console) -> bool:
    """Styles do not show (a pipe, a CI log, NO_COLOR): word diffs use `[-old-]{+new+}` markers."""
    return bool(out.no_color or not out.is_terminal)


def print_lines(out: Console, lines: list[Text] | list[str]) -> None:
    """Each line as Rich Text (a str is never parsed as markup)."""
    for line in lines:
        out.print(line if isinstance(line, Text) else Text(line))
