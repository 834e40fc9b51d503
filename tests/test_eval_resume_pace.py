"""A resumed run keeps its own concurrency, from the CLI and the Evals tab alike: both ask
core/evals/selection.py run_concurrency (the tab used evals.concurrency before)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tests.fixtures_project import write_project
from workbench.core.evals import runstore
from workbench.core.evals.selection import run_concurrency
from workbench.core.project import Project


def test_a_resumed_run_keeps_its_stored_concurrency(tmp_path: Path) -> None:
    project = Project.open(write_project(tmp_path / "p"))
    try:
        evalset = SimpleNamespace(name="s", path="evals/s.yaml", content_hash="h", cases=[], fingerprints={})
        run = runstore.create_run(
            project.store, evalset=evalset, variant_id="v", variant_name=None, repeat=1, config={"concurrency": 1}
        )
        assert run_concurrency(project.store, 4, None, run) == 1  # resumed: its own pace
        assert run_concurrency(project.store, 4, 3, run) == 3  # --concurrency wins
        assert run_concurrency(project.store, 4, None, None) == 4  # a new run: evals.concurrency
        assert run_concurrency(project.store, 4, 0, None) == 0  # bad input reaches the runner
    finally:
        project.close()
