"""The Prompt tab against the real Ollama stand-in: streaming, cancel, fallback notices,
literal model text, A/B, save as variant. Waits on workers, never sleeps."""

from __future__ import annotations

import contextlib
import json

from fixtures_tui import screen_text, until

from workbench.core.runlog import list_runs, load_run


async def _ask(app, pilot, question: str) -> None:
    field = app.query_one("#var-question")
    field.focus()
    field.value = question
    await pilot.press("ctrl+r")


async def _answered(app, pilot, question: str) -> str:
    """Ask, wait until every answer has ended, and return the screen as the user reads it."""
    await _ask(app, pilot, question)
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen_text(app)


async def test_streamed_answer_is_shown_in_full_and_stored(tui_project_dir, ollama_standin, make_app):
    ollama_standin.configure(reply=["Hello", ",", " **world**", "!", "\n\n- one\n- two"])
    app = make_app(tui_project_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await _answered(app, pilot, "say hello")
        pane = app.query_one("#answer-a")
        assert pane.markdown.source == "Hello, **world**!\n\n- one\n- two"
        text = screen_text(app)
        assert "Hello, world!" in text  # rendered Markdown: bold markers gone
        assert "ok · ollama:llama3.2" in text and "attempts 1" in text
        runs = list_runs(app.project.store, kind="generation")
        assert len(runs) == 1 and runs[0]["status"] == "ok"
        _, row = load_run(app.project.store, runs[0]["id"])
        assert row["output"] == "Hello, **world**!\n\n- one\n- two"
        assert row["source"] == "playground"
        assert json.loads(json.dumps(row["inputs"])) == {"question": "say hello"}


async def test_escape_mid_stream_keeps_partial_answer_stored_as_interrupted(tui_project_dir, ollama_standin, make_app):
    tokens = [f"tok{i} " for i in range(200)]
    ollama_standin.configure(reply=tokens, token_delay_s=0.05)
    app = make_app(tui_project_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await _ask(app, pilot, "count")
        # Wait until a few tokens are on screen, then cancel.
        await until(pilot, lambda: app.query_one("#answer-a").text.count("tok") >= 3)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        pane = app.query_one("#answer-a")
        assert pane.status == "interrupted"
        shown = pane.markdown.source
        assert shown.startswith("tok0 tok1") and len(shown) < len("".join(tokens))
        assert "interrupted · partial answer kept" in screen_text(app)
        runs = list_runs(app.project.store, kind="generation")
        _, row = load_run(app.project.store, runs[0]["id"])
        assert row["status"] == "interrupted"
        assert row["output"] and "".join(tokens).startswith(row["output"])
        assert shown.startswith(row["output"]) or row["output"].startswith(shown)


async def test_fallback_notice_shows_when_the_model_is_missing(tmp_path, ollama_standin, make_app, xdg_config):
    from fixtures_project import write_project

    root = write_project(tmp_path / "fb", host=ollama_standin.url, fallback=["ollama:qwen3:0.6b"])
    ollama_standin.configure(models=["qwen3:0.6b"], reply=["from", " qwen"])
    app = make_app(root)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await _answered(app, pilot, "anything")
        pane = app.query_one("#answer-a")
        assert any(text.startswith("falling back to ollama:qwen3:0.6b") for text, _ in pane.notices)
        text = screen_text(app)
        assert "falling back to ollama:qwen3:0.6b" in text
        assert "fell back" in text  # final stats line and header both say so
        assert pane.markdown.source == "from qwen"


async def test_busy_server_retry_notice_is_visible(tui_project_dir, ollama_standin, make_app):
    ollama_standin.configure(fail_status=503, fail_times=1, reply=["fine"])
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        text = await _answered(app, pilot, "q")
        assert "retry 1/2" in text
        assert "attempts 2" in text
        assert app.query_one("#answer-a").markdown.source == "fine"


@contextlib.asynccontextmanager
async def _grounded_app(project_dir, make_app):
    """The app at 120x34 on a prompt that puts the retrieved context before the question."""
    (project_dir / "prompts" / "grounded.yaml").write_text(
        'template: "{context}\\n\\nQ: {question}"\n', encoding="utf-8"
    )
    app = make_app(project_dir)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.pause()
        app.query_one("#variant-select").value = "prompt:grounded"
        await pilot.pause()
        yield app, pilot


async def test_model_text_is_shown_literally_never_as_markup_or_escapes(
    tui_project_dir, ollama_standin, make_app, monkeypatch
):
    """The model says `[bold]x[/]` and sends an ESC sequence: both must show as typed."""
    evil = "[bold]x[/] and \x1b[31mred\x1b[0m"
    ollama_standin.configure(reply=[evil])
    _fake_retrieval(monkeypatch, evil)
    async with _grounded_app(tui_project_dir, make_app) as (app, pilot):
        text = await _answered(app, pilot, "q")
        assert "[bold]x[/] and \\x1b[31mred\\x1b[0m" in text
        assert "\x1b" not in app.query_one("#answer-a").markdown.source
        # The source list and the source screen show document text literally too.
        assert "[1] docs/[bold]evil[/].md — [i]head[/i]" in text
        await pilot.press("ctrl+l")
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "[1] docs/[bold]evil[/].md — [i]head[/i]" in text
        assert "[bold]x[/] and \\x1b[31mred\\x1b[0m" in text


def _fake_retrieval(monkeypatch, text: str, hits: list[dict] | None = None) -> None:
    """Fixed retrieval hits (by default one, whose text is `text`) in place of a real search;
    the rest of the real service module (e.g. its index-health notes) stays as it is."""
    from workbench.core.retrieval import service

    hits = hits or [
        {"chunk_id": "c1", "path": "docs/[bold]evil[/].md", "heading": "[i]head[/i]", "text": text, "score": 0.5}
    ]

    def retrieve_sources(project, settings, question):
        return [dict(hit) for hit in hits], None

    monkeypatch.setattr(service, "retrieve_sources", retrieve_sources)


async def test_ab_mode_streams_two_variants_side_by_side(tui_project_dir, ollama_standin, make_app):
    def reply(body):
        system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
        word = "terse" if "terse" in system else "qa"
        return [word] + [" answer"] * 40

    ollama_standin.configure(reply=reply, token_delay_s=0.05)
    app = make_app(tui_project_dir)
    async with app.run_test(size=(140, 34)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        app.query_one("#variant-b-select").value = "prompt:qa"
        await pilot.pause()
        await _ask(app, pilot, "compare")
        # Both answers are on screen, partly, at the same moment: they stream concurrently.
        a, b = app.query_one("#answer-a"), app.query_one("#answer-b")
        await until(pilot, lambda: a.text and b.text and a.streaming and b.streaming)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert a.markdown.source == "terse" + " answer" * 40
        assert b.markdown.source == "qa" + " answer" * 40
        runs = list_runs(app.project.store, kind="generation")
        assert sorted(r["status"] for r in runs) == ["ok", "ok"]
        text = screen_text(app)
        assert "A · base (" in text and "B · qa (" in text


async def test_save_as_variant_writes_prompt_file_and_config_entry(tui_project_dir, ollama_standin, make_app):
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.pause()
        template = app.query_one("#template-text")
        template.load_text("Answer in French: {question}\nTone: {tone}")
        await pilot.pause()
        assert app.query_one("#var-tone")  # the variables form follows the template
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"french-v1", "enter")
        await pilot.pause()
        saved = tui_project_dir / "prompts" / "french-v1.yaml"
        assert "Answer in French: {question}" in saved.read_text()
        config_text = (tui_project_dir / "workbench.yaml").read_text()
        assert "french-v1:" in config_text and "prompt: french-v1" in config_text
        assert "french-v1" in app.project.config.variants
        assert app.query_one("#variant-select").value == "french-v1"
        assert "variant: french-v1" in screen_text(app)  # the header follows the picker
        # Saving the same name again is refused, and the file is not touched.
        before = saved.read_text()
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"french-v1", "enter")
        await pilot.pause()
        assert "already exists" in screen_text(app)
        assert saved.read_text() == before


async def test_model_text_is_literal_while_it_streams_too(tui_project_dir, ollama_standin, make_app):
    """The live tail (Rich-rendered) shows markup-looking text and escapes literally as well."""
    evil = ["[bold]x[/] ", "and ", "\x1b[31mred\x1b[0m "] + [f"w{i} " for i in range(200)]
    ollama_standin.configure(reply=evil, token_delay_s=0.02)
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.pause()
        await _ask(app, pilot, "q")
        pane = app.query_one("#answer-a")
        await until(pilot, lambda: "w5 " in pane.text)
        await pilot.pause()
        text = screen_text(app)
        assert pane.has_class("-streaming")
        assert "[bold]x[/] and \\x1b[31mred\\x1b[0m" in text
        await pilot.press("escape")
        await app.workers.wait_for_complete()


def test_tail_starts_at_a_block_boundary_outside_code_fences():
    from workbench.tui.widgets.stream_view import tail_start

    text = "para one\n\n```\ncode\n\nmore code\n```\n\n" + "last words " * 5
    assert text[tail_start(text, keep=30) :].startswith("last words")
    assert tail_start("short", keep=60) == 0
    # The only blank line near the cut is inside a fence: the tail starts before the fence.
    fenced = "intro\n\n```\ncode\n\nmore\n```" + "z" * 50
    assert fenced[tail_start(fenced, keep=40) :].startswith("```")


async def test_a_keyboard_user_can_type_the_question_at_once(tui_project_dir, ollama_standin, make_app):
    """On start (and on F1) the cursor is in the first variable: type, ctrl+r, done."""
    app = make_app(tui_project_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.focused is not None and app.focused.id == "var-question")
        await pilot.press(*"hi there", "ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query_one("#answer-a").markdown.source == "Hello, world!"
        assert ollama_standin.requests_to("/api/chat")[0].body["messages"][-1]["content"].endswith("hi there")
        await pilot.press("f5")
        await pilot.pause()
        await pilot.press("f1")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "var-question")


def _grounded(project_dir) -> None:
    (project_dir / "prompts" / "plain.yaml").write_text(
        'system: Cite.\ntemplate: "Sources:\\n{context}\\n\\nQ: {question}"\n', encoding="utf-8"
    )


async def test_ctrl_l_puts_a_visible_cursor_on_the_sources_and_enter_opens_one(
    tui_project_dir, ollama_standin, make_app, monkeypatch
):
    """k=4 shows all four sources at 80x24; ctrl+l highlights [1]; down + Enter opens [2]."""
    _fake_retrieval(
        monkeypatch,
        "",
        [
            {
                "chunk_id": f"c{i}",
                "path": f"docs/f{i}.md",
                "heading": f"Part {i}",
                "text": f"only in source {i}",
                "score": 0.5,
            }
            for i in range(1, 5)
        ],
    )
    _grounded(tui_project_dir)
    ollama_standin.configure(reply=["See [1]."])
    app = make_app(tui_project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before = await _answered(app, pilot, "q")
        for n in range(1, 5):
            assert f"[{n}] docs/f{n}.md — Part {n}" in before  # none cut off or scrolled away
        await pilot.press("ctrl+l")
        await pilot.pause()
        sources = app.query_one("#answer-a .answer-sources")
        assert app.focused is sources and sources.highlighted == 0
        assert screen_text(app) != before  # the user sees the jump
        await pilot.press("down", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert "[2] docs/f2.md — Part 2 · score 0.500" in text and "only in source 2" in text


async def test_saving_in_ab_mode_keeps_b_and_never_relabels_an_answer(tui_project_dir, ollama_standin, make_app):
    with open(tui_project_dir / "workbench.yaml", "a", encoding="utf-8") as handle:
        handle.write("variants:\n  terse:\n    prompt: qa\n")
    ollama_standin.configure(reply=["an answer"])
    app = make_app(tui_project_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.pause()
        app.query_one("#variant-b-select").value = "terse"
        app.query_one("#system-text").load_text("You are very terse.")
        assert "A · base (edited) (" in await _answered(app, pilot, "q")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"qa-v3", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert app.query_one("#variant-select").value == "qa-v3"
        assert app.query_one("#variant-b-select").value == "terse"
        assert "Variant B: terse" in text and "B · terse (" in text
        # Pane A still shows the answer "base (edited)" gave; the header says so.
        assert "A · base (edited) (" in text and "A · qa-v3" not in text
        assert "next: qa-v3" in text
        text = await _answered(app, pilot, "q")
        assert "A · qa-v3 (" in text and "next:" not in text


async def test_ab_mode_says_the_editor_is_variant_a(tui_project_dir, ollama_standin, make_app):
    app = make_app(tui_project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "editing A" not in screen_text(app)
        await pilot.press("ctrl+t")
        await pilot.pause()
        text = screen_text(app)
        assert "System prompt · editing A" in text and "Template · editing A" in text
        assert "B: as saved; the editor is A" in text
        question = app.query_one("#var-question")
        assert question.region.bottom <= 23  # still on screen above the footer, no scrolling


async def test_editor_grows_with_the_terminal(tui_project_dir, ollama_standin, make_app):
    app = make_app(tui_project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.query_one("#editor").outer_size.width == 36
        assert app.query_one("#system-text").size.height >= 3
        assert app.query_one("#template-text").size.height >= 5
        assert app.query_one("#var-question").region.bottom <= 23
    app = make_app(tui_project_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.query_one("#editor").outer_size.width >= 60
        assert app.query_one("#system-text").size.height >= 8
        assert app.query_one("#template-text").size.height >= 16
        assert app.query_one("#var-question").region.bottom <= 47


async def test_live_ttft_is_the_stored_one_even_when_retrieval_is_slow(
    tui_project_dir, ollama_standin, make_app, monkeypatch
):
    """Issue 17 bug 3: the live TTFT counted from Send (so it included retrieval) while the
    stored one counts from the model call; for the same answer they must agree."""
    import time as _time

    from workbench.core.retrieval import service

    def slow_sources(project, settings, question):
        _time.sleep(1.5)  # a cold embedding model or a big index
        return [{"chunk_id": "c1", "path": "docs/a.md", "heading": "A", "text": "ctx", "score": 0.5}], None

    monkeypatch.setattr(service, "retrieve_sources", slow_sources)
    ollama_standin.configure(reply=["one", " two", " three"], first_byte_delay_s=0.3, token_delay_s=0.05)
    async with _grounded_app(tui_project_dir, make_app) as (app, pilot):
        await _answered(app, pilot, "q")
        pane = app.query_one("#answer-a")
        live = pane.live
        [ttft] = [p for p in live.parts(_time.monotonic()) if p.startswith("TTFT ")]
        shown = float(ttft.removeprefix("TTFT ").removesuffix("s"))
        stored = pane.record.result.ttft_ms / 1000
        assert (live.first_token - live.started) - stored > 1.0  # counted from Send, they differed
        assert abs(shown - stored) < 0.25, (shown, stored)
