"""Several servers with the same weights behind one model spec (`model.hosts`).

`HostPool` is itself a Provider, so the resilience layer, the cache and the eval runner need no
second code path. Each request goes to the up host with the fewest outstanding requests (relative
to its `concurrency`) and waits when every host is full. A host failing before the first token is
marked down for a cool-off (a circuit breaker) and the request moves to another host at once; when
the cool-off ends the host is re-probed (GET /api/version or /models) before it gets work again.
A host dying mid-stream is marked down and the error carries `host`, so the resilience layer can
restart that case on another host (evals only, under the retry count; the partial attempt stays
in the attempt log). A 429 is the host asking for a pause, not failing: it rests for its
Retry-After and is never marked down for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.llm.base import (
    ChatRequest,
    Event,
    Final,
    ModelIdentity,
    Notice,
    Provider,
    ProviderError,
    Thinking,
    Token,
    short_digest,
)

COOL_OFF_S = 10.0  # first time down; doubles per failed re-probe, up to MAX_COOL_OFF_S
MAX_COOL_OFF_S = 120.0
# Failures that say "this host cannot serve now" (not "this request is wrong").
HOST_FAILURES = {
    "connect",
    "timeout",
    "server",
    "dropped",
    "incomplete",
    "protocol",
    "midstream",
    "not_found",
    "busy",
    "unavailable",
}


@dataclass(frozen=True)
class HostFailover(Notice):
    """A Notice that also records one failed try on one host (the resilience layer files it in
    the attempt log, so a row says which host failed and why before another one answered)."""

    host: str = ""
    outcome: str = ""
    elapsed_ms: float = 0.0


@dataclass
class HostStat:
    """What progress shows per host (worded by present/progress.py `host_line`, `host_brief`)."""

    url: str
    state: str  # up | down | resting (429) | probing
    outstanding: int
    concurrency: int
    done: int
    failed: int
    tokens: int
    tokens_per_s: float | None

    @property
    def short(self) -> str:
        """`gpu1:11434`: the URL without scheme and /v1, for one-line progress."""
        from urllib.parse import urlsplit

        return urlsplit(self.url).netloc or self.url


class _Host:
    def __init__(self, url: str, concurrency: int, provider: Provider) -> None:
        self.url, self.concurrency, self.provider = url, concurrency, provider
        self.outstanding = 0
        self.down_until = 0.0  # monotonic; > now: down
        self.rest_until = 0.0  # a 429's Retry-After; > now: resting, not down
        self.cool_off = COOL_OFF_S
        self.down_reason = ""
        self.probing = False
        self.done = self.failed = self.tokens = 0
        self.first_use: float | None = None
        self.busy_s = 0.0  # time with at least one request (throughput's denominator)
        self._busy_since: float | None = None


class HostPool:
    """One model spec served by several hosts; see the module docstring."""

    def __init__(
        self, spec: str, hosts: list[tuple[str, int, Provider]], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not hosts:
            raise ValueError("a host pool needs at least one host")
        self.name = spec
        self.hosts = [_Host(url, c, p) for url, c, p in hosts]
        self.clock = clock
        self._changed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._identity: ModelIdentity | None = None

    def __repr__(self) -> str:
        return f"HostPool({self.name!r}, {[h.url for h in self.hosts]})"

    @property
    def capacity(self) -> int:
        return sum(h.concurrency for h in self.hosts)

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            self._changed, self._loop = asyncio.Condition(), loop
        return self._changed

    # -- state --------------------------------------------------------------------------------
    def snapshot(self) -> list[HostStat]:
        now = self.clock()
        out = []
        for h in self.hosts:
            busy = h.busy_s + (now - h._busy_since if h._busy_since is not None else 0.0)
            state = (
                "probing" if h.probing else "down" if h.down_until > now else "resting" if h.rest_until > now else "up"
            )
            out.append(
                HostStat(
                    h.url,
                    state,
                    h.outstanding,
                    h.concurrency,
                    h.done,
                    h.failed,
                    h.tokens,
                    round(h.tokens / busy, 1) if busy > 0 and h.tokens else None,
                )
            )
        return out

    def has_other_host(self, failed: str | None) -> bool:
        """Whether a host other than `failed` could take a restarted request (up, or due a probe)."""
        return any(h.url != failed for h in self.hosts)

    def all_down(self) -> bool:
        now = self.clock()
        return all(h.down_until > now for h in self.hosts)

    def _mark_down(self, host: _Host, reason: str) -> None:
        host.failed += 1
        host.down_reason = reason
        host.down_until = self.clock() + host.cool_off
        host.cool_off = min(MAX_COOL_OFF_S, host.cool_off * 2)

    def _mark_up(self, host: _Host) -> None:
        host.down_until, host.cool_off, host.down_reason = 0.0, COOL_OFF_S, ""

    async def _probe(self, host: _Host) -> bool:
        """Half-open: a host whose cool-off ended answers a cheap request before real work."""
        host.probing = True
        try:
            ok = await _answers(host)
        finally:
            host.probing = False
        if ok:
            self._mark_up(host)
        else:
            self._mark_down(host, host.down_reason or "re-probe failed")
            host.failed -= 1  # a failed probe is not another failed request
        return ok

    async def _acquire(self, tried: set[str]) -> _Host:
        """The up host with the fewest outstanding requests for its size (waiting while all are
        full); raises `connect` when every host is down."""
        changed = self._condition()
        async with changed:
            while True:
                now = self.clock()
                for h in self.hosts:  # cool-off over: probe before trusting it again
                    if 0 < h.down_until <= now and not h.probing and h.url not in tried:
                        changed.release()
                        try:
                            await self._probe(h)
                        finally:
                            await changed.acquire()
                        now = self.clock()
                live = [h for h in self.hosts if h.down_until <= now and not h.probing]
                usable = [h for h in live if h.url not in tried] or live
                free = [h for h in usable if h.outstanding < h.concurrency and h.rest_until <= now]
                if free:
                    host = min(free, key=lambda h: (h.outstanding / h.concurrency, h.outstanding))
                    host.outstanding += 1
                    if host._busy_since is None:
                        host._busy_since = now
                    host.first_use = host.first_use or now
                    return host
                if not live:
                    reasons = "; ".join(f"{h.url}: {h.down_reason or 'down'}" for h in self.hosts)
                    raise ProviderError(
                        "connect", f"all {len(self.hosts)} hosts of {self.name} are down ({reasons})", retryable=True
                    )
                wake = [h.down_until for h in self.hosts if h.down_until > now]
                wake += [h.rest_until for h in live if h.rest_until > now]
                timeout = max(0.01, min(wake) - now) if wake else None
                try:
                    await asyncio.wait_for(changed.wait(), timeout)
                except TimeoutError:
                    pass

    async def _release(self, host: _Host) -> None:
        changed = self._condition()
        async with changed:
            host.outstanding -= 1
            if host.outstanding == 0 and host._busy_since is not None:
                host.busy_s += self.clock() - host._busy_since
                host._busy_since = None
            changed.notify_all()

    # -- Provider -----------------------------------------------------------------------------
    async def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return await self.hosts[0].provider.count_tokens(messages)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        tried: set[str] = set()
        while True:
            host = await self._acquire(tried)
            tried.add(host.url)
            began = self.clock()
            seen_output = False
            agen = host.provider.stream(request)
            try:
                try:
                    async for event in agen:
                        if isinstance(event, (Token, Thinking)):
                            seen_output = True
                        elif isinstance(event, Final):
                            host.done += 1
                            host.tokens += event.completion_tokens or 0
                            self._mark_up(host)
                        yield event
                    return
                except ProviderError as exc:
                    exc.host = host.url
                    if exc.status_code == 429 or exc.retry_after_s is not None:
                        host.rest_until = self.clock() + (exc.retry_after_s or 1.0)
                    elif exc.kind in HOST_FAILURES:
                        self._mark_down(host, exc.message)
                    others = [h for h in self.hosts if h.url not in tried]
                    if seen_output or exc.after_output or exc.kind not in HOST_FAILURES or not others:
                        raise
                    yield HostFailover(
                        f"{host.url}: {exc.message} — sending the request to another host",
                        "warning",
                        host=host.url,
                        outcome=exc.kind,
                        elapsed_ms=(self.clock() - began) * 1000,
                    )
            finally:
                await agen.aclose()
                await self._release(host)

    # -- identity -----------------------------------------------------------------------------
    async def check_identity(self, adapter: str | None = None) -> ModelIdentity:
        """Every host's digest for this model, at the start of a run: different weights on two
        hosts is an error naming them (never a silent mix); a host that does not answer is
        marked down and checked again when it comes back."""

        async def one(h: _Host) -> ModelIdentity | None:
            lookup = getattr(h.provider, "identity", None)
            if lookup is None:
                return ModelIdentity(None)
            if not await _answers(h):
                self._mark_down(h, "not reachable at the start of the run")
                h.failed -= 1
                return None
            identity: ModelIdentity = await lookup(adapter)
            return identity

        found = await asyncio.gather(*(one(h) for h in self.hosts))
        answering = [(h, ident) for h, ident in zip(self.hosts, found, strict=True) if ident is not None]
        if self.name.startswith("ollama:"):
            missing = [h.url for h, ident in answering if not ident.digest]
            if missing:
                raise WorkbenchError(
                    f"{self.name} is not on host(s) {', '.join(missing)}: every host "
                    f"in hosts must have the model (ollama pull {self.name[7:]} there)"
                )
        digests: dict[str, list[str]] = {}
        for h, ident in answering:
            if ident.digest:
                digests.setdefault(ident.digest, []).append(h.url)
        if len(digests) > 1:
            listing = "; ".join(f"{short_digest(d)} on {', '.join(urls)}" for d, urls in digests.items())
            raise WorkbenchError(
                f"the hosts of {self.name} serve different weights ({listing}): "
                "every host must serve the same model; pull the same version on each"
            )
        self._identity = next(
            (ident for _, ident in answering if ident.digest), answering[0][1] if answering else ModelIdentity(None)
        )
        return self._identity

    async def identity(self, adapter: str | None = None) -> ModelIdentity:
        """The weights every host serves (checked once; see check_identity)."""
        if self._identity is None:
            try:
                return await self.check_identity(adapter)
            except WorkbenchError:
                return ModelIdentity(None)  # never cache-share across mismatched hosts
        return self._identity

    async def probe(self, timeout_s: float = 1.0) -> bool:
        return not self.all_down()


async def _answers(host: _Host) -> bool:
    """One cheap request: the provider's own probe (GET /models), else Ollama's /api/version."""
    probe = getattr(host.provider, "probe", None)
    if probe is not None:
        return bool(await probe(1.0))
    from workbench.core.llm.ollama import probe as ollama_probe

    return await ollama_probe(getattr(host.provider, "host", host.url), timeout_s=1.0) is not None


def pool_of(provider: Any) -> HostPool | None:
    return provider if isinstance(provider, HostPool) else None
