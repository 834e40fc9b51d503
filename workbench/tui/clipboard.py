"""Copy text with OSC 52 and say truthfully whether it can have arrived.

Inside tmux, OSC 52 reaches the outer terminal only when tmux's `set-clipboard` option is `on`;
its default, `external`, drops what applications send (tmux input.c input_osc_52 returns
unless the option is 2, `on`). Claiming "copied" there sent users pasting nothing.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from typing import Any

TMUX_HINT = (
    "inside tmux it arrives only with `set -g set-clipboard on` in ~/.tmux.conf (then `tmux source ~/.tmux.conf`)"
)


@lru_cache(maxsize=1)
def tmux_set_clipboard() -> str | None:
    """tmux's set-clipboard value when running inside tmux ('on', 'external', 'off', or '?'
    when it cannot be read), None outside tmux."""
    if not os.environ.get("TMUX"):
        return None
    try:
        done = subprocess.run(
            ["tmux", "show-options", "-gv", "set-clipboard"], capture_output=True, text=True, timeout=1, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return done.stdout.strip() or "?"


def copied_message(what: str) -> tuple[str, str]:
    """(text, severity) for the toast after `what` was sent with OSC 52."""
    setting = tmux_set_clipboard()
    if setting is None or setting == "on":
        return f"{what} copied to the clipboard (OSC 52).", "information"
    return f"{what} sent with OSC 52, but {TMUX_HINT}.", "warning"


def copy_text(node: Any, text: str, what: str) -> None:
    """Send `text` to the terminal's clipboard and tell the user what happened."""
    node.app.copy_to_clipboard(text)
    message, severity = copied_message(what)
    node.notify(message, severity=severity, timeout=2 if severity == "information" else 8, markup=False)
