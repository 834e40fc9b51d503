"""Promote a stored answer to an eval case from anywhere in the TUI: the Prompt tab's panes,
the Runs tab, a run's detail and the palette all call `open_promote`.

Before anything is written the dialog shows what is promoted (the question, the answer, where
it came from) and what promoting does to the set: adding a case changes the eval set's
version, so its earlier runs can no longer be resumed and the fine-tune guard counts only runs
of the new version (runner.check_resume refuses another evalset_hash).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

PROMOTE_MODULE = "workbench.core.evals.promote"


def promote_available() -> bool:
    """Whether this build has the evals promote step (another part of the project)."""
    try:
        return importlib.util.find_spec(PROMOTE_MODULE) is not None
    except ImportError:
        return False


def word_slug(text: str, limit: int = 32) -> str:
    """The case id's words, cut at a word boundary: the same slug as `eval promote`."""
    from workbench.core.evals.promote import word_slug as core_slug

    return core_slug(text, limit)


def default_target(project: Any) -> Path:
    evals = project.config.evals
    return Path(evals.dir) / (evals.default_set or "promoted.yaml")


def version_note(project: Any, target: Path) -> str:
    """What promoting into `target` does to the runs made so far, said before writing."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.evals.evalset import load_evalset

    path = target if target.is_absolute() else project.root / target
    if not path.exists():
        return f"{target.name} does not exist yet: it is created with this case."
    try:
        evalset = load_evalset(path)
    except WorkbenchError as exc:
        return f"{target.name} cannot be read: {exc.message}"
    with project.store.lock:
        (runs,) = project.store.conn.execute(
            "SELECT COUNT(*) FROM eval_runs WHERE evalset_name = ? AND evalset_hash = ?",
            (evalset.name, evalset.content_hash),
        ).fetchone()
    if not runs:
        return f"Adds a case to {evalset.name} ({len(evalset.cases)} cases; no runs yet)."
    return (
        f"Adding a case changes {evalset.name}'s version: its {runs} run{'s' if runs != 1 else ''}"
        f" so far can no longer be resumed, and the fine-tune guard counts only runs of the "
        f"new version; a diff with them matches cases by id."
    )


def open_promote(node: Any, generation_id: int, where: str) -> None:
    """Show the promote dialog for stored generation `generation_id` (`where`: 'pane A', 'run
    e3, case italy', ...); a toast says what was added."""
    app = node.app
    project = app.project
    if not promote_available():
        node.notify("Promote needs workbench.core.evals.promote, which this build lacks.", severity="warning")
        return
    row = project.store.get("generations", generation_id)
    if row is None:
        node.notify(f"No stored answer g{generation_id} to promote.", severity="warning")
        return
    try:
        inputs = json.loads(row.get("inputs") or "{}")
    except ValueError:
        inputs = {}
    question = str(inputs.get("question") or next(iter(inputs.values()), "")) if isinstance(inputs, dict) else ""
    from workbench.tui.screens.promote import PromoteRequest, PromoteScreen

    def promote(to: Path, expected: str | None, case_id: str | None) -> Any:
        from workbench.core.evals.promote import promote_generation

        target = to if to.is_absolute() else project.root / to
        return promote_generation(project.store, generation_id, target, expected=expected, case_id=case_id)

    def done(case: Any) -> None:
        if case is not None:
            node.notify(f"Added case '{case.id}' to {case.path.name} (line {case.line}).", timeout=4, markup=False)

    request = PromoteRequest(
        generation_id=generation_id,
        where=where,
        question=question,
        answer=str(row.get("output") or ""),
        default_path=default_target(project),
        case_id=f"gen{generation_id}-{word_slug(question)}",
        note=lambda target: version_note(project, target),
        promote=promote,
    )
    app.push_screen(PromoteScreen(request), done)
