"""The footer (KeyHints): the focused widget's keys on one line, the palette key kept at the right
edge when space runs out, present in the very first frame, redrawn on a focus change, and a click
on a key presses it."""

from __future__ import annotations

from fixtures_tui import screen_text

from workbench.tui.widgets.key_hints import Hint, KeyHints, layout_hints


def _hints(*pairs: tuple[str, str]) -> list[Hint]:
    return [Hint(key, key, description, True) for key, description in pairs]


def test_layout_drops_keys_from_the_end_and_keeps_the_palette_at_the_right_edge():
    hints = _hints(("^r", "Send"), ("esc", "Cancel"), ("^t", "A/B"))
    palette = Hint("ctrl+p", "^p", "palette", True)
    line, spans = layout_hints(hints, palette, 40)
    assert line == "^r Send esc Cancel ^t A/B".ljust(28) + "▏^p palette "
    assert len(line) == 40
    assert [line[s:e] for s, e, _ in spans] == ["^r Send", "esc Cancel", "^t A/B", "^p palette"]

    line, spans = layout_hints(hints, palette, 29)  # 17 columns before the palette: no Cancel
    assert line == "^r Send".ljust(17) + "▏^p palette "
    assert [h.description for _, _, h in spans] == ["Send", "palette"]


async def test_first_frame_shows_the_prompt_keys_and_a_focus_change_redraws(tui_project_dir, make_app):
    app = make_app(tui_project_dir, probe=False)
    first_frames: list[str] = []
    original = app._display

    def record_first_frame(*args, **kwargs):
        if not first_frames:
            first_frames.append(app.query_one(KeyHints).render().plain)
        return original(*args, **kwargs)

    app._display = record_first_frame
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert first_frames and "^r Send" in first_frames[0] and "^p palette" in first_frames[0]
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        for _ in range(100):
            if "Refresh" in screen_text(app).splitlines()[-1]:
                break
            await pilot.pause(0.01)
        footer = screen_text(app).splitlines()[-1]
        assert "Refresh" in footer and "Send" not in footer


async def test_clicking_a_key_runs_its_action(tui_project_dir, make_app):
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        hints = app.query_one(KeyHints)
        line = hints.render().plain
        column = line.index("^t A/B")
        await pilot.click(KeyHints, offset=(column + 1, 0))
        await pilot.pause()
        assert app.query_one("PromptTab").ab  # ctrl+t toggled A/B mode
