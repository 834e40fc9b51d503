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
    unknown.write_text("name: unknown\nprimary: '#123456'\nprimery: '#000000'\n")
    with pytest.raises(WorkbenchError) as info:
        theme_from_file(unknown)
    assert info.value.line == 3 and "unknown field 'primery'" in str(info.value)

    missing = tmp_path / "missing.yaml"
    missing.write_text("name: missing\nbackground: '#000000'\n")
    with pytest.raises(WorkbenchError, match="missing required colour 'primary'"):
        theme_from_file(missing)


async def pick_in_palette(app, pilot, command: str) -> None:
    """Open the command palette, type `command`, wait for the matches, press Enter."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*command)
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()


def _user_theme(name: str, text: str) -> Path:
    folder = user_themes_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_broken_chosen_theme_is_a_notice_and_the_default_theme(tui_project_dir, make_app):
    _user_theme("broken-yaml.yaml", "name: broken-yaml\nprimary: [unclosed\n")
    _user_theme("mine.yaml", "name: mine\nprimary: '#ff00ff'\nbackground: '#101010'\n")
    settings_path().write_text(json.dumps({"theme": "broken-yaml"}), encoding="utf-8")
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await pilot.pause()
        notices = [n for n in app._notifications if "theme" in n.message.lower()]
        assert len(notices) == 1
        assert "broken-yaml.yaml:2: invalid YAML" in notices[0].message  # where the [ opened
        assert app.theme == "workbench-dark"
        assert "Broken theme file skipped, using workbench-dark" in screen_text(app)
        assert "mine" not in app.available_themes  # listed by name, read only when chosen
        assert "mine" in app.theme_catalog.names()


async def test_theme_switch_from_the_palette_persists_for_the_user(tui_project_dir, make_app, xdg_config):
    app = make_app(tui_project_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "workbench-dark"
        await pick_in_palette(app, pilot, "Theme: workbench-light")
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


def test_theme_values_are_checked_by_textuals_own_css_parser(tmp_path):
    cases = [
        ("variables:\n  wb-notice: '#e5b567 junk'\n", 4, "wb-notice"),  # junk after a colour
        ("variables:\n  input-selection-background: '#5aa2f8 35%; }'\n", 4, "input-selection"),
        ("variables:\n  block-cursor-text-style: 'bold blinky'\n", 4, "not a text style"),
        ("variables:\n  wb-notise: '#ffffff'\n", 4, "did you mean 'wb-notice'"),
        ("background: '#101010 junk'\n", 3, "background"),
    ]
    for text, line, words in cases:
        path = tmp_path / "t.yaml"
        path.write_text("name: t\nprimary: '#123456'\n" + text, encoding="utf-8")
        with pytest.raises(WorkbenchError) as info:
            theme_from_file(path)
        assert info.value.line == line and words in str(info.value), (text, str(info.value))
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        "primary: '#123456'\nvariables:\n  input-selection-background: '#5aa2f8 35%'\n"
        "  footer-key-foreground: auto 87%\n  block-cursor-text-style: bold reverse\n",
        encoding="utf-8",
    )
    assert theme_from_file(ok).variables["footer-key-foreground"] == "auto 87%"


def test_a_theme_is_named_by_its_file_and_another_name_is_a_note(tmp_path):
    """Before, a `name:` other than the file's was refused, breaking existing user themes."""
    path = tmp_path / "ocean.yaml"
    path.write_text("name: sea\nprimary: '#123456'\n", encoding="utf-8")
    notes: list[str] = []
    assert theme_from_file(path, notes).name == "ocean"
    assert notes == [
        f"{path}:1: name 'sea' differs from the file name, so the theme is 'ocean' (themes "
        "are named by their file): set name: ocean or rename the file to sea.yaml"
    ]


async def test_a_user_theme_named_unlike_its_file_is_used_with_a_notice(tui_project_dir, make_app):
    _user_theme("ocean.yaml", "name: sea\nprimary: '#0077be'\nbackground: '#001020'\n")
    settings_path().write_text(json.dumps({"theme": "ocean"}), encoding="utf-8")
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "ocean"
        notices = [n.message for n in app._notifications if "ocean.yaml" in n.message]
        assert len(notices) == 1 and "name 'sea' differs from the file name, so the theme is 'ocean'" in notices[0]


async def test_theme_files_are_read_lazily_and_a_broken_pick_keeps_the_theme(tui_project_dir, make_app):
    import time

    from test_hostile_input import alias_bomb

    # the auditor's 7-level bomb cost 12.5 s and 2.2 GB at every start when all themes were read
    _user_theme("bomb.yaml", "primary: '#123456'\n" + alias_bomb(7))
    started = time.perf_counter()
    app = make_app(tui_project_dir)
    assert time.perf_counter() - started < 2.0
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "workbench-dark" and not app.theme_failures
        await pick_in_palette(app, pilot, "Theme: bomb")
        assert app.theme == "workbench-dark"
        notices = [n.message for n in app._notifications if "bomb" in n.message]
        assert notices and "bomb.yaml:6: too many YAML aliases" in notices[-1]
        assert "Theme 'bomb' not used (keeping workbench-dark)" in notices[-1]
