"""The Retrieval tab's tune screen (ctrl+b, issue 13): the `retrieval tune` table with the current
row marked, Esc stopping the sweep, and `a` applying a winner: workbench.yaml edited, the index
rebuilt, and the stored `retrieval eval` reproducing the row's score. Real LanceDB index and
embedding model; the tiny corpus cannot make a difference real, so one test picks the winner."""

from __future__ import annotations

import pytest
from fixtures_tui import screen_text
from test_tui_retrieval import indexed_dir, indexed_template, open_tab, settle  # noqa: F401

from workbench.core.retrieval.tune import TuneResult, default_grid
from workbench.tui.screens.retrieval_tune import TuneScreen


async def _tune(app, pilot) -> TuneScreen:
    await open_tab(app, pilot)
    await pilot.press("ctrl+b")
    await settle(app, pilot)
    assert isinstance(app.screen, TuneScreen)
    return app.screen


async def test_tune_screen_shows_every_configuration_with_the_current_row_and_nothing_to_apply(indexed_dir, make_app):
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _tune(app, pilot)
        res = screen.result
        grid = default_grid(screen.project.config.retrieval)
        assert res is not None and not res.cancelled and len(res.rows) == len(grid)
        table = screen.query_one("#tune-table")
        assert table.row_count == len(grid)
        marks = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]  # the mark leads on screen
        assert marks.count("current") == 1
        text = " ".join(screen_text(app).split())
        assert "2 cases, k=1" in text and "nDCG Δ vs current" in text
        assert "No configuration is really better than the current settings" in text
        before = (indexed_dir / "workbench.yaml").read_text(encoding="utf-8")
        await pilot.press("a")
        await settle(app, pilot)
        assert (indexed_dir / "workbench.yaml").read_text(encoding="utf-8") == before
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, TuneScreen)


async def test_esc_stops_the_sweep_and_nothing_can_be_applied(indexed_dir, make_app, monkeypatch):
    from workbench.core.retrieval.tune_project import TunePlan

    real_run = TunePlan.run

    def run_after_esc(self, project, **kwargs):  # the tiny sweep would finish before Esc lands
        kwargs["cancel"].wait(30)
        return real_run(self, project, **kwargs)

    monkeypatch.setattr(TunePlan, "run", run_after_esc)
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(app, pilot)
        await pilot.press("ctrl+b", "escape")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TuneScreen) and screen.result.cancelled
        assert "nothing to apply" in " ".join(screen_text(app).split())


async def test_a_applies_the_winner_and_the_stored_eval_reproduces_its_score(indexed_dir, make_app, monkeypatch):
    # Only the choice is forced (2 cases never make a difference real): dense with the
    # document vector, a change of mode and doc_weight. Writing, re-indexing and scoring are real.
    def forced(self: TuneResult):
        return next(
            r
            for r in self.rows
            if r.config.mode == "dense"
            and r.config.doc_weight == 1.0
            and (r.config.chunk_tokens, r.config.overlap_tokens)
            == (self.current.chunk_tokens, self.current.overlap_tokens)
        )

    monkeypatch.setattr(TuneResult, "winner", property(forced))
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _tune(app, pilot)
        row = screen.result.winner
        await pilot.press("a")
        await settle(app, pilot)
        text = " ".join(screen_text(app).split())
        assert "retrieval eval re" in text, text
        assert "index unchanged (same chunking)" in text  # a search-only change embeds nothing again
        assert "stored as rt1" in text  # the sweep is a run: `workbench runs show rt1`
        assert f"dense nDCG@10 {row.metrics['ndcg@10']:.3f}, MRR@10 {row.metrics['mrr@10']:.3f}" in text
        yaml = (indexed_dir / "workbench.yaml").read_text(encoding="utf-8")
        assert 'mode: "dense"' in yaml and "doc_weight: 1\n" in yaml and "chunk_tokens: 60" in yaml
        await pilot.press("escape")
        await settle(app, pilot)
        tab = app.query_one("RetrievalTab")
        assert tab.settings.mode == "dense" and tab.settings.doc_weight == pytest.approx(1.0)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_current_row_shows_its_scores_and_mark_at_80_and_120_columns(indexed_dir, make_app, size):
    # The configuration labels run ~60 characters: placed first, they pushed the scores, the
    # interval and the current/winner mark off a narrow screen.
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=size) as pilot:
        screen = await _tune(app, pilot)
        res = screen.result
        table = screen.query_one("#tune-table")
        current = next(i for i, r in enumerate(res.rows) if r.config == res.current)
        other = next(r for r in res.rows if r.config != res.current)
        table.move_cursor(row=current)  # a tall grid: the user scrolls to it
        await settle(app, pilot)
        row = res.rows[current]
        lines = screen_text(app).splitlines()
        assert any("current" in line and f"{row.metrics['ndcg@10']:.3f}" in line for line in lines), "\n".join(lines)
        lo, hi = other.delta[1:]
        table.move_cursor(row=res.rows.index(other))
        await settle(app, pilot)
        text = screen_text(app)
        assert f"[{lo:+.3f}, {hi:+.3f}]" in text, text
