"""Production plumbing around any provider: deadlines, safe retries, fallback, metering.

The rules, in one place so every caller (CLI, TUI, eval runner) behaves the same:
- Deadlines: connect (inside the provider), first token (must cover a cold model load), idle gap
  between tokens, and a total deadline. A deadline passed after output ends the call as `timeout`
  with the partial output kept.
- Retries only before the first token and only for failures that are safe to repeat (connection
  refused, 503 busy), with exponential backoff and jitter. A refused connection with a fallback
  next in the chain is not retried: nothing listens there, so the fallback answers at once. A
  stream that already showed tokens is never silently re-run, and never replaced by a fallback's
  answer.
- Fallback: the chain is tried in order; each model's failure is recorded with its reason, and the
  result says which model answered.
- Metering: TTFT, total time, tokens/s over the generation phase, token counts, cost.
- A model that just failed to connect is skipped for a short while in this process (a tiny
  circuit breaker), so a 50-case eval with Ollama down doesn't pay the retries 50 times.
- A server's Retry-After (429/503) sets the wait before the retry when it is longer than the
  backoff. With several hosts (llm/hosts.py) and `restart_midstream` (evals, where no one reads
  the text live), a host dying mid-stream is one failed try: the partial answer goes in the
  attempt log and the request starts again on another host, under the same retry count.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.core.config import PricingConfig, RetryConfig, TimeoutConfig
from workbench.core.llm.base import (
    ChatRequest,
    Event,
    Final,
    Loaded,
    Loading,
    Notice,
    Provider,
    ProviderError,
    Thinking,
    Token,
)
from workbench.core.llm.hosts import HostFailover
from workbench.core.llm.http_errors import REFUSED
from workbench.core.message_numbers import secs

# model spec -> monotonic time until which it is considered down (connect failures only)
_DOWN_UNTIL: dict[str, float] = {}
CIRCUIT_OPEN_S = 20.0

STATUS_BY_KIND = {"timeout": "timeout", "incomplete": "incomplete"}


@dataclass
class AttemptRecord:
    """One try at one model, kept so the row can say why a fallback happened."""

    model: str
    attempt: int
    outcome: str  # "ok" or a ProviderError kind, or "skipped"
    message: str = ""
    elapsed_ms: float = 0.0
    host: str | None = None  # which server of a host pool
    partial: str = ""  # the text a try produced before it failed and was restarted elsewhere

    def as_dict(self) -> dict[str, Any]:
        out = {
            "model": self.model,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "message": self.message,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }
        if self.host:
            out["host"] = self.host
        if self.partial:
            out["partial_output"] = self.partial
        return out


@dataclass
class CallResult:
    """Everything known about a finished (or failed, or cancelled) call."""

    model_requested: str
    output: str = ""
    thinking: str = ""
    status: str = "running"  # ok | truncated | incomplete | error | timeout | interrupted
    error: str | None = None
    model_used: str | None = None
    fallback_used: bool = False
    attempts: list[AttemptRecord] = field(default_factory=list)
    ttft_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_s: float | None = None
    cost: float | None = None
    done_reason: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def no_model_answered(self) -> bool:
        """True when the chain failed before any model produced any output."""
        return self.status == "error" and not self.output and self.model_used is None


def cost_of(prompt_tokens: int | None, completion_tokens: int | None, pricing: PricingConfig) -> float | None:
    """Price in the configured currency; None when a count is unknown and a price applies."""
    if not pricing.prompt_per_1k and not pricing.completion_per_1k:
        return 0.0
    if prompt_tokens is None or completion_tokens is None:
        return None
    return round(
        prompt_tokens / 1000 * pricing.prompt_per_1k + completion_tokens / 1000 * pricing.completion_per_1k,
        8,
    )


def _failure_reasons(attempts: list[AttemptRecord]) -> str:
    """'ollama:llama3.2: not reachable (3 tries); embedded: …': each model's reason once, not
    one identical copy per retry."""
    grouped: dict[tuple[str, str], int] = {}
    for a in attempts:
        key = (a.model, a.message or a.outcome)
        grouped[key] = grouped.get(key, 0) + (a.outcome != "skipped")
    return "; ".join(
        f"{model}: {reason}" + (f" ({n} tries)" if n > 1 else "") for (model, reason), n in grouped.items()
    )


def backoff_delay(retry_index: int, retries: RetryConfig, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter in [0.5x, 1.5x], capped."""
    base: float = min(retries.max_backoff_s, retries.backoff_s * (2**retry_index))
    return base * (0.5 + (rng or random).random())


def _short_name(spec: str) -> str:
    return "Ollama" if spec.startswith("ollama:") else spec


class _Deadline:
    """One lazily rescheduled timer that cancels `task` if it is still waiting past `deadline`.

    `arm(limit)` is called before each wait: it only stores the new deadline (and moves the
    timer earlier in the rare case the new deadline is sooner, e.g. the total deadline). When
    the timer fires before the deadline it re-arms itself for the deadline; when it fires after
    it, and the task is waiting, it cancels the task and remembers that it did (`take_back`).
    """

    __slots__ = ("task", "loop", "deadline", "handle", "waiting", "fired")

    def __init__(self, task: asyncio.Task[Any] | None, loop: asyncio.AbstractEventLoop) -> None:
        self.task, self.loop = task, loop
        self.deadline = 0.0
        self.handle: asyncio.TimerHandle | None = None
        self.waiting = False
        self.fired = False

    def arm(self, limit: float) -> None:
        self.deadline = self.loop.time() + limit
        self.waiting = True
        if self.handle is None or self.handle.when() > self.deadline:
            if self.handle is not None:
                self.handle.cancel()
            self.handle = self.loop.call_at(self.deadline, self._check)

    def _check(self) -> None:
        self.handle = None
        if not self.waiting or self.task is None or self.task.done():
            return  # between waits: the next arm() sets a new timer
        if self.loop.time() < self.deadline:
            self.handle = self.loop.call_at(self.deadline, self._check)
            return
        self.fired = True
        self.task.cancel()

    def take_back(self) -> bool:
        """True when the cancellation that just arrived was this timer's (and only its)."""
        if not self.fired:
            return False
        self.fired = False
        remaining = self.task.uncancel() if self.task is not None else 0
        return remaining == 0  # a user's cancel arrived too: let it through

    def close(self) -> None:
        self.waiting = False
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class ResilientCall:
    """One user request across a chain of providers. Iterate `stream()`, then read `result`."""

    def __init__(
        self,
        chain: list[Provider],
        *,
        timeouts: TimeoutConfig,
        retries: RetryConfig,
        pricing: PricingConfig,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        restart_midstream: bool = False,
    ) -> None:
        if not chain:
            raise ValueError("a call needs at least one provider")
        self.chain = chain
        self.timeouts = timeouts
        self.retries = retries
        self.pricing = pricing
        self.clock = clock
        self.sleep = sleep
        self.restart_midstream = restart_midstream
        self.result = CallResult(model_requested=chain[0].name)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Yield Token/Thinking/Notice events; the outcome is in `self.result` afterwards."""
        result = self.result
        start = self.clock()
        first_token_at: float | None = None
        in_flight: tuple[str, int, float] | None = None  # the try under way: model, number, start
        try:
            for position, provider in enumerate(self.chain):
                down_until = _DOWN_UNTIL.get(provider.name, 0.0)
                if down_until > time.monotonic():
                    result.attempts.append(AttemptRecord(provider.name, 0, "skipped", "unreachable moments ago"))
                    continue
                if position > 0 and result.attempts:
                    reason = result.attempts[-1].message
                    yield Notice(f"falling back to {provider.name} ({reason})", "warning")
                retry = 0
                while True:
                    attempt_start = self.clock()
                    in_flight = (provider.name, retry + 1, attempt_start)
                    guarded = self._guarded(provider, request, start)
                    try:
                        async for event in guarded:
                            if isinstance(event, (Token, Thinking)) and first_token_at is None:
                                first_token_at = self.clock()
                                result.ttft_ms = (first_token_at - start) * 1000
                                result.model_used = provider.name
                                result.fallback_used = position > 0
                            if isinstance(event, Token):
                                result.output += event.text
                                yield event
                            elif isinstance(event, Thinking):
                                result.thinking += event.text
                                yield event
                            elif isinstance(event, Final):
                                self._finish(provider, event, position, first_token_at)
                            else:
                                if isinstance(event, HostFailover) and event.host:  # a host pool moved the request
                                    result.attempts.append(
                                        AttemptRecord(
                                            provider.name,
                                            retry + 1,
                                            event.outcome,
                                            event.text,
                                            event.elapsed_ms,
                                            host=event.host,
                                        )
                                    )
                                yield event
                        _DOWN_UNTIL.pop(provider.name, None)
                        in_flight = None
                        result.attempts.append(
                            AttemptRecord(provider.name, retry + 1, "ok", "", (self.clock() - attempt_start) * 1000)
                        )
                        if result.status == "running":  # provider forgot its Final
                            result.status = "incomplete"
                            result.error = "the stream ended without a final message"
                        return
                    except ProviderError as exc:
                        in_flight = None
                        elapsed = (self.clock() - attempt_start) * 1000
                        partial = result.output
                        result.attempts.append(
                            AttemptRecord(
                                provider.name,
                                retry + 1,
                                exc.kind,
                                exc.message,
                                elapsed,
                                host=exc.host,
                                partial=partial if exc.host else "",
                            )
                        )
                        if exc.kind == "connect":
                            _DOWN_UNTIL[provider.name] = time.monotonic() + CIRCUIT_OPEN_S
                        if self._restartable(provider, exc, retry, partial):
                            retry += 1
                            result.output = result.thinking = ""
                            result.ttft_ms = result.model_used = first_token_at = None
                            yield Notice(
                                f"{exc.host} failed mid-stream ({exc.kind}) after {len(partial)} "
                                f"characters; restarting on another host (retry {retry}/"
                                f"{self.retries.count}; the partial answer stays in the attempt log)",
                                "warning",
                            )
                            continue
                        if exc.after_output or result.output or result.thinking:
                            # Output was shown: keep it, say what happened, never re-run.
                            result.status = STATUS_BY_KIND.get(exc.kind, "error")
                            result.error = exc.message
                            result.model_used = result.model_used or provider.name
                            yield Notice(f"{provider.name}: {exc.message}", "error")
                            return
                        if exc.retryable and retry < self.retries.count and not self._fall_back_now(exc, position):
                            delay = max(backoff_delay(retry, self.retries), exc.retry_after_s or 0.0)
                            remaining = self.timeouts.total_s - (self.clock() - start)
                            if delay >= remaining and exc.retry_after_s:
                                result.attempts[-1].message += (
                                    f" (not retried: the server asks to wait {exc.retry_after_s:g} s, "
                                    f"past the total deadline of {self.timeouts.total_s:g} s)"
                                )
                            if delay < remaining:
                                retry += 1
                                yield Notice(
                                    f"{_short_name(provider.name)} {exc.kind}: {exc.message} — "
                                    f"retry {retry}/{self.retries.count} in {secs(delay, 1)}",
                                    "warning",
                                )
                                await self.sleep(delay)
                                continue
                        break  # next provider in the chain
                    finally:
                        await guarded.aclose()  # stop model-side work now, not at GC time
            failures = _failure_reasons(result.attempts)
            result.status = "error"
            result.error = f"no model could answer ({failures})"
            yield Notice(result.error, "error")
        except (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit):
            if result.status == "running":
                result.status = "interrupted"
                result.error = "cancelled by the user"
            if in_flight is not None:  # the stored row must still say which model was answering
                name, number, began = in_flight
                result.attempts.append(
                    AttemptRecord(name, number, "interrupted", "stopped before the end", (self.clock() - began) * 1000)
                )
            raise
        finally:
            result.total_ms = (self.clock() - start) * 1000
            if result.cost is None:
                result.cost = cost_of(result.prompt_tokens, result.completion_tokens, self.pricing)

    def _fall_back_now(self, exc: ProviderError, position: int) -> bool:
        """Nothing listens where the model should be (connection refused) and a fallback comes
        next: a retry a second later almost always meets the same closed port, so the call goes to
        the fallback at once instead of paying the backoff (about 2 s on every `ask` with Ollama
        not running). Timeouts, 5xx, busy servers and dropped connections are still retried."""
        return exc.kind == "connect" and exc.message.endswith(f"({REFUSED})") and position + 1 < len(self.chain)

    def _restartable(self, provider: Provider, exc: ProviderError, retry: int, partial: str) -> bool:
        """A host of a pool died after output began, and the caller allows a restart: try again on
        another host (the caller shows nothing live, so no shown text is silently changed)."""
        if not (self.restart_midstream and exc.host and (exc.after_output or partial)):
            return False
        if exc.kind not in ("dropped", "incomplete", "midstream", "protocol") or retry >= self.retries.count:
            return False
        other = getattr(provider, "has_other_host", None)
        return bool(other and other(exc.host))

    def _finish(self, provider: Provider, final: Final, position: int, first_token_at: float | None) -> None:
        result = self.result
        now = self.clock()
        result.model_used = provider.name
        result.fallback_used = position > 0
        result.done_reason = final.done_reason
        result.prompt_tokens = final.prompt_tokens
        result.completion_tokens = final.completion_tokens
        result.warnings.extend(final.warnings)
        if final.done_reason == "length":
            result.status = "truncated"
            if not any("truncat" in w for w in result.warnings):
                result.warnings.append("the answer hit the token limit (num_predict) and was cut")
        else:
            result.status = "ok"
        if final.completion_tokens and first_token_at is not None and now > first_token_at:
            # The first token's own time is in TTFT; rate over the remaining tokens.
            span = now - first_token_at
            produced = max(final.completion_tokens - 1, 1)
            result.tokens_per_s = round(produced / span, 2) if span > 0 else None
        result.cost = cost_of(final.prompt_tokens, final.completion_tokens, self.pricing)

    async def _guarded(self, provider: Provider, request: ChatRequest, start: float) -> AsyncGenerator[Event, None]:
        """The provider's stream with first-token, idle and total deadlines applied.

        The deadline costs next to nothing per token: each token only moves a number, and one
        timer (rescheduled lazily, when it fires early) cancels this task if it is still waiting
        for the provider when the deadline passes. `asyncio.wait_for` per token doubled the CPU
        the plumbing adds over the bare client (a task and a timer per token), and
        `asyncio.timeout` can leave a stray cancellation on Python 3.11 when a token and the
        deadline coincide; here the timer only cancels while the task waits inside this
        generator's `__anext__`, so the cancellation always lands there, where it is taken back.
        """
        agen = provider.stream(request)
        watch = _Deadline(asyncio.current_task(), asyncio.get_running_loop())
        seen_output = loading = False
        try:
            while True:
                elapsed = self.clock() - start
                remaining_total = self.timeouts.total_s - elapsed
                phase = self.timeouts.idle_s if seen_output else self.timeouts.first_token_s
                if loading:  # an in-process model load: only the total deadline applies
                    phase = remaining_total
                limit = min(phase, remaining_total)
                if limit <= 0:
                    raise self._timeout(phase, seen_output, total=True)
                watch.arm(limit)
                timed_out = False
                try:
                    event = await agen.__anext__()
                except StopAsyncIteration:
                    if watch.fired and watch.take_back():  # swallowed the cancel, then ended
                        raise self._timeout(phase, seen_output, total=remaining_total <= phase) from None
                    return
                except asyncio.CancelledError:
                    if watch.take_back():
                        raise self._timeout(phase, seen_output, total=remaining_total <= phase) from None
                    raise
                except BaseException as exc:
                    # The provider swallowed the timer's cancel and failed otherwise: take the
                    # cancel back (or it would escape at a later await) and call it a timeout.
                    timed_out = watch.fired and watch.take_back()
                    if not timed_out:
                        if isinstance(exc, Exception) and not isinstance(exc, ProviderError):
                            # a provider bug (not a mapped failure) is still one clear error,
                            # recorded as this model's try, not an escaped traceback
                            raise ProviderError(
                                "internal", f"{type(exc).__name__}: {exc}", retryable=False, after_output=seen_output
                            ) from exc
                        raise
                finally:
                    watch.waiting = False
                if timed_out or (watch.fired and watch.take_back()):  # swallowed, then answered
                    raise self._timeout(phase, seen_output, total=remaining_total <= phase)
                if isinstance(event, Loading):
                    loading = True
                    event = Notice(event.text, "info")
                elif isinstance(event, Loaded):
                    loading = False
                    continue
                if isinstance(event, (Token, Thinking)):
                    seen_output = True
                yield event
        finally:
            watch.close()
            await agen.aclose()

    def _timeout(self, phase: float, seen_output: bool, *, total: bool) -> ProviderError:
        if total:
            message = f"no complete answer within the total deadline of {self.timeouts.total_s:g} s"
        elif seen_output:
            message = f"the stream stalled: no token for {phase:g} s (idle timeout)"
        else:
            message = f"no first token within {phase:g} s (first-token timeout; covers model load)"
        return ProviderError("timeout", message, retryable=False, after_output=seen_output)
