"""One eval-set lookup (workbench/core/evals/lookup.py): the CLI, the guard and the TUI pickers
pick the same file for the same name or for none."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_project import write_project
from workbench.core.errors import WorkbenchError
from workbench.core.evals.lookup import evalset_files, find_evalset, resolve_evalset_path
from workbench.core.finetune.guard import eval_run_command
from workbench.core.finetune.guard import resolve_evalset_path as guard_evalset
from workbench.core.project import Project

CASE = "cases:\n  - id: a\n    inputs: {question: q}\n    assert: [{type: contains, value: x}]\n"


@pytest.fixture
def project(tmp_path: Path):
    root = write_project(tmp_path / "p", extra="evals:\n  default_set: zeta.yaml\n")
    for name in ("alpha.yaml", "zeta.yaml", "mid.yml"):
        (root / "evals").mkdir(exist_ok=True)
        (root / "evals" / name).write_text(CASE, encoding="utf-8")
    opened = Project.open(root)
    yield opened
    opened.close()


def test_every_caller_picks_the_same_file(project: Project) -> None:
    folder = project.root / "evals"
    assert [p.name for p in evalset_files(project)] == ["zeta.yaml", "alpha.yaml", "mid.yml"]
    assert resolve_evalset_path(project, None) == folder / "zeta.yaml" == guard_evalset(project)
    assert resolve_evalset_path(project, "mid") == folder / "mid.yml" == guard_evalset(project, "mid")
    assert eval_run_command(project, folder / "zeta.yaml") == "workbench eval run"
    assert eval_run_command(project, folder / "alpha.yaml") == "workbench eval run alpha"


def test_a_missing_name_or_default_is_named(project: Project) -> None:
    with pytest.raises(WorkbenchError, match="eval set not found: nosuch"):
        resolve_evalset_path(project, "nosuch")
    (project.root / "evals" / "zeta.yaml").unlink()
    with pytest.raises(WorkbenchError, match="evals.default_set 'zeta.yaml' does not exist") as caught:
        find_evalset(project)
    assert caught.value.field == "evals.default_set"
