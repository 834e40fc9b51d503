"""Whether each case of an eval set gives every value its run's prompt template uses.

A case that misses one cannot be asked at all: rendering refuses it (core/prompts.py), and the
runner stores that refusal as the case's own failure, so the run used to be kept as a 0% run
whose summary blamed the infrastructure. The mismatch is between the set and the prompt a run
picks (the variant's, `--prompt`, or the Evals tab's picker), so it is checked per run, before
the run is stored, and named the way evalset.py names a mistake in the file: file, line, field.
"""

from __future__ import annotations

import difflib

from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import Case, EvalSet
from workbench.core.prompts import CONTEXT_VARIABLE, Prompt

MORE_NAMED = 5  # other failing cases named after the first one


def missing_inputs(case: Case, prompt: Prompt) -> list[str]:
    """The template variables this case leaves without a value. `{context}` is never one: the
    pipeline fills it with the retrieved sources for every grounded prompt."""
    return [v for v in prompt.missing(case.inputs) if v != CONTEXT_VARIABLE]


def check_case_inputs(evalset: EvalSet, prompt: Prompt) -> None:
    """Raise WorkbenchError, at the first case's `inputs:` line (else the case's line), when any
    case misses a template value; the other cases that do are listed after it. Extra inputs the
    template does not use are fine, and so is a template with no variables at all."""
    broken = [(case, missing) for case in evalset.cases if (missing := missing_inputs(case, prompt))]
    if not broken:
        return
    case, missing = broken[0]
    names = ", ".join("{" + m + "}" for m in missing)
    given = list(case.inputs)
    unused = [k for k in given if k not in prompt.variables]
    misspelt = [m for m in missing if difflib.get_close_matches(m, unused, n=1, cutoff=0.6)]  # `qestion:`
    detail = f"its inputs: {', '.join(given)}" if given else "it has no inputs"
    if misspelt:
        detail += f"; did you mean {', '.join(misspelt)}?"
    message = f"inputs: case '{case.id}' gives no value for {names}, which prompt '{prompt.name}' uses ({detail})"
    others = broken[1:]
    if others:
        shown = ", ".join(f"'{c.id}' (line {c.inputs_line or c.line})" for c, _ in others[:MORE_NAMED])
        rest = f" and {len(others) - MORE_NAMED} more" if len(others) > MORE_NAMED else ""
        verb = "cases miss values" if len(others) > 1 else "case misses values"
        message += f"; {len(others)} more {verb} too: {shown}{rest}"
    raise WorkbenchError(message, path=evalset.path, line=case.inputs_line or case.line, field="inputs")
