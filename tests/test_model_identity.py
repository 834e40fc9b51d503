"""Which weights answered, and Ollama chat fidelity, against the real HTTP stand-in.

Model identity: a model re-pulled or re-exported under the same name has a new digest in
/api/tags; an eval re-run must call it again (not serve the old model's cached answers), and
`eval diff`, `runs show`, the runs list and the Markdown report must say so. Chat fidelity:
`think` sent as configured, `<think>` split out on servers before 0.12.4, permanent 500s tried
once (transient ones retried), removed options warned about with workbench.yaml:LINE.
"""

from __future__ import annotations

import hashlib

import pytest
from fixtures_evals import CAPITALS_PAIR as CAPITALS
from fixtures_project import write_project
from test_runs_cli import flat, wb

from workbench.core.config import PricingConfig, RetryConfig, TimeoutConfig, load_config
from workbench.core.llm import ollama as ollama_mod
from workbench.core.llm.base import ChatRequest, Thinking, Token
from workbench.core.llm.ollama import OllamaProvider, ThinkSplitter
from workbench.core.llm.resilience import ResilientCall


def chats(standin) -> int:
    return len(standin.requests_to("/api/chat"))


@pytest.fixture
def proj(ollama_standin, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    ollama_standin.configure(
        reply=lambda body: ["Paris."] if "France" in body["messages"][-1]["content"] else ["Rome."]
    )
    root = write_project(
        tmp_path / "p", host=ollama_standin.url, retries="count: 0\n  backoff_s: 0.01", extra="evals:\n  dir: evals\n"
    )
    (root / "evals").mkdir()
    (root / "evals" / "capitals.yaml").write_text(CAPITALS)
    return root, ollama_standin


# -- model identity ------------------------------------------------------------------------------


def test_a_changed_model_is_called_again_and_every_report_names_the_digest_change(proj, capsys, tmp_path):
    root, standin = proj
    old = hashlib.sha256(b"llama3.2:latest").hexdigest()
    assert wb(root, "eval", "run") == 0
    assert chats(standin) == 2
    assert wb(root, "eval", "run") == 0
    assert chats(standin) == 2  # same weights: both answers from cache

    new = standin.remake("llama3.2")  # `ollama pull` brought new weights under the same name
    capsys.readouterr()
    report = tmp_path / "report.md"
    assert wb(root, "eval", "run", "--baseline", "e2", "--markdown", str(report)) == 0
    assert chats(standin) == 4  # no cache hit: the new weights answered both cases
    change = f"the model's weights changed between the runs (digest {old[:12]} → {new[:12]})"
    assert change in flat(capsys.readouterr().out)
    markdown = report.read_text()
    assert change in markdown
    assert f"model ollama:llama3.2 @{new[:12]}" in markdown and "Identity: prompt plain \\#" in markdown

    assert wb(root, "eval", "diff", "e2", "e3") == 0
    assert change in flat(capsys.readouterr().out)
    assert wb(root, "eval", "diff", "e1", "e2") == 0  # same weights: nothing said
    assert "weights changed" not in capsys.readouterr().out

    assert wb(root, "runs", "show", "e3") == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("identity: ")]
    assert len(lines) == 1
    assert lines[0].startswith("identity: prompt plain #") and " · no retrieval · " in lines[0]
    assert f"model ollama:llama3.2 @{new[:12]}" in lines[0] and " · eval set " in lines[0]

    assert wb(root, "runs", "--kind", "eval") == 0
    listing = capsys.readouterr().out
    assert f"weights changed since e2 (digest {old[:12]} → {new[:12]})" in flat(listing)
    assert listing.count("weights changed") == 1


def test_a_generation_records_its_digest_and_old_rows_without_one_never_match(proj, capsys):
    root, standin = proj
    assert wb(root, "ask", "Capital of France") == 0
    assert wb(root, "runs", "show", "1") == 0
    digest = hashlib.sha256(b"llama3.2:latest").hexdigest()
    assert f"model_digest: {digest[:12]} (Q4_K_M)" in capsys.readouterr().out
    # A row from before digests were recorded: unknown, so the diff says nothing about weights.
    from workbench.core.evals.diff import RunInfo, diff_runs

    warned = diff_runs([], [], a=RunInfo(1, model_digest=None), b=RunInfo(2, model_digest=digest)).warnings
    assert not [w for w in warned if "weights" in w]


def test_without_a_digest_nothing_is_cached(proj):
    from workbench.core.variants import cache_key

    assert cache_key("ollama:x", {}, [], None, digest=None) is None
    assert cache_key("ollama:x", {}, [], None, digest="a") != cache_key("ollama:x", {}, [], None, digest="b")


# -- think -----------------------------------------------------------------------------------------


async def collect(provider: OllamaProvider, request: ChatRequest):
    return [e async for e in provider.stream(request)]


HI = ChatRequest(messages=[{"role": "user", "content": "Capital of France?"}])


@pytest.fixture(autouse=True)
def _fresh_versions():
    ollama_mod._VERSIONS.clear()
    yield
    ollama_mod._VERSIONS.clear()


async def test_think_in_content_is_split_out_on_a_server_before_0_12_4(ollama_standin):
    ollama_standin.configure(version="0.12.3", thinking=["The user", " asks", " about France."], reply=["Paris", "."])
    events = await collect(OllamaProvider("qwen3:0.6b", ollama_standin.url), HI)
    raw = ollama_standin.requests_to("/api/chat")[0]
    assert "think" not in raw.body  # auto: the server decides
    assert "".join(e.text for e in events if isinstance(e, Thinking)) == "The user asks about France."
    assert "".join(e.text for e in events if isinstance(e, Token)) == "Paris."


async def test_on_a_new_server_content_is_never_rewritten(ollama_standin):
    # 0.12.4+ splits thinking itself; a literal <think> an answer starts with stays the answer.
    ollama_standin.configure(version="0.12.4", reply=["<think>", "x</think> y"])
    events = await collect(OllamaProvider("llama3.2", ollama_standin.url), HI)
    assert "".join(e.text for e in events if isinstance(e, Token)) == "<think>x</think> y"
    assert not [e for e in events if isinstance(e, Thinking)]


async def test_think_false_is_sent_and_honoured(ollama_standin):
    ollama_standin.configure(thinking=["hmm"], reply=["Paris."])
    events = await collect(OllamaProvider("qwen3:0.6b", ollama_standin.url, think=False), HI)
    assert ollama_standin.requests_to("/api/chat")[0].body["think"] is False
    assert [type(e).__name__ for e in events] == ["Token", "Final"]


def test_the_splitter_holds_back_a_tag_cut_across_chunks():
    s = ThinkSplitter()
    parts = [s.add(c) for c in ["  <th", "ink>\n", "why", " </th", "ink>", "\n\n", "Because."]]
    assert "".join(t for t, _ in parts) == "why "
    assert "".join(a for _, a in parts) == "Because."
    plain = ThinkSplitter()
    assert plain.add("  Hello") == ("", "  Hello")  # no tag: the content as it came


def test_model_think_is_validated_with_its_line(tmp_path):
    from workbench.core.errors import WorkbenchError

    root = write_project(tmp_path / "p")
    text = (root / "workbench.yaml").read_text().replace("  name: llama3.2\n", "  name: llama3.2\n  think: maybe\n")
    (root / "workbench.yaml").write_text(text)
    with pytest.raises(WorkbenchError) as info:
        load_config(root)
    assert info.value.line == 5 and "model.think must be auto, true or false" in str(info.value)


# -- permanent 500s ------------------------------------------------------------------------------


async def test_an_option_type_error_is_tried_once_with_the_servers_text(ollama_standin):
    call = ResilientCall(
        [OllamaProvider("llama3.2", ollama_standin.url)],
        timeouts=TimeoutConfig(),
        retries=RetryConfig(count=3, backoff_s=0.01),
        pricing=PricingConfig(),
    )
    request = ChatRequest(messages=HI.messages, options={"temperature": "warm"})
    async for _ in call.stream(request):
        pass
    assert chats(ollama_standin) == 1
    assert call.result.status == "error"
    assert 'option "temperature" must be of type float32' in call.result.error


@pytest.mark.parametrize(
    "message",
    [
        "model requires more system memory (5.2 GiB) than is available (3.1 GiB)",
        "llama runner process has terminated: signal: killed",
    ],
)
async def test_a_500_that_passes_once_memory_frees_or_the_runner_restarts_is_retried(ollama_standin, message):
    """Before, both were taken as permanent and tried once: the memory frees when another model
    unloads, and Ollama starts a new runner after a crash, so the next try answers."""
    ollama_standin.configure(fail_status=500, fail_message=message, fail_times=1)
    call = ResilientCall(
        [OllamaProvider("llama3.2", ollama_standin.url)],
        timeouts=TimeoutConfig(),
        retries=RetryConfig(count=2, backoff_s=0.01),
        pricing=PricingConfig(),
    )
    async for _ in call.stream(HI):
        pass
    assert chats(ollama_standin) == 2 and call.result.status == "ok"


async def test_an_unimplemented_feature_is_not_retried_but_a_busy_server_is(ollama_standin):
    def run() -> ResilientCall:
        return ResilientCall(
            [OllamaProvider("llama3.2", ollama_standin.url)],
            timeouts=TimeoutConfig(),
            retries=RetryConfig(count=2, backoff_s=0.01),
            pricing=PricingConfig(),
        )

    ollama_standin.configure(fail_status=500, fail_message="loras are not yet implemented")
    call = run()
    async for _ in call.stream(HI):
        pass
    assert chats(ollama_standin) == 1 and "loras are not yet implemented" in call.result.error
    ollama_standin.configure(fail_status=503, fail_times=2)
    call = run()
    async for _ in call.stream(HI):
        pass
    assert chats(ollama_standin) == 1 + 3 and call.result.status == "ok"


# -- removed options -----------------------------------------------------------------------------


def test_a_removed_option_is_a_warning_naming_its_line(tmp_path, capsys):
    root = write_project(tmp_path / "p", extra="variants:\n  old:\n    options:\n      mirostat: 2\n")
    config = load_config(root)
    path = root / "workbench.yaml"
    line = path.read_text().splitlines().index("      mirostat: 2") + 1
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith(f"{path}:{line}: variants.old.options.mirostat: Ollama removed")
    assert wb(root, "runs") == 0
    assert f"warning: {path}:{line}: variants.old.options.mirostat" in capsys.readouterr().err


# -- the embedded model's identity ---------------------------------------------------------------


async def test_the_embedded_identity_is_the_gguf_hash_plus_the_adapter_hash(tmp_path, monkeypatch):
    from workbench.core.llm.embedded import EmbeddedProvider, locate_gguf

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    gguf = locate_gguf()
    expected = hashlib.sha256(gguf.read_bytes()).hexdigest()
    plain = await EmbeddedProvider().identity()
    assert plain.digest == expected and plain.quantization == "Q4_1 + int8 dynamic"
    assert str(gguf.resolve()) in (tmp_path / "cache" / "file-hashes.json").read_text()  # not hashed again
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"v1")
    first = await EmbeddedProvider().identity(str(adapter))
    assert first.digest.startswith(expected + "+") and first.adapter_digest
    (adapter / "adapter_model.safetensors").write_bytes(b"v2 retrained")
    second = await EmbeddedProvider().identity(str(adapter))
    assert second.digest != first.digest  # a retrained adapter is new weights


def test_a_file_hash_is_remembered_by_path_size_and_mtime(tmp_path, monkeypatch):
    import os

    from workbench.core.llm.embedded_model import file_sha256

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "w.gguf"
    f.write_bytes(b"one")
    assert file_sha256(f) == hashlib.sha256(b"one").hexdigest()
    stat = f.stat()
    f.write_bytes(b"two")  # same size and mtime: the remembered hash (proves it is not re-read)
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_sha256(f) == hashlib.sha256(b"one").hexdigest()
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert file_sha256(f) == hashlib.sha256(b"two").hexdigest()


async def test_resuming_after_the_weights_changed_is_refused(proj):
    from workbench.core.errors import WorkbenchError
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.runner import EvalRunner
    from workbench.core.project import Project
    from workbench.core.variants import resolve_variant

    root, standin = proj
    project = Project.open(root)
    try:
        evalset = load_evalset(root / "evals" / "capitals.yaml")
        out = await EvalRunner(project, evalset, resolve_variant(project)).run()
        project.store.update("eval_runs", out.run_id, {"status": "cancelled"})  # as if stopped
        standin.remake("llama3.2")
        with pytest.raises(WorkbenchError, match=r"weights changed since e1 started .*start a new run"):
            await EvalRunner(project, evalset, resolve_variant(project)).run(resume=out.run_id)
    finally:
        project.close()
