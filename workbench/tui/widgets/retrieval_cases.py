"""The labelled eval cases the Retrieval tab can pick from.

Every eval-set file in the project's `evals.dir` is read with the evals loader (the same
validation and error messages as `workbench eval run`); only cases with `relevant:` labels can
mark gold documents and get a why-not report, so only those are offered. A broken file is
reported and skipped: one bad YAML file must not hide the others' cases. `CasePicker` is the
Select that offers them, read in a thread worker so a large eval set never delays the tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widgets import Select

from workbench.core.evals.lookup import evalset_files
from workbench.core.safetext import terminal_safe


@dataclass(frozen=True)
class CaseChoice:
    """One pickable case: where it came from, its question and its labels."""

    key: str  # "<file name>::<case id>", the Select value
    evalset: str
    case_id: str
    question: str
    relevant: tuple[str, ...]
    expected: str | None

    @property
    def label(self) -> str:
        return self.case_id


def _question(case: Any) -> str:
    inputs = case.inputs or {}
    value = inputs.get("question")
    if value is None and inputs:
        value = next(iter(inputs.values()))
    return " ".join(str(value or "").split())


def load_cases(project: Any) -> tuple[list[CaseChoice], list[str]]:
    """(labelled cases of every eval set, one error line per file that could not be read)."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.evals.evalset import load_evalset

    choices: list[CaseChoice] = []
    errors: list[str] = []
    for path in evalset_files(project):
        try:
            evalset = load_evalset(path)
        except WorkbenchError as exc:
            errors.append(f"{path.name}: {exc}")
            continue
        for case in evalset.cases:
            if case.relevant:
                choices.append(
                    CaseChoice(
                        f"{path.name}::{case.id}",
                        evalset.name,
                        case.id,
                        _question(case),
                        tuple(case.relevant),
                        case.expected,
                    )
                )
    return choices, errors


class CasePicker(Select[str]):
    """A Select of the labelled cases, filled by a thread worker (`retrieval-cases`)."""

    @dataclass
    class Loaded(Message):
        """The labelled eval cases, and eval-set files that could not be read."""

        cases: list[CaseChoice]
        errors: list[str]

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__([], prompt="eval case…", compact=True, **kwargs)
        self.project = project
        self.cases: dict[str, CaseChoice] = {}

    def on_mount(self) -> None:
        self.load()

    def chosen(self) -> CaseChoice | None:
        return self.cases.get(str(self.value)) if self.value is not Select.NULL else None

    @work(thread=True, exclusive=True, group="retrieval-cases", exit_on_error=False)
    def load(self) -> None:
        cases, errors = load_cases(self.project)
        self.post_message(self.Loaded(cases, errors))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        message.stop()
        self.cases = {c.key: c for c in message.cases}
        self.set_options([(Text(terminal_safe(c.label)), c.key) for c in message.cases])
        if not message.cases:
            self.prompt = "no labelled cases"
        if message.errors:
            self.notify(
                "Eval sets that could not be read:\n" + "\n".join(message.errors),
                severity="warning",
                timeout=8,
                markup=False,
            )
