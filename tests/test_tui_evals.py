"""The Evals tab against the real Ollama stand-in: a run started from the tab with live
progress, cancel and resume, the diff of two runs with regressions and word highlighting, model
text shown literally, and SVG snapshots at 80x24 and 160x48. Waits on workers, never sleeps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixtures_evals import CAPITALS as EVALS
from fixtures_evals import GOOD, scripted
from fixtures_tui import screen_text, settle, until

from workbench.core.evals import runstore

# Italy regresses, and its new answer carries markup and an escape sequence.
WORSE = {**GOOD, "Italy": "[bold]Milan[/bold] \x1b[31mis the capital of Italy."}


@pytest.fixture
def evals_dir(tui_project_dir: Path, ollama_standin) -> Path:
    """The TUI project with evals/capitals.yaml (ungrounded prompt) and the stand-in scripted."""
    folder = tui_project_dir / "evals"
    folder.mkdir()
    (folder / "capitals.yaml").write_text(EVALS, encoding="utf-8")
    ollama_standin.configure(reply=scripted(GOOD))
    return tui_project_dir


async def open_tab(app, pilot):
    await pilot.pause()
    await pilot.press("f3")
    await settle(app, pilot)
    return app.query_one("EvalsTab")


async def run_from_tab(app, pilot) -> None:
    await pilot.press("ctrl+r")
    await settle(app, pilot)


def stored_runs(app) -> list[dict]:
    return runstore.list_runs(app.project.store, limit=50)


async def test_a_run_started_from_the_tab_shows_progress_and_the_summary(evals_dir, make_app):
    app = make_app(evals_dir)
    seen = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        tab = await open_tab(app, pilot)
        assert "capitals (4 cases)" in screen_text(app)
        await run_from_tab(app, pilot)
        progress = [m.progress for m in seen if type(m).__name__ == "Progress"]
        assert progress and progress[-1].done == 4 and progress[-1].passed == 3
        assert progress[-1].failed == 1
        text = screen_text(app)
        assert "e1 done · 4 cases · pass 3 · fail 1" in text
        # the runs table and the selected run's summary, advice first
        assert tab.rows[0]["id"] == 1 and tab.rows[0]["status"] == "done"
        assert "75% [30–95]" in text
        assert "The one failure has no retrieval evidence" in text
        assert "pass rate 75% (3/4), 95% CI 30%–95%" in text
        assert "by tag: eu 100% (1/1), geo 75% (3/4)" in text
        assert "failing: japan (other)" in text
    [row] = stored_runs(app)
    assert row["status"] == "done" and row["summary"]["passed"] == 3


async def test_escape_cancels_keeps_finished_cases_and_ctrl_e_resumes(evals_dir, ollama_standin, make_app):
    (evals_dir / "workbench.yaml").write_text((evals_dir / "workbench.yaml").read_text() + "evals:\n  concurrency: 1\n")
    ollama_standin.configure(token_delay_s=0.1)  # ~0.1-0.6 s per case, one case at a time
    app = make_app(evals_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        tab = await open_tab(app, pilot)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: "1/4" in screen_text(app))
        await pilot.press("escape")
        await settle(app, pilot)
        [row] = stored_runs(app)
        kept = len(runstore.load_results(app.project.store, row["id"]))
        assert row["status"] == "cancelled" and 1 <= kept < 4
        text = screen_text(app)
        assert f"e1 cancelled · {kept} of 4 cases kept" in text
        assert tab.rows[0]["status"] == "cancelled"
        assert f"cancelled {kept}/4" in text  # the table says the pass rate covers part of the set
        assert "Resume" in text  # offered in the footer for the selected cancelled run

        chats_before = len(ollama_standin.requests_to("/api/chat"))
        await pilot.press("ctrl+e")
        # while it runs again, its row says so (it said "cancelled" for the whole resumed run)
        await until(pilot, lambda: tab.rows and tab.rows[0]["status"] == "running", rounds=3000)
        ollama_standin.configure(token_delay_s=0.0)
        await settle(app, pilot)
        [row] = stored_runs(app)
        assert row["status"] == "done" and row["summary"]["total"] == 4
        assert len(runstore.load_results(app.project.store, 1)) == 4
        # the finished cases were not asked again
        assert len(ollama_standin.requests_to("/api/chat")) - chats_before == 4 - kept
        assert "e1 done · 4 cases · pass 3 · fail 1" in screen_text(app)


async def test_a_broken_eval_file_is_named_in_the_picker_and_the_run_does_not_start(
    tui_project_dir, ollama_standin, make_app
):
    folder = tui_project_dir / "evals"
    folder.mkdir()
    (folder / "dupes.yaml").write_text(
        "cases:\n  - id: x\n    inputs: {question: q}\n  - id: x\n    inputs: {question: r}\n"
    )
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tab(app, pilot)
        assert "dupes.yaml (invalid:" in screen_text(app)
        await run_from_tab(app, pilot)
        text = screen_text(app)
        assert "The run did not start." in text and "(dupes.yaml:4)" in text
        assert "duplicate" in text
    assert stored_runs(app) == [] and not ollama_standin.requests_to("/api/chat")


async def _two_runs(app, pilot, ollama_standin) -> None:
    """Run the set, make Italy's answer worse, run again without the cache."""
    await run_from_tab(app, pilot)
    ollama_standin.configure(reply=scripted(WORSE))
    app.query_one("#evals-cache").value = False
    await pilot.pause()
    await run_from_tab(app, pilot)


async def test_diff_lists_the_regression_and_highlights_the_changed_words_literally(
    evals_dir, ollama_standin, make_app
):
    app = make_app(evals_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        tab = await open_tab(app, pilot)
        await _two_runs(app, pilot, ollama_standin)
        assert [r["id"] for r in tab.rows] == [2, 1]
        tab.query_one("#evals-runs").focus()
        await pilot.press("d")  # default pair: the two newest runs of the set
        await settle(app, pilot)
        screen = app.screen
        assert type(screen).__name__ == "EvalsDiffScreen"
        assert (screen.run_a, screen.run_b) == (1, 2)
        text = screen_text(app)
        # the runs by their e-ids, A then B; the counts in the filters' words, and they agree
        assert "A: e1 (base, " in text and "B: e2 (base, " in text and "run 1" not in text
        assert "4 cases · 1 changed (1 regression, 0 fixes) · 3 unchanged" in text
        assert "changed: 1 of 4" in text
        await pilot.press("r")
        await pilot.pause()
        assert [c.case_id for c in screen.cases] == ["italy"]
        text = screen_text(app)
        assert "regressions: 1 of 4" in text
        assert "-1 case, p=1.00: could be noise" in text
        assert "icontains: pass → fail" in text
        assert "retrieval: gold document not retrieved in either run" in text
        # literal model text: the markup and the escape sequence are shown, not obeyed
        assert "[bold]Milan[/bold] \\x1b[31mis the" in text and "Rome is the capital" in text
        # word-level highlighting: Rome struck in A, the new words underlined in B
        out_a = screen.query_one("#diff-out-a").content
        out_b = screen.query_one("#diff-out-b").content
        assert out_b.plain == "[bold]Milan[/bold] \\x1b[31mis the capital of Italy."
        struck = {out_a.plain[s.start : s.end] for s in out_a.spans if s.style.strike}
        underlined = {out_b.plain[s.start : s.end] for s in out_b.spans if s.style.underline}
        assert "Rome" in struck and "capital" not in "".join(struck)  # "is" goes too: "\\x1b[31mis"
        assert any("Milan" in u for u in underlined) and "capital" not in "".join(underlined)
        await pilot.press("f")
        await pilot.pause()
        assert screen.cases == [] and "No fixes in this diff" in screen_text(app)
        await pilot.press("a")
        await pilot.pause()
        assert len(screen.cases) == 4 and "all cases: 4" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ != "EvalsDiffScreen"


async def test_the_case_column_grows_with_the_terminal(evals_dir, ollama_standin, make_app):
    """A long case id is cut at 80 columns but read whole at 160."""
    long_id = "italy-capital-in-one-word"
    path = evals_dir / "evals" / "capitals.yaml"
    path.write_text(EVALS.replace("id: italy", f"id: {long_id}"), encoding="utf-8")
    await _store_two_runs(evals_dir, ollama_standin)
    app = make_app(evals_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tab(app, pilot)
        await pilot.press("d")
        await settle(app, pilot)
        assert re.search(rf"{long_id}\s+▼ regression", screen_text(app))
        await app.screen.run_action("only('all')")
        await pilot.pause()
        assert "france" in screen_text(app)
    app = make_app(evals_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(app, pilot)
        await pilot.press("d")
        await settle(app, pilot)
        text = screen_text(app)
        assert "italy-capi…" in text and not re.search(rf"{long_id}\s+▼ regression", text)


async def test_a_refused_resume_is_readable_at_80x24(evals_dir, make_app):
    """The reason a run did not start wraps (it was cut at 80 columns), and reads as a
    sentence: capital first."""
    from workbench.core.project import Project

    project = Project.open(evals_dir)
    try:
        from workbench.core.variants import resolve_variant

        project.store.insert(
            "eval_runs",
            {
                "created_at": FROZEN,
                "evalset_name": "capitals",
                "status": "cancelled",
                "evalset_path": str(evals_dir / "evals" / "capitals.yaml"),
                "evalset_hash": "c2325c3588aaaaaaaa",
                "variant_id": resolve_variant(project).id,
                "total_cases": 4,
                "repeat": 1,
            },
        )
    finally:
        project.close()
    app = make_app(evals_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(app, pilot)
        await pilot.press("ctrl+e")
        await settle(app, pilot)
        text = " ".join(screen_text(app).split())
        assert "The run did not start." in text
        assert "The eval set changed since e" in text
        assert "start a new run instead of resuming (capitals.yaml)" in text


async def test_the_set_label_follows_the_file_when_the_tab_is_shown_again(evals_dir, make_app):
    """A case added outside the TUI (e.g. `workbench eval promote`) shows in the Set label on
    the next visit to the tab, without opening the dropdown."""
    app = make_app(evals_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_tab(app, pilot)
        assert "capitals (4 cases)" in screen_text(app)
        await pilot.press("f5")
        await settle(app, pilot)
        path = evals_dir / "evals" / "capitals.yaml"
        path.write_text(
            EVALS + "  - id: spain\n    inputs: {question: Capital of Spain}\n"
            "    assert:\n      - {type: icontains, value: madrid}\n",
            encoding="utf-8",
        )
        await pilot.press("f3")
        await settle(app, pilot)
        assert "capitals (5 cases)" in screen_text(app)


async def test_marks_choose_the_diff_pair_and_different_set_versions_warn(evals_dir, ollama_standin, make_app):
    app = make_app(evals_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        tab = await open_tab(app, pilot)
        await run_from_tab(app, pilot)
        path = evals_dir / "evals" / "capitals.yaml"
        path.write_text(EVALS.replace("value: Lima", "value: Lima."), encoding="utf-8")
        await run_from_tab(app, pilot)
        table = tab.query_one("#evals-runs")
        table.focus()
        await pilot.press("a")  # newest (e2) as A
        await pilot.press("down", "b")  # e1 as B
        await pilot.pause()
        assert tab.marks == {"a": 2, "b": 1}
        assert "e2 A" in screen_text(app) and "e1 B" in screen_text(app)
        await pilot.press("d")
        await settle(app, pilot)
        assert (app.screen.run_a, app.screen.run_b) == (2, 1)
        assert "⚠ the runs used different versions of the eval set" in screen_text(app)


def test_default_pair_prefers_marks_then_the_two_newest_of_the_set():
    from workbench.tui.widgets.text import default_pair

    rows = [
        {"id": 5, "evalset_name": "b", "status": "done"},
        {"id": 4, "evalset_name": "a", "status": "running"},
        {"id": 3, "evalset_name": "a", "status": "cancelled"},
        {"id": 2, "evalset_name": "b", "status": "done"},
        {"id": 1, "evalset_name": "a", "status": "done"},
    ]
    assert default_pair(rows, 3, None, None) == (1, 3)  # the running e4 is left out
    assert default_pair(rows, 5, None, None) == (2, 5)
    assert default_pair(rows, 2, 5, None) == (5, 2)  # A marked, B the highlighted
    assert default_pair(rows, 5, 5, None) == (5, 2)  # A highlighted too: newest other of set
    assert default_pair(rows, 1, None, 3) == (1, 3)
    assert default_pair(rows, 1, 1, 4) == (1, 4)  # explicit marks win, even a running run
    assert default_pair(rows[:1], 5, None, None) is None and default_pair([], None, None, None) is None


def test_side_texts_keep_markup_and_escapes_literal_and_style_only_changed_words():
    from rich.style import Style

    from workbench.core.evals.diff import diff_runs
    from workbench.core.evals.results import CaseResult
    from workbench.present.evals import side_texts

    before = CaseResult("q", "pass", output="The [red]answer[/red] is 4")
    after = CaseResult("q", "fail", output="The [red]answer[/red] is \x1b]52;c;aGk=\x07 5")
    [case] = diff_runs([before], [after]).cases
    a, b = side_texts(case, Style(strike=True), Style(underline=True))
    assert a.plain == "The [red]answer[/red] is 4"
    assert b.plain == "The [red]answer[/red] is \\x1b]52;c;aGk=\\x07 5"
    assert {a.plain[s.start : s.end] for s in a.spans} == {"4"}
    assert "[red]" not in "".join(b.plain[s.start : s.end] for s in b.spans)


# ------------------------------------------------------------------------------- snapshots

FROZEN = "2026-01-02T03:04:05.000+00:00"


def freeze_store(root: Path) -> None:
    """Fixed dates and timings in the stored runs, so the snapshots do not move."""
    from workbench.core.evals.summary import summarize
    from workbench.core.project import Project

    project = Project.open(root)
    try:
        store = project.store
        with store.lock, store.conn:
            store.conn.execute("UPDATE eval_runs SET created_at = ?, finished_at = ?", (FROZEN, FROZEN))
            store.conn.execute("UPDATE eval_results SET latency_ms = 400 + 10 * id, created_at = ?", (FROZEN,))
        for row in runstore.list_runs(store):
            results = runstore.load_results(store, row["id"])
            runstore.finish_run(store, row["id"], row["status"], summarize(results, expected_results=4))
        with store.lock, store.conn:
            store.conn.execute("UPDATE eval_runs SET finished_at = ?", (FROZEN,))
    finally:
        project.close()


async def _store_two_runs(root: Path, ollama_standin) -> None:
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.runner import EvalRunner
    from workbench.core.project import Project
    from workbench.core.variants import resolve_variant

    project = Project.open(root)
    try:
        evalset = load_evalset(root / "evals" / "capitals.yaml")
        for answers in (GOOD, WORSE):
            ollama_standin.configure(reply=scripted(answers))
            await EvalRunner(
                project, evalset, resolve_variant(project), use_cache=False, concurrency=1
            ).run()  # one order of results: stable summaries
    finally:
        project.close()
    freeze_store(root)


@pytest.fixture
async def snapshot_app(evals_dir, ollama_standin, make_app):
    await _store_two_runs(evals_dir, ollama_standin)
    return make_app(evals_dir)


def _prepare(*keys: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.pause()
        await pilot.press("f3")
        await settle(app, pilot)
        for key in keys:
            await pilot.press(key)
            await settle(app, pilot)
        for widget in app.query("Input, TextArea"):
            widget.cursor_blink = False
        await pilot.pause()

    return run_before


def test_evals_tab_80x24(snap_compare, snapshot_app):
    """The Evals tab at 80x24 with two stored runs: the runs table focused (e2 50% [15–85] and
    e1 75% [30–95], frozen dates), e2's summary led by its advice band, then the idle progress
    lines, the set / variant / cache pickers, the Limit / Tags / Cases fields and the estimate
    ('4 cases · about 1 s', timed by the two frozen runs) above the footer (Run, Resume dimmed
    because e2 is done, Diff, Mark A, Mark B)."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_prepare())


def test_evals_diff_160x48(snap_compare, snapshot_app):
    """The diff screen at 160x48: A: e1 → B: e2, the counts in the filters' words ('4 cases ·
    1 changed (1 regression, 0 fixes) · 3 unchanged', and 'changed: 1 of 4' over the case list),
    the statistics line ('-1 case, p=1.00: could be noise'), italy selected, its flipped
    icontains check, the retrieval line, and both outputs side by side with 'Rome' struck and
    the new words underlined, the markup and \\x1b shown literally."""
    assert snap_compare(snapshot_app, terminal_size=(160, 48), run_before=_prepare("d"))
