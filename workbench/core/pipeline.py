"""One generation, end to end: retrieve, render, check the budget, call, stream, store.

This is the single path every face of the product uses (CLI `ask`, the Prompt tab, the eval
runner), so they all write the same rows. The row is inserted before the first token and its
output is flushed while streaming (throttled), so a killed process leaves the partial answer.

Retrieval is a fallback-able dependency like the model: when the index is missing, locked or
corrupt, the answer still comes back, marked "answered without retrieval" with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench.core.citations import cited_numbers
from workbench.core.errors import WorkbenchError
from workbench.core.llm.base import CallStarted, ChatRequest, Event, ModelIdentity, Notice
from workbench.core.llm.registry import chain_specs, make_provider_or_placeholder
from workbench.core.llm.resilience import CallResult, ResilientCall, cost_of
from workbench.core.message_numbers import format_cost
from workbench.core.threads import in_daemon_thread
from workbench.core.variants import Variant, cache_key

if TYPE_CHECKING:
    from workbench.core.project import Project
    from workbench.core.records import GenerationRow
    from workbench.core.store import Store


FLUSH_EVERY_S = 0.25  # how often partial output is written while streaming
NO_SOURCES_TEXT = "(No sources are available for this question.)"


@dataclass
class Source:
    """A retrieved chunk as numbered for the prompt: [n] in the answer maps back to it."""

    n: int
    chunk_id: str
    path: str
    heading: str
    text: str
    score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "chunk_id": self.chunk_id, "path": self.path, "heading": self.heading, "score": self.score}


@dataclass
class Grounding:
    """What retrieval contributed to a generation (or why it could not)."""

    sources: list[Source] = field(default_factory=list)
    trace_id: int | None = None
    status: str = "skipped"  # skipped | used | unavailable: <reason>
    note: str | None = None  # "index incomplete: 36/45 files (...)" (retrieval/index.py)

    @property
    def context_text(self) -> str:
        if not self.sources:
            return NO_SOURCES_TEXT
        return "\n\n".join(f"[{s.n}] {s.path} — {s.heading}\n{s.text}" for s in self.sources)


@dataclass
class GenerationRecord:
    """A finished generation as callers need it (the stored row has the same facts)."""

    id: int
    variant: Variant
    messages: list[dict[str, str]]
    result: CallResult
    grounding: Grounding
    cached: bool = False
    budget_warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def output(self) -> str:
        return self.result.output


class BudgetRefused(WorkbenchError):
    """The configured budget forbids this call (before any token was spent)."""


EventCallback = Callable[[Event | CallStarted], Any]


def ground(project: Project, variant: Variant, question: str) -> Grounding:
    """Retrieve sources for a grounded prompt; any retrieval failure degrades to no sources."""
    if not variant.prompt.grounded:
        return Grounding()
    try:
        from workbench.core.retrieval.service import retrieve_sources
    except ImportError as exc:  # retrieval not installed/available in this build
        return Grounding(status=f"unavailable: {exc}")
    from workbench.core.store_health import StoreError

    try:
        hits, trace_id = retrieve_sources(project, variant.retrieval, question)
    except StoreError:
        raise  # runs.db's problem, not retrieval's: the error names the file and the fix
    except Exception as exc:  # noqa: BLE001 - any retriever failure must not kill the answer
        reason = str(exc) or type(exc).__name__
        return Grounding(status=f"unavailable: {reason}")
    sources = [
        Source(
            n=i + 1,
            chunk_id=h["chunk_id"],
            path=h["path"],
            heading=h.get("heading", ""),
            text=h["text"],
            score=h.get("score"),
        )
        for i, h in enumerate(hits)
    ]
    from workbench.core.retrieval.service import incomplete_note

    return Grounding(sources=sources, trace_id=trace_id, status="used", note=incomplete_note(project))


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """A cheap prompt-size estimate (about 4 characters per token, plus per-message overhead)."""
    return sum(len(m.get("content", "")) // 4 + 4 for m in messages)


def check_budget(project: Project, messages: list[dict[str, str]], options: dict[str, Any]) -> list[str]:
    """Warnings for a call that would exceed the budget; raises BudgetRefused when set to refuse."""
    budget, pricing = project.config.budget, project.config.pricing
    prompt_tokens = estimate_tokens(messages)
    max_new = int(options.get("num_predict") or 256)
    problems = []
    if budget.max_tokens_per_request and prompt_tokens + max_new > budget.max_tokens_per_request:
        problems.append(
            f"about {prompt_tokens} prompt + up to {max_new} answer tokens exceeds "
            f"budget.max_tokens_per_request={budget.max_tokens_per_request}"
        )
    estimate = cost_of(prompt_tokens, max_new, pricing) or 0.0
    if budget.max_cost_per_request and estimate > budget.max_cost_per_request:
        problems.append(
            f"estimated cost {format_cost(estimate)} {pricing.currency} exceeds "
            f"budget.max_cost_per_request={budget.max_cost_per_request}"
        )
    if budget.max_cost_per_day:
        today = datetime.now(UTC).date().isoformat()
        row = project.store.conn.execute(
            "SELECT coalesce(sum(cost), 0) FROM generations WHERE created_at >= ?", (today,)
        ).fetchone()
        spent = float(row[0] or 0)
        if spent + estimate > budget.max_cost_per_day:
            problems.append(
                f"today's spend {format_cost(spent)} + this call's estimate {format_cost(estimate)} {pricing.currency} "
                f"exceeds budget.max_cost_per_day={budget.max_cost_per_day}"
            )
    if budget.max_tokens_per_day:
        today = datetime.now(UTC).date().isoformat()
        row = project.store.conn.execute(
            "SELECT coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)), 0) "
            "FROM generations WHERE created_at >= ?",
            (today,),
        ).fetchone()
        used = int(row[0] or 0)
        if used + prompt_tokens + max_new > budget.max_tokens_per_day:
            problems.append(
                f"today's {used} tokens + about {prompt_tokens + max_new} for this call exceeds "
                f"budget.max_tokens_per_day={budget.max_tokens_per_day}"
            )
    if problems and budget.action == "refuse":
        raise BudgetRefused("refused by budget: " + "; ".join(problems), path=project.config.path, field="budget")
    return problems


async def run_generation(
    project: Project,
    variant: Variant,
    inputs: dict[str, str],
    *,
    source: str = "cli",
    on_event: EventCallback | None = None,
    use_cache: bool = False,
    chain: list[str] | None = None,
    fmt: str | dict[str, Any] | None = None,
    identities: dict[str, ModelIdentity] | None = None,
) -> GenerationRecord:
    """Run one generation and store it. Cancelling the task stores the partial as interrupted.

    `identities` (model spec -> the weights it names) lets an eval run look each model's digest
    up once for all its cases; anything not given is looked up here (see model_identity)."""
    store = project.store
    emit = on_event or (lambda event: None)
    question = inputs.get("question") or next(iter(inputs.values()), "")
    grounding = Grounding()
    if variant.prompt.grounded:  # embedding the query is CPU work: keep it off the event loop
        if _embedder_cold(project, variant):
            emit(Notice("loading the embedding model for retrieval (once per session)…", "info"))
        grounding = await in_daemon_thread(ground, project, variant, question)
    if grounding.status.startswith("unavailable"):
        emit(Notice(f"answered without retrieval — {grounding.status[len('unavailable: ') :]}", "warning"))
    if grounding.note:
        emit(Notice(grounding.note, "warning"))
    values = dict(inputs)
    if variant.prompt.grounded:
        values["context"] = grounding.context_text
    messages = variant.prompt.render(values, system=variant.system)
    specs = chain or chain_specs(project.config, variant.model)
    known: dict[str, ModelIdentity] = dict(identities or {})

    def key_for(spec: str) -> str | None:
        ident = known.get(spec)
        return cache_key(spec, variant.options, messages, variant.adapter, fmt, digest=ident.digest if ident else None)

    if use_cache:
        hit = await _find_cached(project, specs, key_for, known, variant.adapter)
        if hit is not None:
            return _record_from_cache(hit, variant, messages, grounding)

    warnings = check_budget(project, messages, variant.options)
    for warning in warnings:
        emit(Notice(f"budget: {warning}", "warning"))

    gen_id = store.start_generation(
        {
            "source": source,
            "variant_id": variant.id,
            "variant_name": variant.name,
            "prompt_name": variant.prompt.name,
            "inputs": inputs,
            "messages": messages,
            "options": variant.options,
            "adapter": variant.adapter,
            "model_requested": specs[0],
            "retrieval_id": grounding.trace_id,
            "retrieval_status": grounding.status,
            "sources": [s.as_dict() for s in grounding.sources],
        }
    )
    store.upsert(
        "variants",
        {"id": variant.id, "name": variant.name, "spec": variant.spec(), "created_at": datetime.now(UTC).isoformat()},
    )
    providers = [make_provider_or_placeholder(spec, project.config) for spec in specs]
    config = project.config
    call = ResilientCall(
        providers,
        timeouts=config.timeouts,
        retries=config.retries,
        pricing=config.pricing,
        restart_midstream=source == "eval",
    )
    request = ChatRequest(messages=messages, options=variant.options, format=fmt, adapter=variant.adapter)
    last_flush = time.monotonic()
    flushed_len = 0
    stream = call.stream(request)
    caller_failed = False  # only an exception from `emit` is "stopped by the caller"
    try:
        try:
            emit(CallStarted(time.monotonic()))  # the stored TTFT counts from here: a live one must too
        except BaseException:
            caller_failed = True
            raise
        async for event in stream:
            try:
                emit(event)
            except BaseException:
                caller_failed = True
                raise
            now = time.monotonic()
            grew = len(call.result.output) != flushed_len
            if grew and (flushed_len == 0 or now - last_flush >= FLUSH_EVERY_S):
                store.update_generation(gen_id, {"output": call.result.output, "thinking": call.result.thinking})
                flushed_len, last_flush = len(call.result.output), now
    except BaseException as exc:  # cancelled, Ctrl-C, or on_event failed (`ask | head`)
        try:
            await stream.aclose()  # first, so the call records the try it was in
        finally:  # even if closing is cancelled again, the row gets what is known
            if caller_failed and isinstance(exc, Exception) and call.result.status in ("running", "interrupted"):
                call.result.status = "interrupted"
                call.result.error = f"stopped by the caller: {type(exc).__name__}: {exc}"
            elif call.result.status == "running" and isinstance(exc, Exception):
                call.result.status = "error"
                call.result.error = f"{type(exc).__name__}: {exc}"
            _store_result(store, gen_id, call.result, key_for, warnings, grounding.sources, known)
            if source == "eval" and isinstance(exc, asyncio.CancelledError) and _not_started(call.result):
                # A case still queued when its eval was cancelled: no model saw it, so none is named.
                store.update_generation(
                    gen_id,
                    {
                        "model_requested": None,
                        "model_used": None,
                        "error": f"not started: the eval was cancelled before {specs[0]} answered this case",
                    },
                )
        raise
    finally:
        await stream.aclose()  # stop the model now, not when the garbage collector gets to it
    used = call.result.model_used
    if used and used not in known:  # it just answered, so its server is up: a quick look-up
        known[used] = await model_identity(project, used, variant.adapter)
    _store_result(store, gen_id, call.result, key_for, warnings, grounding.sources, known)
    return GenerationRecord(gen_id, variant, messages, call.result, grounding, budget_warnings=warnings)


async def _find_cached(
    project: Project,
    specs: list[str],
    key_for: Callable[[str], str | None],
    known: dict[str, ModelIdentity],
    adapter: str | None,
) -> GenerationRow | None:
    """A stored complete answer from the first model in the chain that would answer now.

    Answers are stored under the model that gave them and the digest of its weights, so a
    fallback's answer is never served as the requested model's, nor an old model's answer after
    a re-pull or re-export. A model is skipped only when it is down right now (Ollama not
    answering a 1-second probe), which is exactly when the chain would fall through to the next.
    """
    for spec in specs:
        if spec not in known and not await _is_down(project, spec):
            known[spec] = await model_identity(project, spec, adapter)
        key = key_for(spec)
        hit = project.store.find_cached_generation(key) if key else None
        if hit is not None:
            return hit
        if not await _is_down(project, spec):
            return None
    return None


async def model_identity(project: Project, spec: str, adapter: str | None = None) -> ModelIdentity:
    """The weights `spec` names right now (unknown when its provider cannot tell)."""
    provider = make_provider_or_placeholder(spec, project.config)
    lookup = getattr(provider, "identity", None)
    if lookup is None:
        return ModelIdentity(None)
    try:
        identity: ModelIdentity = await lookup(adapter)
        return identity
    except Exception:  # noqa: BLE001 - an identity that cannot be read is unknown, not fatal
        return ModelIdentity(None)


def _embedder_cold(project: Project, variant: Variant) -> bool:
    """Whether retrieving will first load the embedding model (seconds, once per process)."""
    try:
        from workbench.core.retrieval.embedder import loaded_embedder
        from workbench.core.retrieval.index import META, index_dir
    except ImportError:
        return False
    try:
        # (an index on object storage is not looked up here: a network call on the event loop)
        if not variant.retrieval.uri and not (index_dir(project.data_dir) / META).exists():
            return False  # no index: retrieval stops before it would load anything
    except OSError:  # an unreadable index folder: `ground` reports it and the answer goes on
        return False
    return loaded_embedder(variant.retrieval.embedding_model, project.root) is None


_PROBED: dict[str, tuple[float, bool]] = {}  # host -> (when, down); probes are cached briefly
PROBE_TTL_S = 20.0


async def _is_down(project: Project, spec: str) -> bool:
    if not spec.startswith("ollama:"):
        return False
    from workbench.core.config import endpoint_for
    from workbench.core.llm.ollama import probe, resolve_host

    hosts = endpoint_for(project.config, spec).hosts
    if len(hosts) > 1:  # a host pool: down only when all of its hosts are (llm/hosts.py)
        from workbench.core.llm.hosts import HostPool

        pool = make_provider_or_placeholder(spec, project.config)
        return isinstance(pool, HostPool) and not await pool.probe()
    host = resolve_host(hosts[0].url if hosts else project.config.model.host)
    seen = _PROBED.get(host)
    if seen is None or time.monotonic() - seen[0] > PROBE_TTL_S:
        down = await probe(host, timeout_s=1.0) is None
        _PROBED[host] = (time.monotonic(), down)
    return _PROBED[host][1]


def cited_sources(sources: list[Source], output: str) -> list[dict[str, Any]]:
    """Each source as stored and shown: its fields plus whether the answer cites its [n]."""
    cited = set(cited_numbers(output))
    return [{**s.as_dict(), "cited": s.n in cited} for s in sources]


def _not_started(result: CallResult) -> bool:
    """No first token and no output: the model never produced anything for this call."""
    return result.ttft_ms is None and not result.output and not result.thinking


def _store_result(
    store: Store,
    gen_id: int,
    result: CallResult,
    key_for: Callable[[str], str | None],
    budget_warnings: list[str],
    sources: list[Source],
    known: dict[str, ModelIdentity],
) -> None:
    """Write the final state of a call in one update: cache-keyed by the model that actually
    answered and its weights' digest, and with each source marked as cited by the answer or not."""
    if result.status == "running":
        result.status = "interrupted"
    answered_key = key_for(result.model_used) if result.model_used else None
    ident = known.get(result.model_used or "")
    store.update_generation(
        gen_id,
        {
            "model_digest": ident.digest if ident else None,
            "model_identity": ident.as_dict() if ident and ident.digest else None,
            "sources": cited_sources(sources, result.output),
            "output": result.output,
            "thinking": result.thinking,
            "status": result.status,
            "error": result.error,
            "model_used": result.model_used,
            "fallback_used": result.fallback_used,
            "attempt_log": [a.as_dict() for a in result.attempts],
            "attempts": len([a for a in result.attempts if a.outcome != "skipped"]),
            "warnings": [*result.warnings, *budget_warnings],
            "ttft_ms": result.ttft_ms,
            "total_ms": result.total_ms,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "tokens_per_s": result.tokens_per_s,
            "cost": result.cost,
            "cache_key": answered_key,
        },
    )


def _record_from_cache(
    row: GenerationRow, variant: Variant, messages: list[dict[str, Any]], grounding: Grounding
) -> GenerationRecord:
    import json

    result = CallResult(
        model_requested=row["model_requested"] or "",  # only a never-started row has none
        output=row["output"] or "",
        thinking=row["thinking"] or "",
        status=row["status"],
        model_used=row["model_used"],
        ttft_ms=row["ttft_ms"],
        total_ms=row["total_ms"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        tokens_per_s=row["tokens_per_s"],
        cost=row["cost"],
        warnings=json.loads(row["warnings"] or "[]"),
    )
    return GenerationRecord(row["id"], variant, messages, result, grounding, cached=True)
