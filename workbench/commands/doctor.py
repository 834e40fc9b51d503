"""`workbench doctor`: check runs.db and the retrieval index, and say what to do about each problem.

Read-only: runs.db is checked over a read-only connection (PRAGMA integrity_check, which reads
every page: random bytes written into the file show here and nowhere else), the index by opening
it and reading every data file once. Exit 0 when healthy (notes allowed), 1 when any check found
a problem.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from workbench.core.doctor import diagnose
from workbench.present.doctor import print_findings

if TYPE_CHECKING:
    from workbench.core.project import Project


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check runs.db and the retrieval index; say what to fix (exit 1 on problems)",
        description="Run PRAGMA integrity_check on runs.db, open and read the retrieval index, and "
        "check that data_dir is inside the project. Each problem comes with what to do. Changes "
        "nothing. Exit 0 when healthy, 1 when a problem was found.",
    )
    p.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace, project: Project) -> int:
    return 1 if print_findings(diagnose(project)) else 0
