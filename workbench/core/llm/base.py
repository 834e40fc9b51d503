"""The one small contract every model provider speaks.

A provider turns a `ChatRequest` into an async stream of typed events. It does no retrying,
no fallback and no metering: those live once, in `resilience.py`, around any provider. A
provider's only duty on failure is to raise one `ProviderError` whose `kind` says what went
wrong and whether tokens had already been shown (`after_output`), because that decides
whether a retry is safe.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class ChatRequest:
    """What to send: chat messages plus model options (Ollama option names)."""

    messages: list[dict[str, str]]
    options: dict[str, Any] = field(default_factory=dict)
    format: str | dict[str, Any] | None = None  # "json" or a JSON schema (structured output)
    adapter: str | None = None  # path of a LoRA adapter folder (embedded provider only)


@dataclass(frozen=True)
class ModelIdentity:
    """Which weights answer: Ollama's model digest, or the embedded GGUF's hash (+ adapter).

    Stored with every generation and eval run and part of the call cache key, so a re-pulled or
    re-exported model never serves the old model's cached answers. `digest` None is unknown,
    never equal to anything (not even another unknown)."""

    digest: str | None
    quantization: str | None = None
    adapter_digest: str | None = None
    modified_at: str | None = None  # Ollama's modified_at for the name (when it was (re)made)

    @property
    def short(self) -> str:
        """`a1b2c3d4e5f6` (or `a1b2…+adapter 9f8e…`): what diffs and reports print."""
        return short_digest(self.digest)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def short_digest(digest: str | None) -> str:
    """The first 12 hex digits of a digest (`sha256:` prefix dropped); "unknown" for None."""
    if not digest:
        return "unknown"
    return "+".join(part.removeprefix("sha256:")[:12] for part in digest.split("+"))


@dataclass(frozen=True)
class Token:
    """A piece of the answer text, as it arrives."""

    text: str


@dataclass(frozen=True)
class Thinking:
    """A piece of reasoning text from a thinking model (shown apart from the answer)."""

    text: str


@dataclass(frozen=True)
class Final:
    """The end of a complete stream, with what the model reported about it.

    Counts are None when the model did not report them (None means unknown, never 0).
    """

    model: str
    done_reason: str | None = None  # "stop", "length" (truncated), ...
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    load_ms: float | None = None
    prompt_eval_ms: float | None = None
    eval_ms: float | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice:
    """Something the user should see while it happens: a retry, a fallback, a warning."""

    text: str
    level: Literal["info", "warning", "error"] = "info"


@dataclass(frozen=True)
class CallStarted:
    """The model call begins (grounding and the cache look-up are done). A live TTFT counts from
    `at` (time.monotonic() when the call began, not when a busy UI got the event), as the stored
    `ttft_ms` does, so the two agree for the same answer."""

    at: float


@dataclass(frozen=True)
class Loading:
    """A provider is loading a model in-process (seconds, once per session). Between `Loading`
    and `Loaded` the first-token deadline does not run (only the total one does): that deadline
    is set for a server's first token, and a user who tightens it for Ollama must not lose the
    embedded fallback to its one-time load. Callers see `Loading` as an info Notice and never
    see `Loaded`: `ResilientCall` translates both."""

    text: str


@dataclass(frozen=True)
class Loaded:
    """The in-process load announced by `Loading` is over; the first-token deadline starts now."""


Event = Token | Thinking | Final | Notice | Loading | Loaded

ErrorKind = Literal[
    "connect",  # nothing listening / connection refused / DNS
    "not_found",  # the model does not exist on that server
    "busy",  # 503 queue full: safe to retry before output
    "server",  # 5xx or runner crash before output
    "bad_request",  # 400: our request is wrong; retrying will not help
    "midstream",  # the server reported an error after streaming began
    "dropped",  # the connection broke mid-stream
    "protocol",  # unparseable or malformed reply
    "incomplete",  # the stream ended cleanly but without its final chunk
    "timeout",  # connect / first-token / idle / total deadline passed
    "unavailable",  # provider cannot run here (e.g. embedded model not installed)
    "auth",  # 401/403, or the API key's environment variable is not set
    "internal",  # a provider bug (not a mapped failure), recorded as that model's try
]


class ProviderError(Exception):
    """One clear failure from a provider.

    `retryable` is only a statement about the failure itself; the resilience layer also refuses
    to retry once `after_output` is true, since a re-run would silently change shown text.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retryable: bool = False,
        after_output: bool = False,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.after_output = after_output
        self.status_code = status_code
        self.retry_after_s = retry_after_s  # a 429/503's Retry-After: the wait the server asked for
        self.host: str | None = None  # set by a host pool: which of its servers failed

    def __str__(self) -> str:
        return self.message


@runtime_checkable
class Provider(Protocol):
    """A model that can stream a chat answer.

    `name` is the model spec users write (`ollama:llama3.2`, `embedded`). `stream` yields
    Token/Thinking events and ends with exactly one Final, or raises ProviderError. Closing the
    iterator early (aclose) must stop the work on the model side as soon as it can.
    """

    name: str

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]: ...

    # Optional (looked up with getattr): `async def identity(self, adapter: str | None) ->
    # ModelIdentity` names the weights that would answer; a provider without it is unknown.

    async def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Exact prompt token count if this provider can tell without running the model."""
        ...
