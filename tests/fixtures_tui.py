"""Fixtures for TUI tests: a project pointed at the Ollama stand-in, a private XDG config
folder (the theme choice is written there, never to the real home), and `screen_text(app)`,
the screen as a user would read it."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures_project import write_project

PLAIN_QA = 'system: You answer briefly.\ntemplate: "Question: {question}"\n'


@pytest.fixture
def xdg_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_CONFIG_HOME in tmp: user themes go in <it>/llm-workbench/themes."""
    folder = tmp_path / "xdg"
    folder.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.delenv("WORKBENCH_CONFIG", raising=False)
    return folder


@pytest.fixture
def tui_project_dir(tmp_path: Path, ollama_standin: Any, xdg_config: Path) -> Path:
    """A project whose model is the stand-in's llama3.2 and which has no fallback."""
    root = write_project(tmp_path / "proj", host=ollama_standin.url, fallback=[])
    (root / "prompts" / "qa.yaml").write_text(PLAIN_QA, encoding="utf-8")
    return root


@pytest.fixture
def make_app(xdg_config: Path) -> Callable[..., Any]:
    """`make_app(project_dir, **kw)` -> WorkbenchApp; projects are closed after the test."""
    from workbench.core.project import Project
    from workbench.tui.app import WorkbenchApp

    opened: list[Any] = []

    def make(project_dir: Path, **kwargs: Any) -> Any:
        project = Project.open(project_dir)
        opened.append(project)
        return WorkbenchApp(project, **kwargs)

    yield make
    for project in opened:
        project.close()


def screen_text(app: Any) -> str:
    """The current screen as plain text (what a user reads), for assertions."""
    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text().replace("\u00a0", " ")  # no-break spaces read as spaces


async def until_stable(app: Any, pilot: Any, rounds: int = 100) -> str:
    """Wait until the screen stops changing (three equal reads 20 ms apart); returns its text.

    For snapshots: on a busy machine a focus move or a repaint can land after the workers
    settle, and a snapshot taken mid-way is a false failure.
    """
    last, same = None, 0
    for _ in range(rounds):
        await pilot.pause(0.02)
        text = screen_text(app)
        same = same + 1 if text == last else 0
        if same >= 2:
            return text
        last = text
    return last or ""


async def until(pilot: Any, predicate: Any, rounds: int = 20000) -> None:
    """Let the app run (one pilot.pause per round) until `predicate()` holds; fail if it never does."""
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause()
    raise AssertionError("condition never became true")


async def settle(app: Any, pilot: Any, rounds: int = 6) -> None:
    """Let workers finish and their messages land, including workers those messages start."""
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert not [w for w in app.workers if w.is_running]
