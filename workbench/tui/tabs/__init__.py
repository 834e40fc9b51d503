"""The tabs of the workbench, and how the app finds them.

Each tab is one widget class in its own module, built as `TabClass(project, id=...)`, where
`project` is a `workbench.core.project.Project`. The app imports a tab's module only when the tab
is first shown, so a tab that needs heavy libraries costs nothing at start-up. A module that
does not exist yet (a tab still being written) gets a placeholder pane that says what it will
show: adding a tab means creating `workbench/tui/tabs/<id>.py` with the class named below, and
nothing else.

Tab widgets should: keep slow work in named workers (`@work(group=...)`), show model and document
text only as literal text (`rich.text.Text(terminal_safe(s))` or `markup=False`), give every
Binding an `id`, a description and a tooltip, and fit 80x24.
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
