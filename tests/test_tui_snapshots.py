"""SVG snapshots of the frame and its own tabs at 80x24, and the Prompt tab (A/B) at 160x48.

The Retrieval, Evals and Fine-tune tabs are pinned by their owners' snapshot tests; here the
placeholder pane (what a tab shows before its module exists) is pinned on its own.

Deterministic by construction: the model is the Ollama stand-in (fixed version string, host not
shown), the store is empty, cursor blink is off, and nothing shows a clock. Regenerate with
`pytest tests/test_tui_snapshots.py --snapshot-update` and review the SVGs in the diff.
"""

from __future__ import annotations

import pytest
from fixtures_tui import until_stable


@pytest.fixture
def snapshot_app(tui_project_dir, make_app):
    return make_app(tui_project_dir)


async def _focus_settled(pilot, rounds: int = 200) -> None:
    """Switching tab moves the focus after a refresh; wait until it has landed in the tab."""
    from textual.widgets import TabbedContent

    app = pilot.app
    tabs = app.query_one("#tabs", TabbedContent)
    for _ in range(rounds):
        pane = tabs.get_pane(tabs.active) if tabs.active else None
        focused = app.screen.focused
        if pane is not None and focused is not None and pane in focused.ancestors:
            return
        await pilot.pause()


def _prepare(*keys: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.pause()
        await app.workers.wait_for_complete()  # the header's Ollama probe
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        await _focus_settled(pilot)
        for widget in app.query("Input, TextArea"):
            widget.cursor_blink = False
        await until_stable(app, pilot)

    return run_before


def test_prompt_tab_80x24(snap_compare, snapshot_app):
    """Header (project, model reachable v0.33.0, variant base), the editor with the plain
    prompt loaded, the question Input focused, an empty answer pane, the footer's keys."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_prepare())


def test_placeholder_pane_80x24(snap_compare, tui_project_dir, make_app, monkeypatch):
    """A tab whose module is not in the build: the frame shows a placeholder saying what the
    tab will show and which command does the job meanwhile (the Fine-tune text)."""
    import dataclasses

    import workbench.tui.app as app_module
    import workbench.tui.tabs as tabs_module

    specs = tuple(
        dataclasses.replace(s, module="workbench.tui.tabs._not_built_" + s.id) if s.id == "finetune" else s
        for s in tabs_module.TABS
    )
    monkeypatch.setattr(tabs_module, "TABS", specs)
    monkeypatch.setattr(app_module, "TABS", specs)
    app = make_app(tui_project_dir)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_prepare("f4"))


def test_runs_tab_80x24(snap_compare, snapshot_app):
    """The Runs tab on an empty store: search box, kind and status filters, column headings,
    '0 runs', and the Runs tab's keys in the footer."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_prepare("f5"))


def test_prompt_tab_ab_160x48(snap_compare, snapshot_app):
    """A/B mode at 160x48: the second variant picker in the editor, set to another variant
    (audience, not base vs base), and two empty answer panes."""
    assert snap_compare(snapshot_app, terminal_size=(160, 48), run_before=_prepare("ctrl+t"))
