"""The Prompt tab's variant choices: the picker values (base, named variants, other prompt
files), the model override, and the editor's text applied to a variant. No widgets here.

`resolve_choice` is the CLI's `resolve_variant`, so a variant id matches `workbench ask`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.prompts import Prompt
from workbench.core.variants import Variant, resolve_variant

BASE = "__base__"


def variant_options(project: Any) -> list[tuple[str, str]]:
    """(label, value) for the variant picker: base, named variants, then other prompt files."""
    try:
        base_prompt = project.prompt().name
    except WorkbenchError:
        base_prompt = project.config.default_prompt or "?"
    options = [(f"base ({base_prompt})", BASE)]
    options += [(name, name) for name in project.config.variants]
    used = {v.prompt for v in project.config.variants.values()} | {project.config.default_prompt}
    options += [(f"prompt: {name}", f"prompt:{name}") for name in project.prompts if name not in used]
    return options


def model_options(project: Any) -> list[tuple[str, str]]:
    """(label, value) for the model picker: the variant's own, then every model in the chain."""
    specs: list[str] = []
    for spec in [project.config.model.spec, *project.config.fallback, "embedded"]:
        if spec not in specs:
            specs.append(spec)
    return [("the variant's model", BASE)] + [(spec, spec) for spec in specs]


def resolve_choice(project: Any, choice: str, model: str | None) -> Variant:
    """The Variant a picker value stands for, with an optional model override."""
    if choice.startswith("prompt:"):
        variant = resolve_variant(project, None, prompt=choice[len("prompt:") :], model=model)
        variant.name = choice[len("prompt:") :]
        return variant
    return resolve_variant(project, None if choice == BASE else choice, model=model)


def with_edits(variant: Variant, template: str, system: str) -> Variant:
    """`variant` with the editor's template and system prompt (unchanged parts stay shared)."""
    edited = False
    if template != variant.prompt.spec.template:
        spec = dataclasses.replace(variant.prompt.spec, template=template)
        prompt = Prompt(
            name=f"{variant.prompt.name}*",
            spec=spec,
            path=variant.prompt.path,
            template_line=variant.prompt.template_line,
        )
        _ = prompt.variables  # raises WorkbenchError for a malformed template, before any call
        variant = dataclasses.replace(variant, prompt=prompt)
        edited = True
    if system != (variant.system_prompt or ""):
        variant = dataclasses.replace(variant, system=system or None)
        edited = True
    if edited:
        variant = dataclasses.replace(variant, name=f"{variant.name or 'base'} (edited)")
    return variant
