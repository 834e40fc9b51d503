"""Per-user TUI choices (today: the theme), remembered across projects and sessions.

A tiny JSON object in `$XDG_CONFIG_HOME/llm-workbench/tui.json`. Reading tolerates a missing or
damaged file (the user gets defaults, never a crash); writing is atomic (temp file + rename) so
a crash mid-write cannot leave half a file behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from workbench.tui.theme_files import settings_path


def load_settings(path: Path | None = None) -> dict[str, Any]:
    """The saved settings, or {} when there are none or the file cannot be read."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_setting(key: str, value: Any, path: Path | None = None) -> None:
    """Set one key, keeping the others; raises OSError when the folder is not writable."""
    save_settings({key: value}, path)


def save_settings(values: dict[str, Any], path: Path | None = None) -> None:
    """Set these keys, keeping the others; raises OSError when the folder is not writable."""
    path = path or settings_path()
    data = load_settings(path)
    if all(data.get(key) == value for key, value in values.items()) and path.exists():
        return
    data.update(values)
    import tempfile  # only when saving: it pulls in shutil, random, ... at start-up otherwise

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tui-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
