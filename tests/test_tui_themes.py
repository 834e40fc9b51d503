"""Themes: files validated into Textual themes, broken files reported once and skipped, the
choice switched from the command palette and remembered per user (XDG_CONFIG_HOME in tmp)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_tui import screen_text

from workbench.core.errors import WorkbenchError
from workbench.tui.theme_files import bundled_themes_dir, settings_path, user_themes_dir
from workbench.tui.themes import APP_VARIABLES, load_themes, theme_from_file

REPO = Path(__file__).resolve().parent.parent


def test_shipped_themes_load_and_set_every_app_variable():
    folder = bundled_themes_dir()
    assert folder == REPO / "themes"
    result = load_themes([folder])
    assert result.failed == []
    assert {"workbench-dark", "workbench-light", "workbench-high-contrast"} <= set(result.loaded)
    assert result.loaded["workbench-light"].dark is False
    for theme in result.loaded.values():
        assert set(APP_VARIABLES) <= set(theme.variables), theme.name


def test_installed_layout_finds_the_bundled_copy(tmp_path):
    package = tmp_path / "site-packages" / "workbench"
    (package / "_bundled" / "themes").mkdir(parents=True)
    assert bundled_themes_dir(package) == package / "_bundled" / "themes"
    assert bundled_themes_dir(tmp_path / "elsewhere" / "workbench") is None


def test_theme_errors_name_file_line_and_field(tmp_path):
    bad_colour = tmp_path / "bad.yaml"
    bad_colour.write_text("name: bad\nprimary: '#123456'\nbackground: not-a-colour\n")
    with pytest.raises(WorkbenchError) as info:
        theme_from_file(bad_colour)
    assert info.value.line == 3 and "background" in str(info.value) and "not a colour" in str(info.value)

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("name: u\nprimary: '#123456'\nprimery: '#000000'\n")
    with pytest.raises(WorkbenchError) as info:
        theme_from_file(unknown)
    assert info.value.line == 3 and "unknown field 'primery'" in str(info.value)

    missing = tmp_path / "missing.yaml"
    missing.write_text("name: m\nbackground: '#000000'\n")
    with pytest.raises(WorkbenchError, match="missing required colour 'primary'"):
        theme_from_file(missing)


def _user_theme(name: str, text: str) -> Path:
    folder = user_themes_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_broken_theme_files_are_reported_once_and_skipped(tui_project_dir, make_app):
    _user_theme("broken-yaml.yaml", "name: x\nprimary: [unclosed\n")
    _user_theme("bad-colour.yaml", "name: y\nprimary: '#zzzzzz'\n")
    _user_theme("mine.yaml", "name: mine\nprimary: '#ff00ff'\nbackground: '#101010'\n")
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await pilot.pause()
        notices = [n for n in app._notifications if "theme" in n.message.lower()]
        assert len(notices) == 1  # one report for all broken files
        assert "broken-yaml.yaml:2: invalid YAML" in notices[0].message  # where the [ opened
        assert "bad-colour.yaml:2" in notices[0].message
        assert "mine" in app.available_themes  # the good user theme is there
        assert "y" not in app.available_themes and "x" not in app.available_themes
        assert app.theme == "workbench-dark"
        assert "Skipped broken theme files" in screen_text(app)


async def test_theme_switch_from_the_palette_persists_for_the_user(tui_project_dir, make_app,
                                                                  xdg_config):
    app = make_app(tui_project_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "workbench-dark"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Theme: workbench-light")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "workbench-light"
    path = settings_path()
    assert path.is_relative_to(xdg_config)
    assert json.loads(path.read_text())["theme"] == "workbench-light"

    again = make_app(tui_project_dir)
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert again.theme == "workbench-light"


async def test_project_theme_is_used_until_the_user_picks_one(tmp_path, make_app, xdg_config):
    from fixtures_project import write_project

    root = write_project(tmp_path / "p", extra="theme: workbench-high-contrast\n")
    app = make_app(root, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "workbench-high-contrast"
    assert not settings_path().exists()  # starting the app writes nothing
