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
        saved = save_prompt_variant(
            project, "terse-v2", template="Q: {question}", system="Be brief.", base=project.prompts["plain"]
        )
        assert saved.prompt_path == root / "prompts" / "terse-v2.yaml" and saved.config_updated
        assert yaml.safe_load(saved.prompt_path.read_text())["template"] == "Q: {question}"
        assert "terse-v2" in project.config.variants
        assert "# my note" in (root / "workbench.yaml").read_text()
    finally:
        project.close()


def test_the_module_loads_without_textual() -> None:
    code = (
        "import sys, workbench.core.variant_files; "
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_full_disk_leaves_workbench_yaml_byte_identical(tmp_path: Path, monkeypatch) -> None:
    """ENOSPC cannot be produced on demand here, so the write is made to fail midway: half the
    text goes out, then OSError(ENOSPC), as a full disk does."""
    import builtins
    import errno
    import io

    import pytest

    from workbench.core.errors import WorkbenchError

    root = write_project(tmp_path / "p", extra="# my note\n")
    config = root / "workbench.yaml"
    before = config.read_bytes()
    project = Project.open(root)
    real_open = builtins.open

    class HalfThenFull:
        def __init__(self, handle):
            self.handle = handle

        def write(self, text: str) -> int:
            self.handle.write(text[: len(text) // 2])
            self.handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, attr):
            return getattr(self.handle, attr)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    def full_for_config(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if ("w" in mode or "x" in mode) and "workbench.yaml" in Path(file).name:
            return HalfThenFull(handle)
        return handle

    monkeypatch.setattr(builtins, "open", full_for_config)
    monkeypatch.setattr(io, "open", full_for_config)  # Path.write_text opens through io.open
    try:
        with pytest.raises(WorkbenchError) as caught:
            save_prompt_variant(
                project, "terse-v2", template="Q: {question}", system=None, base=project.prompts["plain"]
            )
    finally:
        monkeypatch.undo()
        project.close()
    assert config.read_bytes() == before
    assert "workbench.yaml" in str(caught.value) and "disk is full" in str(caught.value)
    assert not (root / "prompts" / "terse-v2.yaml").exists()
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".workbench.yaml")) == []
