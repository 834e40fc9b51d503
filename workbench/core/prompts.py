"""Prompt files (`prompts/*.yaml`): a template with `{variables}`, a system prompt, few-shot examples.

A prompt is data the user edits many times an hour, so rendering checks every placeholder
up front and names the file and line of the template when a variable has no value, instead of
letting Python's KeyError escape. `{context}` is special: the pipeline fills it with numbered
retrieved sources, and its presence is what makes a prompt "grounded".
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.yamlfile import Builder, load_located

CONTEXT_VARIABLE = "context"


@dataclass
class Example:
    """One few-shot turn pair, sent before the real question."""

    user: str
    assistant: str


@dataclass
class PromptSpec:
    """The YAML shape of a prompt file."""

    template: str
    system: str | None = None
    description: str | None = None
    examples: list[Example] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)  # default values for variables


@dataclass
class Prompt:
    """A loaded prompt, with where it came from so errors can point at it."""

    name: str
    spec: PromptSpec
    path: Path | None = None
    template_line: int | None = None

    @property
    def variables(self) -> list[str]:
        """Placeholder names in template order, without duplicates."""
        return template_variables(self.spec.template, self.path, self.template_line)

    @property
    def grounded(self) -> bool:
        """Whether the template asks for retrieved context."""
        return CONTEXT_VARIABLE in self.variables

    def missing(self, values: Mapping[str, object]) -> list[str]:
        """Template variables that neither `values` nor the prompt's `defaults` give, in
        template order: what `render` refuses, so an eval run can check every case first."""
        return [v for v in self.variables if v not in values and v not in self.spec.defaults]

    def render(self, values: dict[str, str], system: str | None = None) -> list[dict[str, str]]:
        """Chat messages for these variable values; a missing value is a WorkbenchError."""
        merged = {**self.spec.defaults, **values}
        missing = self.missing(values)
        if missing:
            names = ", ".join("{" + m + "}" for m in missing)
            flags = " ".join(f"--var {m}=..." for m in missing if m != CONTEXT_VARIABLE)
            raise WorkbenchError(
                f"prompt '{self.name}' template uses {names} but no value was given"
                + (f" (pass {flags})" if flags else ""),
                path=self.path,
                line=self.template_line,
                field="template",
            )
        messages: list[dict[str, str]] = []
        system_text = system if system is not None else self.spec.system
        if system_text:
            messages.append({"role": "system", "content": system_text})
        for example in self.spec.examples:
            messages.append({"role": "user", "content": example.user})
            messages.append({"role": "assistant", "content": example.assistant})
        content = self.spec.template.format_map({k: merged[k] for k in self.variables})
        messages.append({"role": "user", "content": content})
        return messages


def template_variables(template: str, path: Path | None = None, line: int | None = None) -> list[str]:
    """Names used as `{name}` in a template; `{{` and `}}` are literal braces.

    Only plain `{name}` fields: a format spec (`{question:>999999999}` pads to a billion
    characters), a conversion (`{x!r}`) or attribute/index access is refused here, at load."""
    names: list[str] = []
    try:
        for _, name, spec, conversion in string.Formatter().parse(template):
            if name is None:
                continue
            if not name.isidentifier() or spec or conversion is not None:
                written = (
                    "{"
                    + name
                    + (f"!{conversion}" if conversion is not None else "")
                    + (f":{spec}" if spec else "")
                    + "}"
                )
                raise WorkbenchError(
                    f"template placeholder {written[:60]} is not allowed: only plain "
                    "{name} fields, no format specs (:...), conversions (!r) or attribute/index access "
                    "(write {{ and }} for literal braces)",
                    path=path,
                    line=line,
                    field="template",
                )
            if name not in names:
                names.append(name)
    except ValueError as exc:
        raise WorkbenchError(
            f"template is malformed: {exc} (write {{{{ and }}}} for literal braces)",
            path=path,
            line=line,
            field="template",
        ) from None
    return names


DEFAULT_PROMPT = Prompt(
    name="default",
    spec=PromptSpec(
        template="{question}",
        system="You are a helpful assistant. Answer briefly and precisely.",
    ),
)


def load_prompt(path: Path) -> Prompt:
    """Load and check one prompt file."""
    located = load_located(path)
    spec = Builder(located).build(PromptSpec, located.data)
    prompt = Prompt(name=path.stem, spec=spec, path=path, template_line=located.line(("template",)))
    _ = prompt.variables  # validates placeholders now, not at first use
    return prompt


def load_prompts(directory: Path) -> dict[str, Prompt]:
    """All prompts in a folder, by file stem, sorted by name."""
    if not directory.is_dir():
        return {}
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    return {p.stem: load_prompt(p) for p in files}
