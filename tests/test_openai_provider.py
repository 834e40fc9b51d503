"""The OpenAI-compatible provider (`openai:MODEL` + base_url).

The happy path, usage, an unknown model and a host pool run against a real server nobody here
wrote: `transformers serve` (Transformers' own FastAPI server, the `transformers[serving]` test
extra) serving the embedded SmolLM2 folder on loopback, started once per session. The failures a
real server cannot produce on demand (429 with Retry-After, 401/403, a vLLM-style context-length
400, a cut stream) use a scripted loopback stub (tests/openai_stub.py): real sockets and real
HTTP, only the replies are scripted.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from ollama_standin import closed_port_url
from openai_stub import OpenAIStub, Reply

from workbench.core.config import PricingConfig, RetryConfig, TimeoutConfig
from workbench.core.llm.base import ChatRequest
from workbench.core.llm.hosts import HostPool
from workbench.core.llm.openai_compat import OpenAIProvider, request_body, retry_after_s
from workbench.core.llm.resilience import ResilientCall
from workbench.core.project import Project

MESSAGES = [{"role": "user", "content": "Say hi"}]
RETRIES = RetryConfig(count=2, backoff_s=0.01, max_backoff_s=0.02)
TIMEOUTS = TimeoutConfig(connect_s=2, first_token_s=10, idle_s=5, total_s=30)


def call(provider, *, retries=RETRIES, timeouts=TIMEOUTS, sleeps=None, **kw):
    async def sleep(s):
        if sleeps is not None:
            sleeps.append(s)

    c = ResilientCall(
        [provider],
        timeouts=timeouts,
        retries=retries,
        pricing=PricingConfig(prompt_per_1k=1.0, completion_per_1k=2.0),
        sleep=sleep,
        **kw,
    )

    async def run():
        async for _ in c.stream(ChatRequest(messages=MESSAGES, options={"num_predict": 3})):
            pass
        return c.result

    return asyncio.run(run())


# -- a real server: transformers serve ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def transformers_serve(tmp_path_factory):
    """`transformers serve FOLDER` on a free loopback port, offline, until the session ends."""
    pytest.importorskip("fastapi", reason="transformers[serving] is in the test extras")
    from workbench.core.llm.embedded_model import ensure_hf_folder

    folder = str(ensure_hf_folder())
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    exe = Path(sys.executable).parent / "transformers"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                folder,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--device",
                "cpu",
                "--dtype",
                "float32",
                "--default-seed",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not healthy in 240 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"{base}/v1", folder
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def openai_project(root: Path, model_lines: str) -> Project:
    root.mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "prompts" / "plain.yaml").write_text('template: "{question}"\n', encoding="utf-8")
    (root / "workbench.yaml").write_text(
        "model:\n  provider: openai\n"
        + model_lines
        + "  options: {temperature: 0, seed: 1, num_predict: 3}\nfallback: []\n"
        "timeouts: {connect_s: 2, first_token_s: 120, idle_s: 60, total_s: 240}\n"
        "retries: {count: 1, backoff_s: 0.01}\n"
        "pricing: {prompt_per_1k: 0.5, completion_per_1k: 1.0}\ndefault_prompt: plain\n",
        encoding="utf-8",
    )
    return Project.open(root)


@pytest.mark.slow
def test_real_server_answers_with_usage_cost_and_the_key_never_stored(transformers_serve, tmp_path, monkeypatch):
    from workbench.core.pipeline import run_generation
    from workbench.core.variants import resolve_variant

    base_url, folder = transformers_serve
    monkeypatch.setenv("WB_TEST_OPENAI_KEY", "sk-test-0123456789secret")
    project = openai_project(
        tmp_path / "p", f"  name: {folder}\n  base_url: {base_url}\n  api_key_env: WB_TEST_OPENAI_KEY\n"
    )
    try:
        record = asyncio.run(run_generation(project, resolve_variant(project), {"question": "Say hi"}))
        result = record.result
        assert result.status == "truncated", (result.status, result.error)  # num_predict 3 -> "length"
        assert result.output.strip()
        assert result.model_used == f"openai:{folder}"
        assert result.completion_tokens == 3 and result.prompt_tokens and result.prompt_tokens > 5
        assert result.cost == pytest.approx(result.prompt_tokens / 1000 * 0.5 + 3 / 1000 * 1.0)
        assert result.ttft_ms is not None and result.tokens_per_s is not None
        project.close()
        stored = b"".join(p.read_bytes() for p in (tmp_path / "p").rglob("*") if p.is_file())
        assert b"sk-test-0123456789secret" not in stored
        assert b"WB_TEST_OPENAI_KEY" in (tmp_path / "p" / "workbench.yaml").read_bytes()
    finally:
        project.close()


@pytest.mark.slow
def test_real_server_unknown_model_is_one_clear_error(transformers_serve):
    base_url, _ = transformers_serve
    result = call(OpenAIProvider("no-such-model", base_url))
    assert result.status == "error"
    assert [a.outcome for a in result.attempts] == ["not_found"]  # not retried
    assert "model 'no-such-model' is not served at " + base_url in result.error


@pytest.mark.slow
def test_real_server_in_a_pool_with_a_dead_host(transformers_serve):
    """The same host pool works for this provider: the dead host fails before any output, is
    marked down, and the request goes to the live one; the attempt log names the dead host."""
    base_url, folder = transformers_serve
    dead = closed_port_url() + "/v1"
    pool = HostPool(
        f"openai:{folder}", [(dead, 1, OpenAIProvider(folder, dead)), (base_url, 1, OpenAIProvider(folder, base_url))]
    )
    pool.hosts[1].outstanding = 1  # make the dead host the least busy, so it is tried first
    pool.hosts[1].concurrency = 2
    result = call(pool, restart_midstream=True)
    assert result.status == "truncated" and result.output
    assert [(a.outcome, a.host) for a in result.attempts] == [("connect", dead), ("ok", None)]
    states = {s.url: s.state for s in pool.snapshot()}
    assert states == {dead: "down", base_url: "up"}


# -- scripted failures (loopback stub) --------------------------------------------------------


def test_request_body_maps_options_and_asks_for_usage():
    body, dropped = request_body(
        "m",
        ChatRequest(
            messages=MESSAGES,
            options={"num_predict": 5, "temperature": 0, "seed": 3, "top_k": 4, "num_ctx": 2048},
            format="json",
        ),
    )
    assert body["max_tokens"] == 5 and body["temperature"] == 0 and body["seed"] == 3
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["response_format"] == {"type": "json_object"}
    assert "top_k" not in body and "num_ctx" not in body and sorted(dropped) == ["num_ctx", "top_k"]


def test_retry_after_is_read_as_seconds_ms_or_a_date():
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_after_s({}) is None and retry_after_s({"retry-after": "soon"}) is None


def test_429_waits_the_servers_retry_after_then_answers():
    with OpenAIStub(Reply(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "1.5"}), Reply()) as stub:
        sleeps: list[float] = []
        result = call(OpenAIProvider("m", stub.base_url), sleeps=sleeps)
    assert result.status == "ok" and result.output == "Hello"
    assert sleeps and sleeps[0] >= 1.5  # the backoff alone would be ~0.01 s
    assert [a.outcome for a in result.attempts] == ["busy", "ok"]
    assert "asks to wait 1.5 s" in result.attempts[0].message


def test_429_past_the_total_deadline_says_so():
    with OpenAIStub(Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "3600"})) as stub:
        result = call(OpenAIProvider("m", stub.base_url))
    assert result.status == "error" and len(result.attempts) == 1
    assert "asks to wait 3600 s, past the total deadline of 30 s" in result.error


def test_429_on_one_host_is_not_a_host_failure():
    """A pool sends the request to the other host and never marks the 429 host down."""
    with OpenAIStub(Reply(429, {"error": {"message": "rate"}}, {"Retry-After": "5"})) as a, OpenAIStub() as b:
        pool = HostPool(
            "openai:m",
            [(a.base_url, 1, OpenAIProvider("m", a.base_url)), (b.base_url, 1, OpenAIProvider("m", b.base_url))],
        )
        result = call(pool)
        stats = {s.url: s for s in pool.snapshot()}
    assert result.status == "ok" and result.output == "Hello"
    assert stats[a.base_url].state == "resting" and stats[a.base_url].failed == 0
    assert stats[b.base_url].done == 1


@pytest.mark.parametrize("status, word", [(401, "refused the API key"), (403, "does not allow this key")])
def test_auth_errors_are_not_retried_and_name_the_key_variable(status, word, monkeypatch):
    monkeypatch.setenv("WB_KEY", "sk-abc")
    with OpenAIStub(Reply(status, {"error": {"message": "Incorrect API key provided"}})) as stub:
        result = call(OpenAIProvider("m", stub.base_url, api_key_env="WB_KEY"))
        sent = stub.requests[0]["headers"]
    assert sent.get("Authorization") == "Bearer sk-abc"
    assert [a.outcome for a in result.attempts] == ["auth"]
    assert word in result.error and "model.api_key_env" in result.error
    assert "sk-abc" not in result.error


def test_unset_key_variable_fails_before_any_request(monkeypatch):
    monkeypatch.delenv("WB_MISSING_KEY", raising=False)
    with OpenAIStub() as stub:
        result = call(OpenAIProvider("m", stub.base_url, api_key_env="WB_MISSING_KEY"))
        assert stub.requests == []
    assert "the API key environment variable WB_MISSING_KEY (model.api_key_env) is not set" in result.error


def test_context_length_400_is_named_and_not_retried():
    vllm = {
        "object": "error",
        "type": "BadRequestError",
        "code": 400,
        "message": "This model's maximum context length is 2048 tokens. However, you requested 5000 tokens.",
    }
    with OpenAIStub(Reply(400, vllm)) as stub:
        result = call(OpenAIProvider("m", stub.base_url))
    assert [a.outcome for a in result.attempts] == ["bad_request"]
    assert "the prompt does not fit the model's context window" in result.error
    assert "maximum context length is 2048" in result.error


def test_404_model_versus_404_route():
    openai_404 = {"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}}
    with OpenAIStub(Reply(404, openai_404)) as stub:
        result = call(OpenAIProvider("gpt-9", stub.base_url))
    assert [a.outcome for a in result.attempts] == ["not_found"]
    assert "model 'gpt-9' is not served at" in result.error
    with OpenAIStub(Reply(404, {"detail": "Not Found"})) as stub:
        result = call(OpenAIProvider("m", stub.base_url))
    assert result.attempts[0].outcome == "protocol" and "check base_url" in result.error


def test_5xx_is_retried_then_answers():
    with OpenAIStub(Reply(500, {"error": "CUDA out of memory"}), Reply(503, {}), Reply()) as stub:
        result = call(OpenAIProvider("m", stub.base_url))
    assert [a.outcome for a in result.attempts] == ["server", "busy", "ok"]
    assert result.output == "Hello" and result.prompt_tokens == 7 and result.completion_tokens == 2


def test_dropped_stream_keeps_the_partial_answer_and_is_not_rerun():
    with OpenAIStub(Reply(tokens=["Hel", "lo", "!"], drop_after=1)) as stub:
        result = call(OpenAIProvider("m", stub.base_url))
        assert len(stub.requests) == 1
    assert result.status == "error" and result.output == "Hel"
    assert result.attempts[0].outcome == "dropped" and "dropped mid-stream" in result.error


def test_a_refused_connection_and_a_non_http_url_are_connect_errors_naming_the_url(ollama_nothing_listening):
    # The connection failures are worded once (core/llm/http_errors.py) for both HTTP providers.
    base = f"{ollama_nothing_listening}/v1"
    result = call(OpenAIProvider("m", base), retries=RetryConfig(count=0))
    assert [a.outcome for a in result.attempts] == ["connect"]
    assert f"openai:m: {base} is not reachable (connection refused)" in result.error
    result = call(OpenAIProvider("n", "ftp://127.0.0.1/v1"), retries=RetryConfig(count=0))  # "m" is marked down now
    assert result.attempts[0].outcome == "connect"
    assert "base_url ftp://127.0.0.1/v1 is not an http(s) URL" in result.error


def test_stream_without_finish_is_incomplete_and_error_event_is_midstream():
    with OpenAIStub(Reply(finish=None)) as stub:
        result = call(OpenAIProvider("m", stub.base_url))
    assert result.status == "incomplete" and result.output == "Hello"
    with OpenAIStub(Reply(tokens=["a", "b"], error_after=1)) as stub:
        result = call(OpenAIProvider("m", stub.base_url))
    assert result.attempts[0].outcome == "midstream" and "the model runner crashed" in result.error


def test_unsent_options_are_a_warning_on_the_answer():
    with OpenAIStub() as stub:
        c = ResilientCall(
            [OpenAIProvider("m", stub.base_url)], timeouts=TIMEOUTS, retries=RETRIES, pricing=PricingConfig()
        )

        async def run():
            async for _ in c.stream(ChatRequest(messages=MESSAGES, options={"top_k": 5, "num_ctx": 4096})):
                pass

        asyncio.run(run())
        assert "top_k" not in stub.requests[0]["body"]
    assert any("not sent" in w and "top_k" in w and "num_ctx" not in w for w in c.result.warnings)


def test_an_openai_spec_without_a_base_url_says_where_to_set_it(tmp_path):
    from workbench.core.config import load_config
    from workbench.core.errors import WorkbenchError
    from workbench.core.llm.registry import make_provider

    (tmp_path / "workbench.yaml").write_text("model:\n  name: llama3.2\n  host: http://127.0.0.1:11434\n")
    config = load_config(tmp_path)
    with pytest.raises(WorkbenchError, match="openai:gpt-x needs base_url"):
        make_provider("openai:gpt-x", config)  # never the Ollama host as an OpenAI URL
