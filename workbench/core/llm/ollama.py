"""Ollama as a provider: the official `ollama.AsyncClient`, with every failure made legible.

Details: docs/NOTES.md, section core/llm/ollama.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.parse
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from workbench.core.llm.base import ChatRequest, Event, Final, ModelIdentity, ProviderError, Thinking, Token
from workbench.core.llm.http_errors import dropped, transport_error, unreachable

DEFAULT_HOST = "http://127.0.0.1:11434"
CHARS_PER_TOKEN = 4  # rough prompt-size estimate; only used to notice silent truncation


# -- host ------------------------------------------------------------------------------------


def resolve_host(host: str | None = None) -> str:
    """The base URL to talk to: explicit host > $OLLAMA_HOST > http://127.0.0.1:11434.

    Accepts what OLLAMA_HOST accepts: `host:port`, `host` (port 11434), `http://host` (port 80),
    `https://host` (port 443), `:port`, IPv6 in brackets, and a path prefix behind a proxy.
    """
    raw = (host or os.environ.get("OLLAMA_HOST") or "").strip()
    if not raw:
        return DEFAULT_HOST
    scheme, sep, rest = raw.partition("://")
    port = 11434
    if not sep:
        scheme, rest = "http", raw
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urllib.parse.urlsplit(f"{scheme}://{rest}")
    hostname = split.hostname or "127.0.0.1"
    try:
        port = split.port or port
    except ValueError:
        pass  # a malformed port: keep the default and let the connection attempt say so
    if ":" in hostname:  # IPv6 literal: urlsplit strips the brackets
        hostname = f"[{hostname}]"
    path = split.path.strip("/")
    return f"{scheme}://{hostname}:{port}" + (f"/{path}" if path else "")


# -- error mapping ---------------------------------------------------------------------------


def _response_error(exc: Any, host: str, model: str, route: str, after_output: bool) -> ProviderError:
    """ollama.ResponseError -> ProviderError, by status and text."""
    status = getattr(exc, "status_code", -1)
    text = str(getattr(exc, "error", "") or exc).strip()
    if status == -1:
        # The server sent {"error": ...} as a line of a stream that had already begun (HTTP 200).
        when = "after output began" if after_output else "before any output"
        return ProviderError(
            "midstream",
            f"Ollama reported an error mid-stream ({when}): {text}",
            retryable=False,
            after_output=after_output,
            status_code=None,
        )
    if status == 404:
        if "page not found" in text.lower():
            return ProviderError(
                "protocol",
                f"the server at {host} has no {route} endpoint (404 page not found): it is not "
                "Ollama, or an Ollama too old for this API; check the host and `ollama --version`",
                after_output=after_output,
                status_code=404,
            )
        return ProviderError(
            "not_found",
            f"model '{model}' is not on the Ollama server at {host}; pull it with `ollama pull {model}` ({text})",
            after_output=after_output,
            status_code=404,
        )
    if status == 503 or status == 429:
        return ProviderError(
            "busy",
            f"Ollama is busy ({status} {text or 'queue full'})",
            retryable=True,
            after_output=after_output,
            status_code=status,
        )
    if status >= 500:
        # Load timeouts and unknown 500s may pass on a retry; the permanent ones below cannot
        # (the same request fails the same way), so they get one attempt and the server's text.
        permanent = is_permanent_500(text)
        return ProviderError(
            "server",
            f"Ollama server error ({status}): {text}"
            + (" (not retried: the same request would fail the same way)" if permanent else ""),
            retryable=not permanent,
            after_output=after_output,
            status_code=status,
        )
    return ProviderError(
        "bad_request",
        f"Ollama rejected the request ({status}): {text}",
        after_output=after_output,
        status_code=status,
    )


# 500s that a retry cannot fix, each from where ollama/ollama produces it:
PERMANENT_500 = (
    # api/types.go (*Options).FromMap: `option "temperature" must be of type float32`, and
    # `... must be of an array of strings`; handleScheduleError sends it as a 500.
    re.compile(r'option "[^"]+" must be of'),
    # llama/llama.go and runner: "loras are not yet implemented" and the like.
    re.compile(r"not yet implemented|not supported", re.I),
    # The runner's load of a model file it cannot read: the same file fails the same way.
    re.compile(r"error loading model|unable to load model|failed to load model", re.I),
    # Not here: "model requires more system memory" (llm/server.go NewLlamaServer) passes once
    # another model unloads, and "llama runner process has terminated" (llm/server.go
    # WaitUntilRunning) once the scheduler starts a new runner: both take the normal retries.
)


def is_permanent_500(text: str) -> bool:
    """Whether a 500's text says the request itself cannot succeed (type errors in options,
    unimplemented features, a model that fails to load): retrying only repeats the failure."""
    return any(p.search(text) for p in PERMANENT_500)


def map_error(
    exc: BaseException,
    *,
    host: str,
    model: str = "",
    route: str = "/api/chat",
    after_output: bool = False,
    read_timeout_s: float | None = None,
    connect_timeout_s: float | None = None,
) -> ProviderError:
    """Turn anything ollama-python / httpx / pydantic raise into one ProviderError."""
    import httpx
    import ollama
    import pydantic

    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, ollama.ResponseError):
        return _response_error(exc, host, model, route, after_output)
    if isinstance(exc, ollama.RequestError):
        return ProviderError("bad_request", f"invalid request to Ollama: {exc}", after_output=after_output)
    server = f"Ollama at {host}"
    if isinstance(exc, httpx.ReadTimeout):
        secs = f"{read_timeout_s:g} s" if read_timeout_s else "the read timeout"
        if after_output:
            msg = f"the Ollama stream stalled: no data for {secs}; output is incomplete"
        else:
            msg = f"Ollama sent nothing for {secs} (model still loading, or stuck)"
        return ProviderError("timeout", msg, retryable=True, after_output=after_output)
    mapped = transport_error(
        exc,
        server=server,
        url_name=f"Ollama host {host}",
        after_output=after_output,
        connect_timeout_s=connect_timeout_s,
    )
    if mapped is not None:
        return mapped
    if isinstance(exc, httpx.TransportError):
        return ProviderError(
            "dropped",
            f"transport error talking to {server}: {exc!r}",
            retryable=True,
            after_output=after_output,
        )
    if isinstance(exc, ConnectionError):
        # ollama-python turns httpx.ConnectError into this builtin for non-streamed calls; a raw
        # reset after output (not seen through httpx, but cheap to cover) is a drop, not a connect.
        return dropped(exc, server, True) if after_output else unreachable(exc, server)
    if isinstance(exc, json.JSONDecodeError):
        return ProviderError(
            "protocol", f"Ollama at {host} sent a line that is not JSON ({exc.msg})", after_output=after_output
        )
    if isinstance(exc, pydantic.ValidationError):
        return ProviderError(
            "protocol",
            f"Ollama at {host} sent a reply of an unexpected shape ({exc.error_count()} field errors)",
            after_output=after_output,
        )
    if isinstance(exc, httpx.HTTPError):
        return ProviderError("protocol", f"unexpected reply from Ollama at {host}: {exc!r}", after_output=after_output)
    raise TypeError(f"not an Ollama failure: {exc!r}") from exc


def _caught() -> tuple[type[BaseException], ...]:
    """Everything the client is known to raise (each reproduced in tests/test_ollama_provider.py)."""
    import httpx
    import ollama
    import pydantic

    return (
        ollama.ResponseError,
        ollama.RequestError,
        ConnectionError,
        httpx.HTTPError,
        json.JSONDecodeError,
        pydantic.ValidationError,
    )


# -- warnings --------------------------------------------------------------------------------


def truncation_warnings(
    *,
    done_reason: str | None,
    prompt_eval_count: int | None,
    messages: list[dict[str, Any]],
    options: dict[str, Any],
) -> tuple[str, ...]:
    """What the user should know about a complete answer that may still be cut.

    Ollama answers an over-long prompt with 200 after silently dropping its start to fit
    `num_ctx` (ollama issues #8099, #10368). There is no flag for it, so it is inferred: the
    evaluated prompt filled the window, or it is far shorter than the text sent although that
    text cannot fit. Without an explicit `num_ctx` the window is unknown and nothing is inferred.
    A small count alone proves nothing: Ollama does not count a cached prompt prefix again.
    """
    out: list[str] = []
    if done_reason == "length":
        limit = options.get("num_predict")
        why = f"num_predict={limit}" if limit is not None else "num_predict or the context window"
        out.append(f"output truncated: the model stopped at the token limit ({why})")
    num_ctx = options.get("num_ctx")
    if isinstance(num_ctx, int) and num_ctx > 0 and prompt_eval_count is not None:
        estimate = sum(len(str(m.get("content") or "")) for m in messages) // CHARS_PER_TOKEN
        margin = max(16, num_ctx // 50)
        if prompt_eval_count >= num_ctx - margin:
            out.append(
                f"prompt may be truncated: it used {prompt_eval_count} of num_ctx={num_ctx} "
                "tokens, and Ollama silently drops the start of a prompt that does not fit; "
                "raise num_ctx or shorten the prompt"
            )
        elif estimate > num_ctx * 1.25 and prompt_eval_count < estimate // 2:
            out.append(
                f"prompt probably truncated: it looks like ~{estimate} tokens but Ollama "
                f"evaluated {prompt_eval_count} (num_ctx={num_ctx}); raise num_ctx or shorten it"
            )
    return tuple(out)


def _ms(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e6


# -- thinking --------------------------------------------------------------------------------

# Ollama 0.12.4 turned thinking on by default for models with the "thinking" capability
# (server/routes.go ChatHandler: `if req.Think == nil { req.Think = &api.ThinkValue{Value:
# true} }`, commit 90d429f5a), so their reasoning arrives in `message.thinking`. Before it, a
# request without `think` got the raw `<think>…</think>` in `message.content`.
THINK_DEFAULT_SINCE = (0, 12, 4)
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """`0.12.4` / `v0.12.4-rc7` -> (0, 12, 4); None for a dev build's `0.0.0` or garbage."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", (text or "").strip())
    if not match:
        return None
    version = tuple(int(x) for x in match.groups())
    return None if version == (0, 0, 0) else version  # type: ignore[return-value]


class ThinkSplitter:
    """`<think>…</think>` at the start of content -> (thinking, answer), as it streams.

    A port of ollama thinking/parser.go (Parser.AddContent / eat): the opening tag counts only
    after leading whitespace, whitespace right after either tag is eaten, a partial tag is held
    back until it is told apart. Used for servers older than THINK_DEFAULT_SINCE, so evals
    score the answer and not the reasoning."""

    def __init__(self) -> None:
        self.state = "opening"  # opening | eat-start | thinking | eat-end | done
        self.acc = ""

    def add(self, content: str) -> tuple[str, str]:
        self.acc += content
        thinking, answer = [], []
        while True:
            t, a, again = self._eat()
            thinking.append(t)
            answer.append(a)
            if not again:
                return "".join(thinking), "".join(answer)

    def flush(self) -> tuple[str, str]:
        """What is still held back when the stream ends (an unfinished tag is text)."""
        rest, self.acc = self.acc, ""
        if self.state == "thinking":
            return rest, ""
        return "", rest if self.state in ("opening", "done") else rest.lstrip()

    def _eat(self) -> tuple[str, str, bool]:
        acc = self.acc
        if self.state == "opening":
            trimmed = acc.lstrip()
            if trimmed.startswith(THINK_OPEN):
                after = trimmed[len(THINK_OPEN) :].lstrip()
                self.acc = after
                self.state = "thinking" if after else "eat-start"
                return "", "", True
            if THINK_OPEN.startswith(trimmed):  # a partial tag, or only whitespace so far
                return "", "", False
            self.state, self.acc = "done", ""
            return "", acc, False  # no tag: the content as it came, whitespace included
        if self.state == "eat-start":
            trimmed, self.acc = acc.lstrip(), ""
            if not trimmed:
                return "", "", False
            self.state, self.acc = "thinking", trimmed
            return "", "", True
        if self.state == "thinking":
            if THINK_CLOSE in acc:
                thought, rest = acc.split(THINK_CLOSE, 1)
                rest = rest.lstrip()
                self.acc = ""
                self.state = "done" if rest else "eat-end"
                return thought, rest, False
            keep = next((n for n in range(min(len(THINK_CLOSE), len(acc)), 0, -1) if acc.endswith(THINK_CLOSE[:n])), 0)
            self.acc = acc[len(acc) - keep :] if keep else ""
            return acc[: len(acc) - keep], "", False
        if self.state == "eat-end":
            trimmed, self.acc = acc.lstrip(), ""
            if trimmed:
                self.state = "done"
            return "", trimmed, False
        self.acc = ""
        return "", acc, False


_VERSIONS: dict[str, tuple[int, int, int] | None] = {}  # host -> parsed /api/version, per process


async def server_version(host: str, timeout_s: float = 2.0) -> tuple[int, int, int] | None:
    """The server's version, asked once per host per process (a failed ask is not kept)."""
    if host not in _VERSIONS:
        text = await probe(host, timeout_s=timeout_s)
        if text is None:
            return None
        _VERSIONS[host] = parse_version(text)
    return _VERSIONS[host]


def think_value(setting: Any) -> bool | None:
    """workbench.yaml's `model.think` as sent: True/False explicitly, None ("auto") sends none.

    Why auto sends nothing: since 0.12.4 the server itself turns thinking on for models with the
    "thinking" capability and off for the rest (ChatHandler), while `think: true` to a model
    without it is a 400 ("does not support thinking"); leaving it out is right for every model."""
    if setting is True or setting is False:
        return setting
    return {"true": True, "false": False}.get(str(setting).lower())


# -- model identity ----------------------------------------------------------------------------


_TLS: list[Any] = []  # the default ssl.SSLContext, built once per process (see _tls)


def _tls() -> Any:
    """httpx's default TLS context (certifi, or SSL_CERT_FILE/DIR), made once and shared.

    A short-lived `httpx.AsyncClient` builds this on every construction (~20 ms of CPU loading
    the CA bundle, even for an http:// host), and the identity lookup runs once per answer:
    that alone was ~60 us per token of a 400-token answer. Passing the same context is what
    httpx would build anyway."""
    if not _TLS:
        import httpx

        _TLS.append(httpx.create_ssl_context())
    return _TLS[0]


def _full_name(name: str) -> str:
    """Ollama's normalisation as far as /api/tags lists names: no tag means `:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


async def model_identity(host: str | None, model: str, *, timeout_s: float = 5.0) -> ModelIdentity:
    """The digest of the weights `model` names on the server now (GET /api/tags: one cheap
    request that lists every model with its `digest` and `modified_at`). Unknown (digest None)
    when the server does not answer or does not have the model."""
    import httpx

    try:
        async with httpx.AsyncClient(base_url=resolve_host(host), timeout=timeout_s, verify=_tls()) as client:
            return await _listed_identity(client, model, timeout_s)
    except (httpx.HTTPError, OSError):  # closing the client
        return ModelIdentity(None)


async def _listed_identity(client: Any, model: str, timeout_s: float) -> ModelIdentity:
    """model_identity through an open httpx.AsyncClient whose base_url is the server."""
    import httpx

    try:
        reply = await client.get("/api/tags", timeout=timeout_s)
        models = (reply.json().get("models") or []) if reply.status_code == 200 else []
    except (httpx.HTTPError, OSError, ValueError, AttributeError):
        return ModelIdentity(None)
    wanted = _full_name(model)
    for entry in models:
        if not isinstance(entry, dict) or _full_name(str(entry.get("model") or entry.get("name") or "")) != wanted:
            continue
        digest = entry.get("digest")
        details: Any = entry.get("details")
        if not isinstance(details, dict):
            details = {}
        return ModelIdentity(
            digest if isinstance(digest, str) and digest else None,
            quantization=details.get("quantization_level"),
            modified_at=str(entry.get("modified_at") or "") or None,
        )
    return ModelIdentity(None)


# -- the provider ----------------------------------------------------------------------------


class OllamaProvider:
    """A model served by Ollama, streamed through the official async client."""

    def __init__(
        self,
        model: str,
        host: str | None = None,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float | None = None,
        think: Any = "auto",
    ) -> None:
        self.model = model
        self.think = think_value(think)  # None: not sent (see think_value)
        self.host = resolve_host(host)
        self.name = f"ollama:{model}"
        self.connect_timeout_s = connect_timeout_s
        # None = wait forever between bytes (the client's default): the first byte only comes
        # after model load and prompt evaluation, so the resilience layer's deadlines are the
        # right place to bound it. Set this for a hard per-read limit at the socket.
        self.read_timeout_s = read_timeout_s
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OllamaProvider({self.model!r}, host={self.host!r})"

    def _client_for_loop(self) -> Any:
        """The AsyncClient, made on first use and again for a new event loop.

        httpx connections belong to the loop that opened them; a provider reused across
        `asyncio.run` calls (CLI, tests) must not hand an old loop's pool to a new one.
        """
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            import httpx
            import ollama

            timeout = httpx.Timeout(
                connect=self.connect_timeout_s,
                read=self.read_timeout_s,
                write=self.read_timeout_s,
                pool=self.connect_timeout_s,
            )
            self._client = ollama.AsyncClient(host=self.host, timeout=timeout, verify=_tls())
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connection pool (optional; connections also close with the loop)."""
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = None
        self._client_loop = None

    async def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Ollama has no tokenize endpoint: counts only come back with an answer."""
        return None

    async def identity(self, adapter: str | None = None) -> ModelIdentity:
        """The digest of the weights this name points at on the server now (see model_identity).

        Asked after every answer, so it goes through the chat's own connection pool: a client
        of its own per answer cost a TCP connect and teardown each time (~0.7 ms of CPU)."""
        pool = getattr(self._client_for_loop(), "_client", None)  # ollama-python's httpx client
        if pool is None:
            return await model_identity(self.host, self.model, timeout_s=self.connect_timeout_s)
        return await _listed_identity(pool, self.model, self.connect_timeout_s)

    def _map(self, exc: BaseException, after_output: bool) -> ProviderError:
        return map_error(
            exc,
            host=self.host,
            model=self.model,
            route="/api/chat",
            after_output=after_output,
            read_timeout_s=self.read_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Token/Thinking events, then one Final; or one ProviderError.

        Closing this generator early (aclose, or cancellation) closes the HTTP response, which
        makes Ollama stop generating.
        """
        if request.adapter:
            raise ProviderError(
                "bad_request",
                f"{self.name} cannot apply a LoRA adapter per request; export the adapter to "
                "Ollama as its own model (fine-tune export), or use the embedded model",
            )
        import pydantic

        caught = _caught()
        client = self._client_for_loop()
        options = dict(request.options)
        try:
            parts = await client.chat(
                model=self.model,
                messages=list(request.messages),
                options=options or None,
                format=request.format,
                think=self.think,
                stream=True,
            )
        except pydantic.ValidationError as exc:  # our request failed the client's own model
            raise ProviderError("bad_request", f"invalid request for Ollama: {exc}") from exc
        except caught as exc:
            raise self._map(exc, False) from exc

        after_output = False
        final: Any = None
        # Content is read through a ThinkSplitter until it is clear whether it opens with
        # <think>; only then is the server's version asked (once per host), and only a server
        # older than 0.12.4 gets the tags split out. Other answers pass through unchanged.
        splitter: ThinkSplitter | None = ThinkSplitter()
        try:
            try:
                async for part in parts:
                    message = part.message
                    if message.thinking:
                        after_output = True
                        splitter = None  # the server splits thinking itself
                        yield Thinking(message.thinking)
                    content = message.content or ""
                    if content and splitter is not None:
                        held = splitter.acc + content
                        thought, content = splitter.add(content)
                        if splitter.state == "opening":
                            continue  # still ambiguous (whitespace or a partial "<think>")
                        if splitter.state != "done" or thought:
                            version = await server_version(self.host, self.connect_timeout_s)
                            if version is None or version >= THINK_DEFAULT_SINCE:
                                splitter, thought, content = None, "", held
                        else:
                            splitter = None  # no tag at the start: never one later
                        if thought:
                            after_output = True
                            yield Thinking(thought)
                    if content:
                        after_output = True
                        yield Token(content)
                    if part.done:
                        final = part  # keep reading: the server ends the stream right after
            except caught as exc:
                raise self._map(exc, after_output) from exc
            if splitter is not None:  # the stream ended while a tag was still undecided
                thought, content = splitter.flush()
                if thought:
                    yield Thinking(thought)
                if content:
                    yield Token(content)
        finally:
            # On aclose()/cancel this exits the client's `async with stream(...)`, which closes
            # the response and, with it, the connection Ollama is generating into.
            await parts.aclose()

        if final is None:
            raise ProviderError(
                "incomplete",
                "stream ended without its final chunk: output is incomplete"
                + ("" if after_output else " (nothing was generated)"),
                after_output=after_output,
            )
        yield Final(
            model=final.model or self.model,
            done_reason=final.done_reason,
            prompt_tokens=final.prompt_eval_count,
            completion_tokens=final.eval_count,
            load_ms=_ms(final.load_duration),
            prompt_eval_ms=_ms(final.prompt_eval_duration),
            eval_ms=_ms(final.eval_duration),
            warnings=truncation_warnings(
                done_reason=final.done_reason,
                prompt_eval_count=final.prompt_eval_count,
                messages=list(request.messages),
                options=options,
            ),
        )


# -- server-level helpers ----------------------------------------------------------------------


async def probe(host: str | None = None, timeout_s: float = 1.0) -> str | None:
    """The server's version, or None if nothing answers like Ollama within `timeout_s`.

    Cheap on purpose (one GET /api/version, no `import ollama`): the TUI header and the
    fallback decision call it before anything else.
    """
    import httpx

    base = resolve_host(host)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=timeout_s, verify=_tls()) as client:
            reply = await asyncio.wait_for(client.get("/api/version"), timeout_s)
        if reply.status_code != 200:
            return None
        version = reply.json().get("version")
        return str(version) if version else None
    except (TimeoutError, httpx.HTTPError, OSError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class OllamaModel:
    """One model from /api/tags."""

    name: str
    size_bytes: int | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    modified_at: str | None = None


async def list_models(host: str | None = None, *, timeout_s: float = 5.0) -> list[OllamaModel]:
    """Models the server has pulled (GET /api/tags), raising ProviderError on failure."""
    import httpx
    import ollama

    base = resolve_host(host)
    try:
        async with ollama.AsyncClient(host=base, timeout=httpx.Timeout(timeout_s), verify=_tls()) as client:
            reply = await client.list()
    except _caught() as exc:
        raise map_error(exc, host=base, route="/api/tags", connect_timeout_s=timeout_s) from exc
    out = []
    for m in reply.models:
        d = m.details
        out.append(
            OllamaModel(
                name=m.model or "",
                size_bytes=int(m.size) if m.size is not None else None,
                family=d.family if d else None,
                parameter_size=d.parameter_size if d else None,
                quantization=d.quantization_level if d else None,
                modified_at=m.modified_at.isoformat() if m.modified_at else None,
            )
        )
    return out
