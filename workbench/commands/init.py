"""`workbench init [DIR]`: start a project of your own instead of copying sample_data/ by hand.

Writes workbench.yaml (every section present, the optional ones commented out), one prompt, an
eval set with one example case to copy, and a docs/ folder with one page, then prints the next
steps. It never overwrites: if any of those files exists, nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.core.scaffold import write_scaffold

if TYPE_CHECKING:
    from workbench.core.project import Project


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="start a project: workbench.yaml, a prompt, an eval set, docs/",
        description="Create a workbench project in DIR (default: the current folder, "
        "or --project). Refuses to overwrite existing files.",
    )
    p.add_argument("dir", nargs="?", help="the project folder (created if missing)")
    p.set_defaults(func=init_cmd, needs_project=False)


def init_cmd(args: argparse.Namespace, project: Project | None = None) -> int:
    root = Path(args.dir or getattr(args, "project", None) or ".").resolve()
    write_scaffold(root)
    shown = _shown(root)
    steps = ([f"cd {shown}"] if shown != "." else []) + [
        "workbench ingest                        index docs/ for retrieval",
        'workbench ask "What is this project for?"',
        "workbench eval run                      answer and check every case",
        "workbench                               open the app",
    ]
    print(
        f"Created a workbench project in {shown}:\n"
        "  workbench.yaml           model, retrieval and eval settings (each section explained)\n"
        "  prompts/qa.yaml          the prompt: a system message and a template\n"
        "  evals/starter.yaml       an eval set with one example case to copy\n"
        "  docs/getting-started.md  a first document: put yours in docs/\n"
        "\nNext steps:\n" + "\n".join(f"  {step}" for step in steps)
    )
    return 0


def _shown(root: Path) -> str:
    try:
        rel = root.relative_to(Path.cwd())
    except ValueError:
        return str(root)
    return str(rel) if str(rel) != "." else "."
