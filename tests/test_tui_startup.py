"""Start-up: config errors stop before the app; the first screen imports no heavy library."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from workbench.tui.launch import launch

HEAVY = ("torch", "transformers", "sentence_transformers", "lancedb", "peft")


def test_config_error_prints_one_line_and_returns_2_without_starting(tmp_path, capsys, xdg_config):
    (tmp_path / "workbench.yaml").write_text("model:\n  provider: ollama\n  nmae: llama3.2\n")
    assert launch(str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "workbench.yaml:3" in err and "nmae" in err
    assert err.count("\n") == 1
    assert not (tmp_path / ".workbench").exists()  # nothing written


def test_broken_prompt_file_is_a_config_error_too(tmp_path, capsys, xdg_config):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "bad.yaml").write_text('template: "{question"\n')
    assert launch(str(tmp_path)) == 2
    assert "bad.yaml:1" in capsys.readouterr().err


def test_missing_project_folder_is_reported(tmp_path, capsys, xdg_config):
    assert launch(str(tmp_path / "nope")) == 2
    assert "does not exist" in capsys.readouterr().err


def test_first_screen_imports_no_heavy_library(tui_project_dir, tmp_path):
    """Start the real app headless in a fresh interpreter; after first paint, look at sys.modules."""
    code = textwrap.dedent(f"""
        import asyncio, sys
        from workbench.core.project import Project
        from workbench.tui.app import WorkbenchApp

        async def main():
            app = WorkbenchApp(Project.open({str(tui_project_dir)!r}))
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
                assert app.query_one("#var-question")  # the Prompt tab is on screen
            print("\\n".join(sys.modules))

        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "workbench.tui.tabs.prompt" in loaded
    assert "workbench.tui.tabs.runs" not in loaded  # other tabs are built on first show
    assert [m for m in HEAVY if m in loaded] == []


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env.pop("WORKBENCH_CONFIG", None)
    return env


def test_without_a_terminal_the_app_refuses_and_points_at_subcommands(tui_project_dir):
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "-p", str(tui_project_dir)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs a terminal" in done.stderr and done.stdout == ""
