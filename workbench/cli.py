"""The `workbench` command: opens the TUI, or runs one job headless (SSH, CI, scripts).

Each subcommand lives in `workbench/commands/<topic>.py` with `register(subparsers)`; this module
only wires them and turns errors into exit codes:
  0 ok, 1 the job ran but failed its goal (gate failed, answer incomplete), 2 bad config or input,
  3 no model could answer, 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (handled like Ctrl-C:
  what finished is stored, the rest marked `interrupted`), 141 the reader closed stdout.
A traceback is shown only with --debug; otherwise one line that names file, line and field.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Subcommand modules, in the order their commands appear in --help. A module that is missing
# from this build is skipped, so the CLI never fails because an optional part is absent.
COMMAND_MODULES = (
    "workbench.commands.init",
    "workbench.commands.ask",
    "workbench.commands.runs",
    "workbench.commands.retrieval",
    "workbench.commands.evals",
    "workbench.commands.finetune",
    "workbench.commands.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="LLM workbench: integrate, then evaluate, then fine-tune. With no command, opens the terminal app.",
    )
    parser.add_argument(
        "--project", "-p", default=None, help="project folder holding workbench.yaml (default: current folder)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from workbench import __version__

    return __version__


def _accept_common_options(parser: argparse.ArgumentParser) -> None:
    """Let --project/--debug also follow any subcommand (`workbench eval run --project X`)."""
    if parser._subparsers is None:
        return
    for action in parser._subparsers._group_actions:
        for sub in getattr(action, "choices", {}).values():
            known = {opt for a in sub._actions for opt in a.option_strings}
            if "--project" not in known:
                sub.add_argument(
                    "--project",
                    "-p",
                    default=argparse.SUPPRESS,
                    metavar="DIR",
                    help="the project folder (default: the current folder)",
                )
            if "--debug" not in known:
                sub.add_argument(
                    "--debug",
                    action="store_true",
                    default=argparse.SUPPRESS,
                    help="show the traceback of an unexpected error",
                )
            _accept_common_options(sub)


def _app_only(argv: Sequence[str]) -> tuple[bool, str | None]:
    """Whether argv asks only to open the app (no subcommand, no --help), and its --project.

    Opening the app is the hot path: it skips importing every subcommand module (~60 ms of
    start-up) just to learn that no subcommand was given.
    """
    project, rest = None, list(argv)
    while rest:
        arg = rest.pop(0)
        if arg in ("--project", "-p") and rest:
            project = rest.pop(0)
        elif arg.startswith("--project="):
            project = arg.split("=", 1)[1]
        elif arg != "--debug":
            return False, None
    return True, project


def _invalid_utf8_argument(argv: Sequence[str]) -> str | None:
    """Why argv is unusable, or None. Python decodes argv bytes that are not UTF-8 into lone
    surrogates (PEP 383); they fail later, far from the cause (printing, JSON, SQLite), so one
    is bad input here, shown with its bytes escaped."""
    for position, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return (
                f"argument {position} is not valid UTF-8 text: '{shown}' "
                "(retype it, or rename the file it names to a UTF-8 name)"
            )
    return None


def _store_error(exc: Exception, project: object) -> Exception:
    """A sqlite error from code that used the store's connection directly, said as a runs.db
    problem naming the file and the fix (store_health.py); other errors as they are."""
    import sqlite3

    if isinstance(exc, sqlite3.Error) and project is not None:
        from workbench.core.store_health import store_problem

        return store_problem(exc, project.db_path, "running the command")  # type: ignore[attr-defined]
    return exc


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("LANCEDB_LOG", "error")  # LanceDB warnings would corrupt the TUI
    argv = sys.argv[1:] if argv is None else list(argv)
    bad = _invalid_utf8_argument(argv)
    if bad is not None:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    app_only, project_dir = _app_only(argv)
    if app_only:
        from workbench.tui.launch import launch

        return launch(project_dir)
    parser = build_parser()
    _accept_common_options(parser)
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        if args.command is None:  # any no-subcommand form _app_only did not recognise
            from workbench.tui.launch import launch

            return launch(args.project)
        if not getattr(args, "needs_project", True):  # `workbench init`: makes the project
            return int(args.func(args, None) or 0)
        from workbench.core.project import Project

        project = Project.open(args.project)
        # Read-only commands (runs, eval show/diff, ...) never create runs.db (project.py).
        project.read_only = getattr(args, "read_only", False)
        if project.config.path is None and project.read_only:
            print(
                f"note: no workbench.yaml in {project.root}: not a workbench project (`workbench init` starts one)",
                file=sys.stderr,
            )
        elif project.config.path is None:
            print(
                f"note: no workbench.yaml in {project.root}: using defaults (runs are stored in {project.data_dir})",
                file=sys.stderr,
            )
        for warning in project.config.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        outside = project.data_dir_outside()
        if outside:
            print(f"warning: {outside}", file=sys.stderr)
        from workbench.core.interrupts import sigterm_as_sigint

        try:
            with sigterm_as_sigint():  # `kill PID` stops a command as Ctrl-C does, exit 143
                return int(args.func(args, project) or 0)
        finally:
            project.close()
    except KeyboardInterrupt:
        from workbench.core.interrupts import interrupt_exit_code, terminated

        code = interrupt_exit_code()
        print("\nstopped by SIGTERM" if terminated() else "\ninterrupted", file=sys.stderr)
        from workbench.core.threads import exit_now_if_threads_are_busy

        exit_now_if_threads_are_busy(code)  # a torch thread at interpreter exit aborts (134)
        return code
    except BrokenPipeError:  # `workbench runs show 3 | head`: the reader left; that is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush can't fail again
        return 141
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        from workbench.core.errors import NoModelAnswered, WorkbenchError

        if debug:
            raise
        exc = _store_error(exc, locals().get("project"))
        if isinstance(exc, (WorkbenchError, NoModelAnswered)):
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
