"""One Input per template variable (except {context}, which retrieval fills).

Rebuilt only when the set of variable names changes, and values typed so far are kept across
rebuilds, so editing the template never throws away the question being worked on.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label

from workbench.core.prompts import CONTEXT_VARIABLE


class VariablesForm(Vertical):
    """Label + Input pairs; `values()` gives what the template should be rendered with."""

    def __init__(self, names: list[str] | None = None, defaults: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names = [n for n in names or [] if n != CONTEXT_VARIABLE]
        self._values: dict[str, str] = dict(defaults or {})

    def compose(self) -> ComposeResult:
        yield from self._fields()

    def _fields(self) -> list[Any]:
        widgets: list[Any] = []
        for name in self.names:
            widgets.append(Label(name, classes="var-label", markup=False))
            widgets.append(
                Input(
                    value=self._values.get(name, ""),
                    name=name,
                    id=f"var-{name}",
                    placeholder=f"{{{name}}}",
                    compact=True,
                    classes="var-input",
                )
            )
        if not self.names:
            widgets.append(Label("(this template has no variables)", classes="var-label", markup=False))
        return widgets

    def values(self) -> dict[str, str]:
        for field in self.query(Input):
            self._values[field.name or ""] = field.value
        return {n: self._values.get(n, "") for n in self.names}

    async def set_variables(self, names: list[str], defaults: dict[str, str] | None = None) -> bool:
        """Show inputs for `names` (minus {context}); returns True when the form changed."""
        wanted = [n for n in names if n != CONTEXT_VARIABLE]
        if wanted == self.names:
            return False
        self.values()  # remember what was typed
        for key, value in (defaults or {}).items():
            self._values.setdefault(key, value)
        self.names = wanted
        await self.remove_children()
        await self.mount_all(self._fields())
        return True

    def first_input(self) -> Input | None:
        inputs = list(self.query(Input))
        return inputs[0] if inputs else None
