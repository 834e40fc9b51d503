"""One end-to-end run on the real embedded model (SmolLM2, in-process): no server at all."""

from __future__ import annotations

import pytest
from fixtures_tui import screen_text

from workbench.core.runlog import list_runs, load_run


@pytest.mark.slow
async def test_prompt_tab_streams_an_answer_from_the_embedded_model(tmp_path, make_app):
    pytest.importorskip("workbench.core.llm.embedded", reason="the embedded provider is not in this build yet")
    root = tmp_path / "embedded"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "qa.yaml").write_text(
        'system: You are a helpful assistant. Answer in one sentence.\ntemplate: "{question}"\n'
    )
    (root / "workbench.yaml").write_text(
        "name: offline\nmodel:\n  provider: embedded\n  options: {temperature: 0, num_predict: 24}\nfallback: []\n"
    )
    app = make_app(root)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "embedded · in-process" in screen_text(app)
        app.query_one("#var-question").value = "What is a database?"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        pane = app.query_one("#answer-a")
        assert pane.status in ("ok", "truncated")
        assert pane.markdown.source.strip()
        runs = list_runs(app.project.store, kind="generation")
        _, row = load_run(app.project.store, runs[0]["id"])
        assert row["model_used"] == "embedded" and row["output"] == pane.text
