"""Command palette provider: the workbench's key bindings active now, tabs, and themes.

The palette is how a keyboard user discovers what the footer has no room for at 80 columns:
each active Binding appears with its description, key and tooltip, so a binding added anywhere
shows up here with no extra registration.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


class WorkbenchCommands(Provider):
    """The workbench's own bindings on the focused widget and its ancestors (not the cursor keys
    of Textual's text boxes and tables), tab switches, and theme choices."""

    def _commands(self) -> Iterator[tuple[str, Any, str]]:
        screen = self.screen
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or not active.enabled:
                continue
            if not type(active.node).__module__.startswith("workbench.") or binding.action.startswith("show_tab"):
                continue  # a text box's cursor keys are not commands; tabs are listed below
            name = f"{binding.description} ({self.app.get_key_display(binding)})"
            if binding.action in seen:
                continue
            seen.add(binding.action)
            help_text = binding.tooltip or binding.description
            yield name, partial(self._run, active.node, binding.action), help_text
        app: Any = self.app
        yield from self._other_tabs(app, seen)
        for spec in getattr(app, "tab_specs", ()):
            yield (
                f"Go to {spec.title} tab ({spec.key})",
                partial(app.run_action, f"show_tab('{spec.id}')"),
                f"Show the {spec.title} tab",
            )
        catalog = getattr(app, "theme_catalog", None)  # theme files, listed by name unread
        for theme_name in catalog.names() if catalog is not None else ():
            if theme_name.startswith("workbench-") or theme_name in getattr(app, "user_theme_names", ()):
                yield (
                    f"Theme: {theme_name}",
                    partial(app.switch_theme, theme_name),
                    "Switch to this theme (remembered for next time)",
                )

    def _other_tabs(self, app: Any, seen: set[str]) -> Iterator[tuple[str, Any, str]]:
        """Every other tab's actions, named after their tab ('Evals: Run (^r)'): choosing one
        shows that tab, then acts there, so the palette really lists every action."""
        import importlib

        from textual.widgets import TabbedContent

        try:
            active = app.query_one("#tabs", TabbedContent).active
        except Exception:  # noqa: BLE001 - under another screen stack: no tabs to list
            return
        for spec in getattr(app, "tab_specs", ()):
            if f"tab-{spec.id}" == active:
                continue  # its bindings are listed above, as active now
            try:
                cls = getattr(importlib.import_module(spec.module), spec.class_name)
            except (ImportError, AttributeError):
                continue
            for binding in getattr(cls, "BINDINGS", ()):
                if not getattr(binding, "description", "") or binding.action in ("cancel",):
                    continue
                name = f"{spec.title}: {binding.description} ({app.get_key_display(binding)})"
                if name in seen:
                    continue
                seen.add(name)
                yield (name, partial(self._run_in_tab, spec.id, binding.action), binding.tooltip or binding.description)

    async def _run_in_tab(self, tab_id: str, action: str) -> None:
        app: Any = self.app
        await app.run_action(f"show_tab('{tab_id}')")
        tab = app.query_one(f"#{tab_id}-tab")
        app.call_after_refresh(tab.run_action, action)

    async def _run(self, node: Any, action: str) -> None:
        await node.run_action(action)

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
