"""Why-not after a free-text search (issue 17 item 12): ctrl+e names the document the search
should have found, like `workbench retrieve --gold DOC`; an unknown name is refused with close
matches. Real LanceDB index, real embedding model, Pilot at 80x24 and 160x48."""

from __future__ import annotations

import pytest
from fixtures_tui import screen_text
from test_tui_retrieval import indexed_dir, indexed_template, open_tab, search, settle, table_rows  # noqa: F401

from workbench.tui.screens.gold_doc import GoldDocScreen


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_naming_the_expected_document_after_a_free_text_search_shows_why_not(indexed_dir, make_app, size):
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=size) as pilot:
        tab = await open_tab(app, pilot)
        await search(app, pilot, "Do cats sleep all day?")
        assert tab.report is None
        if size[0] < 160:  # the why-not pane shares its place with the preview
            await pilot.press("ctrl+y")
            await pilot.pause()
        text = screen_text(app)
        assert "name the document you expected" in text and "(ctrl+e)" in text

        await pilot.press("ctrl+e")
        await settle(app, pilot)
        assert isinstance(app.screen, GoldDocScreen)
        text = screen_text(app)
        assert "Expected document" in text and "dogs.md" in text and "cats.md" in text

        # a typo is refused with the close match, nothing searched
        await pilot.press(*"dgos.md", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, GoldDocScreen)
        assert "dgos.md: not in the index: did you mean dogs.md?" in " ".join(screen_text(app).split())
        assert tab.report is None

        app.screen.query_one("#gold-name").value = "dogs.md"
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, GoldDocScreen)
        report = tab.report
        assert report is not None and report.relevant == ["dogs.md"]
        assert app.query_one("#rt-query").value == "Do cats sleep all day?"
        rank = report.modes["dense"].chunk_rank
        text = screen_text(app)
        assert "Why not retrieved · expected dogs.md" in text
        assert f"ranked {rank} under dense — cut at k=1" in " ".join(text.split())
        assert any(r[0].startswith("★") and r[1].startswith("dogs.md") for r in table_rows(app, "hybrid"))

        # the next free-text search keeps the expected document; an empty name clears it
        await search(app, pilot, "Which animal needs walks?")
        assert tab.report is not None and tab.report.query == "Which animal needs walks?"
        await pilot.press("ctrl+e")
        await settle(app, pilot)
        assert app.screen.query_one("#gold-name").value == "dogs.md"
        app.screen.query_one("#gold-name").value = ""
        await pilot.press("enter")
        await settle(app, pilot)
        assert tab.case is None and tab.report is None
