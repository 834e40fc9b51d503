"""The embedded provider: SmolLM2-135M-Instruct in this process, so the product works at once.

When no Ollama server answers, a new user still sees answers stream: no server, no download.
Int8 weights (all but mlp.down_proj) and one thread less than the machine were measured best.
Details: docs/NOTES.md, section core/llm/embedded.py.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from workbench.core.llm.base import (
    ChatRequest,
    ErrorKind,
    Event,
    Final,
    Loaded,
    Loading,
    ModelIdentity,
    ProviderError,
    Token,
)
from workbench.core.llm.embedded_model import (
    GGUF_FILE,
    GGUF_PACKAGE,
    INSTALL_HINT,
    GenerationResult,
    LoadedModel,
    Sampling,
    adapter_sha256,
    cache_root,
    ensure_hf_folder,
    file_sha256,
    generate,
    is_available,
    load_tokenizer,
    locate_gguf,
    prompt_ids,
)
from workbench.core.threads import in_daemon_thread

__all__ = [
    "EmbeddedProvider",
    "GenerationInfo",
    "MODEL_NAME",
    "INSTALL_HINT",
    "cache_root",
    "default_threads",
    "ensure_hf_folder",
    "is_available",
    "locate_gguf",
]

MODEL_NAME = "embedded:SmolLM2-135M-Instruct"

# One loaded model per (folder, quantize) per process, and tokenizers for count_tokens, which
# should not have to load the weights. Filled on first use, never at import.
_MODELS: dict[tuple[str, bool], LoadedModel] = {}
_TOKENIZERS: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()
_THREAD_IDS = itertools.count(1)


def default_threads() -> int:
    """One core less than this process may use, at least 1 and at most 4 (see the docstring)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores - 1))


def _loaded_model(package: str, quantize: bool, threads: int) -> tuple[LoadedModel, float]:
    """The process-wide model, loading it (and building its folder) on first use; ms spent.

    Runs on a worker thread; its torch thread count is set too, since loading and quantizing
    with more OpenMP threads than free cores stalls just like generation does.
    """
    folder = ensure_hf_folder(package=package)
    key = (str(folder), quantize)
    with _LOAD_LOCK:
        if key in _MODELS:
            return _MODELS[key], 0.0
        started = time.perf_counter()
        try:
            import torch

            torch.set_num_threads(threads)
            loaded = LoadedModel.load(folder, quantize)
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken folder or install: say which
            raise ProviderError(
                "unavailable",
                f"the embedded model in {folder} failed to load: {type(exc).__name__}: {exc}. "
                "Deleting that folder makes the next run rebuild it.",
            ) from exc
        _MODELS[key] = loaded
        _TOKENIZERS.setdefault(str(folder), loaded.tokenizer)
        return loaded, (time.perf_counter() - started) * 1000


def _tokenizer(package: str) -> Any:
    folder = ensure_hf_folder(package=package)
    with _LOAD_LOCK:
        if str(folder) not in _TOKENIZERS:
            _TOKENIZERS[str(folder)] = load_tokenizer(folder)
        return _TOKENIZERS[str(folder)]


@dataclass
class GenerationInfo:
    """What one stream's generation thread did: for diagnostics and tests.

    `completion_tokens` is filled when the thread ends, also after a cancel.
    """

    thread: threading.Thread
    completion_tokens: int | None = None
    cancelled: bool = False


class EmbeddedProvider:
    """The in-process SmolLM2-135M-Instruct model, speaking the Provider contract.

    `threads`: torch threads for generation (default: `default_threads()`). `quantize`: int8
    dynamic quantization of the layers that take it well (default True, ~2.2x faster; see the
    module docstring). `package`: the Python package that ships the GGUF (tests point it at a
    missing one to see the "not installed" error).
    """

    name = "embedded"

    def __init__(self, *, threads: int | None = None, quantize: bool = True, package: str = GGUF_PACKAGE) -> None:
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads or default_threads()
        self.quantize = quantize
        self.package = package
        self.last_generation: GenerationInfo | None = None

    async def preload(self) -> float:
        """Load the model now (e.g. while a UI paints) instead of on the first request.

        Returns the milliseconds spent loading: 0.0 when it was already loaded.
        """
        _, load_ms = await in_daemon_thread(_loaded_model, self.package, self.quantize, self.threads)
        return load_ms

    async def identity(self, adapter: str | None = None) -> ModelIdentity:
        """The bundled GGUF's sha256 (hashed once, then remembered by path, size and mtime), its
        quantization (file type, plus int8 at run time), and the adapter's hash when one is
        loaded: the digest is `gguf[+adapter]`, so a retrained adapter is new weights."""

        def compute() -> ModelIdentity:
            gguf = locate_gguf(self.package)
            base = file_sha256(gguf)
            adapter_digest = adapter_sha256(adapter) if adapter else None
            quant = GGUF_FILE.rsplit(".", 2)[-2] + (" + int8 dynamic" if self.quantize else "")
            digest = base + (f"+{adapter_digest}" if adapter_digest else "")
            return ModelIdentity(digest, quantization=quant, adapter_digest=adapter_digest)

        try:
            return await in_daemon_thread(compute)
        except (ProviderError, OSError):
            return ModelIdentity(None)

    async def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """The exact number of prompt tokens after the chat template (loads only the tokenizer)."""
        tokenizer = await in_daemon_thread(_tokenizer, self.package)
        return len(prompt_ids(tokenizer, messages))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Token events as text settles, then one Final; closing early stops the thread."""
        sampling = Sampling.from_options(request.options)
        cold = not _MODELS
        if cold:  # seconds of silence otherwise: say what the wait is (and pause the deadline)
            yield Loading("loading the embedded model (once per session)…")
        loaded, load_ms = await in_daemon_thread(_loaded_model, self.package, self.quantize, self.threads)
        if cold:
            yield Loaded()
        prompt = loaded.prompt_ids(request.messages)
        notes = _warnings(request, sampling)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        finished: asyncio.Future[None] = loop.create_future()
        cancel = threading.Event()

        def post(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                cancel.set()

        def work() -> None:
            try:
                result = self._run(
                    loaded, request.adapter, prompt, sampling, lambda text: post(Token(text)), cancel, info, mark=post
                )
                post(("done", result))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                post(("error", exc))
            finally:
                try:
                    loop.call_soon_threadsafe(_resolve, finished)
                except RuntimeError:
                    pass

        thread = threading.Thread(target=work, name=f"workbench-embedded-{next(_THREAD_IDS)}", daemon=True)
        info = GenerationInfo(thread=thread)
        self.last_generation = info
        thread.start()
        after_output = False  # once a Token is out, a failure must say so (no silent retry)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, Token):
                    after_output = True
                    yield item
                    continue
                if isinstance(item, (Loading, Loaded)):  # queued behind another answer
                    yield item
                    continue
                tag, payload = item
                if tag == "error":
                    raise _as_provider_error(payload, after_output=after_output)
                result: GenerationResult = payload
                yield Final(
                    model=MODEL_NAME,
                    done_reason=result.done_reason,
                    prompt_tokens=len(prompt),
                    completion_tokens=result.completion_tokens,
                    load_ms=load_ms + result.adapter_load_ms,
                    prompt_eval_ms=result.prompt_eval_ms,
                    eval_ms=result.eval_ms,
                    warnings=notes,
                )
                return
        finally:
            cancel.set()
            # Wait for the thread to notice (at most one forward pass) so that a closed stream
            # really has stopped using the CPU when aclose() returns.
            await asyncio.shield(finished)
            thread.join()  # it has posted its last word; this only waits for it to return

    def _run(
        self,
        loaded: LoadedModel,
        adapter: str | None,
        prompt: list[int],
        sampling: Sampling,
        emit: Any,
        cancel: threading.Event,
        info: GenerationInfo,
        mark: Any = None,
    ) -> GenerationResult:
        """On the generation thread: wait for the model's lock (giving up on cancel), then run.

        One answer generates at a time. A call queued behind others (an eval at concurrency 4,
        A/B panes) says so with Loading/Loaded, so the wait is not taken for a model that never
        produces a first token (only the total deadline runs meanwhile)."""
        import torch

        queued = not loaded.generation_lock.acquire(blocking=False)
        if queued and mark is not None:
            mark(Loading("waiting for the embedded model: another answer is using it…"))
        while queued and not loaded.generation_lock.acquire(timeout=0.05):
            if cancel.is_set():
                info.cancelled = True
                info.completion_tokens = 0
                return GenerationResult("", 0, None, 0.0, 0.0)
        if queued and mark is not None:
            mark(Loaded())
        try:
            torch.set_num_threads(self.threads)
            model, adapter_ms = loaded.model_for(adapter)
            result = generate(loaded, model, prompt, sampling, emit, cancel)
            result.adapter_load_ms = adapter_ms
        finally:
            loaded.generation_lock.release()
        info.completion_tokens = result.completion_tokens
        info.cancelled = result.done_reason is None
        return result


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _warnings(request: ChatRequest, sampling: Sampling) -> tuple[str, ...]:
    notes = []
    if request.format is not None:
        notes.append("the embedded model does not enforce `format`: the answer may not be valid JSON")
    if sampling.ignored:
        notes.append("options not supported by the embedded model were ignored: " + ", ".join(sampling.ignored))
    return tuple(notes)


def _as_provider_error(exc: BaseException, *, after_output: bool) -> ProviderError:
    if isinstance(exc, ProviderError):
        if after_output and not exc.after_output:
            return ProviderError(exc.kind, exc.message, retryable=exc.retryable, after_output=True)
        return exc
    kind: ErrorKind = "midstream" if after_output else "server"
    return ProviderError(kind, f"the embedded model failed: {type(exc).__name__}: {exc}", after_output=after_output)
