"""Where theme files and the per-user settings live, installed or in a source checkout.

An installed wheel carries the top-level `themes/` folder as `workbench/_bundled/themes`
(pyproject force-include); a source checkout has it beside the package. Users add their own
files to `$XDG_CONFIG_HOME/llm-workbench/themes` (default `~/.config/...`), and the chosen theme
is remembered in `$XDG_CONFIG_HOME/llm-workbench/tui.json`. Nothing here creates a folder:
only saving a setting does, and only when the user changed one.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR_NAME = "llm-workbench"
SETTINGS_NAME = "tui.json"


def bundled_themes_dir(package: Path | None = None) -> Path | None:
    """The shipped themes: the wheel's bundled copy, else the source checkout's top-level folder.

    `package` is the `workbench` package folder (default: the one this file is in).
    """
    package = package or Path(__file__).resolve().parent.parent
    for candidate in (package / "_bundled" / "themes", package.parent / "themes"):
        if candidate.is_dir():
            return candidate
    return None


def config_dir() -> Path:
    """The per-user config folder (`$XDG_CONFIG_HOME/llm-workbench`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP_DIR_NAME


def user_themes_dir() -> Path:
    """Where users drop their own theme files (may not exist)."""
    return config_dir() / "themes"


def settings_path() -> Path:
    """The small JSON file that remembers per-user choices such as the theme."""
    return config_dir() / SETTINGS_NAME


def theme_dirs() -> list[Path]:
    """Folders to load themes from, in order: bundled first, so user files override them."""
    dirs = []
    bundled = bundled_themes_dir()
    if bundled is not None:
        dirs.append(bundled)
    user = user_themes_dir()
    if user.is_dir():
        dirs.append(user)
    return dirs
