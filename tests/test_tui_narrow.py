"""At 80 columns nothing important is cut (issue 17 item 15): the header's fallback note, the
A/B panes' stats lines, the eval diff's header, the Evals and Runs tables; each read off the
rendered screen with Pilot at 80x24 and 160x48. Ollama is a refused port or the HTTP stand-in."""

from __future__ import annotations

import pytest
from fixtures_project import write_project
from fixtures_tui import screen_text

SIZES = [(80, 24), (160, 48)]


@pytest.mark.parametrize("size", SIZES)
async def test_the_header_names_model_state_and_fallback_at_any_width(tmp_path, make_app,
                                                                      ollama_nothing_listening, size):
    root = write_project(tmp_path / "down", host=ollama_nothing_listening, fallback=["ollama:qwen2.5:0.5b"])
    app = make_app(root)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        top = screen_text(app).splitlines()[0]
        if size[0] >= 160:
            assert "ollama:llama3.2 · Ollama unreachable → falling back to ollama:qwen2.5:0.5b" in top
        else:
            assert "ollama:llama3.2 unreachable → ollama:qwen2.5:0.5b" in top
        assert "…" not in top and "variant: base" in top


@pytest.mark.parametrize("size", SIZES)
async def test_ab_panes_show_their_whole_stats_line(tui_project_dir, ollama_standin, make_app, size):
    from test_tui_prompt import _ask

    ollama_standin.configure(reply=["Use ", "WAL ", "mode."])
    app = make_app(tui_project_dir)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        app.query_one("#variant-b-select").value = "prompt:qa"
        await pilot.pause()
        await _ask(app, pilot, "compare")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        screen = " ".join(screen_text(app).split())
        for pane in ("#answer-a", "#answer-b"):
            stats = app.query_one(pane).query_one(".answer-stats")
            lines = str(stats.render()).splitlines()
            assert stats.parts[0] == "ok" and any(p.endswith(" tok") for p in stats.parts)
            # every line of the packed stats fits the pane's height: the total time (last) shows
            assert stats.region.height == len(lines), lines
            assert all(len(line) <= stats.content_region.width for line in lines), lines  # no stray "·" line
            assert stats.parts[-1] in screen and "cost " in screen
