"""Creating a model from a base + adapter against the stand-in, which follows Ollama's handlers:
HEAD before POST on blobs (and an early 200 without reading the body for a blob it has), the
base checked before any upload (version, pulled, architecture), a pull inside the create
stream shown as a pull, and a new digest when a model is re-created from other blobs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import ollama
import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.llm.base import ProviderError
from workbench.core.llm.ollama import list_models
from workbench.core.llm.ollama_create import check_base, create_from_blobs, create_model_with_adapter, upload_blob

MB = 1_000_000


def adapter_folder(folder: Path, size: int = 3 * MB, seed: bytes = b"w") -> tuple[Path, str, str]:
    """A peft-shaped adapter folder (the server never parses it here); returns its digests."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size]
    config = json.dumps({"peft_type": "LORA", "r": 8}).encode()
    (folder / "adapter_model.safetensors").write_bytes(weights)
    (folder / "adapter_config.json").write_bytes(config)
    (folder / "README.md").write_text("not uploaded")
    return folder, "sha256:" + hashlib.sha256(weights).hexdigest(), "sha256:" + hashlib.sha256(config).hexdigest()


def blob_requests(standin) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in standin.requests if r.path.startswith("/api/blobs/")]


async def test_blobs_are_checked_with_head_then_streamed_with_progress(ollama_standin, tmp_path):
    folder, dw, dc = adapter_folder(tmp_path / "a")
    statuses: list[str] = []
    info = await create_model_with_adapter(ollama_standin.url, "support", "llama3.2", folder, on_status=statuses.append)

    assert info.architecture == "llama" and info.version == "0.33.0"
    assert ollama_standin.blobs[dw] == (folder / "adapter_model.safetensors").read_bytes()
    assert blob_requests(ollama_standin) == [
        ("HEAD", f"/api/blobs/{dw}"),
        ("POST", f"/api/blobs/{dw}"),
        ("HEAD", f"/api/blobs/{dc}"),
        ("POST", f"/api/blobs/{dc}"),
    ]
    (create,) = ollama_standin.requests_to("/api/create")
    assert create.body == {
        "model": "support",
        "from": "llama3.2",
        "adapters": {"adapter_model.safetensors": dw, "adapter_config.json": dc},
        "stream": True,
    }
    upload = [s for s in statuses if s.startswith("uploading adapter_model.safetensors")]
    assert upload[0] == "uploading adapter_model.safetensors: 0.0 of 3.0 MB (0%)"
    assert upload[-1] == "uploading adapter_model.safetensors: 3.0 of 3.0 MB (100%)"
    assert len(upload) >= 3 and statuses[-1] == "success"
    assert "support:latest" in [m.name for m in await list_models(ollama_standin.url)]


async def test_a_second_export_of_the_same_blobs_uploads_nothing(ollama_standin, tmp_path):
    folder, dw, dc = adapter_folder(tmp_path / "a", size=9 * MB)
    await create_model_with_adapter(ollama_standin.url, "a", "llama3.2", folder)
    ollama_standin.requests.clear()
    statuses: list[str] = []
    await create_model_with_adapter(ollama_standin.url, "b", "llama3.2", folder, on_status=statuses.append)
    assert blob_requests(ollama_standin) == [("HEAD", f"/api/blobs/{dw}"), ("HEAD", f"/api/blobs/{dc}")]
    assert f"adapter_model.safetensors is already on the server ({dw[:19]})" in statuses
    assert statuses[-1] == "success"


async def test_a_client_that_always_posts_fails_on_an_existing_large_blob(ollama_standin, tmp_path):
    """The stand-in answers like CreateBlobHandler (200 before reading, then closes), so the
    old upload (ollama-python's create_blob, POST every time) fails on a re-export: the bug."""
    folder, dw, _ = adapter_folder(tmp_path / "a", size=9 * MB)
    path = folder / "adapter_model.safetensors"
    client = ollama.AsyncClient(host=ollama_standin.url)
    assert await client.create_blob(path) == dw
    with pytest.raises((httpx.TransportError, ollama.ResponseError, ConnectionError)):
        await client.create_blob(path)
    [_, second] = [r for r in ollama_standin.requests if r.method == "POST"]
    assert second.status == 200 and second.outcome == "closed early"


async def test_an_upload_racing_another_one_is_done_not_dropped(ollama_standin, tmp_path):
    """HEAD says 404, then someone else uploads the blob before our POST: the server answers
    200 without reading and closes; the upload re-checks with HEAD and counts it as done."""
    folder, dw, _ = adapter_folder(tmp_path / "a", size=9 * MB)
    path = folder / "adapter_model.safetensors"

    async def after(response: httpx.Response) -> None:
        if response.request.method == "HEAD" and response.status_code == 404:
            ollama_standin.blobs[dw] = path.read_bytes()  # the other process's upload lands

    statuses: list[str] = []
    async with httpx.AsyncClient(base_url=ollama_standin.url, event_hooks={"response": [after]}) as client:
        assert await upload_blob(client, ollama_standin.url, path, statuses.append) == dw
    posts = [r for r in ollama_standin.requests if r.method == "POST"]
    assert posts[0].outcome == "closed early"
    assert statuses[-1] == "adapter_model.safetensors is on the server (it answered before reading the upload)"


async def test_a_missing_base_says_which_pull_to_run_before_uploading(ollama_standin, tmp_path):
    folder, _, _ = adapter_folder(tmp_path / "a")
    with pytest.raises(WorkbenchError) as info:
        await create_model_with_adapter(ollama_standin.url, "x", "smollm2:135m", folder)
    assert "run `ollama pull smollm2:135m`, then export again (nothing was uploaded)" in str(info.value)
    assert blob_requests(ollama_standin) == [] and ollama_standin.requests_to("/api/create") == []


async def test_a_server_older_than_0_5_5_is_named(ollama_standin, tmp_path):
    folder, _, _ = adapter_folder(tmp_path / "a")
    ollama_standin.configure(version="0.5.4")
    with pytest.raises(WorkbenchError) as info:
        await create_model_with_adapter(ollama_standin.url, "x", "llama3.2", folder)
    assert str(info.value).startswith("Ollama 0.5.4 at http://127.0.0.1:")
    assert "needs Ollama 0.5.5 or newer" in str(info.value) and blob_requests(ollama_standin) == []
    # What such a server answers to the request (v0.5.4 routes.go CreateHandler).
    reply = httpx.post(f"{ollama_standin.url}/api/create", json={"model": "x", "from": "llama3.2"})
    assert (reply.status_code, reply.json()) == (400, {"error": "path or Modelfile are required"})


@pytest.mark.parametrize(
    "arch, trained, words",
    [
        (
            "qwen2",
            None,
            "the base model qwen-base is a 'qwen2' model (GGUF general.architecture): Ollama "
            "applies LoRA adapters only to llama and gemma2 models",
        ),
        (
            "gemma2",
            "llama",
            "the base model qwen-base is a 'gemma2' model but the adapter was trained on a 'llama' base",
        ),
    ],
)
async def test_the_base_architecture_is_checked_before_uploading(ollama_standin, tmp_path, arch, trained, words):
    folder, _, _ = adapter_folder(tmp_path / "a")
    ollama_standin.configure(models=["qwen-base"], architectures={"qwen-base": arch})
    with pytest.raises(WorkbenchError, match=words.replace("(", r"\(").replace(")", r"\)")):
        await create_model_with_adapter(ollama_standin.url, "x", "qwen-base", folder, architecture=trained)
    assert blob_requests(ollama_standin) == []


async def test_the_standin_refuses_to_convert_an_adapter_for_another_architecture(ollama_standin, tmp_path):
    """convert.go ConvertAdapter's refusal arrives as an error line mid-stream."""
    ollama_standin.configure(models=["qwen-base"], architectures={"qwen-base": "qwen2"})
    async with httpx.AsyncClient(base_url=ollama_standin.url) as client:
        digest = await upload_blob(
            client, ollama_standin.url, adapter_folder(tmp_path / "a")[0] / "adapter_model.safetensors"
        )
        with pytest.raises(ProviderError, match="Ollama could not create x: unsupported architecture"):
            await create_from_blobs(client, ollama_standin.url, "x", "qwen-base", {"adapter_model.safetensors": digest})


async def test_a_create_that_pulls_the_base_is_shown_as_a_pull(ollama_standin, tmp_path):
    ollama_standin.configure(registry=["smollm2:135m"])
    statuses: list[str] = []
    async with httpx.AsyncClient(base_url=ollama_standin.url) as client:
        digest = await upload_blob(
            client, ollama_standin.url, adapter_folder(tmp_path / "a")[0] / "adapter_model.safetensors"
        )
        status = await create_from_blobs(
            client,
            ollama_standin.url,
            "x",
            "smollm2:135m",
            {"adapter_model.safetensors": digest},
            on_status=statuses.append,
        )
    assert status == "success"
    start = statuses.index("pulling the base model smollm2:135m (it is not on the server yet)")
    pulled = statuses.index("pulled smollm2:135m")
    bars = statuses[start + 1 : pulled]
    assert bars[0].startswith("pulling smollm2:135m ") and bars[0].endswith(": 0.0 of 270.9 MB (0%)")
    assert any(b.endswith("(33%)") for b in bars) and bars[-3].endswith(": 270.9 of 270.9 MB (100%)")
    assert bars[-2:] == ["verifying sha256 digest", "writing manifest"]
    assert statuses[pulled + 1 :][-1] == "success"


async def test_a_pull_that_fails_inside_create_says_the_base_is_not_available(ollama_standin, tmp_path):
    async with httpx.AsyncClient(base_url=ollama_standin.url) as client:
        digest = await upload_blob(
            client, ollama_standin.url, adapter_folder(tmp_path / "a")[0] / "adapter_model.safetensors"
        )
        with pytest.raises(ProviderError) as info:
            await create_from_blobs(
                client, ollama_standin.url, "x", "smollm2:135m", {"adapter_model.safetensors": digest}
            )
    assert info.value.kind == "not_found"
    assert str(info.value).startswith("base model not available: pull model manifest: file does not exist")


async def test_recreating_from_other_adapter_blobs_gives_a_new_digest(ollama_standin, tmp_path):
    async def digest_of(name: str) -> str:
        tags = httpx.get(f"{ollama_standin.url}/api/tags").json()["models"]
        return next(m["digest"] for m in tags if m["name"] == name)

    first, _, _ = adapter_folder(tmp_path / "a", seed=b"one")
    second, _, _ = adapter_folder(tmp_path / "b", seed=b"two")
    await create_model_with_adapter(ollama_standin.url, "a", "llama3.2", first)
    one = await digest_of("a:latest")
    await create_model_with_adapter(ollama_standin.url, "a", "llama3.2", first)
    assert await digest_of("a:latest") == one  # same layers, same manifest
    await create_model_with_adapter(ollama_standin.url, "a", "llama3.2", second)
    assert await digest_of("a:latest") != one


async def test_the_base_system_is_read_and_an_empty_system_keeps_it(ollama_standin, tmp_path):
    """createModel replaces SYSTEM only when the request's is non-empty."""
    ollama_standin.configure(systems={"llama3.2": 'You are "Base".\nBe brief.'})
    folder, _, _ = adapter_folder(tmp_path / "a")
    info = await create_model_with_adapter(ollama_standin.url, "a", "llama3.2", folder, system="")
    assert info.system == 'You are "Base".\nBe brief.'
    assert ollama_standin.requests_to("/api/create")[0].body["system"] == ""
    shown = httpx.post(f"{ollama_standin.url}/api/show", json={"model": "a"}).json()
    assert shown["system"] == 'You are "Base".\nBe brief.'


async def test_create_without_adapter_files_names_the_folder(ollama_standin, tmp_path):
    with pytest.raises(WorkbenchError) as info:
        await create_model_with_adapter(ollama_standin.url, "x", "llama3.2", tmp_path)
    assert info.value.path == str(tmp_path) and "adapter_model.safetensors" in str(info.value)
    assert ollama_standin.requests == []


def _scripted(routes: dict[str, tuple[int, str, str]]) -> httpx.AsyncClient:
    """A client whose server is a script: route -> (status, content type, body). It stands in
    for what cannot run here: a proxy in front of Ollama, a create stream cut off mid-way."""

    def answer(request: httpx.Request) -> httpx.Response:
        status, kind, body = routes[request.url.path]
        return httpx.Response(status, headers={"content-type": kind}, text=body)

    return httpx.AsyncClient(base_url="http://gpu-box:11434", transport=httpx.MockTransport(answer))


async def test_a_create_stream_cut_off_right_after_the_pull_is_not_a_success():
    """Before, the pull's own "success" line became the create's final status, so a stream
    that ended there (the create itself never finished) was reported as created."""
    lines = [
        {"status": "pulling manifest"},
        {"status": "pulling 5f2a1b", "digest": "sha256:5f2a1b", "total": 10, "completed": 10},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    stream = "".join(json.dumps(line) + "\n" for line in lines)
    async with _scripted({"/api/create": (200, "application/x-ndjson", stream)}) as client:
        status = await create_from_blobs(
            client, "http://gpu-box:11434", "x", "smollm2:135m", {"adapter_model.safetensors": "sha256:ab"}
        )
    assert status == ""  # create_model_with_adapter turns this into "ended without success"


@pytest.mark.parametrize("route", ["/api/version", "/api/show"])
async def test_a_proxys_html_page_is_a_clear_error_naming_host_and_route(tmp_path, route):
    html = "<html><body><h1>Sign in</h1> to continue</body></html>"
    routes = {
        "/api/version": (200, "application/json", '{"version": "0.6.0"}'),
        "/api/show": (200, "application/json", '{"model_info": {"general.architecture": "llama"}}'),
    }
    routes[route] = (200, "text/html", html)
    async with _scripted(routes) as client:
        with pytest.raises(ProviderError) as info:
            await check_base(client, "http://gpu-box:11434", "smollm2:135m", architecture=None)
    assert info.value.kind == "protocol"
    assert str(info.value).startswith(
        f"http://gpu-box:11434{route} answered with something that is not Ollama's JSON (HTTP 200"
    )
    assert "it starts '<html><body><h1>Sign in</h1> to continue</body></html>'" in str(info.value)


async def test_a_broken_line_in_the_create_stream_is_a_clear_error():
    stream = '{"status": "converting adapter"}\n{"status": "creat\n'
    async with _scripted({"/api/create": (200, "application/x-ndjson", stream)}) as client:
        with pytest.raises(ProviderError) as info:
            await create_from_blobs(
                client, "http://gpu-box:11434", "x", "llama3.2", {"adapter_model.safetensors": "sha256:ab"}
            )
    assert info.value.kind == "protocol"
    assert str(info.value).startswith(
        "http://gpu-box:11434/api/create answered with something that is not Ollama's JSON (a stream line"
    )
