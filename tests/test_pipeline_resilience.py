"""The integrate path against a real HTTP Ollama stand-in, through the official client.

Each test is one of the issue's "done when" situations: what streams, what is retried, what
falls back, and what the stored row says afterwards.
"""

from __future__ import annotations

import json

import pytest

from workbench.core.llm.base import Notice, Token
from workbench.core.pipeline import run_generation
from workbench.core.variants import resolve_variant


async def ask(project, question="Hi?", **kwargs):
    events = []
    variant = resolve_variant(project, kwargs.pop("variant", None), model=kwargs.pop("model", None))
    record = await run_generation(
        project, variant, {"question": question, **kwargs.pop("inputs", {})}, on_event=events.append, **kwargs
    )
    row = project.store.get("generations", record.id)
    return record, row, events


async def test_tokens_stream_and_the_row_is_complete(ollama_standin, project_factory):
    ollama_standin.configure(reply=["Al", "pha", " and", " beta"], prompt_eval_count=21, eval_count=4)
    project = project_factory(host=ollama_standin.url)
    record, row, events = await ask(project)
    assert [e.text for e in events if isinstance(e, Token)] == ["Al", "pha", " and", " beta"]
    assert record.output == "Alpha and beta"
    assert row["status"] == "ok" and row["output"] == "Alpha and beta"
    assert row["model_used"] == "ollama:llama3.2" and row["fallback_used"] == 0
    assert (row["prompt_tokens"], row["completion_tokens"]) == (21, 4)
    assert row["cost"] == pytest.approx(21 / 1000 * 0.5 + 4 / 1000 * 1.0)
    assert row["ttft_ms"] > 0 and row["total_ms"] >= row["ttft_ms"]
    sent = json.loads(row["messages"])
    assert sent == [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi?"}]
    chat = ollama_standin.requests_to("/api/chat")[0]
    assert chat.body["options"]["num_predict"] == 32 and chat.body["messages"] == sent


async def test_503_before_stream_is_retried_then_succeeds(ollama_standin, project_factory):
    ollama_standin.configure(fail_status=503, fail_times=2)
    project = project_factory(host=ollama_standin.url)
    record, row, events = await ask(project)
    assert row["status"] == "ok" and row["output"] == "Hello, world!"
    assert row["attempts"] == 3
    retries = [e.text for e in events if isinstance(e, Notice) and "retry" in e.text]
    assert len(retries) == 2 and "retry 1/2" in retries[0] and "retry 2/2" in retries[1]
    assert len(ollama_standin.requests_to("/api/chat")) == 3


async def test_503_every_time_gives_up_after_configured_retries(ollama_standin, project_factory):
    ollama_standin.configure(fail_status=503)
    project = project_factory(host=ollama_standin.url)
    record, row, _ = await ask(project)
    assert record.result.no_model_answered
    assert row["status"] == "error" and "busy" in row["error"].lower()
    assert len(ollama_standin.requests_to("/api/chat")) == 3  # 1 try + 2 retries


async def test_unknown_model_falls_back_and_the_row_says_so(ollama_standin, project_factory):
    project = project_factory(host=ollama_standin.url, model="no-such-model", fallback=["ollama:llama3.2"])
    record, row, events = await ask(project)
    assert row["status"] == "ok" and row["output"] == "Hello, world!"
    assert row["model_requested"] == "ollama:no-such-model"
    assert row["model_used"] == "ollama:llama3.2" and row["fallback_used"] == 1
    log = json.loads(row["attempt_log"])
    assert log[0]["model"] == "ollama:no-such-model" and log[0]["outcome"] == "not_found"
    assert log[-1] == {**log[-1], "model": "ollama:llama3.2", "outcome": "ok"}
    assert any("falling back to ollama:llama3.2" in e.text for e in events if isinstance(e, Notice))
    # 404 is not retried: one request for the missing model only.
    asked = [r.body["model"] for r in ollama_standin.requests_to("/api/chat")]
    assert asked.count("no-such-model") == 1


async def test_stall_past_idle_timeout_keeps_partial_output(ollama_standin, project_factory):
    ollama_standin.configure(reply=["one", " two", " three"], stall_after=2, stall_s=3.0)
    project = project_factory(
        host=ollama_standin.url,
        fallback=["ollama:llama3.2"],
        timeouts="connect_s: 2\n  first_token_s: 5\n  idle_s: 0.5\n  total_s: 20",
    )
    record, row, _ = await ask(project)
    assert row["status"] == "timeout"
    assert row["output"] == "one two"
    assert "idle" in row["error"]
    # Output was shown: no silent retry and no fallback answer replacing it.
    assert len(ollama_standin.requests_to("/api/chat")) == 1


async def test_first_token_timeout_falls_back_without_output(ollama_standin, project_factory):
    ollama_standin.configure(first_byte_delay_s=2.0)
    project = project_factory(
        host=ollama_standin.url,
        model="qwen3:0.6b",
        fallback=["ollama:llama3.2"],
        timeouts="connect_s: 2\n  first_token_s: 0.4\n  idle_s: 5\n  total_s: 20",
    )
    # Both models are slow here, so both time out before a token: nothing is shown or stored.
    record, row, _ = await ask(project)
    assert row["status"] == "error" and "first-token timeout" in row["error"]
    assert row["output"] == ""


async def test_error_line_mid_stream_is_clear_and_not_retried(ollama_standin, project_factory):
    ollama_standin.configure(reply=["a", "b", "c", "d"], error_after=2)
    project = project_factory(host=ollama_standin.url, fallback=["ollama:qwen3:0.6b"])
    record, row, _ = await ask(project)
    assert row["status"] == "error" and row["output"] == "ab"
    assert "unexpected EOF" in row["error"]
    assert len(ollama_standin.requests_to("/api/chat")) == 1


async def test_dropped_connection_keeps_partial_and_is_not_retried(ollama_standin, project_factory):
    ollama_standin.configure(reply=["x", "y", "z"], drop_after=1)
    project = project_factory(host=ollama_standin.url)
    record, row, _ = await ask(project)
    assert row["status"] == "error" and row["output"] == "x"
    assert row["error"]
    assert len(ollama_standin.requests_to("/api/chat")) == 1


async def test_eof_without_final_chunk_is_stored_as_incomplete(ollama_standin, project_factory):
    ollama_standin.configure(reply=["p", "q"], omit_final=True)
    project = project_factory(host=ollama_standin.url)
    record, row, _ = await ask(project)
    assert row["status"] == "incomplete" and row["output"] == "pq"
    assert "final" in row["error"]


async def test_done_reason_length_is_truncated(ollama_standin, project_factory):
    ollama_standin.configure(done_reason="length")
    project = project_factory(host=ollama_standin.url)
    record, row, _ = await ask(project)
    assert row["status"] == "truncated"
    assert "num_predict" in row["warnings"] or "truncat" in row["warnings"]


async def test_nothing_listening_falls_through_and_reports_every_reason(ollama_nothing_listening, project_factory):
    project = project_factory(host=ollama_nothing_listening, fallback=["ollama:other"])
    record, row, _ = await ask(project)
    assert record.result.no_model_answered
    assert "ollama:llama3.2" in row["error"] and "ollama:other" in row["error"]
    assert row["status"] == "error"


async def test_cancel_mid_stream_stores_interrupted_partial(ollama_standin, project_factory):
    import asyncio

    ollama_standin.configure(reply=[f"t{i} " for i in range(50)], token_delay_s=0.05)
    project = project_factory(host=ollama_standin.url)
    variant = resolve_variant(project)
    seen: list = []
    got_three = asyncio.Event()

    def on_event(event):
        seen.append(event)
        if sum(isinstance(e, Token) for e in seen) >= 3:
            got_three.set()

    task = asyncio.create_task(run_generation(project, variant, {"question": "q"}, on_event=on_event))
    await got_three.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = project.store.rows("generations", limit=1)[0]
    assert row["status"] == "interrupted"
    assert row["output"].startswith("t0 t1 t2")
    assert len(row["output"].split()) < 50


async def test_cache_reuses_only_complete_answers(ollama_standin, project_factory):
    project = project_factory(host=ollama_standin.url)
    first, _, _ = await ask(project, use_cache=True)
    second, _, _ = await ask(project, use_cache=True)
    assert second.cached and second.id == first.id and second.output == first.output
    assert len(ollama_standin.requests_to("/api/chat")) == 1
    ollama_standin.configure(reply=["other"])
    third, _, _ = await ask(project, question="Different?", use_cache=True)
    assert not third.cached and third.output == "other"


async def test_a_fallback_answer_is_never_served_from_cache_as_the_requested_model(ollama_standin, project_factory):
    project = project_factory(host=ollama_standin.url, model="not-pulled-yet", fallback=["ollama:llama3.2"])
    first, row, _ = await ask(project, use_cache=True)
    assert row["model_used"] == "ollama:llama3.2"
    ollama_standin.configure(models=["not-pulled-yet", "llama3.2"], reply=["from", " the", " real", " one"])
    second, row2, _ = await ask(project, use_cache=True)
    assert not second.cached and row2["model_used"] == "ollama:not-pulled-yet"
    assert second.output == "from the real one"
    third, _, _ = await ask(project, use_cache=True)
    assert third.cached and third.id == second.id


async def test_budget_refuses_before_calling(ollama_standin, project_factory):
    from workbench.core.pipeline import BudgetRefused

    project = project_factory(
        host=ollama_standin.url, extra="budget:\n  max_tokens_per_request: 10\n  action: refuse\n"
    )
    with pytest.raises(BudgetRefused, match="max_tokens_per_request=10"):
        await ask(project)
    assert ollama_standin.requests_to("/api/chat") == []


async def test_budget_warns_and_still_answers(ollama_standin, project_factory):
    project = project_factory(host=ollama_standin.url, extra="budget:\n  max_tokens_per_request: 10\n")
    record, row, events = await ask(project)
    assert row["status"] == "ok"
    assert any(isinstance(e, Notice) and e.text.startswith("budget:") for e in events)
    assert "max_tokens_per_request" in row["warnings"]


async def test_budget_per_day_counts_todays_stored_tokens(ollama_standin, project_factory):
    from workbench.core.pipeline import BudgetRefused

    ollama_standin.configure(prompt_eval_count=20, eval_count=30)
    project = project_factory(host=ollama_standin.url, extra="budget:\n  max_tokens_per_day: 80\n  action: refuse\n")
    record, row, _ = await ask(project)
    assert row["status"] == "ok"  # 0 used today + about 40 for this call
    with pytest.raises(
        BudgetRefused, match=r"today's 50 tokens \+ about \d+ for this call exceeds budget.max_tokens_per_day=80"
    ):
        await ask(project)
    assert len(ollama_standin.requests_to("/api/chat")) == 1


async def test_an_unreadable_index_folder_still_answers_without_retrieval(ollama_standin, project_factory, monkeypatch):
    """`chmod 000 .workbench/index` made `ask` crash before the answer. Tests run as root, where
    permission bits don't apply, so the folder's refusal is simulated at the one place it hit."""
    from pathlib import Path

    from workbench.core.retrieval import index as index_module

    project = project_factory(host=ollama_standin.url)
    (project.root / "prompts" / "grounded.yaml").write_text(
        'template: "Sources:\\n{context}\\n\\nQ: {question}"\n', encoding="utf-8"
    )
    (project.data_dir / "index").mkdir(parents=True)

    class Unreadable(type(Path())):
        def exists(self, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(index_module, "index_dir", lambda data_dir: Unreadable(data_dir) / "index")
    variant = resolve_variant(project, prompt="grounded")
    record = await run_generation(project, variant, {"question": "Hi?"}, on_event=lambda e: None)
    row = project.store.get("generations", record.id)
    assert row["status"] == "ok" and row["output"] == "Hello, world!"
    assert row["retrieval_status"].startswith("unavailable")
