"""Issue 17 item 11: promote from the Runs tab and a run's detail, and a palette that lists
every tab's actions (not only the current tab's). Real stand-in, real store, Pilot at 80x24."""

from __future__ import annotations

from fixtures_tui import screen_text, settle


async def _answer(app, pilot) -> None:
    await pilot.pause()
    app.query_one("#var-question").value = "How do readers not block writers?"
    await pilot.press("ctrl+r")
    await settle(app, pilot)


async def test_promote_from_the_runs_tab_and_the_run_detail(tui_project_dir, ollama_standin, make_app):
    ollama_standin.configure(reply=["Use ", "WAL."])
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _answer(app, pilot)
        await pilot.press("f5")
        await settle(app, pilot)
        assert "^g Promote" in screen_text(app)
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "PromoteScreen"
        assert "(Runs tab · g1)" in screen_text(app)
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("enter")  # the run's detail
        await settle(app, pilot)
        assert type(app.screen).__name__ == "RunDetailScreen"
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "PromoteScreen"
        await pilot.press(*"WAL", "enter")
        await settle(app, pilot)
    text = (tui_project_dir / "evals" / "promoted.yaml").read_text()
    assert "id: gen1-how-do-readers-not-block-writers" in text


async def test_the_palette_lists_other_tabs_actions_and_runs_them_there(tui_project_dir, make_app):
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await pilot.press(*"Evals: Mark")
        await settle(app, pilot)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "Evals: Mark A (a)" in text
        await pilot.press(*" A")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.query_one("#tabs").active == "tab-evals"
