"""Growing an eval set from the CLI: `eval promote` (a stored generation becomes a case) and
`eval import` (logged questions become cases), with the flag-named advice a refusal needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.evals.lookup import eval_file_arg


def default_promote_target(project: Any) -> Path:
    """Where `eval promote` without --to appends: evals.default_set (created if missing)."""
    evals = project.config.evals
    if not evals.default_set:
        raise WorkbenchError(
            "say which eval file to append to: --to evals/NAME.yaml (or set evals.default_set in workbench.yaml)",
            path=project.config.path,
            field="--to",
        )
    target: Path = project.root / evals.dir / evals.default_set
    return target


def promote(
    project: Any,
    generation: int,
    to: str | None,
    *,
    expected: str | None,
    asserts: list[str],
    relevant: list[str],
    case_id: str | None,
    tags: list[str],
    split: str | None,
    force: bool,
) -> Any:
    """Append the case made from GENERATION; a case that could not be scored, or a duplicate of
    the set's inputs, is refused with the flag that fixes it."""
    from workbench.core.evals.promote import (
        AlreadyPromoted,
        NothingToScore,
        corpus_documents,
        parse_assert_option,
        promote_generation,
    )

    target = eval_file_arg(project, to) if to else default_promote_target(project)
    checks = [parse_assert_option(a) for a in asserts]
    documents = corpus_documents(project.root, project.data_dir, project.config.retrieval) if relevant else None
    try:
        return promote_generation(
            project.store,
            generation,
            target,
            expected=expected,
            relevant=relevant,
            case_id=case_id,
            tags=tags,
            split=split,
            asserts=checks,
            documents=documents,
            force=force,
        )
    except NothingToScore as exc:
        effect = (
            "so it would pass whatever the model answers and inflate the pass rate"
            if exc.budgets
            else "so `eval run` could only report it as unscored"
        )
        raise WorkbenchError(
            f"generation {exc.generation_id} would become a case with {exc.why}, {effect}. "
            "Add --expected TEXT (the reference answer, scored by similarity) or --assert TYPE=VALUE, "
            "e.g. --assert icontains=KEYWORD or --assert 'llm-judge=what a good answer says'",
            path=exc.path,
            field="assert",
        ) from None
    except AlreadyPromoted as exc:
        if exc.same != "inputs":
            raise
        raise WorkbenchError(
            f"{exc.message} (or pass --force to add another case with these inputs)",
            path=exc.path,
            line=exc.line,
            field="inputs",
        ) from None


def import_cases(
    project: Any, jsonl: str, to: str | None, *, threshold: float, semantic: bool, tags: list[str]
) -> tuple[Any, Path]:
    """Import logged questions into TO (default: evals/<jsonl stem>.yaml); the report and TO."""
    from workbench.core.evals.promote import import_jsonl

    src = Path(jsonl)
    target = eval_file_arg(project, to) if to else project.root / project.config.evals.dir / f"{src.stem}.yaml"
    if not 0 < threshold <= 1:
        raise WorkbenchError("--threshold must be between 0 and 1", field="threshold")
    embed = None
    if semantic:
        from workbench.core.evals.assertions import default_embed

        embed = default_embed()
    return import_jsonl(src, target, threshold=threshold, embed=embed, tags=tags), target
