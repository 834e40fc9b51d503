"""The tabs of the workbench, and how the app finds them.

Details: docs/NOTES.md, section tui/tabs/__init__.py.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TabSpec:
    """One tab: its pane id suffix, title, the module and class that build it, its key."""

    id: str
    title: str
    module: str
    class_name: str
    key: str


TABS: tuple[TabSpec, ...] = (
    TabSpec("prompt", "Prompt", "workbench.tui.tabs.prompt", "PromptTab", "f1"),
    TabSpec("retrieval", "Retrieval", "workbench.tui.tabs.retrieval", "RetrievalTab", "f2"),
    TabSpec("evals", "Evals", "workbench.tui.tabs.evals", "EvalsTab", "f3"),
    TabSpec("finetune", "Fine-tune", "workbench.tui.tabs.finetune", "FinetuneTab", "f4"),
    TabSpec("runs", "Runs", "workbench.tui.tabs.runs", "RunsTab", "f5"),
)


def pane_id(spec: TabSpec) -> str:
    return f"tab-{spec.id}"


def build_tab(spec: TabSpec, project: Any) -> Any:
    """The tab's widget, or its placeholder when the tab's module is not in this build."""
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name != spec.module:
            raise
        from workbench.tui.tabs.placeholders import placeholder_for

        return placeholder_for(spec, project)
    return getattr(module, spec.class_name)(project, id=f"{spec.id}-tab")
