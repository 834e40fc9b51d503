"""The base model a LoRA adapter is trained on: the embedded SmolLM2 or a local HF folder.

Training needs a plain Hugging Face folder (config.json, safetensors, tokenizer). For the
embedded model that folder is made once from the bundled GGUF by the embedded provider
(`workbench.core.llm.embedded.ensure_hf_folder`), so the adapter is trained on exactly the
weights the workbench answers with.

The architecture is read from config.json here because export depends on it: Ollama converts
safetensors LoRA adapters only for `llama` and `gemma2` bases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.project import Project


EMBEDDED = "embedded"
# Ollama's library name for the same model (SmolLM2-135M-Instruct): the Modelfile's FROM.
EMBEDDED_OLLAMA_BASE = "smollm2:135m"
OLLAMA_ARCHITECTURES = ("llama", "gemma2")


@dataclass
class BaseModel:
    spec: str  # "embedded" or the folder as configured
    folder: Path
    model_type: str  # config.json model_type: llama, gemma2, qwen2, ...
    architectures: list[str] = field(default_factory=list)
    ollama_base: str | None = None

    @property
    def embedded(self) -> bool:
        return self.spec == EMBEDDED

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "folder": str(self.folder),
            "model_type": self.model_type,
            "architectures": self.architectures,
            "ollama_base": self.ollama_base,
        }


def read_model_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise WorkbenchError(
            "not a Hugging Face model folder (no config.json): set finetune.base_model "
            "to 'embedded' or to a folder saved with save_pretrained()",
            path=folder,
            field="finetune.base_model",
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WorkbenchError(f"cannot read the model's config.json: {exc}", path=path) from None
    if not isinstance(config, dict):
        raise WorkbenchError("the model's config.json is not a JSON object", path=path)
    return config


def resolve_base(project: Project, spec: str | None = None) -> BaseModel:
    """The configured (or given) base model, made available as a local HF folder."""
    settings = project.config.finetune
    spec = spec or settings.base_model
    ollama_base: str | None
    if spec == EMBEDDED:
        folder = embedded_hf_folder()
        ollama_base = settings.ollama_base or EMBEDDED_OLLAMA_BASE
    else:
        folder = Path(spec).expanduser()
        if not folder.is_absolute():
            folder = (project.root / folder).resolve()
        if not folder.is_dir():
            raise WorkbenchError(
                f"base model folder does not exist: {folder}", path=project.config.path, field="finetune.base_model"
            )
        ollama_base = settings.ollama_base
    cfg = read_model_config(folder)
    return BaseModel(
        spec, folder, str(cfg.get("model_type") or "unknown"), list(cfg.get("architectures") or []), ollama_base
    )


def base_problem(project: Project) -> WorkbenchError | None:
    """Why the configured base would lead to an adapter that can be neither evaluated nor
    exported here, or None. Cheap (reads config.json only; the embedded base always works), so
    `finetune check` and `finetune train` refuse before any training, not after it: the
    workbench runs adapters only on the embedded model, and Ollama converts adapters only for
    llama and gemma2 bases, so any other local base is a job with no way to judge it."""
    settings = project.config.finetune
    if settings.base_model == EMBEDDED:
        return None

    def error(message: str) -> WorkbenchError:
        return WorkbenchError(
            message,
            path=project.config.path,
            field="finetune.base_model",
            line=project.config.line_of("finetune", "base_model"),
        )

    try:
        base = resolve_base(project)
    except WorkbenchError as exc:
        return error(exc.message)
    if base.model_type in OLLAMA_ARCHITECTURES:
        return None
    return error(
        f"finetune.base_model {base.spec} is a '{base.model_type}' model: an adapter trained on it could "
        "not be evaluated here (the workbench runs adapters only on the embedded model) nor exported to "
        f"Ollama (it converts adapters only for {' and '.join(OLLAMA_ARCHITECTURES)} bases). Use "
        "base_model: embedded, or a local llama or gemma2 folder (then `finetune export` creates the "
        "Ollama model and `workbench eval run --model ollama:NAME` evaluates it)"
    )


def embedded_hf_folder() -> Path:
    """The HF folder of the embedded SmolLM2: the same folder the embedded provider answers from
    (built once from the bundled GGUF), so the adapter is trained on exactly those weights."""
    from workbench.core.llm.base import ProviderError
    from workbench.core.llm.embedded import ensure_hf_folder

    try:
        return Path(ensure_hf_folder())
    except ProviderError as exc:
        raise WorkbenchError(f"the embedded base model is unavailable: {exc}", field="finetune.base_model") from None
