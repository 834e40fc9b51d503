"""OllamaProvider against the real HTTP stand-in, through the official client (never patched).

Each failure test asserts what a user would be told: the ProviderError kind (which decides
retry/fallback), whether text was already shown, and the words of the message.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import ollama
import pytest
from ollama_standin import OllamaStandin

from workbench.core.llm.base import ChatRequest, Final, Provider, ProviderError, Thinking, Token
from workbench.core.llm.ollama import (
    OllamaProvider,
    list_models,
    probe,
    resolve_host,
    truncation_warnings,
)

HELLO = ChatRequest(messages=[{"role": "user", "content": "Say hello"}])
READ_TIMEOUT = 0.3  # small, so the stall tests stay fast


async def collect(provider: OllamaProvider, request: ChatRequest = HELLO):
    """(events, error): everything yielded before the stream ended or failed."""
    events = []
    try:
        async for event in provider.stream(request):
            events.append(event)
    except ProviderError as exc:
        return events, exc
    return events, None


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, Token))


@pytest.fixture
def provider(ollama_standin: OllamaStandin) -> OllamaProvider:
    return OllamaProvider("llama3.2", ollama_standin.url, read_timeout_s=READ_TIMEOUT)


# -- the happy path ---------------------------------------------------------------------------


async def test_tokens_stream_in_order_and_end_with_one_final(ollama_standin, provider):
    ollama_standin.configure(
        reply=["The", " answer", " is", " 42", "."],
        prompt_eval_count=11,
        eval_count=5,
        load_duration_ns=2_500_000,
        prompt_eval_duration_ns=40_000_000,
        eval_duration_ns=123_000_000,
    )
    request = ChatRequest(
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "?"}],
        options={"temperature": 0, "seed": 7},
        format="json",
    )
    events, error = await collect(provider, request)

    assert error is None
    assert isinstance(provider, Provider) and provider.name == "ollama:llama3.2"
    assert [e.text for e in events[:-1]] == ["The", " answer", " is", " 42", "."]
    assert text_of(events) == "The answer is 42."
    final = events[-1]
    assert isinstance(final, Final) and sum(isinstance(e, Final) for e in events) == 1
    assert final.model == "llama3.2"
    assert final.done_reason == "stop"
    assert (final.prompt_tokens, final.completion_tokens) == (11, 5)
    assert (final.load_ms, final.prompt_eval_ms, final.eval_ms) == (2.5, 40.0, 123.0)
    assert final.warnings == ()
    # What went over the wire is what Ollama expects.
    (sent,) = ollama_standin.requests_to("/api/chat")
    assert sent.body["model"] == "llama3.2"
    assert sent.body["stream"] is True
    assert sent.body["messages"] == request.messages
    assert sent.body["options"] == {"temperature": 0, "seed": 7}
    assert sent.body["format"] == "json"


async def test_missing_counts_stay_unknown_not_zero(ollama_standin, provider):
    ollama_standin.configure(prompt_eval_count=None, eval_count=None, load_duration_ns=None)
    events, error = await collect(provider)
    assert error is None
    final = events[-1]
    assert final.prompt_tokens is None and final.completion_tokens is None and final.load_ms is None


async def test_thinking_tokens_come_as_thinking_events(ollama_standin, provider):
    ollama_standin.configure(thinking=["Let me", " think."], reply=["Hi", "!"])
    events, error = await collect(provider)
    assert error is None
    assert [type(e) for e in events] == [Thinking, Thinking, Token, Token, Final]
    assert "".join(e.text for e in events if isinstance(e, Thinking)) == "Let me think."
    assert text_of(events) == "Hi!"


async def test_done_reason_length_is_reported_and_warned(ollama_standin, provider):
    ollama_standin.configure(done_reason="length")
    events, error = await collect(provider, ChatRequest(messages=HELLO.messages, options={"num_predict": 4}))
    assert error is None
    final = events[-1]
    assert final.done_reason == "length"
    assert any("truncated" in w and "num_predict=4" in w for w in final.warnings)


async def test_prompt_filling_num_ctx_is_warned_as_possible_truncation(ollama_standin, provider):
    ollama_standin.configure(prompt_eval_count=2048)
    request = ChatRequest(messages=[{"role": "user", "content": "x " * 9000}], options={"num_ctx": 2048})
    events, error = await collect(provider, request)
    assert error is None
    assert any("num_ctx=2048" in w and "truncated" in w for w in events[-1].warnings)
    # Without an explicit num_ctx the window is unknown: no guess, no warning.
    events, error = await collect(provider, ChatRequest(messages=request.messages))
    assert events[-1].warnings == ()


def test_truncation_warning_rules():
    long_prompt = [{"role": "user", "content": "y" * 40_000}]  # ~10,000 tokens by chars/4
    # Far fewer tokens evaluated than sent, and the text cannot fit: cut.
    w = truncation_warnings(done_reason="stop", prompt_eval_count=1500, messages=long_prompt, options={"num_ctx": 4096})
    assert len(w) == 1 and "~10000 tokens" in w[0] and "evaluated 1500" in w[0]
    # A small count for a prompt that fits is a cached prefix, not a cut.
    assert (
        truncation_warnings(
            done_reason="stop",
            prompt_eval_count=12,
            messages=[{"role": "user", "content": "z" * 4000}],
            options={"num_ctx": 4096},
        )
        == ()
    )


async def test_the_identity_after_an_answer_is_asked_like_the_chat_and_sees_a_re_pull(ollama_standin, monkeypatch):
    # Through the chat's own client: the same OLLAMA_API_KEY header (a proxy that wants it lets
    # both through), and still a fresh answer each time, so new weights show at once.
    import hashlib

    monkeypatch.setenv("OLLAMA_API_KEY", "k1")
    provider = OllamaProvider("llama3.2", ollama_standin.url)
    _, error = await collect(provider)
    assert error is None
    assert (await provider.identity()).digest == hashlib.sha256(b"llama3.2:latest").hexdigest()
    new = ollama_standin.remake("llama3.2")
    assert (await provider.identity()).digest == new
    tags = ollama_standin.requests_to("/api/tags")
    assert len(tags) == 2 and {t.headers.get("authorization") for t in tags} == {"Bearer k1"}
    await provider.aclose()


# -- failures before any output -----------------------------------------------------------------


async def test_503_before_stream_is_busy_and_retryable(ollama_standin, provider):
    ollama_standin.configure(fail_status=503, fail_times=1)
    events, error = await collect(provider)
    assert events == []
    assert (error.kind, error.retryable, error.after_output, error.status_code) == ("busy", True, False, 503)
    assert "Ollama is busy" in error.message and "503" in error.message
    # Only the first request was scripted to fail: a retry gets the answer.
    events, error = await collect(provider)
    assert error is None and text_of(events) == "Hello, world!"


async def test_unknown_model_is_not_found_with_pull_hint(ollama_standin):
    events, error = await collect(OllamaProvider("mistral-nemo", ollama_standin.url))
    assert events == []
    assert (error.kind, error.retryable, error.status_code) == ("not_found", False, 404)
    assert "model 'mistral-nemo' is not on the Ollama server" in error.message
    assert "ollama pull mistral-nemo" in error.message


async def test_unknown_route_is_told_apart_from_a_missing_model(ollama_standin):
    # A path prefix that this server does not serve: every /api route there is a gin 404.
    events, error = await collect(OllamaProvider("llama3.2", ollama_standin.url + "/proxy"))
    assert (error.kind, error.status_code) == ("protocol", 404)
    assert "no /api/chat endpoint" in error.message and "not Ollama" in error.message
    assert "pull" not in error.message


async def test_500_is_a_server_error(ollama_standin, provider):
    ollama_standin.configure(fail_status=500)
    events, error = await collect(provider)
    assert events == []
    assert (error.kind, error.after_output, error.status_code) == ("server", False, 500)
    assert "llama runner process has terminated" in error.message


async def test_out_of_memory_500_is_retryable(ollama_standin, provider):
    """The memory frees when another model unloads (ollama.py PERMANENT_500 says why)."""
    ollama_standin.configure(
        fail_status=500, fail_message="model requires more system memory (9.1 GiB) than is available (4.0 GiB)"
    )
    _, error = await collect(provider)
    assert error.kind == "server" and error.retryable is True


async def test_400_is_a_bad_request(ollama_standin, provider):
    ollama_standin.configure(fail_status=400, fail_message='invalid format: expected "json" or a JSON schema')
    _, error = await collect(provider)
    assert (error.kind, error.retryable, error.status_code) == ("bad_request", False, 400)
    assert "invalid format" in error.message


async def test_nothing_listening_is_connect(ollama_nothing_listening):
    events, error = await collect(OllamaProvider("llama3.2", ollama_nothing_listening))
    assert events == []
    assert (error.kind, error.retryable, error.after_output) == ("connect", True, False)
    assert error.message == f"Ollama at {ollama_nothing_listening} is not reachable (connection refused)"


async def test_no_first_byte_within_read_timeout_is_timeout_before_output(ollama_standin, provider):
    ollama_standin.configure(first_byte_delay_s=30)
    events, error = await collect(provider)
    assert events == []
    assert (error.kind, error.after_output) == ("timeout", False)
    assert "sent nothing for 0.3 s" in error.message


async def test_adapter_requests_are_refused_with_a_way_out(provider):
    _, error = await collect(provider, ChatRequest(messages=HELLO.messages, adapter="/tmp/lora"))
    assert error.kind == "bad_request" and "export" in error.message


# -- failures after output began ---------------------------------------------------------------


async def test_error_line_mid_stream_keeps_earlier_tokens(ollama_standin, provider):
    ollama_standin.configure(reply=["a", "b", "c", "d"], error_after=2, error_message="CUDA error: out of memory")
    events, error = await collect(provider)
    assert [e.text for e in events] == ["a", "b"]
    assert (error.kind, error.after_output, error.retryable) == ("midstream", True, False)
    assert "CUDA error: out of memory" in error.message


async def test_dropped_connection_mid_chunk(ollama_standin, provider):
    ollama_standin.configure(reply=["a", "b", "c", "d"], drop_after=3)
    events, error = await collect(provider)
    assert text_of(events) == "abc"
    assert (error.kind, error.after_output) == ("dropped", True)
    assert "dropped mid-stream: output is incomplete" in error.message


async def test_clean_eof_without_final_chunk_is_incomplete(ollama_standin, provider):
    ollama_standin.configure(omit_final=True)
    events, error = await collect(provider)
    assert text_of(events) == "Hello, world!"
    assert not any(isinstance(e, Final) for e in events)
    assert (error.kind, error.after_output) == ("incomplete", True)
    assert error.message == "stream ended without its final chunk: output is incomplete"


async def test_stall_past_read_timeout_is_timeout_after_output(ollama_standin, provider):
    ollama_standin.configure(stall_after=2, stall_s=30)
    events, error = await collect(provider)
    assert text_of(events) == "Hello,"
    assert (error.kind, error.after_output) == ("timeout", True)
    assert "stalled" in error.message and "incomplete" in error.message


async def test_short_stall_within_read_timeout_is_fine(ollama_standin, provider):
    ollama_standin.configure(stall_after=1, stall_s=0.05)
    events, error = await collect(provider)
    assert error is None and text_of(events) == "Hello, world!"


@pytest.mark.parametrize(
    ("line", "expected"),
    [("{not json", "not JSON"), ('{"done": false}', "unexpected shape")],
)
async def test_broken_line_is_a_protocol_error(ollama_standin, provider, line, expected):
    ollama_standin.configure(bad_line_after=1, bad_line=line)
    events, error = await collect(provider)
    assert text_of(events) == "Hello"
    assert (error.kind, error.after_output) == ("protocol", True)
    assert expected in error.message


# -- stopping early ------------------------------------------------------------------------------


async def test_early_aclose_closes_the_connection_so_the_server_stops(ollama_standin, provider):
    ollama_standin.configure(reply=[f"t{i} " for i in range(200)], token_delay_s=0.02)
    agen = provider.stream(HELLO)
    assert await agen.__anext__() == Token("t0 ")
    assert await agen.__anext__() == Token("t1 ")
    await agen.aclose()

    assert ollama_standin.wait_for(lambda s: s.requests_to("/api/chat")[0].outcome == "disconnected")
    assert ollama_standin.requests_to("/api/chat")[0].chunks_sent < 200


async def test_cancelled_wait_for_closes_the_connection(ollama_standin, provider):
    # The resilience layer bounds each __anext__ with asyncio.wait_for; its cancellation must
    # reach the socket too, or Ollama would keep generating for nobody.
    ollama_standin.configure(stall_after=1, stall_s=30)
    agen = provider.stream(HELLO)
    assert await agen.__anext__() == Token("Hello")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(agen.__anext__(), 0.1)
    await agen.aclose()
    assert ollama_standin.wait_for(lambda s: s.requests_to("/api/chat")[0].outcome == "disconnected")
    assert ollama_standin.requests_to("/api/chat")[0].chunks_sent == 1


async def test_client_giving_up_before_first_byte_cancels_server_work(ollama_standin, provider):
    ollama_standin.configure(first_byte_delay_s=30)  # a cold model load
    _, error = await collect(provider)
    assert error.kind == "timeout"
    assert ollama_standin.wait_for(lambda s: s.requests_to("/api/chat")[0].outcome == "disconnected")


def test_provider_works_across_event_loops(ollama_standin):
    provider = OllamaProvider("llama3.2", ollama_standin.url)
    for _ in range(2):  # e.g. two asyncio.run() calls in the CLI
        events, error = asyncio.run(collect(provider))
        assert error is None and text_of(events) == "Hello, world!"


async def test_count_tokens_is_unknown(provider):
    assert await provider.count_tokens(HELLO.messages) is None


# -- host, probe, list ---------------------------------------------------------------------------


def test_importing_the_module_costs_nothing():
    import subprocess
    import sys

    code = (
        "import sys, workbench.core.llm.ollama; "
        "print(sorted(m for m in ('ollama', 'httpx', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_host_resolution(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert resolve_host() == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5:9999")
    assert resolve_host() == "http://10.0.0.5:9999"
    assert resolve_host("gpu-box") == "http://gpu-box:11434"
    assert resolve_host("http://gpu-box") == "http://gpu-box:80"
    assert resolve_host("https://gpu-box/ollama/") == "https://gpu-box:443/ollama"
    assert resolve_host("[::1]:8080") == "http://[::1]:8080"
    assert OllamaProvider("m").host == "http://10.0.0.5:9999"


async def test_env_host_reaches_the_server(ollama_host_env):
    events, error = await collect(OllamaProvider("llama3.2"))
    assert error is None and text_of(events) == "Hello, world!"


async def test_probe_reports_version_or_none(ollama_standin, ollama_nothing_listening):
    ollama_standin.configure(version="0.33.1")
    assert await probe(ollama_standin.url) == "0.33.1"
    assert await probe(ollama_standin.host) == "0.33.1"
    assert await probe(ollama_nothing_listening) is None
    # Something answers, but not like Ollama (404 under a prefix): not a server we can use.
    assert await probe(ollama_standin.url + "/nope") is None


async def test_probe_gives_up_quickly_on_a_silent_server():
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        assert await probe(host, timeout_s=0.2) is None


async def test_list_models(ollama_standin, ollama_nothing_listening):
    ollama_standin.configure(models=["llama3.2", "smollm2:135m"])
    models = await list_models(ollama_standin.url)
    assert [m.name for m in models] == ["llama3.2:latest", "smollm2:135m"]
    assert models[0].family == "llama" and models[0].quantization == "Q4_K_M"
    with pytest.raises(ProviderError) as info:
        await list_models(ollama_nothing_listening)
    assert info.value.kind == "connect" and "connection refused" in info.value.message


# -- adapter export: tests/test_ollama_create.py ------------------------------------------------


# -- the stand-in itself is faithful where clients depend on it ---------------------------------


async def test_standin_speaks_the_protocol_the_client_expects(ollama_standin):
    client = ollama.AsyncClient(host=ollama_standin.url)
    # embed: the client sends no `stream` key and parses one JSON object.
    ollama_standin.configure(models=["llama3.2", "nomic-embed-text"])  # a chat model answers 501
    embedded = await client.embed(model="nomic-embed-text", input=["a", "b"])
    (req,) = ollama_standin.requests_to("/api/embed")
    assert "stream" not in req.body
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) == 8
    # Non-streamed chat: one object shaped like the final chunk, with the whole text.
    whole = await client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert whole.done and whole.message.content == "Hello, world!" and whole.eval_count == 4
    # generate streams `response` pieces and ends with `context`.
    parts = [p async for p in await client.generate(model="llama3.2", prompt="hi", stream=True)]
    assert "".join(p.response for p in parts) == "Hello, world!" and parts[-1].context
    # An empty chat only loads the model.
    load = await client.chat(model="llama3.2", messages=[])
    assert load.done_reason == "load"
    show = await client.show("llama3.2")
    assert "completion" in show.capabilities
    assert [m.model for m in (await client.ps()).models] == ["nomic-embed-text:latest", "llama3.2:latest"]
    async with httpx.AsyncClient(base_url=ollama_standin.url) as raw:
        root = await raw.get("/")
        assert root.text == "Ollama is running"
        streamed = await raw.post(
            "/api/chat", json={"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert streamed.headers["content-type"] == "application/x-ndjson"
        lines = streamed.text.split("\n")
        assert lines[-1] == "" and all(json.loads(line)["message"]["role"] for line in lines[:-1])
        ollama_standin.configure(fail_status=503)
        busy = await raw.post("/api/chat", json={"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]})
        assert busy.status_code == 503 and busy.json() == {
            "error": "server busy, please try again.  maximum pending requests exceeded"
        }
        assert (await raw.head(f"/api/blobs/sha256:{'0' * 64}")).status_code == 404
        mismatch = await raw.post(f"/api/blobs/sha256:{'0' * 64}", content=b"data")
        assert mismatch.status_code == 400 and "digest mismatch" in mismatch.json()["error"]
    await client.close()


def test_standin_stops_promptly_while_a_request_stalls():
    import threading

    standin = OllamaStandin().start()
    standin.configure(first_byte_delay_s=60)
    done = threading.Event()

    def call():
        try:
            httpx.post(
                standin.url + "/api/chat",
                json={"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]},
                timeout=10,
            )
        except httpx.HTTPError:
            pass
        done.set()

    t = threading.Thread(target=call)
    t.start()
    assert standin.wait_for(lambda s: len(s.requests) == 1)
    standin.stop()  # must not wait out the 60 s delay
    assert done.wait(5)
    t.join(5)
    assert not [th for th in threading.enumerate() if th.name.startswith("ollama-standin")]
