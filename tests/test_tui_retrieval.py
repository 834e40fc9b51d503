"""The Retrieval tab on a real LanceDB index of a tiny Markdown corpus, with the real embedding
model: ingest through the tab, search, per-method ranks, eval-case marks and the why-not report,
the missing-index message, literal document text, and SVG snapshots at 80x24 and 160x48.

Waiting is always on workers (`app.workers.wait_for_complete()`), never on sleeps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixtures_project import write_project
from fixtures_retrieval import CORPUS, write_corpus
from fixtures_tui import screen_text, until_stable

# The shared corpus's cats and dogs, its sqlite page without the Background section (the
# snapshots show this shape), and a page whose markup must stay literal in the preview.
DOCS = {
    "cats.md": CORPUS["cats.md"],
    "dogs.md": CORPUS["dogs.md"],
    "sqlite.md": CORPUS["sqlite.md"].split("\n## Background")[0],
    "markup.md": """# Markup trap

Rich markup such as [bold]not bold[/bold] and a terminal escape \x1b[31mred\x1b[0m must stay
literal text in the preview.
""",
}

EVALS = """name: tiny
cases:
  - id: cat-sleep
    inputs:
      question: How many hours a day do cats sleep?
    expected: Cats sleep between twelve and sixteen hours a day.
    relevant: [cats.md]
  - id: dogs-cut
    inputs:
      question: Do cats sleep all day?
    relevant: [dogs.md]
  - id: unlabelled
    inputs:
      question: Say hello.
"""

FIXED_INGEST_TIME = "2026-01-02T03:04:05+00:00"


def make_project_dir(root: Path, retrieval: str = "") -> Path:
    write_project(
        root,
        extra="retrieval:\n  corpus: [docs]\n  k: 1\n  chunk_tokens: 60\n"
        f"  overlap_tokens: 10\n{retrieval}evals:\n  dir: evals\n",
    )
    write_corpus(root / "docs", DOCS)
    (root / "evals").mkdir(exist_ok=True)
    (root / "evals" / "tiny.yaml").write_text(EVALS, encoding="utf-8")
    return root


def freeze_ingest_time(root: Path) -> None:
    meta_path = root / ".workbench" / "index" / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["last_ingest_at"] = FIXED_INGEST_TIME
    meta_path.write_text(json.dumps(meta), encoding="utf-8")


@pytest.fixture(scope="module")
def indexed_template(tmp_path_factory, embedder) -> Path:
    """A project ingested once per module (core ingest), never searched: copied per test."""
    from workbench.core.project import Project
    from workbench.core.retrieval.service import ingest_project

    root = make_project_dir(tmp_path_factory.mktemp("rt") / "proj")
    project = Project.open(root)
    try:
        ingest_project(project, project.config.retrieval)
    finally:
        project.close()
    freeze_ingest_time(root)
    return root


@pytest.fixture
def indexed_dir(indexed_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(indexed_template, tmp_path / "proj"))


async def settle(app, pilot) -> None:
    """Let every worker finish and every posted message be handled."""
    for _ in range(4):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def until_text(app, pilot, phrase: str, rounds: int = 500) -> str:
    """The screen text once `phrase` is on screen (a repaint can lag a busy machine)."""
    for _ in range(rounds):
        text = screen_text(app)
        if phrase in text:
            return text
        await pilot.pause(0.01)
    raise AssertionError(f"{phrase!r} never appeared on screen:\n{screen_text(app)}")


async def open_tab(app, pilot):
    await pilot.press("f2")
    await settle(app, pilot)
    assert app.query_one("#tabs").active == "tab-retrieval"
    # Under load the tab's first layout can land after the workers settle: wait for it.
    for _ in range(500):
        if app.query("#rt-query") and app.query_one("#rt-query").region.height > 0:
            break
        await pilot.pause(0.01)
    await pilot.pause()
    return app.query_one("RetrievalTab")


async def search(app, pilot, query: str) -> None:
    field = app.query_one("#rt-query")
    field.focus()
    field.value = query
    await pilot.press("enter")
    await settle(app, pilot)


def table_rows(app, mode: str) -> list[list[str]]:
    table = app.query_one(f"#table-{mode}")
    return [
        [cell.plain if hasattr(cell, "plain") else str(cell) for cell in table.get_row_at(i)]
        for i in range(table.row_count)
    ]


async def test_ingest_through_the_tab_then_search_shows_every_methods_rank(tmp_path, make_app, embedder):
    root = make_project_dir(tmp_path / "proj")
    app = make_app(root, probe=False)
    progress: list = []

    def hook(message) -> None:
        if type(message).__name__ == "Progressed":
            progress.append(message.progress)

    async with app.run_test(size=(120, 36), message_hook=hook, notifications=True) as pilot:
        tab = await open_tab(app, pilot)
        await until_text(app, pilot, "No retrieval index yet — press ctrl+g to ingest docs/")

        await pilot.press("ctrl+g")
        await settle(app, pilot)
        # Progress messages coalesce when the app is busy (only the newest is drawn), so under
        # load the embedding updates may all be superseded by "done": assert on what it carries.
        assert progress and progress[-1].phase == "done" and progress[-1].chunks_done > 0
        text = screen_text(app)
        assert "4 docs · " in text and "all-MiniLM-L6-v2" in text and "index v" in text
        assert tab.index_ok and not tab.ingesting

        await search(app, pilot, "How many hours a day do cats sleep?")
        result = tab.result
        assert result is not None and tab.trace_id is not None
        top = result.top("hybrid")[0]
        assert top.path == "cats.md" and top.heading_path == "Cats > Sleeping"
        rows = table_rows(app, "hybrid")
        assert rows[0][0].strip() == "1" and rows[0][1] == "cats.md › Sleeping"

        # every method's rank and score in the row, as the core computed them
        def short(v: float, digits: int) -> str:  # 0.81 is shown as .81
            return f"{v:.{digits}f}".removeprefix("0")

        assert rows[0][2] == f"{top.dense_rank} {short(top.dense_score, 2)}"
        assert rows[0][3] == f"{top.fts_rank} {short(top.fts_score, 1)}"
        assert rows[0][4] == f"{top.hybrid_rank} {short(top.fused_score, 3)}"
        text = screen_text(app)
        assert "cats.md › Sleeping" in text and "showing hybrid" in text
        # the preview shows the chunk in its document, with its boundary marker
        assert "Preview · cats.md#1 · Cats > Sleeping · lines 7-8" in text
        assert "#1 Cats > Sleeping · lines 7-8" in text and "## Sleeping" in text

        await pilot.press("ctrl+n")  # next method: dense, then full-text
        await pilot.pause()
        assert "showing dense" in screen_text(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "showing full-text" in screen_text(app)
        fts_rows = table_rows(app, "fts")
        assert [r[0].strip() for r in fts_rows] == [str(i + 1) for i in range(len(fts_rows))]

        # the trace is stored like `workbench retrieve`'s
        from workbench.core.retrieval.traces import get_trace

        trace = get_trace(app.project.store, tab.trace_id)
        assert trace["source"] == "tui" and trace["query"] == "How many hours a day do cats sleep?"

        # a second ingest with nothing changed says so, and the search is re-run on the index
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        notices = [n.message for n in app._notifications]
        assert "Nothing changed: 4 documents unchanged." in notices, notices
        assert not tab.ingesting and tab.trace_id == trace["id"] + 1


async def test_eval_case_marks_relevant_doc_and_shows_why_not(indexed_dir, make_app):
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(app, pilot)
        assert sorted(tab.cases) == ["tiny.yaml::cat-sleep", "tiny.yaml::dogs-cut"]

        await pilot.press("ctrl+t")  # opens the case list
        await pilot.press("down", "down", "enter")  # blank, cat-sleep, dogs-cut
        await settle(app, pilot)
        assert tab.case.case_id == "dogs-cut"
        assert app.query_one("#rt-query").value == "Do cats sleep all day?"
        rows = table_rows(app, "hybrid")
        gold = [r for r in rows if r[0].startswith("★")]
        assert gold and all(r[1].startswith("dogs.md") for r in gold)
        assert not any(r[0].startswith("★") for r in rows if r[1].startswith("cats.md"))
        # the why-not report replaced the preview (80 columns): rank per mode, cut, outranked by
        text = screen_text(app)
        report = tab.report
        rank = report.modes["dense"].chunk_rank
        assert rank > 1 and report.modes["dense"].cut_at_k
        assert f"ranked {rank} under dense — cut at k=1" in text
        assert "relevant: dogs.md" in text and "outranked by" in text
        await pilot.press("ctrl+y")  # back to the preview
        await pilot.pause()
        assert "Preview · " in screen_text(app)

        # a case whose gold is on top: within k everywhere, boundary checked with its answer
        select = app.query_one("#rt-case")
        select.value = "tiny.yaml::cat-sleep"
        await settle(app, pilot)
        assert tab.report.case_id == "cat-sleep" and not tab.report.modes["hybrid"].cut_at_k
        assert table_rows(app, "hybrid")[0][0] == "★1"
        text = screen_text(app)
        assert "Why not retrieved · cat-sleep" in text and "within k=1 under every mode" in text
        # scroll once the new report is laid out (a press that lands before the layout would
        # scroll to the end of the old, shorter report), then wait for the repaint
        await until_stable(app, pilot)
        app.query_one("#rt-whynot-scroll").focus()
        await pilot.press("end")
        await until_text(app, pilot, "chunk boundary: no split")


async def test_esc_cancels_ingest_after_the_batch_and_ctrl_g_finishes_it(tmp_path, make_app, embedder, monkeypatch):
    """The embedder is held at its first batch until Esc has been pressed, so the cancel lands
    mid-ingest every time (real model, real LanceDB; only the timing is arranged)."""
    import asyncio
    import threading

    root = make_project_dir(tmp_path / "proj", retrieval="  batch_size: 2\n")
    entered, release = threading.Event(), threading.Event()
    real_encode = embedder.encode

    def gated_encode(texts, batch_size=32):
        entered.set()
        release.wait(30)
        return real_encode(texts, batch_size)

    monkeypatch.setattr(embedder, "encode", gated_encode)
    app = make_app(root, probe=False)
    reports: list = []

    def hook(message) -> None:
        if type(message).__name__ == "Finished":
            reports.append(message.report)

    async with app.run_test(size=(80, 24), notifications=True, message_hook=hook) as pilot:
        tab = await open_tab(app, pilot)
        await pilot.press("ctrl+g")
        assert await asyncio.to_thread(entered.wait, 30)
        await pilot.pause()
        assert tab.ingesting and app.query_one("#rt-progress").display
        await until_text(app, pilot, "esc Cancel")
        await pilot.press("escape")
        await until_text(app, pilot, "stopping after this batch")
        release.set()
        await settle(app, pilot)
        assert not tab.ingesting and "esc Cancel" not in screen_text(app)
        report = reports[-1]
        assert report.cancelled and report.pending
        kept = len(report.added)
        notices = [n.message for n in app._notifications]
        assert any(
            f"Ingest cancelled: kept {kept} completed files; {len(report.pending)} not done" in n for n in notices
        ), notices
        # the index holds exactly the completed files: nothing half-written
        assert f"{kept} docs · " in screen_text(app)

        monkeypatch.setattr(embedder, "encode", real_encode)
        await pilot.press("ctrl+g")  # finishes the job
        await settle(app, pilot)
        assert "4 docs · 7 chunks" in screen_text(app)


async def test_missing_index_says_so_and_search_reports_it(tmp_path, make_app):
    root = make_project_dir(tmp_path / "proj")
    app = make_app(root, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(app, pilot)
        text = screen_text(app)
        assert "No retrieval index yet — press ctrl+g to ingest docs/" in text
        assert "Search needs an index: press ctrl+g to ingest." in text
        assert "^g Ingest" in text or "ctrl+g" in text
        await search(app, pilot, "cats")
        assert tab.result is None
        assert "no retrieval index at" in screen_text(app)


async def test_a_damaged_index_found_by_a_search_is_rebuilt_by_ctrl_g(indexed_dir, make_app):
    for f in (indexed_dir / ".workbench" / "index" / "chunks.lance" / "data").glob("*.lance"):
        f.write_bytes(b"not a lance file" * 64)
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=(120, 30)) as pilot:
        tab = await open_tab(app, pilot)
        await until_text(app, pilot, "4 docs · ")  # meta.json alone looks fine
        await search(app, pilot, "cats")
        assert tab.result is None
        text = await until_text(app, pilot, "The index looks damaged: ctrl+g rebuilds it · the retrieval index")
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        text = await until_text(app, pilot, "4 docs · ")
        assert "looks damaged" not in text
        await search(app, pilot, "cats")
        assert tab.result is not None and tab.result.hits[0].path == "cats.md"


async def test_document_markup_and_escapes_show_literally(indexed_dir, make_app, monkeypatch):
    from workbench.core.retrieval import embedder as embedder_module

    monkeypatch.setattr(embedder_module, "_CACHE", {})  # as in a fresh session: nothing loaded
    seen: list[str] = []
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=(100, 30), message_hook=lambda m: seen.append(type(m).__name__)) as pilot:
        tab = await open_tab(app, pilot)
        await search(app, pilot, "markup escape literal")
        # the first search loaded the model, and said so while it did
        assert seen.index("ModelLoading") < seen.index("Searched")
        assert tab.selected_hit.path == "markup.md"
        text = screen_text(app)
        assert "[bold]not bold[/bold]" in text
        assert "\\x1b[31mred\\x1b[0m" in text
        assert "\x1b[31m" not in app.query_one("#rt-preview").render().plain

        copied: list[str] = []
        app.copy_to_clipboard = copied.append
        await pilot.press("ctrl+o")
        assert copied and "[bold]not bold[/bold]" in copied[0] and "\x1b[31m" in copied[0]


@pytest.fixture
def no_timings(monkeypatch):
    from workbench.tui.tabs.retrieval import RetrievalTab

    monkeypatch.setattr(RetrievalTab, "show_timings", False)


def _searched(query: str, case: str | None = None):
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.press("f2")
        await settle(app, pilot)
        if case:
            app.query_one("#rt-case").value = case
            await settle(app, pilot)
            await until_text(app, pilot, f"Why not retrieved · {case.split('::')[-1]}")
        else:
            await search(app, pilot, query)
            await settle(app, pilot)
            await until_text(app, pilot, "trace r1")
        for widget in app.query("Input"):
            widget.cursor_blink = False
        await until_stable(app, pilot)

    return run_before


def test_retrieval_tab_snapshot_80x24(snap_compare, indexed_dir, make_app, no_timings):
    """80x24 after a search: query box and case picker, index stats (4 docs, frozen ingest
    time), the hybrid ranking with dense/fts/hybrid rank+score per row, and the preview of the
    top chunk (cats.md#1) with its boundary markers and the query terms highlighted."""
    app = make_app(indexed_dir, probe=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_searched("How many hours a day do cats sleep?"))


def test_retrieval_tab_snapshot_160x48(snap_compare, indexed_dir, make_app, no_timings):
    """160x48 with the eval case dogs-cut picked: the three rankings side by side with dogs.md
    rows marked ★, the preview of the top hybrid chunk, and the why-not report beside it."""
    app = make_app(indexed_dir, probe=False)
    assert snap_compare(app, terminal_size=(160, 48), run_before=_searched("", case="tiny.yaml::dogs-cut"))


def test_preview_shows_overlapping_chunk_boundaries_and_highlights_after_escapes():
    """Pure rendering: an overlap shows as the next chunk's start before the previous end; a
    control character shown as `\\x1b` does not shift the highlight of a later query term."""
    from workbench.tui.widgets.retrieval_preview import ChunkSpan, DocView, rebuild_from_chunks, render_preview

    text = "# Title\nalpha \x1b[2J beta gamma\ndelta gamma epsilon\nzeta"
    a, b = text.index("alpha"), text.index("delta") + len("delta gamma")
    c, d = text.index("gamma\ndelta"), len(text)
    view = DocView(
        "t.md", text, [ChunkSpan("t.md#0", 0, "Title", a, b, 2, 3), ChunkSpan("t.md#1", 1, "Title", c, d, 2, 4)]
    )
    styles = {"term": "bold red", "selected": "on blue", "marker": "magenta", "marker_selected": "bold cyan"}
    out = render_preview(view, "t.md#0", "gamma", styles)
    plain = out.plain
    assert "\x1b" not in plain and "alpha \\x1b[2J beta" in plain
    assert plain.index("┄┄ #0 Title · lines 2-3 ┄┄") < plain.index("┄┄ #1 Title · lines 2-4 ┄┄")
    assert plain.index("┄┄ #1 Title") < plain.index("┄┄ end #0 ┄┄") < plain.index("┄┄ end #1 ┄┄")
    terms = [plain[s.start : s.end] for s in out.spans if "red" in str(s.style)]
    assert terms and set(terms) == {"gamma"} and len(terms) == 2
    selected = "".join(plain[s.start : s.end] for s in out.spans if "on blue" in str(s.style))
    assert selected.startswith("alpha") and "zeta" not in selected

    rows = [{"text": text[a:b], "char_start": a, "char_end": b}, {"text": text[c:d], "char_start": c, "char_end": d}]
    rebuilt, starts = rebuild_from_chunks(rows)
    assert rebuilt == text[a:] and starts == [0, c - a]


async def test_index_stats_say_when_the_chunking_settings_changed(indexed_dir, make_app):
    config = indexed_dir / "workbench.yaml"
    config.write_text(config.read_text().replace("chunk_tokens: 60", "chunk_tokens: 80"))
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tab(app, pilot)
        await until_text(app, pilot, "chunking settings changed: ctrl+g re-chunks")
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        text = await until_text(app, pilot, "4 docs · ")
        assert "chunking settings changed" not in text
