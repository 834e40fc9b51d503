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
        _ = project.prompts  # a broken prompt file is a config error too: report it before the app
        if project.config.path is None:
            print(f"note: no workbench.yaml in {project.root}: opening it with default settings", file=sys.stderr)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        project.close()
        print(
            "error: the workbench app needs a terminal; for scripts and CI use a subcommand (see `workbench --help`)",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("LANCEDB_LOG", "error")  # a stray Rust log line would corrupt the screen
    from workbench.tui.app import WorkbenchApp

    app = WorkbenchApp(project)
    app.install_sigterm = True
    try:
        result = app.run()
    finally:
        project.close()
    code = app.return_code if result is None and app.return_code else int(result or 0)
    # Quitting mid-answer or mid-load leaves a torch thread running; interpreter exit under it
    # aborts (exit 134). The app has stored what ran and the store is closed: leave now.
    from workbench.core.threads import exit_now_if_threads_are_busy

    exit_now_if_threads_are_busy(code)
    return code
