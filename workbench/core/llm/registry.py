"""Model specs (`ollama:NAME`, `embedded`) -> provider objects, and the fallback chain.

Provider modules are imported here on demand: the embedded one pulls in torch, which a user who
only talks to Ollama should never pay for.
"""

from __future__ import annotations

from workbench.core.config import Config, validate_model_spec
from workbench.core.errors import WorkbenchError
from typing import AsyncIterator

from workbench.core.llm.base import ChatRequest, Event, Provider, ProviderError


_OLLAMA_PROVIDERS: dict[tuple, Provider] = {}


def make_provider(spec: str, config: Config) -> Provider:
    """One provider for a model spec, using the project's host and connect timeout."""
    try:
        validate_model_spec(spec)
    except ValueError as exc:
        raise WorkbenchError(str(exc), field="model") from None
    if spec == "embedded":
        from workbench.core.llm.embedded import EmbeddedProvider

        return EmbeddedProvider()
    key = (spec, config.model.host, config.timeouts.connect_s, str(config.model.think))
    if key not in _OLLAMA_PROVIDERS:  # reuse: a new HTTP client per call costs milliseconds
        from workbench.core.llm.ollama import OllamaProvider

        _OLLAMA_PROVIDERS[key] = OllamaProvider(
            spec.split(":", 1)[1],
            host=config.model.host,
            connect_timeout_s=config.timeouts.connect_s,
            think=config.model.think,
        )
    return _OLLAMA_PROVIDERS[key]


def chain_specs(config: Config, model: str | None = None) -> list[str]:
    """The ordered model specs to try: the requested (or configured) model, then the fallbacks.

    Asking for `embedded` explicitly means exactly that: no fallback to a server.
    """
    first = model or config.model.spec
    if first == "embedded" and model:
        return ["embedded"]
    specs = [first]
    for spec in config.fallback:
        if spec not in specs:
            specs.append(spec)
    return specs


class UnavailableProvider:
    """Stands in for a provider that could not even be constructed (e.g. a missing package),
    so the chain records the reason and moves on instead of crashing."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        raise ProviderError("unavailable", self.reason)
        yield  # pragma: no cover - makes this an async generator

    async def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return None


def make_provider_or_placeholder(spec: str, config: Config) -> Provider:
    """Like make_provider, but a construction failure becomes an UnavailableProvider."""
    try:
        return make_provider(spec, config)
    except WorkbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - an ImportError or a broken install
        return UnavailableProvider(spec, f"{spec} cannot start here: {type(exc).__name__}: {exc}")
