"""Model specs (`ollama:NAME`, `openai:NAME`, `embedded`) -> provider objects, and the fallback
chain. A spec whose endpoint lists several hosts becomes one HostPool over them (llm/hosts.py).

Provider modules are imported here on demand: the embedded one pulls in torch, which a user who
only talks to Ollama should never pay for.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from typing import Any

from workbench.core.config import Config, endpoint_for, validate_model_spec
from workbench.core.errors import WorkbenchError
from workbench.core.llm.base import ChatRequest, Event, Provider, ProviderError

_OLLAMA_PROVIDERS: dict[tuple[Any, ...], Provider] = {}


def make_provider(spec: str, config: Config) -> Provider:
    """One provider for a model spec, using the project's host and connect timeout."""
    try:
        validate_model_spec(spec)
    except ValueError as exc:
        raise WorkbenchError(str(exc), field="model") from None
    if spec == "embedded":
        from workbench.core.llm.embedded import EmbeddedProvider

        return EmbeddedProvider()
    endpoint = endpoint_for(config, spec)
    # Reused, not rebuilt per call: a new HTTP client costs milliseconds, and a host pool's
    # outstanding counts and down marks must be shared by every generation in this process (an
    # eval's cases, `ask`, both A/B panes: tests/test_hosts_generations.py). OLLAMA_HOST is in
    # the key: a model with no host of its own resolves it when its provider is made.
    key = (
        spec,
        config.model.host,
        os.environ.get("OLLAMA_HOST"),
        endpoint,
        config.timeouts.connect_s,
        str(config.model.think),
    )
    if key not in _OLLAMA_PROVIDERS:
        default = config.model.host if spec.startswith("ollama:") else None  # model.host is Ollama's
        hosts = endpoint.hosts
        if len(hosts) <= 1:
            url = hosts[0].url if hosts else default
            _OLLAMA_PROVIDERS[key] = _one_host(spec, url, endpoint.api_key_env, config)
        else:
            from workbench.core.llm.hosts import HostPool

            _OLLAMA_PROVIDERS[key] = HostPool(
                spec, [(h.url, h.concurrency, _one_host(spec, h.url, endpoint.api_key_env, config)) for h in hosts]
            )
    return _OLLAMA_PROVIDERS[key]


def _one_host(spec: str, url: str | None, api_key_env: str | None, config: Config) -> Provider:
    kind, name = spec.split(":", 1)
    if kind == "openai":
        from workbench.core.llm.openai_compat import OpenAIProvider

        if not url:
            raise WorkbenchError(
                f"{spec} needs base_url (the server's URL, e.g. http://127.0.0.1:8000/v1) in workbench.yaml",
                field="model.base_url",
            )
        return OpenAIProvider(name, url, api_key_env=api_key_env, connect_timeout_s=config.timeouts.connect_s)
    from workbench.core.llm.ollama import OllamaProvider

    return OllamaProvider(name, host=url, connect_timeout_s=config.timeouts.connect_s, think=config.model.think)


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

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
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
