"""Themes as data: YAML files validated into `textual.theme.Theme` objects.

A theme file holds Textual's base colours plus the app's own variables (see APP_VARIABLES).
Loading never raises: each file either becomes a Theme or one message saying file, line and
field, so the app can report a broken file once and carry on with the rest. Files later in the
search order replace earlier themes of the same name (a user file can restyle a shipped theme).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

from workbench.core.errors import WorkbenchError
from workbench.core.yamlfile import load_located

COLOR_FIELDS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
                "boost", "warning", "error", "success")
OTHER_FIELDS = ("name", "dark", "luminosity_spread", "text_alpha", "variables", "description")

# The app's own CSS variables, with the base colour each falls back to when a theme (such as a
# built-in Textual theme) does not set it. app.tcss uses only these and Textual's variables.
APP_VARIABLES: dict[str, str] = {
    "wb-state-ok": "success",  # header: model reachable
    "wb-state-degraded": "warning",  # header: falling back, retrying
    "wb-state-down": "error",  # header: nothing reachable
    "wb-notice": "warning",  # retry / fallback notices under an answer
    "wb-cited": "accent",  # the sources list beside an answer
}


@dataclass
class ThemeLoad:
    """What loading a set of theme folders produced."""

    loaded: dict[str, Theme] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # one "file:line: problem" per broken file
    origin: dict[str, Path] = field(default_factory=dict)  # theme name -> file it came from


def _check_color(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a colour string like '#1e1e2e', got {value!r}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{where}: {value!r} is not a colour") from None
    return value


def theme_from_file(path: Path) -> Theme:
    """One theme file -> Theme; a WorkbenchError naming file, line and field when it is wrong."""
    located = load_located(path)
    data = located.data
    if not isinstance(data, dict):
        raise WorkbenchError("a theme file must be a mapping of fields", path=path, line=1)

    def fail(key: tuple, message: str) -> WorkbenchError:
        return WorkbenchError(message, path=path, line=located.line(key), field=".".join(map(str, key)))

    unknown = set(data) - set(COLOR_FIELDS) - set(OTHER_FIELDS)
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise fail((key,), f"unknown field '{key}' (known: {', '.join(COLOR_FIELDS + OTHER_FIELDS)})")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise fail(("name",), "name must be a non-empty string")
    if "primary" not in data:
        raise fail((), "missing required colour 'primary'")
    kwargs: dict[str, Any] = {}
    for key in COLOR_FIELDS:
        if data.get(key) is not None:
            try:
                kwargs[key] = _check_color(data[key], key)
            except ValueError as exc:
                raise fail((key,), str(exc)) from None
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise fail(("dark",), f"dark must be true or false, got {dark!r}")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise fail((key,), f"{key} must be a number between 0 and 1, got {value!r}")
            kwargs[key] = float(value)
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        raise fail(("variables",), "variables must be a mapping of CSS variable names to values")
    clean_vars: dict[str, str] = {}
    for var, value in variables.items():
        if not isinstance(var, str) or not isinstance(value, (str, int, float)):
            raise fail(("variables", var), f"variables.{var}: expected a string value, got {value!r}")
        clean_vars[var] = str(value)
    for var in APP_VARIABLES:
        if var in clean_vars:
            try:
                _check_color(clean_vars[var].split()[0], f"variables.{var}")
            except ValueError as exc:
                raise fail(("variables", var), str(exc)) from None
    return Theme(name=name.strip(), dark=dark, variables=clean_vars, **kwargs)


def load_themes(dirs: list[Path]) -> ThemeLoad:
    """Every `*.yaml`/`*.yml` in `dirs`; broken files are listed in `failed`, never raised."""
    result = ThemeLoad()
    for folder in dirs:
        try:
            files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
        except OSError as exc:
            result.failed.append(f"{folder}: cannot list theme folder: {exc}")
            continue
        for path in files:
            try:
                theme = theme_from_file(path)
            except WorkbenchError as exc:
                result.failed.append(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a theme file must never crash the app
                result.failed.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            result.loaded[theme.name] = theme
            result.origin[theme.name] = path
    return result


def app_variable_defaults(theme: Theme) -> dict[str, str]:
    """Values for the app's variables that `theme` does not set, from its base colours."""
    fallback = {"success": "#4EBF71", "warning": "#ffa62b", "error": "#ba3c5b", "accent": "#ffa62b"}
    out = {}
    for var, base in APP_VARIABLES.items():
        out[var] = getattr(theme, base, None) or fallback[base]
    return out
