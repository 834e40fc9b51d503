"""The workbench app: wires the header, the tabs, the footer, the palette and the themes.

It holds no tab logic. Tabs are built from `workbench.tui.tabs.TABS`, each on first show, so a
tab's imports cost nothing until the user opens it. Worker failures from any tab end up in one
handler here (a toast, never a crash), and the theme the user picks is remembered per user.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane, Tabs
from textual.worker import Worker, WorkerState

from workbench.core.errors import WorkbenchError
from workbench.tui.header import WorkbenchHeader
from workbench.tui.screens.confirm_quit import ConfirmQuitScreen
from workbench.tui.settings import load_settings, save_setting
from workbench.tui.tabs import TABS, build_tab, pane_id
from workbench.tui.theme_files import settings_path, theme_dirs, user_themes_dir
from workbench.tui.themes import ThemeCatalog, app_variable_defaults
from workbench.tui.widgets.key_hints import KeyHints

DEFAULT_THEME = "workbench-dark"
PANE_IDS = frozenset(pane_id(spec) for spec in TABS)
# Worker groups that are runs a user started (quitting asks first), and how the dialog names them.
RUN_GROUPS = {
    "generate": "an answer",
    "eval-run": "an eval run",
    "retrieval-ingest": "an ingest",
    "ft-train": "a fine-tune",
    "ft-eval": "a fine-tune eval",
    "ft-export": "an export",
}
QUIT_WAIT_S = 5.0  # the longest a confirmed quit waits for the runs to store what they did


def _workbench_commands() -> Any:
    """The palette provider, imported when the palette first opens (textual.command is ~70 ms)."""
    from workbench.tui.commands import WorkbenchCommands

    return WorkbenchCommands


class WorkbenchScreen(Screen[None]):
    """The main screen: starts with the focus in the Prompt tab's first variable (the question),
    so a user can type at once, and so only one focus change happens before the first paint.

    Focus may only land in the tab on show. Tabs focus widgets late (after a refresh, when a
    worker finishes), and Textual's TabbedContent switches to the tab of any widget that gets
    focus: a user who pressed F2 then F3 was pulled back to Retrieval by its late focus call,
    so F3 looked ignored, and what they typed next went into a Retrieval widget. A focus call
    for a widget in a hidden tab is therefore dropped here, in one place.
    """

    AUTO_FOCUS = "#prompt-tab Input"

    def set_focus(self, widget: Widget | None, scroll_visible: bool = True, from_app_focus: bool = False) -> None:
        if widget is not None and not in_shown_tab(widget):
            return
        super().set_focus(widget, scroll_visible, from_app_focus)


class WorkbenchTabs(TabbedContent):
    """The tabs. They switch only when the user asks (an F-key, a click, the palette).

    Textual's TabbedContent also switches to the tab of any widget that gets focus, through a
    queued message: the start-up focus on the question field, handled after an early F5, sent
    the user back to Prompt. Focus cannot land in a hidden tab (see WorkbenchScreen), so the
    message has nothing left to do.
    """

    def on_mount(self) -> None:
        # F1-F5 switch tabs; a focusable tab strip only gave Tab a place to land where no key
        # works and the footer goes empty.
        self.query_one(Tabs).can_focus = False

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.stop()
        event.prevent_default()  # Textual would also run the base class's handler


def in_shown_tab(widget: Widget) -> bool:
    """False when `widget` lives in one of the app's tab panes that is not the one shown."""
    for node in widget.ancestors_with_self:
        if isinstance(node, TabPane) and node.id in PANE_IDS:
            tabs = node.parent.parent if node.parent is not None else None
            return not isinstance(tabs, TabbedContent) or tabs.active == node.id
    return True


class WorkbenchApp(App[int]):
    """The terminal workbench for one project."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses live elsewhere
    TITLE = "llm-workbench"
    COMMANDS = App.COMMANDS | {_workbench_commands}
    # Not priority bindings: an F-key then travels the same queues as the keys typed before
    # it, so an Enter typed just before F3 is still resolved in the box it was typed into
    # (a priority F3 switched tabs first, and the Enter's binding was then looked up in the
    # new tab). No widget binds F1-F5, so they always reach the app.
    BINDINGS = [
        Binding(
            spec.key,
            f"show_tab('{spec.id}')",
            spec.title,
            id=f"tab.{spec.id}",
            tooltip=f"Show the {spec.title} tab",
            show=False,
        )
        for spec in TABS
    ]

    def __init__(
        self,
        project: Any,
        *,
        probe: bool = True,
        theme_folders: list[Path] | None = None,
        settings_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.tab_specs = TABS
        self.probe_model = probe
        self.settings_file = settings_file or settings_path()
        folders = theme_dirs() if theme_folders is None else theme_folders
        self.theme_catalog = ThemeCatalog(folders)  # names only: a file is read when used
        self.theme_failures: list[str] = list(self.theme_catalog.problems)
        self.user_theme_names = set(self.theme_catalog.names(under=user_themes_dir()))
        self._themes_read: set[str] = set()
        self._persist_theme = False
        self.install_sigterm = False  # the launcher sets it: SIGTERM stops runs, exits 143
        self.theme = self._initial_theme()

    # -- themes --------------------------------------------------------------------------------
    def _initial_theme(self) -> str:
        """The user's last choice, else the project's `theme:`, else the default; a broken
        file is skipped with a notice (shown on mount), never a stylesheet error."""
        saved = load_settings(self.settings_file).get("theme")
        for name in (saved, getattr(self.project.config, "theme", None), DEFAULT_THEME):
            if isinstance(name, str) and self._theme_problem(name) is None:
                return name
        return "textual-dark"

    def _theme_problem(self, name: str) -> str | None:
        """Register theme `name` from its file if not done yet; why it cannot be used, or None."""
        if name in self.theme_catalog.files and name not in self._themes_read:
            try:
                self.register_theme(self.theme_catalog.load(name))
            except WorkbenchError as exc:
                if str(exc) not in self.theme_failures:
                    self.theme_failures.append(str(exc))
                return str(exc)
            self._themes_read.add(name)
        # a file's theme, or one of Textual's own
        return None if name in self.available_themes else f"no theme named '{name}'"

    def switch_theme(self, name: str) -> None:
        """The palette's theme choice: load it now; a broken file is a notice, the theme stays."""
        noted = len(self.theme_catalog.notes)
        problem = self._theme_problem(name)
        if problem is None:
            self.theme = name
            if self.theme_catalog.notes[noted:]:
                self.notify(
                    "\n".join(self.theme_catalog.notes[noted:]),
                    title="Themes",
                    severity="warning",
                    timeout=10,
                    markup=False,
                )
            return
        self.notify(
            f"Theme '{name}' not used (keeping {self.theme}):\n{problem}",
            title="Themes",
            severity="warning",
            timeout=10,
            markup=False,
        )

    def get_theme_variable_defaults(self) -> dict[str, str]:
        try:
            return app_variable_defaults(self.current_theme)
        except Exception:  # noqa: BLE001 - called very early, before any theme is set
            from textual.theme import BUILTIN_THEMES

            return app_variable_defaults(BUILTIN_THEMES["textual-dark"])

    def watch_theme(self, name: str) -> None:
        if not self._persist_theme:
            return
        try:
            save_setting("theme", name, self.settings_file)
        except OSError as exc:
            self.notify(f"Could not remember the theme: {exc}", severity="warning", markup=False)

    # -- layout --------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        return WorkbenchScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield WorkbenchHeader(self.project, probe_on_mount=self.probe_model, id="header")
        with WorkbenchTabs(initial=pane_id(TABS[0]), id="tabs"):
            for index, spec in enumerate(TABS):
                with TabPane(spec.title, id=pane_id(spec)):
                    if index == 0:
                        yield build_tab(spec, self.project)
        yield KeyHints()

    def on_mount(self) -> None:
        self._persist_theme = True
        if self.install_sigterm:
            self.handle_sigterm()
        if self.theme_failures:
            self.notify(
                f"Broken theme file skipped, using {self.theme}:\n" + "\n".join(self.theme_failures),
                title="Themes",
                severity="warning",
                timeout=10,
                markup=False,
            )
        if self.theme_catalog.notes:
            self.notify(
                "\n".join(self.theme_catalog.notes), title="Themes", severity="warning", timeout=10, markup=False
            )
        if self.project.config.warnings:
            self.notify(
                "\n".join(self.project.config.warnings),
                title="workbench.yaml",
                severity="warning",
                timeout=10,
                markup=False,
            )

    @on(TabbedContent.TabActivated, "#tabs")
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        await self._ensure_built(event.pane)

    async def _ensure_built(self, pane: TabPane) -> None:
        if pane.children:
            return
        spec = next(s for s in TABS if pane_id(s) == pane.id)
        await pane.mount(build_tab(spec, self.project))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Under a dialog (a picker, the palette, a run's detail) an F-key would switch the tab
        # hidden beneath it, and the dialog's answer would then land in the wrong tab.
        if action == "show_tab" and not isinstance(self.screen, WorkbenchScreen):
            return False
        return True

    async def action_show_tab(self, tab_id: str) -> None:
        """Switch tab and put the focus inside it (keyboard users land where they can act)."""
        tabs = self.query_one("#tabs", TabbedContent)
        spec = next(s for s in TABS if s.id == tab_id)
        pane = tabs.get_pane(pane_id(spec))
        tabs.active = pane_id(spec)
        await self._ensure_built(pane)
        self.call_after_refresh(self._focus_inside, pane)

    def _focus_inside(self, pane: TabPane) -> None:
        if self.query_one("#tabs", TabbedContent).active != pane.id:
            return  # the user has moved on to another tab since
        for tab in pane.children:  # a tab may know better where a user starts
            focus_first = getattr(tab, "focus_first_field", None)
            if focus_first is not None and focus_first():
                return
        for widget in self.screen.focus_chain:
            if pane in widget.ancestors:
                widget.focus()
                return

    # -- quitting ------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """ctrl+q: ask first while a run is in progress; then stop the runs and wait (briefly)
        for them to store what they produced before exiting."""
        running = self.running_runs()
        if not running:
            self.exit()
            return
        if isinstance(self.screen, ConfirmQuitScreen):
            return
        self.push_screen(ConfirmQuitScreen(sorted({label for label, _ in running})), self._quit_confirmed)

    def running_runs(self) -> list[tuple[str, Worker[Any]]]:
        """(what it is, worker) for each worker doing a run the user started."""
        return [(RUN_GROUPS[w.group], w) for w in self.workers if w.group in RUN_GROUPS and w.is_running]

    def handle_sigterm(self) -> None:
        """`kill PID` (a closed SSH session's hang-up manager, a container stop): stop the runs
        as a confirmed quit does, so they store what they did, then exit 143 (128 + SIGTERM).
        Only the real app installs it (the launcher): a test's event loop is not the app's."""
        import signal

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self) -> None:
        from workbench.core.interrupts import EXIT_SIGTERM

        self.run_worker(self._quit_confirmed(True, return_code=EXIT_SIGTERM), group="sigterm", exclusive=True)

    async def _quit_confirmed(self, quit_now: bool | None, *, return_code: int = 0) -> None:
        if not quit_now:
            return
        workers = [w for _, w in self.running_runs()]
        for worker in workers:
            worker.cancel()
        for worker in workers:  # their finally blocks store `interrupted` / `cancelled`
            try:
                await asyncio.wait_for(worker.wait(), timeout=QUIT_WAIT_S)
            except Exception:  # noqa: BLE001 - cancelled, failed or slow: quitting anyway
                pass
        self.exit(return_code=return_code)

    # -- messages from the tabs ----------------------------------------------------------------
    def on_prompt_tab_variant_changed(self, message: Any) -> None:
        self.query_one(WorkbenchHeader).variant_label = message.label

    def on_answer_pane_notice_shown(self, message: Any) -> None:
        if message.text.startswith("falling back to"):
            spec = message.text[len("falling back to ") :].split(" (", 1)[0]
            self.query_one(WorkbenchHeader).set_model_state(
                f"{self.project.config.model.spec} · falling back to {spec}", "-degraded"
            )

    def on_answer_pane_finished(self, message: Any) -> None:
        record = message.record
        if record is None or not record.result.model_used:
            return
        result = record.result
        header = self.query_one(WorkbenchHeader)
        if result.fallback_used:
            header.set_model_state(f"{result.model_requested} · fell back to {result.model_used}", "-degraded")
        elif result.model_used.startswith("ollama:") and header.version:
            header.set_model_state(f"{result.model_used} · Ollama v{header.version} reachable", "-ok")

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker becomes visible: a toast naming what failed."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self.notify(
            f"{event.worker.name or 'background task'} failed: {type(error).__name__}: {error}",
            severity="error",
            timeout=10,
            markup=False,
        )
