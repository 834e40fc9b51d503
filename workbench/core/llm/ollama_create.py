"""Create an Ollama model from a base + LoRA adapter the way a real server accepts it.

Each step follows a rule of Ollama's own handlers (ollama/ollama server/routes.go, create.go):
the base is checked before anything is uploaded (version, presence, architecture), a blob is
uploaded only when `HEAD` says it is missing and is streamed from disk, and the create stream
is followed line by line (a base pulled during create is shown as a pull, its error as one).
httpx is used directly: ollama-python's `create_blob` always POSTs, which fails on a real
server for a blob it already has (see `upload_blob`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.llm.base import ProviderError
from workbench.core.llm.ollama import _caught, map_error, resolve_host
from workbench.core.message_numbers import megabytes

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
# server/create.go CreateHandler with `from`/`adapters` came in v0.5.5; v0.5.4's routes.go
# CreateHandler answers 400 "path or Modelfile are required" to such a request.
MIN_CREATE_VERSION = (0, 5, 5)
# convert/convert.go ConvertAdapter: `switch arch { case "llama": ... case "gemma2": ... }`,
# anything else is "unsupported architecture".
CONVERTIBLE = ("llama", "gemma2")
CHUNK = 1 << 20  # bytes per upload read: the file is streamed, never held whole

Status = Callable[[str], Any] | None


@dataclass
class BaseInfo:
    """What /api/show says about the `from` model, checked before any upload."""

    name: str
    version: str
    architecture: str
    system: str | None  # the base's SYSTEM, which a create without `system` keeps


def file_digest(path: Path) -> str:
    """`sha256:<hex>` of a file, read in blocks (the blob name Ollama expects)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def version_tuple(text: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) of "0.12.4", "v0.5.5-rc1"; None when unreadable or a dev build
    (0.0.0), which is then not held against the server."""
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", (text or "").strip())
    if not m:
        return None
    v = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return None if v == (0, 0, 0) else v


def _say(on_status: Status, text: str) -> None:
    if on_status is not None:
        on_status(text)


class _Progress:
    """Reports `what: X of Y MB (P%)` at 0% and each further 10%, so a CLI gets ~11 lines."""

    def __init__(self, on_status: Status, what: str, total: int) -> None:
        self.on_status, self.what, self.total = on_status, what, total
        self.done = 0
        self.step = -1

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        self.total = total or self.total
        pct = 100 if not self.total else min(100, done * 100 // self.total)
        if pct // 10 > self.step:
            self.step = pct // 10
            _say(self.on_status, f"{self.what}: {megabytes(done)} of {megabytes(self.total)} MB ({pct}%)")


def _reply_error(reply: Any, host: str, model: str, route: str) -> ProviderError:
    """A non-2xx reply as the ProviderError ollama-python's error would map to."""
    import ollama

    try:
        text = str(json.loads(reply.text).get("error") or reply.text)
    except (ValueError, AttributeError):
        text = reply.text
    return map_error(ollama.ResponseError(text, reply.status_code), host=host, model=model, route=route)


def _not_json(host: str, route: str, text: str, why: str) -> ProviderError:
    """A reply that is not Ollama's JSON (a proxy's HTML login page, a cut-off line)."""
    start = " ".join(text.split())[:80]
    return ProviderError(
        "protocol",
        f"{host}{route} answered with something that is not Ollama's JSON "
        f"({why}; it starts {start!r}): is the host right, or a proxy in the way?",
    )


def _reply_json(reply: Any, host: str, route: str) -> dict[str, Any]:
    """`reply.json()` as an object, or a ProviderError naming the host and route."""
    try:
        data = reply.json()
    except ValueError as exc:
        raise _not_json(host, route, reply.text, f"HTTP {reply.status_code}, {exc}") from None
    if not isinstance(data, dict):
        raise _not_json(host, route, reply.text, f"HTTP {reply.status_code}, not an object")
    return data


def _modelfile_system(modelfile: str | None) -> str | None:
    """SYSTEM from `ollama show --modelfile` text (server/images.go Model.String writes it)."""
    m = re.search(r'^SYSTEM (?:"""(.*?)"""|"(.*?)"|(.+))$', modelfile or "", re.S | re.M)
    if not m:
        return None
    return next(g for g in m.groups() if g is not None)


async def check_base(client: Any, host: str, base: str, *, architecture: str | None) -> BaseInfo:
    """Version >= 0.5.5, the base pulled, its GGUF architecture one Ollama converts adapters
    for and the one the adapter was trained on. Raises WorkbenchError saying what to do."""
    reply = await client.get("/api/version")
    version = ""
    if reply.status_code == 200:
        version = str(_reply_json(reply, host, "/api/version").get("version") or "")
    v = version_tuple(version)
    if v is not None and v < MIN_CREATE_VERSION:
        raise WorkbenchError(
            f"Ollama {version} at {host} cannot create a model from a base and an adapter through "
            "its API (that needs Ollama 0.5.5 or newer; older servers answer 400 'path or "
            "Modelfile are required'): upgrade Ollama, then export again"
        )
    reply = await client.post("/api/show", json={"model": base})
    if reply.status_code == 404:
        raise WorkbenchError(
            f"the base model {base} is not on the Ollama server at {host}: run "
            f"`ollama pull {base}`, then export again (nothing was uploaded)"
        )
    if reply.status_code != 200:
        raise _reply_error(reply, host, base, "/api/show")
    shown = _reply_json(reply, host, "/api/show")
    arch = str((shown.get("model_info") or {}).get("general.architecture") or "unknown")
    if arch not in CONVERTIBLE:
        raise WorkbenchError(
            f"the base model {base} is a '{arch}' model (GGUF general.architecture): Ollama applies "
            f"LoRA adapters only to {' and '.join(CONVERTIBLE)} models; merge the adapter into the "
            "base and import the merged GGUF instead"
        )
    system = shown.get("system") or _modelfile_system(shown.get("modelfile"))
    info = BaseInfo(base, version, arch, system or None)
    ensure_architecture(info, architecture)
    return info


def ensure_architecture(info: BaseInfo, architecture: str | None) -> None:
    """The server's base must be the architecture the adapter was trained on (GGUF names)."""
    if architecture and info.architecture != architecture:
        raise WorkbenchError(
            f"the base model {info.name} is a '{info.architecture}' model but the adapter was trained "
            f"on a '{architecture}' base: set finetune.ollama_base to the Ollama model with the same "
            "weights",
            field="finetune.ollama_base",
        )


async def upload_blob(client: Any, host: str, path: Path, on_status: Status = None) -> str:
    """Put one file on the server as a blob; returns its digest.

    `HEAD` first and POST only on 404 (server/routes.go HeadBlobHandler: 200 or 404).
    CreateBlobHandler answers 200 for a blob it has *without reading the body*, and Go's
    server then closes the connection, so an upload that races another one ends in a write or
    read error: that is re-checked with HEAD and counts as done when the blob is there.
    """
    import httpx

    digest = file_digest(path)
    url = f"/api/blobs/{digest}"
    head = await client.head(url)
    if head.status_code == 200:
        _say(on_status, f"{path.name} is already on the server ({digest[:19]})")
        return digest
    if head.status_code != 404:
        raise _reply_error(head, host, "", url)
    size = path.stat().st_size
    progress = _Progress(on_status, f"uploading {path.name}", size)

    async def body() -> Any:
        sent = 0
        progress.update(0)
        with open(path, "rb") as f:
            while block := f.read(CHUNK):
                yield block
                sent += len(block)
                progress.update(sent)

    try:
        reply = await client.post(url, content=body(), headers={"Content-Length": str(size)})
    except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
        reply = await client.head(url)
        if reply.status_code != 200:
            raise
    if reply.status_code == 200:  # 201 is a stored upload; 200 "had it already"
        _say(on_status, f"{path.name} is on the server (it answered before reading the upload)")
    elif reply.status_code != 201:
        raise _reply_error(reply, host, "", url)
    return digest


async def create_from_blobs(
    client: Any,
    host: str,
    name: str,
    base: str,
    adapters: dict[str, str],
    *,
    template: str | None = None,
    system: str | None = None,
    parameters: dict[str, Any] | None = None,
    on_status: Status = None,
) -> str:
    """POST /api/create and follow its stream; returns the last status ("success").

    A `from` model that is not local makes the server pull it inside the create stream
    (server/model.go parseFromModel -> PullModel): "pulling manifest", per-layer
    "pulling <digest>" lines with completed/total, then the pull's own "success". That is
    shown as a pull; an error line during it means the base is not available.
    """
    body: dict[str, Any] = {"model": name, "from": base, "adapters": adapters}
    if template is not None:
        body["template"] = template
    if system is not None:
        body["system"] = system
    if parameters:
        body["parameters"] = parameters
    body["stream"] = True
    status = ""
    pulling = False
    layers: dict[str, _Progress] = {}
    async with client.stream("POST", "/api/create", json=body) as reply:
        if reply.status_code != 200:
            await reply.aread()
            raise _reply_error(reply, host, base, "/api/create")
        async for raw in reply.aiter_lines():
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError as exc:
                raise _not_json(host, "/api/create", raw, f"a stream line, {exc}") from None
            if not isinstance(line, dict):
                raise _not_json(host, "/api/create", raw, "a stream line that is not an object")
            if line.get("error"):
                text = str(line["error"])
                if pulling:
                    raise ProviderError(
                        "not_found",
                        f"base model not available: {text} (Ollama tried "
                        f"to pull {base} while creating {name}; check the name, or "
                        f"`ollama pull {base}`)",
                    )
                raise ProviderError("midstream", f"Ollama could not create {name}: {text}")
            status = str(line.get("status") or status)
            if status == "pulling manifest":
                pulling = True
                _say(on_status, f"pulling the base model {base} (it is not on the server yet)")
            elif pulling and status.startswith("pulling ") and line.get("total"):
                bar = layers.setdefault(
                    status, _Progress(on_status, f"pulling {base} {status[8:]}", int(line["total"]))
                )
                bar.update(int(line.get("completed") or 0), int(line["total"]))
            elif pulling and status == "success":
                # the pull's own "success", not the create's: a stream that ends here failed
                pulling, status = False, ""
                _say(on_status, f"pulled {base}")
            else:
                _say(on_status, status)
    return status


async def create_model_with_adapter(
    host: str | None,
    name: str,
    base: str,
    adapter_dir: str | Path,
    *,
    on_status: Status = None,
    connect_timeout_s: float = 5.0,
    template: str | None = None,
    system: str | None = None,
    parameters: dict[str, Any] | None = None,
    architecture: str | None = None,
    checked: BaseInfo | None = None,
) -> BaseInfo:
    """Make Ollama model `name` = `base` + the LoRA adapter in `adapter_dir`.

    Checks the base first (unless `checked` says it was), uploads each adapter file (a GGUF
    adapter, or peft's safetensors + config) and creates the model with the Modelfile's
    TEMPLATE, SYSTEM and PARAMETERs: without them it keeps the base's prompt format and options.
    `system=""` is sent as such. Failures are WorkbenchError (what to fix) or ProviderError.
    """
    import httpx

    folder = Path(adapter_dir)
    gguf = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    if gguf:
        files = gguf[:1]
    elif (folder / ADAPTER_FILES[0]).is_file():
        files = [folder / f for f in ADAPTER_FILES if (folder / f).is_file()]
    else:
        raise WorkbenchError(
            "no LoRA adapter here: expected a .gguf adapter or adapter_model.safetensors (peft)", path=folder
        )
    base_url = resolve_host(host)
    # Conversion on the server can take a while: bound the connect, not the wait.
    timeout = httpx.Timeout(connect=connect_timeout_s, read=None, write=None, pool=connect_timeout_s)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
            info = checked or await check_base(client, base_url, base, architecture=architecture)
            adapters = {p.name: await upload_blob(client, base_url, p, on_status) for p in files}
            status = await create_from_blobs(
                client,
                base_url,
                name,
                base,
                adapters,
                template=template,
                system=system,
                parameters=parameters,
                on_status=on_status,
            )
    except _caught() as exc:
        raise map_error(
            exc, host=base_url, model=base, route="/api/create", connect_timeout_s=connect_timeout_s
        ) from exc
    if status != "success":
        raise ProviderError(
            "incomplete", f"Ollama's create stream for {name!r} ended without success (last status: {status or 'none'})"
        )
    return info


async def check_base_at(
    host: str | None, base: str, *, architecture: str | None, connect_timeout_s: float = 5.0
) -> BaseInfo:
    """`check_base` with its own connection (for callers that check before writing files)."""
    import httpx

    base_url = resolve_host(host)
    timeout = httpx.Timeout(connect=connect_timeout_s, read=30.0, write=30.0, pool=connect_timeout_s)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
            return await check_base(client, base_url, base, architecture=architecture)
    except _caught() as exc:
        raise map_error(exc, host=base_url, model=base, route="/api/show", connect_timeout_s=connect_timeout_s) from exc
