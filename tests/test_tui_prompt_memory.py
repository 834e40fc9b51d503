"""Issue 17 items 9, 10, 17 and the promote dialog of 8/11, through Pilot with the real Ollama
stand-in and a real store: an unsaved edit survives switching variant and back and is marked
'modified' from the first key; A/B starts B on another variant (the last compared one); the
variant, A/B mode, the question and the answers come back when the app reopens
(<data_dir>/state.json); the promote dialog shows the question, the answer, the pane, a case
id cut at a word and what promoting does to the set's earlier runs."""

from __future__ import annotations

import json

import pytest
from fixtures_tui import screen_text, settle

from workbench.tui.promote_flow import word_slug

SIZES = [(80, 24), (160, 48)]


async def edit_template(app, pilot, text: str) -> None:
    area = app.query_one("#template-text")
    area.focus()
    area.move_cursor(area.document.end)
    await pilot.pause()
    for char in text:
        await pilot.press("space" if char == " " else char)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
async def test_an_unsaved_edit_survives_switching_variant_and_back(tui_project_dir, make_app, size):
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert "Template · modified" not in screen_text(app)
        await edit_template(app, pilot, " please")
        assert app.query_one("#template-text").text == "{question} please"
        assert "Template · modified" in screen_text(app)  # at once, not on send
        app.query_one("#variant-select").value = "prompt:qa"
        await settle(app, pilot)
        assert app.query_one("#template-text").text == "Question: {question}"
        assert "Template · modified" not in screen_text(app)
        app.query_one("#variant-select").value = "__base__"
        await settle(app, pilot)
        assert app.query_one("#template-text").text == "{question} please"
        assert "Template · modified" in screen_text(app)


async def test_ab_starts_b_on_another_variant_then_on_the_last_compared(tui_project_dir, make_app):
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.query_one("#variant-b-select").value == "prompt:audience"  # not base vs base
        app.query_one("#variant-b-select").value = "prompt:qa"
        await settle(app, pilot)
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.query_one("#variant-b-select").value == "prompt:qa"  # A/B back on, B kept
        assert "B · qa" in screen_text(app)


@pytest.mark.parametrize("size", SIZES)
async def test_reopening_brings_back_variant_ab_question_and_answers(tui_project_dir, ollama_standin, make_app, size):
    ollama_standin.configure(reply=["Use ", "WAL ", "mode."])
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.query_one("#variant-select").value = "prompt:qa"
        await settle(app, pilot)
        app.query_one("#var-question").value = "how do readers not block writers?"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
    state = json.loads((tui_project_dir / ".workbench" / "state.json").read_text())
    assert state["prompt"]["variant_a"] == "prompt:qa" and state["prompt"]["answers"] == {"A": 1}
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        assert app.query_one("#variant-select").value == "prompt:qa"
        assert app.query_one("#var-question").value == "how do readers not block writers?"
        text = screen_text(app)
        assert "Use WAL mode." in text and "from the last session" in text
        assert "variant: qa" in text  # the header follows
        assert app.query_one("#answer-a").generation_id == 1  # promotable again


async def test_a_damaged_state_file_is_ignored(tui_project_dir, make_app):
    folder = tui_project_dir / ".workbench"
    folder.mkdir(exist_ok=True)
    (folder / "state.json").write_text('{"prompt": {"variant_a": "gone", "drafts": [1], "ab": 1}')
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.query_one("#variant-select").value == "__base__"
        assert not app.query("#answer-b")


def test_case_ids_are_cut_at_a_word():
    question = "How do readers not block writers in SQLite databases?"
    assert word_slug(question) == "how-do-readers-not-block-writers"
    assert len(word_slug("x" * 50)) == 32 and word_slug("¿?") == "case"


@pytest.mark.parametrize("size", SIZES)
async def test_promote_dialog_shows_what_is_promoted_and_the_version_change(
    tui_project_dir, ollama_standin, make_app, size
):
    from workbench.core.evals.runner import EvalRunner  # noqa: F401 - a real run below

    evals = tui_project_dir / "evals"
    evals.mkdir()
    (evals / "promoted.yaml").write_text(
        "name: promoted\ncases:\n  - id: one\n    inputs: {question: q1}\n    assert:\n"
        "      - {type: icontains, value: wal}\n",
        encoding="utf-8",
    )
    ollama_standin.configure(reply=["Use ", "WAL ", "mode."])
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("f3")
        await settle(app, pilot)
        await pilot.press("ctrl+r")  # one run of the set: promoting will change its version
        await settle(app, pilot)
        await pilot.press("f1")
        await settle(app, pilot)
        app.query_one("#var-question").value = "How do readers not block writers in SQLite?"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        text = screen_text(app)
        assert "(pane A · base)" in text
        assert "Q: How do readers not block writers in SQLite?" in text
        assert "A: Use WAL mode." in text
        note = " ".join(str(app.screen.query_one("#promote-note").content).split())
        assert note.startswith(
            "Adding a case changes promoted's version: its 1 run so far can "
            "no longer be resumed, and the fine-tune guard counts only runs"
        )
        assert app.screen.query_one("#promote-id").value == "gen2-how-do-readers-not-block-writers"
        await pilot.press(*"WAL", "enter")
        await settle(app, pilot)
    assert "id: gen2-how-do-readers-not-block-writers" in (evals / "promoted.yaml").read_text()
