"""pytest fixtures for the Ollama stand-in (tests/ollama_standin.py).

`ollama_standin` is a fresh, started server per test (starting one costs a few milliseconds,
so tests never share request logs or settings); it is stopped, with every connection cut and
every thread joined, when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ollama_standin import OllamaStandin, closed_port_url


@pytest.fixture
def ollama_standin() -> Iterator[OllamaStandin]:
    """A started stand-in: `.url`, `.host`, `.configure(**kw)`, `.reset()`, `.requests`."""
    with OllamaStandin() as standin:
        yield standin
    assert not standin.server_errors, f"stand-in raised: {standin.server_errors!r}"


@pytest.fixture
def ollama_host_env(ollama_standin: OllamaStandin, monkeypatch: pytest.MonkeyPatch) -> OllamaStandin:
    """The stand-in, with OLLAMA_HOST pointing at it (for code that resolves the host itself)."""
    monkeypatch.setenv("OLLAMA_HOST", ollama_standin.host)
    return ollama_standin


@pytest.fixture
def ollama_nothing_listening() -> str:
    """An http://127.0.0.1:PORT address where nothing listens."""
    return closed_port_url()
