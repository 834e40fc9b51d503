"""At 80 columns nothing important is cut (issue 17 item 15): the header's fallback note, the
A/B panes' stats lines, the eval diff's header, the Evals and Runs tables; each read off the
rendered screen with Pilot at 80x24 and 160x48. Ollama is a refused port or the HTTP stand-in."""

from __future__ import annotations

import pytest
from fixtures_project import write_project
from fixtures_tui import screen_text

SIZES = [(80, 24), (160, 48)]


async def _settled(app, pilot, *keys: str) -> None:
    """Press `keys`, then let the workers finish and the screen repaint."""
    if keys:
        await pilot.press(*keys)
    await app.workers.wait_for_complete()
    for _ in range(3):
        await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
async def test_the_header_names_model_state_and_fallback_at_any_width(
    tmp_path, make_app, ollama_nothing_listening, size
):
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


@pytest.mark.parametrize("size", SIZES)
async def test_the_eval_diff_header_shows_every_line(tmp_path, make_app, size):
    """Counts, the statistics, the totals and every warning (here: the promote's note and a
    changed case's) are all on screen above the case list."""
    from test_evals_diff_shared import SET

    from workbench.core.evals import runstore
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.results import CaseResult
    from workbench.core.store import Store
    from workbench.present.evals import counts_line, stats_line, totals_line
    from workbench.tui.screens.evals_diff import EvalsDiffScreen

    root = write_project(tmp_path / "proj", extra="evals:\n  dir: evals\n")
    (root / "evals").mkdir()
    path = root / "evals" / "prod.yaml"
    path.write_text(SET, encoding="utf-8")

    def _run(store, path, verdicts):
        es = load_evalset(path)
        run_id = runstore.create_run(store, evalset=es, variant_id="abc123", variant_name="base", repeat=1, config={})
        for n, (cid, verdict) in enumerate(verdicts.items()):
            gen = store.start_generation(
                {
                    "source": "eval",
                    "inputs": {},
                    "output": f"{cid} {verdict}",
                    "status": "ok",
                    "completion_tokens": 40 + n,
                    "cost": 0.0012 * (n + 1),
                }
            )
            runstore.write_result(
                store,
                run_id,
                CaseResult(cid, verdict, output=f"{cid} {verdict}", latency_ms=900.0 + 300 * n, generation_id=gen),
            )
        runstore.finish_run(store, run_id, "done", {})
        return run_id

    with Store(root / ".workbench" / "runs.db") as store:
        e1 = _run(store, path, {"wal": "pass", "vacuum": "fail"})
        path.write_text(
            SET.replace("value: VACUUM", "value: VACUUM INTO") + "  - id: busy-timeout-for-writers\n"
            "    inputs: {question: Why a busy timeout}\n    expected: Writers wait.\n",
            encoding="utf-8",
        )
        e2 = _run(store, path, {"wal": "fail", "vacuum": "pass", "busy-timeout-for-writers": "pass"})
    app = make_app(root, probe=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.push_screen(EvalsDiffScreen(app.project, app.project.store, e1, e2))
        await app.workers.wait_for_complete()
        for _ in range(3):
            await pilot.pause()
        diff = app.screen.diff
        assert diff is not None and len(diff.warnings) == 2
        screen = " ".join(screen_text(app).split())
        for line in [counts_line(diff), stats_line(diff), totals_line(diff), *diff.warnings]:
            assert " ".join(line.split()) in screen, line
        assert totals_line(diff) and f"A: {diff.a.label}" in screen


def _runs_with_long_names(root):
    """Two runs of a set with a long name, one by a long-named variant, one cancelled part-way."""
    from test_evals_diff_shared import SET

    from workbench.core.evals import runstore
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.results import CaseResult
    from workbench.core.store import Store

    (root / "evals").mkdir()
    path = root / "evals" / "sqlite-docs-qa-extended.yaml"
    path.write_text(SET.replace("name: prod", "name: sqlite-docs-qa-extended"), encoding="utf-8")
    es = load_evalset(path)
    with Store(root / ".workbench" / "runs.db") as store:
        for name, status in (("base", "done"), ("grounded-strict-k8", "cancelled")):
            run_id = runstore.create_run(
                store, evalset=es, variant_id=f"{name}-0123456789", variant_name=name, repeat=1, config={}
            )
            runstore.write_result(store, run_id, CaseResult("wal", "pass", output="WAL"))
            runstore.finish_run(store, run_id, status, {})


@pytest.mark.parametrize("size", SIZES)
async def test_the_evals_table_uses_the_width_it_has(tmp_path, make_app, size):
    root = write_project(tmp_path / "proj", extra="evals:\n  dir: evals\n")
    _runs_with_long_names(root)
    app = make_app(root, probe=False)
    async with app.run_test(size=size) as pilot:
        await _settled(app, pilot, "f3")
        lines = screen_text(app).splitlines()
        row = next(line for line in lines if "e2" in line and "cancelled" in line)
        assert row.rstrip().endswith("cancelled")  # the last column whole
        if size[0] >= 160:
            assert "sqlite-docs-qa-extended" in row and "grounded-strict-k8 (grounded)" in row
        else:  # both names cut alike, each longer than the old fixed 10 and 12 columns
            assert "sqlite-docs-q" in row and "grounded-strict" in row


@pytest.mark.parametrize("size", SIZES)
async def test_the_runs_table_shows_the_model_whole_when_there_is_room(tmp_path, make_app, size):
    from workbench.core.store import Store

    root = write_project(tmp_path / "proj")
    with Store(root / ".workbench" / "runs.db") as store:
        store.start_generation(
            {
                "source": "playground",
                "inputs": {"question": "How do readers not block writers?"},
                "output": "WAL.",
                "status": "ok",
                "model_used": "ollama:qwen2.5-coder:0.5b-instruct",
                "model_requested": "ollama:qwen2.5-coder:0.5b-instruct",
                "variant_name": "grounded-k8",
            }
        )
    app = make_app(root, probe=False)
    async with app.run_test(size=size) as pilot:
        await _settled(app, pilot, "f5")
        table = app.query_one("#runs-table")
        model = table.get_row_at(0)[4].plain
        row = next(line for line in screen_text(app).splitlines() if "How do readers" in line)
        assert "How do readers not block writers?" in row  # the summary first, whole
        if size[0] >= 160:
            assert model in row and "ollama:qwen2.5-coder:0.5b-instruct" in model
