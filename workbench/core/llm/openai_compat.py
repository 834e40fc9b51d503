"""Any OpenAI-compatible chat server as a provider (vLLM, TGI, llama.cpp server, LM Studio,
Ollama's own /v1, `transformers serve`, a hosted API), spoken with httpx directly.

Details: docs/NOTES.md, section core/llm/openai_compat.py.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import re
import time
from collections.abc import AsyncGenerator
from typing import Any

from workbench.core.llm import http_errors
from workbench.core.llm.base import ChatRequest, Event, Final, ModelIdentity, ProviderError, Thinking, Token

# Ollama option name -> OpenAI chat-completions field. Anything else is not sent: strict servers
# (OpenAI itself, `transformers serve`'s 422 "Unexpected fields") refuse unknown fields.
OPTION_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "num_predict": "max_tokens",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}
# Server-side settings with no per-request field in this API: set them on the server instead.
SERVER_SIDE = {"num_ctx", "num_gpu", "num_thread", "num_batch", "main_gpu", "use_mmap", "num_keep"}
CONTEXT_LENGTH = re.compile(
    r"context[ _-]?length|maximum context|context window|too many tokens|prompt is too long"
    r"|input (is )?too long|exceeds the (model'?s? )?(max|context)",
    re.I,
)
MAX_ERROR_BODY = 4096  # bytes of an error reply read for its message


def api_key_problem(env_name: str | None) -> str | None:
    """Why the configured API key cannot be used (None when it can, or none is configured)."""
    if not env_name:
        return None
    if not os.environ.get(env_name):
        return f"the API key environment variable {env_name} (model.api_key_env) is not set"
    return None


def request_body(model: str, request: ChatRequest) -> tuple[dict[str, Any], list[str]]:
    """The JSON body for one streamed chat completion, and the options that were not sent."""
    body: dict[str, Any] = {
        "model": model,
        "messages": list(request.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    dropped = []
    for key, value in request.options.items():
        if key in OPTION_FIELDS:
            body[OPTION_FIELDS[key]] = value
        else:
            dropped.append(key)
    if request.format == "json":
        body["response_format"] = {"type": "json_object"}
    elif isinstance(request.format, dict):
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": request.format}}
    return body, dropped


def retry_after_s(headers: Any, now: float | None = None) -> float | None:
    """Seconds a 429/503 asks us to wait: `retry-after-ms` (OpenAI), else `Retry-After` as
    seconds or an HTTP date (RFC 9110 10.2.3); None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def error_text(raw: bytes) -> str:
    """The message in an error body: OpenAI/vLLM `{"error": {"message"}}`, FastAPI `{"detail"}`,
    `{"error": "..."}` or `{"message"}`; else the text itself (shortened)."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or err)[:500]
        for value in (err, data.get("detail"), data.get("message")):
            if value:
                return (value if isinstance(value, str) else json.dumps(value))[:500]
    return text[:300]


def status_error(status: int, text: str, headers: Any, *, base_url: str, model: str) -> ProviderError:
    """An HTTP error reply (before any output) -> ProviderError, by status and text."""
    where = f"the server at {base_url}"
    if status == 400 and CONTEXT_LENGTH.search(text):
        return ProviderError(
            "bad_request",
            f"the prompt does not fit the model's context window at "
            f"{base_url}: shorten the prompt or lower num_predict ({text})",
            status_code=400,
        )
    if status in (401, 403):
        what = "refused the API key" if status == 401 else "does not allow this key to use the model"
        return ProviderError(
            "auth",
            f"{where} {what} ({status}: {text}); check the key in the environment variable named by model.api_key_env",
            status_code=status,
        )
    model_named = "model" in text.lower()
    if status == 404 or (
        status == 400
        and model_named
        and re.search(r"not found|does not exist|pinned|unknown model|no such model", text, re.I)
    ):
        if status == 404 and not model_named:
            return ProviderError(
                "protocol",
                f"{where} has no /chat/completions endpoint (404: {text}): check base_url (it usually ends in /v1)",
                status_code=404,
            )
        return ProviderError(
            "not_found", f"model '{model}' is not served at {base_url} ({status}: {text})", status_code=status
        )
    if status == 429:
        wait = retry_after_s(headers)
        return ProviderError(
            "busy",
            f"{where} is rate limiting (429: {text or 'too many requests'})"
            + (f"; it asks to wait {wait:g} s" if wait is not None else ""),
            retryable=True,
            status_code=429,
            retry_after_s=wait,
        )
    if status == 503:
        return ProviderError(
            "busy",
            f"{where} is busy (503: {text or 'unavailable'})",
            retryable=True,
            status_code=503,
            retry_after_s=retry_after_s(headers),
        )
    if status >= 500 or status == 408:
        return ProviderError("server", f"{where} failed ({status}: {text})", retryable=True, status_code=status)
    return ProviderError("bad_request", f"{where} rejected the request ({status}: {text})", status_code=status)


def transport_error(exc: BaseException, *, base_url: str, after_output: bool) -> ProviderError:
    """An httpx failure -> ProviderError (connect, timeout, or a dropped stream)."""
    mapped = http_errors.transport_error(
        exc, server=base_url, url_name=f"base_url {base_url}", after_output=after_output
    )
    return mapped or http_errors.dropped(exc, base_url, after_output)


class OpenAIProvider:
    """A model behind an OpenAI-compatible /chat/completions endpoint."""

    def __init__(
        self, model: str, base_url: str, *, api_key_env: str | None = None, connect_timeout_s: float = 5.0
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.host = self.base_url  # what host pools and messages call it
        self.api_key_env = api_key_env
        self.name = f"openai:{model}"
        self.connect_timeout_s = connect_timeout_s
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never the key
        return f"OpenAIProvider({self.model!r}, base_url={self.base_url!r})"

    def _client_for_loop(self) -> Any:
        """One httpx client per event loop (connections belong to the loop that opened them)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            import httpx

            timeout = httpx.Timeout(connect=self.connect_timeout_s, read=None, write=None, pool=self.connect_timeout_s)
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
            self._client_loop = loop
        return self._client

    def _headers(self) -> dict[str, str]:
        problem = api_key_problem(self.api_key_env)
        if problem:
            raise ProviderError("auth", problem)
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return None  # no tokenize endpoint in this API: counts come back with the answer

    async def identity(self, adapter: str | None = None) -> ModelIdentity:
        """Unknown: this API names a model but publishes no digest of its weights."""
        return ModelIdentity(None)

    async def probe(self, timeout_s: float = 1.0) -> bool:
        """Whether the server answers GET /models (a host pool's re-probe)."""
        import httpx

        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s) as client:
                reply = await client.get("/models", headers=self._headers())
            return reply.status_code < 500
        except (httpx.HTTPError, OSError, ProviderError):
            return False

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Token/Thinking events then one Final, or one ProviderError. Closing early closes the
        response, which is how these servers learn to stop generating."""
        import httpx

        if request.adapter:
            raise ProviderError(
                "bad_request",
                f"{self.name} cannot apply a LoRA adapter per request; "
                "serve the adapter on the server, or use the embedded model",
            )
        body, dropped = request_body(self.model, request)
        headers = self._headers()
        client = self._client_for_loop()
        after_output = finished = False
        done_reason = model_used = None
        usage: dict[str, Any] = {}
        try:
            async with client.stream("POST", "/chat/completions", json=body, headers=headers) as reply:
                if reply.status_code != 200:
                    raw = b""
                    async for piece in reply.aiter_bytes():
                        raw += piece
                        if len(raw) >= MAX_ERROR_BODY:
                            break
                    raise status_error(
                        reply.status_code, error_text(raw), reply.headers, base_url=self.base_url, model=self.model
                    )
                unreadable = None  # an event that is not JSON: a cut if nothing follows it
                async for line in reply.aiter_lines():
                    if unreadable is not None:
                        raise ProviderError(
                            "protocol",
                            f"{self.base_url} sent an event that is not JSON: {unreadable[:80]!r}",
                            after_output=after_output,
                        )
                    if not line.startswith("data:"):
                        continue  # blank separators, `event:` and `: keep-alive` comments
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        unreadable = data
                        continue
                    if not isinstance(chunk, dict):
                        raise ProviderError(
                            "protocol",
                            f"{self.base_url} sent an event that is not an object",
                            after_output=after_output,
                        )
                    if chunk.get("error"):
                        when = "after output began" if after_output else "before any output"
                        raise ProviderError(
                            "midstream",
                            f"{self.base_url} reported an error mid-stream "
                            f"({when}): {error_text(json.dumps(chunk).encode())}",
                            after_output=after_output,
                        )
                    model_used = chunk.get("model") or model_used
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        delta = (choice or {}).get("delta") or {}
                        thought = delta.get("reasoning_content") or delta.get("reasoning")
                        if isinstance(thought, str) and thought:
                            after_output = True
                            yield Thinking(thought)
                        content = delta.get("content")
                        if isinstance(content, str) and content:
                            after_output = True
                            yield Token(content)
                        if choice.get("finish_reason"):
                            done_reason, finished = choice["finish_reason"], True
                if unreadable is not None:
                    raise httpx.RemoteProtocolError("the stream ended in the middle of an event")
        except ProviderError:
            raise
        except httpx.HTTPError as exc:
            raise transport_error(exc, base_url=self.base_url, after_output=after_output) from exc
        if not finished:
            raise ProviderError(
                "incomplete",
                "the stream ended without a finish_reason: output is "
                "incomplete" + ("" if after_output else " (nothing was generated)"),
                after_output=after_output,
            )
        warnings = []
        if done_reason == "length":
            limit = request.options.get("num_predict")
            why = f"num_predict={limit}" if limit is not None else "the server's max_tokens"
            warnings.append(f"output truncated: the model stopped at the token limit ({why})")
        ignored = sorted(k for k in dropped if k not in SERVER_SIDE)
        if ignored:
            warnings.append("not sent (no such field in the OpenAI chat API): " + ", ".join(ignored))
        yield Final(
            model=model_used or self.model,
            done_reason=done_reason,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            warnings=tuple(warnings),
        )

    async def aclose(self) -> None:
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
        self._client_loop = None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
