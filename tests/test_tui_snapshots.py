"""SVG snapshots of every tab at 80x24 and the Prompt tab (A/B) at 160x48.

Deterministic by construction: the model is the Ollama stand-in (fixed version string, host not
shown), the store is empty, cursor blink is off, and nothing shows a clock. Regenerate with
`pytest tests/test_tui_snapshots.py --snapshot-update` and review the SVGs in the diff.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def snapshot_app(tui_project_dir, make_app):
    return make_app(tui_project_dir)


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
        for widget in app.query("Input, TextArea"):
            widget.cursor_blink = False
        await pilot.pause()

    return run_before


def test_prompt_tab_80x24(snap_compare, snapshot_app):
    """Header (project, model reachable v0.33.0, variant base), the editor with the plain
    prompt loaded, the question Input focused, an empty answer pane, the footer's keys."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_prepare())


def test_retrieval_tab_80x24(snap_compare, snapshot_app):
    """The Retrieval tab's placeholder: what the tab will show and the command to use meanwhile."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_prepare("f2"))


def test_evals_tab_80x24(snap_compare, snapshot_app):
    """The Evals tab's placeholder."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_prepare("f3"))


def test_finetune_tab_80x24(snap_compare, snapshot_app):
    """The Fine-tune tab's placeholder."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_prepare("f4"))


def test_runs_tab_80x24(snap_compare, snapshot_app):
    """The Runs tab on an empty store: search box, kind and status filters, column headings,
    '0 runs', and the Runs tab's keys in the footer."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_prepare("f5"))


def test_prompt_tab_ab_160x48(snap_compare, snapshot_app):
    """A/B mode at 160x48: the second variant picker in the editor and two empty answer panes."""
    assert snap_compare(snapshot_app, terminal_size=(160, 48), run_before=_prepare("ctrl+t"))
