"""Themes as data: YAML files validated into `textual.theme.Theme` objects.

A theme file holds Textual's base colours plus CSS variables (Textual's and APP_VARIABLES).
A theme is named by its file name, so listing themes reads no file: only the theme in use is
parsed (ThemeCatalog), and every value is checked with Textual's own colour and CSS parsers,
so a bad value is one `file:line: field` message, never a stylesheet error at start-up. Files
later in the search order replace earlier ones of the same name (a user file can restyle a
shipped theme).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.css.stylesheet import Stylesheet, StylesheetParseError
from textual.theme import Theme

from workbench.core.errors import WorkbenchError
from workbench.core.yamlfile import load_located

COLOR_FIELDS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "warning",
    "error",
    "success",
)
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


def _css_problem(var: str, value: str) -> str | None:
    """Why Textual's CSS parser refuses `value` where `$var` is used, or None.

    The value is substituted as `$var` into a one-rule stylesheet, as Textual does with theme
    variables (Stylesheet.set_variables, then parse), for the property such a variable feeds:
    a text style (`*-style`) or a colour (`color` or `background`, which differ on `auto`)."""
    props = ("text-style",) if var.endswith("style") else ("color", "background")
    for prop in props:
        sheet = Stylesheet(variables={var: value})
        sheet.add_source(f"Screen {{ {prop}: ${var}; }}", read_from=("theme", var))
        try:
            sheet.parse()
            return None
        except StylesheetParseError:
            continue
        except Exception:  # noqa: BLE001 - a `}` or `;` in the value breaks the rule itself
            break
    kind = "text style like 'bold'" if props == ("text-style",) else "colour like '#1e1e2e 40%'"
    return f"variables.{var}: {value!r} is not a {kind} (Textual's CSS parser refuses it)"


def _known_variables() -> set[str]:
    """Every CSS variable a theme can set: Textual's (from a built-in theme) and the app's."""
    from textual.theme import BUILTIN_THEMES

    return set(BUILTIN_THEMES["textual-dark"].to_color_system().generate()) | set(APP_VARIABLES)


def theme_from_file(path: Path, notes: list[str] | None = None) -> Theme:
    """One theme file -> Theme; a WorkbenchError naming file, line and field when it is wrong.
    What is used anyway but worth a notice (a `name:` other than the file's) goes to `notes`."""
    located = load_located(path)
    data = located.data
    if not isinstance(data, dict):
        raise WorkbenchError("a theme file must be a mapping of fields", path=path, line=1)

    def fail(key: tuple[Any, ...], message: str) -> WorkbenchError:
        return WorkbenchError(message, path=path, line=located.line(key), field=".".join(map(str, key)))

    unknown = set(data) - set(COLOR_FIELDS) - set(OTHER_FIELDS)
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise fail((key,), f"unknown field '{key}' (known: {', '.join(COLOR_FIELDS + OTHER_FIELDS)})")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise fail(("name",), "name must be a non-empty string")
    if name.strip() != path.stem:  # the palette lists themes by file name without reading them
        if notes is not None:
            notes.append(
                str(
                    fail(
                        ("name",),
                        f"name '{name}' differs from the file name, so the theme is "
                        f"'{path.stem}' (themes are named by their file): set name: "
                        f"{path.stem} or rename the file to {name}{path.suffix}",
                    )
                )
            )
        name = path.stem
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
    known = _known_variables()
    for var, value in variables.items():
        if not isinstance(var, str) or not isinstance(value, (str, int, float)):
            raise fail(("variables", var), f"variables.{var}: expected a string value, got {value!r}")
        if var not in known:  # Textual ignores unknown variables: a typo would do nothing
            hint = difflib.get_close_matches(var, sorted(known), n=1, cutoff=0.6)
            raise fail(
                ("variables", var), f"unknown variable '{var}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            )
        problem = _css_problem(var, str(value))
        if problem:
            raise fail(("variables", var), problem)
        clean_vars[var] = str(value)
    return Theme(name=name.strip(), dark=dark, variables=clean_vars, **kwargs)


class ThemeCatalog:
    """The theme files in `dirs`, named by file name; a file is parsed only when it is used."""

    def __init__(self, dirs: list[Path]) -> None:
        self.files: dict[str, Path] = {}
        self.problems: list[str] = []  # folders that could not be listed
        self.notes: list[str] = []  # "file:line: ..." for files used despite an oddity (theme_from_file)
        for folder in dirs:
            try:
                found = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
            except OSError as exc:
                self.problems.append(f"{folder}: cannot list theme folder: {exc}")
                continue
            for path in found:
                self.files[path.stem] = path

    def names(self, under: Path | None = None) -> list[str]:
        """Theme names, sorted; only those whose file is in folder `under` when given."""
        return sorted(n for n, p in self.files.items() if under is None or under in p.parents)

    def load(self, name: str) -> Theme:
        """The theme from file `name`; a WorkbenchError naming file, line and field otherwise."""
        path = self.files[name]
        try:
            return theme_from_file(path, self.notes)
        except WorkbenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - a theme file must never crash the app
            raise WorkbenchError(f"{type(exc).__name__}: {exc}", path=path) from None


def load_themes(dirs: list[Path]) -> ThemeLoad:
    """Every theme in `dirs`, parsed now (checks and tests; the app loads lazily); broken files
    are listed in `failed`, never raised."""
    catalog = ThemeCatalog(dirs)
    result = ThemeLoad(failed=list(catalog.problems))
    for name in catalog.names():
        try:
            result.loaded[name] = catalog.load(name)
        except WorkbenchError as exc:
            result.failed.append(str(exc))
            continue
        result.origin[name] = catalog.files[name]
    return result


def app_variable_defaults(theme: Theme) -> dict[str, str]:
    """Values for the app's variables that `theme` does not set, from its base colours."""
    fallback = {"success": "#4EBF71", "warning": "#ffa62b", "error": "#ba3c5b", "accent": "#ffa62b"}
    out = {}
    for var, base in APP_VARIABLES.items():
        out[var] = getattr(theme, base, None) or fallback[base]
    return out
