"""The headless core never imports Textual, and the CLI's start path never imports heavy libraries."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import workbench.core

HEAVY = ("torch", "transformers", "sentence_transformers", "lancedb", "peft")


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(done.stdout.split())


def test_no_core_module_imports_textual():
    names = [m.name for m in pkgutil.walk_packages(workbench.core.__path__, "workbench.core.")]
    assert "workbench.core.config" in names and "workbench.core.pipeline" in names
    code = "\n".join(f"import {name}" for name in names)
    loaded = _modules_after(code)
    assert not any(m == "textual" or m.startswith("textual.") for m in loaded)


def test_cli_startup_imports_no_heavy_library():
    loaded = _modules_after(
        "from workbench.cli import build_parser\nbuild_parser()\nimport workbench.core.pipeline, workbench.core.project"
    )
    assert not [m for m in HEAVY if m in loaded]


def _present_modules() -> list[str]:
    import workbench.present

    return ["workbench.present"] + [
        m.name for m in pkgutil.walk_packages(workbench.present.__path__, "workbench.present.")
    ]


def test_present_never_imports_textual_or_commands():
    names = _present_modules()
    assert "workbench.present.numbers" in names
    loaded = _modules_after("\n".join(f"import {name}" for name in names))
    assert not any(m == "textual" or m.startswith("textual.") for m in loaded)
    assert not any(m.startswith("workbench.commands") or m.startswith("workbench.tui") for m in loaded)


def test_core_never_imports_present():
    names = [m.name for m in pkgutil.walk_packages(workbench.core.__path__, "workbench.core.")]
    loaded = _modules_after("\n".join(f"import {name}" for name in names))
    assert not any(m.startswith("workbench.present") for m in loaded)
