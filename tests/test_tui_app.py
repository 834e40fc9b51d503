"""The frame: key bindings are discoverable, the palette offers them, the header tells the
model's state, an answer can be copied (OSC 52) and promoted to an eval set."""

from __future__ import annotations

from fixtures_tui import screen_text

from workbench.core.evals.evalset import load_evalset


def _binding_owners():
    """Every class in the TUI package that declares its own BINDINGS (all tabs, screens, widgets)."""
    import importlib
    import inspect
    import pkgutil

    import workbench.tui

    owners = []
    for info in pkgutil.walk_packages(workbench.tui.__path__, "workbench.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and cls.__dict__.get("BINDINGS"):
                owners.append(cls)
    names = {cls.__name__ for cls in owners}
    assert {"WorkbenchApp", "PromptTab", "RetrievalTab", "EvalsTab", "FinetuneTab", "RunsTab"} <= names
    return owners


def test_every_binding_has_an_id_a_description_and_a_tooltip():
    ids = set()
    for owner in _binding_owners():
        for binding in owner.__dict__.get("BINDINGS", []):
            where = f"{owner.__name__}: {binding.key}"
            assert binding.id and binding.description and binding.tooltip, where
            assert binding.id not in ids, f"duplicate binding id {binding.id}"
            ids.add(binding.id)


async def test_palette_lists_the_active_bindings_tabs_and_themes(tui_project_dir, make_app):
    app = make_app(tui_project_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.press(*"Send")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Send (^r)" in screen_text(app)
        # the question box's own cursor keys are not commands
        await pilot.press(*(["backspace"] * 4), *"cursor left")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Move cursor left" not in screen_text(app)
        await pilot.press(*(["backspace"] * 11), *"Go to Runs")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Go to Runs tab (f5)" in screen_text(app)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query_one("#tabs").active == "tab-runs"


async def test_header_says_when_ollama_is_unreachable(tmp_path, make_app, ollama_nothing_listening):
    from fixtures_project import write_project

    root = write_project(tmp_path / "down", host=ollama_nothing_listening, fallback=["embedded"])
    app = make_app(root)
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Ollama unreachable → falling back to embedded" in screen_text(app)


async def test_copy_and_promote_an_answer(tui_project_dir, ollama_standin, make_app):
    ollama_standin.configure(reply=["Use ", "WAL ", "mode."])
    app = make_app(tui_project_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.query_one("#var-question").value = "how do readers not block writers?"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("ctrl+o")
        assert app.clipboard == "Use WAL mode."  # what OSC 52 sent to the terminal
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert "Promote generation 1" in screen_text(app)
        assert app.focused.id == "promote-expected"  # what the user came to type
        await pilot.press("enter")  # no expected answer: nothing would score the case
        await pilot.pause()
        error = str(app.screen.query_one("#promote-error").content)
        assert "no check (no expected answer, no assertion)" in error
        assert "Promote generation 1" in screen_text(app)  # still open, nothing written
        assert not (tui_project_dir / "evals" / "promoted.yaml").exists()
        await pilot.press(*"WAL mode", "enter")
        await pilot.pause()
    evalset = load_evalset(tui_project_dir / "evals" / "promoted.yaml")
    case = evalset.cases[-1]
    assert case.inputs == {"question": "how do readers not block writers?"}
    assert case.expected == "WAL mode"
    assert [a.type for a in case.assertions] == ["similar"]
    assert case.source  # where the case came from (the stored generation)


async def test_function_keys_pressed_back_to_back_land_on_the_last_tab(tui_project_dir, make_app):
    """Opening a tab schedules late focus calls (after a refresh, when its loaders finish); the
    next F-key must still win: the tab shown, the focus and the typed text all in that tab."""
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for first, second, pane in (
            ("f2", "f3", "tab-evals"),
            ("f3", "f5", "tab-runs"),
            ("f5", "f1", "tab-prompt"),
            ("f4", "f2", "tab-retrieval"),
        ):
            await pilot.press(first, second)
            for _ in range(10):
                await app.workers.wait_for_complete()
                await pilot.pause(0.02)
            assert app.query_one("#tabs").active == pane, (first, second)
            assert app.focused is not None
            assert pane in [node.id for node in app.focused.ancestors], (first, second)


async def test_a_late_focus_call_from_a_hidden_tab_does_not_pull_the_user_back(tui_project_dir, make_app):
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")  # Evals: the focus goes into the tab
        pane = app.query_one("#tab-evals")
        for _ in range(100):
            if app.focused is not None and pane in app.focused.ancestors:
                break
            await pilot.pause(0.01)
        landed = app.focused
        assert landed is not None and pane in landed.ancestors
        app.query_one("#var-question").focus()  # as a Prompt-tab worker finishing late would
        await pilot.pause()
        assert app.query_one("#tabs").active == "tab-evals" and app.focused is landed
        await pilot.press(*"abc")
        assert app.query_one("#var-question").value == ""  # nothing typed into a hidden tab


async def test_function_keys_do_nothing_under_a_dialog(tui_project_dir, make_app):
    """With a picker open, F2 must not switch the tab hidden beneath it (the pick would then
    land in a tab the user is no longer looking at)."""
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")  # the command palette: a screen over the tabs
        await pilot.pause()
        assert not isinstance(app.screen, type(app.get_default_screen()))
        await pilot.press("f2")
        await pilot.pause()
        assert app.query_one("#tabs").active == "tab-prompt"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f2")
        for _ in range(100):
            if app.query_one("#tabs").active == "tab-retrieval":
                break
            await pilot.pause(0.01)
        assert app.query_one("#tabs").active == "tab-retrieval"


async def test_tab_never_lands_on_the_tab_strip(tui_project_dir, make_app):
    """Cycling the focus with Tab stays on widgets that have keys; the footer never goes empty."""
    app = make_app(tui_project_dir, probe=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        from textual.widgets import Tabs

        for _ in range(25):
            await pilot.press("tab")
            assert not any(isinstance(n, Tabs) for n in app.focused.ancestors_with_self)
            assert "Send" in screen_text(app).splitlines()[-1]
