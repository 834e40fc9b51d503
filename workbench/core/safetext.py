"""Model output and document text are untrusted: show them, never let the terminal obey them.

A model can emit ANSI escape sequences (colour, cursor moves, OSC 52 clipboard writes, window
titles) or text that looks like Rich markup. Printing either raw lets the model repaint or
hijack the user's terminal. `terminal_safe` makes every control character visible instead;
Rich renderables must be built with `rich.text.Text(terminal_safe(s))`, never markup strings.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    char = match.group(0)
    return {"\x1b": "\\x1b", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}")


def terminal_safe(text: str) -> str:
    """The text with every control character (except \\n and \\t) shown as a `\\xNN` escape."""
    if not text:
        return text
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(_visible, text)
