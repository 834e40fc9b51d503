"""Issue 17 item 7: a quick eval from the Evals tab. Limit / tag / case fields narrow the set as
`eval run --limit/--tag/--case` does, the run is stored as that subset, and the line under the
fields says how many cases and how long, timed by the past runs on the same model. Against the
real Ollama stand-in and a real store; Pilot at 80x24 and 160x48."""

from __future__ import annotations

import pytest
from fixtures_tui import screen_text, settle
from test_tui_evals import evals_dir, open_tab, stored_runs  # noqa: F401 - fixture

from workbench.core.evals.selection import Pace, duration_text, measured_pace
from workbench.tui.widgets.evals_selection import estimate_text


async def type_into(app, pilot, selector: str, text: str) -> None:
    app.query_one(selector).focus()
    await pilot.pause()
    for char in text:
        await pilot.press(char)
    await settle(app, pilot)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_limit_runs_the_first_cases_and_the_next_estimate_uses_their_pace(evals_dir, make_app, size):  # noqa: F811 - fixture
    app = make_app(evals_dir)
    async with app.run_test(size=size) as pilot:
        await open_tab(app, pilot)
        assert "4 cases · no past run on ollama:llama3.2 to time it by" in screen_text(app)
        await type_into(app, pilot, "#evals-limit", "3")
        assert "3 of 4 cases · no past run on ollama:llama3.2" in screen_text(app)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        [row] = stored_runs(app)
        assert row["status"] == "done" and row["total_cases"] == 3
        assert row["config"]["selection"]["how"] == "--limit 3"
        assert "capitals (--limit 3)" in screen_text(app) or "e1 done · 3 cases" in screen_text(app)
        app.query_one("EvalSelection").refresh_estimate()
        await settle(app, pilot)
        text = screen_text(app)
        assert "3 of 4 cases · about" in text and "a case on ollama:llama3.2, 1 past run" in text


async def test_tags_and_case_ids_narrow_and_a_wrong_id_is_said_before_the_run(evals_dir, make_app):  # noqa: F811 - fixture
    app = make_app(evals_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(app, pilot)
        await type_into(app, pilot, "#evals-tags", "eu")
        assert "1 of 4 cases" in screen_text(app)
        await type_into(app, pilot, "#evals-cases", "perux")
        assert "no case 'perux' in" in screen_text(app)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert stored_runs(app) == []
        assert "The run did not start." in screen_text(app)
        app.query_one("#evals-cases").value = ""
        await settle(app, pilot)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        [row] = stored_runs(app)
        assert row["total_cases"] == 1 and row["config"]["selection"]["how"] == "--tag eu"


def test_the_pace_is_the_median_gap_between_uncached_cases_of_that_model(tmp_path):
    from workbench.core.store import Store

    store = Store(tmp_path / "runs.db")
    assert measured_pace(store, "embedded") is None
    gid = store.insert("generations", {"model_requested": "embedded", "status": "ok"})
    other = store.insert("generations", {"model_requested": "ollama:x", "status": "ok"})
    for _ in range(3):
        store.insert("eval_runs", {"evalset_name": "s", "status": "done"})
    # run 1: cases 20 s apart, then a 2 h pause (resumed later); run 2: one case (no gap)
    for run_id, second, gen in [
        (1, 0, gid),
        (1, 20, gid),
        (1, 40, gid),
        (1, 7240, gid),
        (2, 0, gid),
        (3, 0, other),
        (3, 2, other),
    ]:
        minutes, sec = divmod(second, 60)
        hours, minutes = divmod(minutes, 60)
        store.insert(
            "eval_results",
            {
                "run_id": run_id,
                "case_id": f"c{second}",
                "cached": 0,
                "generation_id": gen,
                "created_at": f"2025-01-01T{hours:02d}:{minutes:02d}:{sec:02d}.000+00:00",
            },
        )
    pace = measured_pace(store, "embedded")
    assert pace == Pace("embedded", 20.0, 3, 2)
    assert measured_pace(store, "ollama:x").seconds_per_case == 2.0
    assert (
        estimate_text(10, 84, pace, "embedded") == "10 of 84 cases · about 3 min (20 s a case on embedded, 2 past runs)"
    )
    assert duration_text(40) == "40 s" and duration_text(3900) == "1 h 05 min"
