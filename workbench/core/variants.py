"""Variants: one setting of every lever (prompt, system, retrieval, model, options, adapter).

A variant's id is a hash of its content, so the same settings always land in the same bucket no
matter what they are called, and "did this change move the bar?" compares like with like. Named
variants in workbench.yaml are overrides on top of the base settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.prompts import Prompt
from workbench.core.retrieval.settings import RetrievalSettings

if TYPE_CHECKING:
    from workbench.core.project import Project


@dataclass
class Variant:
    """Everything that decides what the model is sent and which model gets it."""

    name: str | None
    prompt: Prompt
    model: str  # `ollama:NAME` or `embedded`
    options: dict[str, Any]
    retrieval: RetrievalSettings
    system: str | None = None  # overrides the prompt file's system prompt when set
    adapter: str | None = None

    @property
    def system_prompt(self) -> str | None:
        return self.system if self.system is not None else self.prompt.spec.system

    def spec(self) -> dict[str, Any]:
        """Canonical content of the variant (what the id hashes)."""
        return {
            "prompt": self.prompt.name,
            "template": self.prompt.spec.template,
            "system": self.system_prompt,
            "examples": [dataclasses.asdict(e) for e in self.prompt.spec.examples],
            "model": self.model,
            "options": self.options,
            "retrieval": self.retrieval.to_dict() if self.prompt.grounded else None,
            "adapter": self.adapter,
        }

    @property
    def id(self) -> str:
        blob = json.dumps(self.spec(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return variant_label(self.name, self.id, hash_chars=len(self.id))


def variant_label(name: str | None, variant_id: str | None, *, hash_chars: int = 8) -> str:
    """What people call a variant: its workbench.yaml name, or "base" for the unnamed default
    settings (what the TUI's pickers say), then the start of its content hash, so two runs whose
    settings differ never look alike ("base (e6cf543b)"). Display only: the store keeps
    `variant_name` (None for base) and `variant_id` apart. `hash_chars=0` leaves the hash out."""
    who = name or ("base" if variant_id else "")
    short = (variant_id or "")[:hash_chars]
    return f"{who} ({short})" if short else who


def resolve_variant(
    project: Project,
    name: str | None = None,
    *,
    prompt: str | None = None,
    model: str | None = None,
    options: dict[str, Any] | None = None,
    system: str | None = None,
    retrieval: dict[str, Any] | None = None,
    adapter: str | None = None,
) -> Variant:
    """Base settings, then the named variant's overrides, then explicit arguments."""
    config = project.config
    base_retrieval = dataclasses.asdict(config.retrieval)
    merged_options = dict(config.model.options)
    chosen_prompt, chosen_model, chosen_system, chosen_adapter = None, config.model.spec, None, None
    retrieval_over: dict[str, Any] = {}
    if name:
        if name not in config.variants:
            known = ", ".join(config.variants) or "none defined"
            raise WorkbenchError(f"no variant named '{name}' in workbench.yaml (known: {known})", field="--variant")
        v = config.variants[name]
        chosen_prompt = v.prompt
        chosen_model = v.model or chosen_model
        chosen_system = v.system
        chosen_adapter = v.adapter
        merged_options.update(v.options)
        retrieval_over.update(v.retrieval)
    prompt_keypath = ("variants", name, "prompt") if name and chosen_prompt and not prompt else None
    chosen_prompt = prompt or chosen_prompt
    if model:  # from the command line or the UI: a bad spec is bad input, before any work
        from workbench.core.config import validate_model_spec

        try:
            validate_model_spec(model)
        except ValueError as exc:
            raise WorkbenchError(f"--model: {exc}", field="--model") from None
    chosen_model = model or chosen_model
    chosen_system = system if system is not None else chosen_system
    chosen_adapter = adapter or chosen_adapter
    merged_options.update(options or {})
    retrieval_over.update(retrieval or {})
    return Variant(
        name=name,
        prompt=project.prompt(chosen_prompt, keypath=prompt_keypath),
        model=chosen_model,
        options=merged_options,
        retrieval=RetrievalSettings(**{**base_retrieval, **retrieval_over}),
        system=chosen_system,
        adapter=chosen_adapter,
    )


def cache_key(
    model: str,
    options: dict[str, Any],
    messages: list[dict[str, Any]],
    adapter: str | None,
    fmt: Any = None,
    *,
    digest: str | None,
) -> str | None:
    """Identity of a model call: byte-identical inputs to the same weights give the same key.

    `digest` names the weights (Ollama's model digest, the embedded GGUF + adapter hash): the
    model *name* alone would serve a re-pulled or re-exported model the old one's answers.
    Unknown weights (None) have no key, so they are never cached nor served from cache."""
    if not digest:
        return None
    blob = json.dumps(
        {"model": model, "digest": digest, "options": options, "messages": messages, "adapter": adapter, "format": fmt},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()
