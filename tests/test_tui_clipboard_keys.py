"""Issue 17 items 13 and 14: ctrl+o is Copy on every tab (Override moved to ctrl+y), and the
OSC 52 toast inside tmux says how to enable it unless tmux's set-clipboard is on. tmux is faked
by a `tmux` script on PATH printing the option (no tmux server here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.tui import clipboard


def test_ctrl_o_is_copy_wherever_it_is_bound():
    from test_tui_app import _binding_owners

    uses = {(cls.__name__, b.description) for cls in _binding_owners() for b in cls.BINDINGS if b.key == "ctrl+o"}
    assert uses and all("Copy" in description for _, description in uses), uses
    from workbench.tui.tabs.finetune import FinetuneTab

    assert [b.key for b in FinetuneTab.BINDINGS if b.action == "override"] == ["ctrl+y"]


@pytest.fixture
def fake_tmux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def set_to(value: str | None) -> None:
        folder = tmp_path / "bin"
        folder.mkdir(exist_ok=True)
        script = folder / "tmux"
        script.write_text(f"#!/bin/sh\necho {value}\n")
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
        if value is None:
            monkeypatch.delenv("TMUX", raising=False)
        else:
            monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
        clipboard.tmux_set_clipboard.cache_clear()

    yield set_to
    clipboard.tmux_set_clipboard.cache_clear()


def test_the_copy_note_is_honest_inside_tmux(fake_tmux):
    fake_tmux(None)
    assert clipboard.copied_message("Answer A") == ("Answer A copied to the clipboard (OSC 52).", "information")
    fake_tmux("on")
    assert clipboard.copied_message("Answer A")[1] == "information"
    fake_tmux("external")  # tmux's default
    text, severity = clipboard.copied_message("Answer A")
    assert severity == "warning" and "copied" not in text
    assert "set -g set-clipboard on" in text


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_copying_an_answer_in_tmux_says_how_to_enable_it(
    tui_project_dir, ollama_standin, make_app, fake_tmux, size
):
    fake_tmux("external")
    ollama_standin.configure(reply=["Use ", "WAL."])
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.query_one("#var-question").value = "q"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.clipboard == "Use WAL."
        [note] = [n.message for n in app._notifications]
        assert "inside tmux it arrives only with `set -g set-clipboard on`" in note
