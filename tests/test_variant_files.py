"""Saving a variant is core code (workbench/core/variant_files.py): it works with no TUI loaded,
so a command can save one as the Prompt tab does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.fixtures_project import write_project
from workbench.core.project import Project
from workbench.core.variant_files import save_prompt_variant


def test_a_variant_saves_headless_and_keeps_the_users_comments(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", extra="# my note\n")
    project = Project.open(root)
    try:
        saved = save_prompt_variant(project, "terse-v2", template="Q: {question}", system="Be brief.",
                                    base=project.prompts["plain"])
        assert saved.prompt_path == root / "prompts" / "terse-v2.yaml" and saved.config_updated
        assert yaml.safe_load(saved.prompt_path.read_text())["template"] == "Q: {question}"
        assert "terse-v2" in project.config.variants
        assert "# my note" in (root / "workbench.yaml").read_text()
    finally:
        project.close()


def test_the_module_loads_without_textual() -> None:
    code = ("import sys, workbench.core.variant_files; "
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
