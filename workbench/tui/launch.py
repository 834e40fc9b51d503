"""`workbench` with no subcommand: open the project, then the app.

Config errors are the user's to fix, so they print as the one-line WorkbenchError (file, line,
field) and return 2 before any terminal mode changes: a broken workbench.yaml must never leave a
half-drawn screen behind.
"""

from __future__ import annotations

import os
import sys


def launch(project_dir: str | None) -> int:
    """Run the workbench on `project_dir` (default: the current folder); the exit code."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.project import Project

    try:
        project = Project.open(project_dir)
        project.prompts  # a broken prompt file is a config error too: report it before the app
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("LANCEDB_LOG", "error")  # a stray Rust log line would corrupt the screen
    from workbench.tui.app import WorkbenchApp

    try:
        result = WorkbenchApp(project).run()
    finally:
        project.close()
    return int(result or 0)
