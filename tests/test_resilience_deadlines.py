"""The deadline timer inside `ResilientCall` on its own: a stall becomes a timeout, and the
cancellation the timer uses never escapes into the caller's later awaits.

The provider here is a scripted async generator, not the stand-in: what is under test is the
timer's interplay with asyncio cancellation, which needs exact control of when tokens arrive.
"""

from __future__ import annotations

import asyncio

import pytest

from workbench.core.config import PricingConfig, RetryConfig, TimeoutConfig
from workbench.core.llm.base import ChatRequest, Final, Loaded, Loading, Notice, Token
from workbench.core.llm.resilience import ResilientCall


class Scripted:
    """Yields tokens after the given delays, then a Final (unless a delay is None: hang)."""

    def __init__(self, delays):
        self.name = "scripted"
        self.delays = delays

    async def stream(self, request):
        for i, delay in enumerate(self.delays):
            await asyncio.sleep(3600 if delay is None else delay)
            yield Token(f"t{i} ")
        yield Final(model="scripted", prompt_tokens=1, completion_tokens=len(self.delays), done_reason="stop")

    async def count_tokens(self, messages):
        return None


def call(delays, *, idle=0.2, first=0.5, total=30.0):
    return ResilientCall(
        [Scripted(delays)],
        timeouts=TimeoutConfig(first_token_s=first, idle_s=idle, total_s=total),
        retries=RetryConfig(count=0),
        pricing=PricingConfig(),
    )


async def drain(c):
    return [
        e.text
        async for e in c.stream(ChatRequest(messages=[{"role": "user", "content": "go"}]))
        if isinstance(e, Token)
    ]


async def test_tokens_just_inside_the_idle_deadline_all_arrive():
    c = call([0.0] + [0.15] * 5, idle=0.2)  # each gap under the deadline: the timer re-arms lazily
    assert await drain(c) == [f"t{i} " for i in range(6)]
    assert c.result.status == "ok"


async def test_a_stall_is_a_timeout_with_the_partial_kept_and_no_stray_cancel():
    c = call([0.0, 0.05, None], idle=0.2)
    assert await drain(c) == ["t0 ", "t1 "]
    assert c.result.status == "timeout" and "idle timeout" in c.result.error
    task = asyncio.current_task()
    assert task.cancelling() == 0
    await asyncio.sleep(0.3)  # a stray cancellation would raise here


async def test_no_first_token_is_a_first_token_timeout():
    c = call([None], first=0.1)
    assert await drain(c) == []
    assert "first-token timeout" in c.result.error


async def test_a_slow_consumer_is_not_timed_out():
    """The idle deadline counts the model's silence, not the time the caller spends per token."""
    c = call([0.0] * 4, idle=0.1)
    seen = []
    async for e in c.stream(ChatRequest(messages=[{"role": "user", "content": "go"}])):
        if isinstance(e, Token):
            seen.append(e.text)
            await asyncio.sleep(0.15)  # longer than the idle deadline, outside the provider
    assert len(seen) == 4 and c.result.status == "ok"


async def test_a_users_cancel_is_still_a_cancel():
    c = call([0.0, None], idle=5.0)
    task = asyncio.create_task(drain(c))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert c.result.status == "interrupted"


class LoadsFirst(Scripted):
    """An in-process model: a load longer than the first-token deadline, then quick tokens."""

    async def stream(self, request):
        yield Loading("loading the model…")
        await asyncio.sleep(0.4)
        yield Loaded()
        async for event in super().stream(request):
            yield event


async def test_an_in_process_load_does_not_count_against_the_first_token_deadline():
    """A user who sets first_token_s for Ollama's sake must not lose the embedded fallback
    to its one-time load; the callers see the load as an info notice, nothing else."""
    c = ResilientCall(
        [LoadsFirst([0.0, 0.0])],
        timeouts=TimeoutConfig(first_token_s=0.2, idle_s=0.2),
        retries=RetryConfig(count=0),
        pricing=PricingConfig(),
    )
    events = [e async for e in c.stream(ChatRequest(messages=[{"role": "user", "content": "go"}]))]
    assert c.result.status == "ok" and c.result.output == "t0 t1 "
    assert events[0] == Notice("loading the model…", "info")
    assert not any(isinstance(e, (Loading, Loaded)) for e in events)


async def test_the_total_deadline_still_bounds_a_load():
    c = ResilientCall(
        [LoadsFirst([0.0])],
        timeouts=TimeoutConfig(first_token_s=0.2, idle_s=0.2, total_s=0.25),
        retries=RetryConfig(count=0),
        pricing=PricingConfig(),
    )
    assert await drain(c) == []
    assert c.result.status == "error" and "total deadline" in c.result.error


async def test_a_caller_that_stops_reading_still_leaves_the_try_on_record():
    """`ask | head` stops reading mid-answer: the row must still say which model was answering."""
    c = call([0.0, 0.0, None], idle=5.0)
    stream = c.stream(ChatRequest(messages=[{"role": "user", "content": "go"}]))
    async for event in stream:
        if isinstance(event, Token):
            break
    await stream.aclose()
    assert c.result.status == "interrupted" and c.result.output == "t0 "
    last = c.result.attempts[-1]
    assert (last.model, last.attempt, last.outcome) == ("scripted", 1, "interrupted")


class Broken(Scripted):
    """A provider with a bug: an exception that is not a mapped ProviderError."""

    async def stream(self, request):
        yield Token("half ")
        raise ValueError("a chunk had no message")


class Swallows(Scripted):
    """A provider that swallows the deadline's cancellation and ends quietly."""

    async def stream(self, request):
        yield Token("a ")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return


async def test_a_provider_bug_is_one_clear_error_on_record_not_a_traceback():
    c = call([])
    c.chain = [Broken([])]
    assert await drain(c) == ["half "]
    assert c.result.status == "error" and "ValueError: a chunk had no message" in c.result.error
    assert c.result.attempts[-1].outcome == "internal"


async def test_a_provider_that_swallows_the_deadline_still_times_out_and_leaves_no_cancel():
    c = call([])
    c.chain = [Swallows([])]
    assert await drain(c) == ["a "]
    assert c.result.status == "timeout"
    assert asyncio.current_task().cancelling() == 0
    await asyncio.sleep(0.3)  # no stray cancellation
