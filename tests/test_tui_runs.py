"""The Runs tab: stored runs listed newest first, searched, filtered, opened in full."""

from __future__ import annotations

from fixtures_tui import screen_text

from workbench.core.pipeline import run_generation
from workbench.core.project import Project
from workbench.core.variants import resolve_variant


async def _store_generations(root, ollama_standin, questions):
    project = Project.open(root)
    try:
        for question, reply in questions:
            ollama_standin.configure(reply=reply)
            await run_generation(project, resolve_variant(project), {"question": question})
    finally:
        project.close()


async def open_runs_tab(app, pilot) -> None:
    """F5, as a user would, and wait for the rows."""
    await pilot.pause()
    await pilot.press("f5")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_runs_tab_lists_searches_and_opens_a_stored_generation(tui_project_dir, ollama_standin, make_app):
    await _store_generations(
        tui_project_dir,
        ollama_standin,
        [
            ("what is WAL mode", ["WAL ", "is ", "[bold]write-ahead[/] logging"]),
            ("how do I vacuum", ["Run ", "VACUUM"]),
        ],
    )
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_runs_tab(app, pilot)
        tab = app.query_one("RunsTab")
        assert [r["summary"] for r in tab.rows] == ["how do I vacuum", "what is WAL mode"]
        text = screen_text(app)
        assert "how do I vacuum" in text and "what is WAL mode" in text and "2 runs" in text
        # F5 lands on the table, so Enter opens the highlighted (newest) run at once
        assert app.focused is app.query_one("#runs-table")
        await pilot.press("enter")
        await pilot.pause()
        assert "generation 2 · ok" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("ctrl+f")  # the search is one key away
        assert app.focused is app.query_one("#runs-search")
        await pilot.press(*"wal")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r["summary"] for r in tab.rows] == ["what is WAL mode"]

        await pilot.press("enter")  # search done: focus moves to the table
        assert app.focused is app.query_one("#runs-table")
        await pilot.press("enter")  # open the selected run
        await pilot.pause()
        text = screen_text(app)
        assert "generation 1 · ok" in text
        await pilot.press("end")  # scroll the report to the output
        await pilot.pause()
        assert "WAL is [bold]write-ahead[/] logging" in screen_text(app)  # literally
        await pilot.press("escape")
        await pilot.pause()
        assert "RunsTab" in [type(w).__name__ for w in app.screen.query("*")]


async def test_typing_in_the_runs_table_searches(tui_project_dir, ollama_standin, make_app):
    """The table has the focus after F5; a letter typed there starts a search, as it would in a
    search box, instead of being lost."""
    await _store_generations(
        tui_project_dir, ollama_standin, [("what is WAL mode", ["WAL"]), ("how do I vacuum", ["VACUUM"])]
    )
    app = make_app(tui_project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs_tab(app, pilot)
        search = app.query_one("#runs-search")
        assert app.focused is app.query_one("#runs-table")
        await pilot.press(*"vac")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert search.value == "vac" and app.focused is search
        assert [r["summary"] for r in app.query_one("RunsTab").rows] == ["how do I vacuum"]


async def test_runs_tab_filters_by_status_and_kind(tui_project_dir, ollama_standin, make_app):
    await _store_generations(tui_project_dir, ollama_standin, [("fine", ["ok"])])
    project = Project.open(tui_project_dir)
    project.store.insert(
        "eval_runs",
        {"created_at": "2099-01-01T00:00:00", "evalset_name": "qa", "status": "done", "summary": {"pass_rate": 0.75}},
    )
    project.close()
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_runs_tab(app, pilot)
        tab = app.query_one("RunsTab")
        assert [r["kind"] for r in tab.rows] == ["eval", "generation"]
        assert "qa: 75% pass" in screen_text(app)
        app.query_one("#runs-kind").value = "generation"
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r["kind"] for r in tab.rows] == ["generation"]
        app.query_one("#runs-status").value = "interrupted"
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert tab.rows == [] and "0 runs" in screen_text(app)


async def test_a_prompt_tab_answer_appears_in_the_runs_tab(tui_project_dir, ollama_standin, make_app):
    ollama_standin.configure(reply=["pong"])
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.query_one("#var-question").value = "ping"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        rows = app.query_one("RunsTab").rows
        assert rows[0]["summary"] == "ping" and rows[0]["status"] == "ok"


async def test_a_retrieval_eval_is_listed_under_its_own_kind_and_opens(tui_project_dir, make_app):
    from workbench.core.retrieval.evaluate import CaseResult, RetrievalEval
    from workbench.core.retrieval.metrics import METRIC_NAMES
    from workbench.core.retrieval.traces import record_eval

    metrics = {
        mode: {name: value for name in METRIC_NAMES}
        for mode, value in (("dense", 0.5), ("fts", 0.25), ("hybrid", 0.75))
    }
    case = CaseResult(
        "cat-sleep",
        "How long do cats sleep?",
        ["cats.md"],
        metrics,
        {"dense": 1, "fts": 3, "hybrid": 1},
        {m: ["cats.md"] for m in metrics},
    )
    project = Project.open(tui_project_dir)
    record_eval(
        project.store,
        RetrievalEval(
            "tiny",
            "evals/tiny.yaml",
            "hash",
            5,
            list(metrics),
            metrics,
            [case],
            {"embedding_model": "all-MiniLM-L6-v2", "chunk_tokens": 60},
            3,
        ),
    )
    project.close()
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f5")
        app.query_one("#runs-kind").value = "retrieval-eval"
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        tab = app.query_one("RunsTab")
        assert [(r["id"], r["kind"]) for r in tab.rows] == [("re1", "retrieval-eval")]
        text = screen_text(app)
        assert "re1" in text and "rev" in text and "tiny: hybrid nDCG .75" in text
        await pilot.press("ctrl+l", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert "retrieval-eval re1" in text and "Retrieval eval re1: tiny" in text


FROZEN = "2026-01-02T03:04:0{}+00:00"


def test_runs_tab_160x48(snap_compare, tui_project_dir, ollama_standin, make_app):
    """The Runs tab at 160x48 with one run of each kind but fine-tune, newest first, frozen dates
    and timings: two generations (markup in the question shown literally), a retrieval, a
    retrieval eval with its per-mode nDCG/recall line, an eval run with its pass rate. F5 left
    the focus on the table (its cursor on the newest run), so Enter opens it; the newest is a
    generation, so the footer offers ^g Promote."""
    import asyncio
    import json

    from fixtures_tui import until_stable

    asyncio.run(
        _store_generations(
            tui_project_dir,
            ollama_standin,
            [
                ("what is [bold]WAL[/bold] mode", ["WAL ", "is ", "write-ahead logging"]),
                ("how do I vacuum", ["Run ", "VACUUM"]),
            ],
        )
    )
    project = Project.open(tui_project_dir)
    store = project.store
    store.insert(
        "retrievals", {"created_at": FROZEN.format(3), "query": "partial index", "mode": "hybrid", "latency_ms": 31.0}
    )
    store.insert(
        "retrieval_evals",
        {
            "created_at": FROZEN.format(4),
            "evalset": "sqlite-qa",
            "settings": json.dumps({"k": 5, "embedding_model": "all-MiniLM-L6-v2"}),
            "metrics": json.dumps(
                {
                    "dense": {"ndcg@10": 0.903, "recall@k": 0.94},
                    "fts": {"ndcg@10": 0.795, "recall@k": 0.86},
                    "hybrid": {"ndcg@10": 0.882, "recall@k": 0.93},
                }
            ),
            "cases": json.dumps([{}] * 83),
        },
    )
    store.insert(
        "eval_runs",
        {
            "created_at": FROZEN.format(5),
            "evalset_name": "sqlite-qa",
            "variant_id": "47df83471ffa",
            "status": "done",
            "summary": json.dumps({"pass_rate": 0.75}),
        },
    )
    with store.lock, store.conn:
        for n, gen_id in enumerate((1, 2)):
            store.conn.execute(
                "UPDATE generations SET created_at = ?, total_ms = ? WHERE id = ?",
                (FROZEN.format(n + 1), 420 + 100 * n, gen_id),
            )
    project.close()

    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.press("f5")
        for _ in range(5):
            await app.workers.wait_for_complete()
            await pilot.pause()
        for widget in app.query("Input"):
            widget.cursor_blink = False
        await until_stable(app, pilot)

    app = make_app(tui_project_dir, probe=False)
    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


async def test_an_eval_run_opens_as_its_summary_not_as_json(tui_project_dir, ollama_standin, make_app):
    """e1 in the Runs tab reads like `workbench eval show`: pass rate with its interval, the
    advice, failures by lever and each case's verdict, never the stored row as JSON."""
    from fixtures_evals import CAPITALS as EVALS
    from fixtures_evals import GOOD, scripted

    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.runner import EvalRunner

    (tui_project_dir / "evals").mkdir()
    (tui_project_dir / "evals" / "capitals.yaml").write_text(EVALS, encoding="utf-8")
    ollama_standin.configure(reply=scripted(GOOD))
    project = Project.open(tui_project_dir)
    try:
        await EvalRunner(
            project, load_evalset(tui_project_dir / "evals" / "capitals.yaml"), resolve_variant(project), concurrency=1
        ).run()
    finally:
        project.close()
    app = make_app(tui_project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs_tab(app, pilot)
        app.query_one("#runs-kind").value = "eval"  # the cases' generations are listed too
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r["id"] for r in app.query_one("RunsTab").rows] == ["e1"]
        await pilot.press("ctrl+l", "enter")
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "eval e1 · done" in text
        assert "capitals" in text and "base (" in text
        assert "pass rate 75% (3/4), 95% CI 30%–95%" in text
        assert "The one failure has no retrieval evidence" in text  # the advice
        assert '"evalset_hash"' not in text and '"config"' not in text
        await pilot.press("end")
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "failures by lever: other 1" in text
        assert "✗ fail japan" in text and "✓ pass france" in text
        assert "answer: Kyoto was the capital." in text


async def test_an_interrupted_generation_says_what_is_known(tui_project_dir, make_app):
    """No model answered and no token arrived: the detail says so instead of `model: None`,
    an empty tokens field and `TTFT 0 ms`."""
    project = Project.open(tui_project_dir)
    project.store.start_generation(
        {
            "source": "tui",
            "inputs": {"question": "slow one"},
            "model_requested": "ollama:llama3.2",
            "status": "interrupted",
        }
    )
    project.close()
    app = make_app(tui_project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs_tab(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "generation 1 · interrupted" in text
        assert "model: none answered (requested ollama:llama3.2)" in text
        assert "None" not in text and "TTFT" not in text and "tokens:" not in text
        assert "no token arrived" in text


async def test_the_highlighted_run_stays_highlighted_when_newer_runs_arrive(tui_project_dir, ollama_standin, make_app):
    """Enter must open what the user highlighted, not whatever slid into that row."""
    await _store_generations(tui_project_dir, ollama_standin, [("first", ["a"]), ("second", ["b"]), ("third", ["c"])])
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_runs_tab(app, pilot)
        await pilot.press("down")  # "second"
        table = app.query_one("#runs-table")
        assert app.query_one("RunsTab").rows[table.cursor_row]["summary"] == "second"
        await pilot.press("f1")
        app.query_one("#var-question").value = "fourth"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await open_runs_tab(app, pilot)
        tab = app.query_one("RunsTab")
        assert tab.rows[0]["summary"] == "fourth"
        assert tab.rows[table.cursor_row]["summary"] == "second"


async def test_a_runs_long_lines_wrap_in_its_detail(tui_project_dir, ollama_standin, make_app):
    """The answer and prompt are fenced to stay literal; fences clip, so the detail wraps them:
    the end of a long answer line is readable at 80 columns without copying."""
    await _store_generations(tui_project_dir, ollama_standin, [("long", ["word " * 40, "finalwordhere"])])
    app = make_app(tui_project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs_tab(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        assert "finalwordhere" in screen_text(app)


LONG_QUESTION = (
    "how do I make a partial index that covers only the rows where deleted_at is null, and does the planner use it"
)


async def test_the_created_column_is_whole_or_scrolled_off_never_cut(tui_project_dir, ollama_standin, make_app):
    """A long question must not push `created` half off the screen (`12-06 0`): at 120 columns
    every column shows, the summary taking what is spare; at 80 the summary and the created
    date show whole and tokens and time start past the right edge, not one letter of them."""
    from workbench.present.runs import when

    await _store_generations(tui_project_dir, ollama_standin, [(LONG_QUESTION, ["Yes."]), ("short", ["ok"])])
    for size in ((120, 40), (80, 24)):
        app = make_app(tui_project_dir)
        async with app.run_test(size=size) as pilot:
            await open_runs_tab(app, pilot)
            rows = app.query_one("RunsTab").rows
            lines = screen_text(app).splitlines()
            header = next(line for line in lines if line.startswith(" id "))
            for row in rows:
                created = when(row["created_at"])  # MM-DD HH:MM
                assert len(created) == 11
                line = next(line for line in lines if line.startswith(f" {row['id']} "))
                assert created in line, (size, line)
            if size == (120, 40):
                assert "how do I make a partial index" in line
                assert header.split()[-3:] == ["created", "tokens", "time"]
                assert line.rstrip().endswith("s")  # the time column, whole (`0.0s`)
            else:
                assert header.split()[-1] == "created", lines  # nothing of `tokens` shows after it
                assert line.rstrip().endswith(created)
                assert "how do I make a partial" in line  # the summary keeps its width
