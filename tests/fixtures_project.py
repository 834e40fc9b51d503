"""Project folders for tests: a real workbench.yaml, real prompts, a real SQLite store in tmp."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from workbench.core import pipeline
from workbench.core.llm import resilience
from workbench.core.project import Project


def write_project(
    root: Path,
    *,
    host: str | None = None,
    model: str = "llama3.2",
    fallback: list[str] | None = None,
    extra: str = "",
    timeouts: str = "connect_s: 2\n  first_token_s: 5\n  idle_s: 2\n  total_s: 20",
    retries: str = "count: 2\n  backoff_s: 0.01",
) -> Path:
    """A minimal project: one plain prompt, one templated prompt, the given model settings."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "plain.yaml").write_text('system: You are terse.\ntemplate: "{question}"\n', encoding="utf-8")
    (root / "prompts" / "audience.yaml").write_text(
        "template: |\n  Explain {question} to {audience}.\n", encoding="utf-8"
    )
    fb = fallback if fallback is not None else []
    host_line = f"  host: {host}\n" if host else ""
    (root / "workbench.yaml").write_text(
        f"name: testproj\nmodel:\n  provider: ollama\n  name: {model}\n{host_line}"
        f"  options: {{temperature: 0, seed: 1, num_predict: 32}}\n"
        f"fallback: {fb!r}\n"
        f"timeouts:\n  {timeouts}\n"
        f"retries:\n  {retries}\n"
        "pricing:\n  prompt_per_1k: 0.5\n  completion_per_1k: 1.0\n"
        "default_prompt: plain\n" + extra,
        encoding="utf-8",
    )
    return root


@pytest.fixture
def project_factory(tmp_path: Path) -> Callable[..., Project]:
    opened: list[Project] = []

    def make(**kwargs) -> Project:
        root = write_project(tmp_path / f"proj{len(opened)}", **kwargs)
        project = Project.open(root)
        opened.append(project)
        return project

    yield make
    for project in opened:
        project.close()


@pytest.fixture(autouse=True)
def _fresh_circuit_breaker():
    """Each test starts with no model remembered as down."""
    resilience._DOWN_UNTIL.clear()
    pipeline._PROBED.clear()
    yield
    resilience._DOWN_UNTIL.clear()
    pipeline._PROBED.clear()
