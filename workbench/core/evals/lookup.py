"""The one way to find an eval-set file: `eval run`, `eval history`, `retrieval eval|tune`, the
fine-tune guard and the TUI's pickers all ask here, so a name means the same file everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.project import Project


def evals_folder(project: Project) -> Path:
    return Path(project.root) / project.config.evals.dir


def evalset_files(project: Project) -> list[Path]:
    """The project's eval-set files, evals.default_set first, then by name."""
    folder = evals_folder(project)
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    default = project.config.evals.default_set
    return sorted(files, key=lambda p: (p.name != default, p.name))


def _not_found(project: Project, name: str) -> str:
    """Why `name` names no set, with the sets evals.dir does hold and the close one, as the
    prompt lookup lists the prompts it found (workbench/core/project.py), so a typo is one glance."""
    import difflib

    folder = evals_folder(project)
    names = [p.stem for p in evalset_files(project)]
    found = f"found: {', '.join(names)}" if names else "no eval sets there yet"
    hint = difflib.get_close_matches(Path(name).stem, names, n=1, cutoff=0.6)
    return f"eval set not found: {name} (looked in ., {project.root} and {folder}; {found})" + (
        f"; did you mean {hint[0]}?" if hint else ""
    )


def find_evalset(project: Project, name: str | None = None, *, field: str | None = None) -> Path | None:
    """`name` (a path, or a file under evals.dir with or without .yaml); without one
    evals.default_set, else the first file; None when the project has no eval set at all.
    `field` is the setting `name` came from, for the error when it names no file."""
    folder = evals_folder(project)
    if name:
        for candidate in (
            Path(name),
            project.root / name,
            folder / name,
            folder / f"{name}.yaml",
            folder / f"{name}.yml",
        ):
            if candidate.is_file():
                return candidate
        raise WorkbenchError(
            _not_found(project, name),
            path=project.config.path if field else None,
            field=field,
        )
    default = project.config.evals.default_set
    if default:
        path = folder / default
        if not path.is_file():
            raise WorkbenchError(
                f"evals.default_set {default!r} does not exist in {folder}",
                path=project.config.path,
                field="evals.default_set",
            )
        return path
    files = evalset_files(project)
    return files[0] if files else None


def resolve_evalset_path(project: Project, name: str | None) -> Path:
    """find_evalset for a command that needs one: no eval set at all is an error saying so."""
    path = find_evalset(project, name)
    if path is None:
        raise WorkbenchError(f"no eval sets in {evals_folder(project)} (write one: see `workbench eval run --help`)")
    return path


def eval_file_arg(project: Project, arg: str) -> Path:
    """The eval file a `--to FILE` means. `-p DIR` runs are usually typed from elsewhere, so a
    relative path whose folder does not exist here is the project's; one whose folder exists
    here is taken as typed, like any shell path."""
    to = Path(arg)
    if to.is_absolute() or to.parent.exists():
        return to
    return project.root / to


def history_set_name(project: Project, arg: str | None) -> str:
    """The set `eval history` draws, by the name runs store: a stored name as is, else the file's
    `name:`; with no argument the default set, else the set of the newest run."""
    from workbench.core.evals import runstore
    from workbench.core.evals.evalset import load_evalset

    names = runstore.evalset_names(project.store)
    if arg and arg in names:
        return arg
    if arg or project.config.evals.default_set:
        try:
            return load_evalset(resolve_evalset_path(project, arg)).name
        except WorkbenchError:
            if arg:
                raise WorkbenchError(
                    f"no eval set {arg!r}: sets with runs are {', '.join(names) or 'none yet'}"
                ) from None
    newest = runstore.list_runs(project.store, limit=1)
    if not newest:
        raise WorkbenchError("no eval runs yet: `workbench eval run` first")
    name: str = newest[0]["evalset_name"]
    return name
