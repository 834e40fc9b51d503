"""The top line: project, model with its live state, active variant.

The model state is the first thing a user needs when an answer is slow or odd ("is Ollama even
up?"), so it is probed right after the first paint, in a worker, with a one-second timeout, and
updated again whenever a generation reports a fallback. Host names are not shown: they leak into
screenshots and add nothing the user does not know.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

STATE_CLASSES = ("-ok", "-degraded", "-down", "-checking")


def describe_state(model_spec: str, fallback: list[str], version: str | None, probed: bool) -> tuple[str, str]:
    """(text, css class) for the model part of the header. Pure, so tests can pin the wording."""
    if model_spec == "embedded":
        return "embedded · in-process", "-ok"
    if not probed:
        return f"{model_spec} · checking Ollama…", "-checking"
    if version:
        return f"{model_spec} · Ollama v{version} reachable", "-ok"
    if fallback:
        return f"{model_spec} · Ollama unreachable → falling back to {fallback[0]}", "-degraded"
    return f"{model_spec} · Ollama unreachable, no fallback configured", "-down"


# Shorter words for the same state, used when the full line does not fit (80 columns with a
# fallback note): the model, the state and the fallback model must all stay readable.
_COMPACT = (
    (" · Ollama unreachable → falling back to ", " unreachable → "),
    (", no fallback configured", ", no fallback"),
    (" · falling back to ", " → "),
    (" · fell back to ", " fell back → "),
    (" · checking Ollama…", " · checking…"),
    (" reachable", ""),
)


def compact_state(text: str) -> str:
    """`ollama:llama3.2 unreachable → ollama:qwen2.5:0.5b`: the header's state in fewer words."""
    for long, short in _COMPACT:
        text = text.replace(long, short)
    return text


class WorkbenchHeader(Horizontal):
    """Project · model + state · variant, one line."""

    variant_label: reactive[str] = reactive("base", init=False)

    def __init__(self, project: Any, *, probe_on_mount: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.probe_on_mount = probe_on_mount
        self.version: str | None = None
        self.probed = False
        self.state_text = ""

    def _state(self) -> tuple[str, str]:
        config = self.project.config
        return describe_state(config.model.spec, list(config.fallback), self.version, self.probed)

    def compose(self) -> ComposeResult:
        text, state = self._state()
        self.state_text = text
        yield Static(self.project.name, id="hdr-project", markup=False)
        yield Static(text, id="hdr-model", classes=state, markup=False)
        yield Static(f"variant: {self.variant_label}", id="hdr-variant", markup=False)

    def on_mount(self) -> None:
        if self.probe_on_mount and self.project.config.model.spec != "embedded":
            self.call_after_refresh(self.probe)

    @work(exclusive=True, group="probe", exit_on_error=False)
    async def probe(self) -> None:
        """Ask Ollama for its version (GET /api/version, 1 s) and show the answer.

        The client library (ollama, httpx, pydantic: ~100 ms) is imported in a thread, so the
        event loop keeps handling keys while it loads.
        """
        module = await asyncio.to_thread(importlib.import_module, "workbench.core.llm.ollama")
        from workbench.core.config import endpoint_for

        config = self.project.config
        # With `hosts`, the model is reachable when any of them answers (llm/hosts.py HostPool).
        urls = [h.url for h in endpoint_for(config, config.model.spec).hosts] or [config.model.host]
        for url in urls:
            self.version = await module.probe(url, timeout_s=1.0)
            if self.version:
                break
        self.probed = True
        self._show_state()

    def _show_state(self) -> None:
        self.set_model_state(*self._state())

    def set_model_state(self, text: str, state: str) -> None:
        """Show `text` with one of STATE_CLASSES (a live fallback seen during a call, say)."""
        model = self.query_one("#hdr-model", Static)
        self.state_text = text
        self._fit()
        model.remove_class(*STATE_CLASSES)
        model.add_class(state)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """The full state when it fits the space left by project and variant, else compact."""
        model = self.query_one("#hdr-model", Static)
        room = model.content_region.width
        model.update(self.state_text if not room or len(self.state_text) <= room else compact_state(self.state_text))

    def watch_variant_label(self, label: str) -> None:
        self.query_one("#hdr-variant", Static).update(f"variant: {label}")
