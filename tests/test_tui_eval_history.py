"""The eval history plot: an SVG snapshot of the widget with a fixed history (two sections, the
best run starred), and the Evals tab showing it for the selected run's set on a tall terminal
(hidden at 80x24, where the summary needs the rows). Regenerate with `--snapshot-update`."""

from __future__ import annotations

import pytest
from fixtures_tui import screen_text, settle, until
from textual.app import App, ComposeResult

from workbench.core.evals.history import build_history
from workbench.core.evals.stats import wilson_interval
from workbench.tui.widgets.eval_history_plot import EvalHistoryPlot


def row(run_id: int, passed: int, total: int, digest: str, variant: str, version: str = "v1") -> dict:
    return {
        "id": run_id,
        "evalset_name": "sqlite-qa",
        "evalset_hash": version,
        "status": "done",
        "variant_name": variant,
        "variant_id": f"{run_id:012x}",
        "created_at": "2026-01-01",
        "config": {"model_digest": digest},
        "summary": {
            "passed": passed,
            "total": total,
            "pass_rate": passed / total,
            "ci": list(wilson_interval(passed, total)),
        },
    }


HISTORY = build_history(
    [
        row(1, 33, 83, "sha256:aaaa", "terse"),
        row(2, 51, 83, "sha256:aaaa", "base"),
        row(3, 56, 83, "sha256:aaaa", "k8"),
        row(4, 55, 83, "sha256:aaaa", "k8-mmr"),
        row(5, 58, 83, "sha256:bbbb", "k8"),
        row(6, 60, 83, "sha256:bbbb", "k8-system"),
    ],
    "sqlite-qa",
)


class PlotApp(App):
    def compose(self) -> ComposeResult:
        yield EvalHistoryPlot()

    def on_mount(self) -> None:
        self.query_one(EvalHistoryPlot).show_history(HISTORY)


def test_eval_history_plot_60x14(snap_compare):
    """Six runs of sqlite-qa: e1-e4 on one set of weights, a dotted rule, e5-e6 on other weights;
    the scale zoomed to the intervals (20% to 90%); each run a dot at its pass rate (40%, 61%,
    67%, 66%, 70%) with ┬/┴ whisker ends at its 95% CI; e6 (72%) starred and its id in the best
    colour; the legend names the best and the rule."""
    assert snap_compare(PlotApp(), terminal_size=(60, 14))


async def test_the_plot_marks_best_and_separates_sections_in_text():
    app = PlotApp()
    async with app.run_test(size=(60, 14)):
        plot = app.query_one(EvalHistoryPlot)
        drawn = plot.draw(HISTORY, 60, 13).plain
        narrow = plot.draw(HISTORY, 24, 13).plain.splitlines()
    lines = drawn.splitlines()
    assert lines[0] == "history · sqlite-qa · 6 runs"
    assert "".join(lines[1:-2]).count("★") == 1 and "★ best e6 72%" in lines[-1] and "┊ other weights" in lines[-1]
    assert all(line.count("┊") == 1 for line in lines[1:-1])  # one section boundary per row
    assert lines[1].startswith(" 90% ┤") and lines[-3].startswith(" 20% ┤")  # zoomed to the CIs
    assert lines[-2].split() == ["e1", "e2", "e3", "e4", "┊", "e5", "e6"]
    assert narrow[0] == "history · sqlite-qa · 3 runs (newest; 3 older)"


@pytest.fixture
def project_with_runs(tui_project_dir):
    from workbench.core.evals.evalset import parse_evalset
    from workbench.core.evals.runstore import create_run, finish_run
    from workbench.core.project import Project

    project = Project.open(tui_project_dir)
    try:
        es = parse_evalset("name: sqlite-qa\ncases:\n  - id: a\n    inputs: {question: q}\n", "qa.yaml")
        for r in HISTORY.points:
            run_id = create_run(
                project.store,
                evalset=es,
                variant_id=f"{r.run_id:012x}",
                variant_name=r.variant,
                repeat=1,
                config={"model_digest": "sha256:aaaa" if r.run_id < 5 else "sha256:bbbb"},
            )
            finish_run(
                project.store,
                run_id,
                "done",
                {"passed": r.passed, "total": r.total, "pass_rate": r.rate, "ci": [r.lo, r.hi], "cases": 83},
            )
    finally:
        project.close()
    return tui_project_dir


@pytest.mark.parametrize("size, shown", [((120, 44), True), ((80, 24), False)])
async def test_the_evals_tab_plots_the_selected_runs_set_when_tall(project_with_runs, make_app, size, shown):
    app = make_app(project_with_runs)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("f3")
        await settle(app, pilot)
        plot = app.query_one(EvalHistoryPlot)
        if shown:
            await until(pilot, lambda: plot.history is not None)
            await settle(app, pilot)
            text = screen_text(app)
            assert "history · sqlite-qa · 6 runs" in text and "★ best e6 72%" in text
        else:
            assert not plot.display or plot.region.height == 0
