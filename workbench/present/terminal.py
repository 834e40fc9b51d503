"""The CLI's Rich console: no highlighting (it would restyle numbers and paths in user text) and
soft wrap (a path cut at the width would not paste)."""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.text import Text


def console(file: IO[str] | None = None) -> Console:
    return Console(file=file, highlight=False, soft_wrap=True)


TABLE_WIDTH_OFF_TERMINAL = 160


def table_console() -> Console:
    """Stdout for a wide table: the terminal's width in a terminal; off one (a pipe, a file, a
    CI log) 160 columns, not Rich's 80, so each row stays one line a reader can grep and diff
    (the 38-row `retrieval tune` table at 80 took four lines a row)."""
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=TABLE_WIDTH_OFF_TERMINAL)
    return out


def plain(out: Console) -> bool:
    """Styles do not show (a pipe, a CI log, NO_COLOR): word diffs use `[-old-]{+new+}` markers."""
    return bool(out.no_color or not out.is_terminal)


def print_lines(out: Console, lines: list[Text] | list[str]) -> None:
    """Each line as Rich Text (a str is never parsed as markup)."""
    for line in lines:
        out.print(line if isinstance(line, Text) else Text(line))
