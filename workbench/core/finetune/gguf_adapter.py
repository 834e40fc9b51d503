"""Write a peft LoRA adapter as a GGUF LoRA file, the way llama.cpp's convert_lora_to_gguf.py does.

Details: docs/NOTES.md, section core/finetune/gguf_adapter.py.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError

SAFETENSORS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
# model_type -> (GGUF architecture, whether llama.cpp permutes q/k rows for it). Only these two
# because Ollama applies adapters to these bases (workbench/core/finetune/base.py).
ARCHITECTURES = {"llama": ("llama", True), "gemma2": ("gemma2", False)}
_PEFT_NAME = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")
_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "uint16"}  # bfloat16 is widened by hand

if TYPE_CHECKING:
    import numpy as np


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (8-byte little-endian length + JSON), no torch."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n <= 0 or n > 100_000_000:
            raise WorkbenchError(f"{path.name} is not a valid safetensors file", path=path)
        try:
            header: dict[str, Any] = json.loads(f.read(n))
            return header
        except ValueError:
            raise WorkbenchError(f"{path.name} has an unreadable safetensors header", path=path) from None


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as float32 arrays (F32, F16 or BF16 on disk)."""
    import numpy as np

    header = safetensors_header(path)
    raw = path.read_bytes()
    start = 8 + int.from_bytes(raw[:8], "little")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise WorkbenchError(
                f"tensor {name} is {info.get('dtype')}; only F32, F16 or BF16 adapters convert", path=path, field=name
            )
        lo, hi = info["data_offsets"]
        arr = np.frombuffer(raw[start + lo : start + hi], dtype=dtype)
        if dtype == "uint16":  # bfloat16: the high half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.astype(np.float32).reshape(info["shape"])
    return out


def permute_rows(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py `LlamaModel.permute`: reorder the output rows of a q/k
    weight (here: LoRA B) from HF's rotate-half layout to GGUF's interleaved rope layout."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _scale(cfg: dict[str, Any], rank: int) -> float:
    """peft's LoRA scale for one module (alpha/r, or alpha/sqrt(r) with rsLoRA)."""
    alpha = float(cfg.get("lora_alpha") or 8)
    return alpha / math.sqrt(rank) if cfg.get("use_rslora") else alpha / rank


def write_gguf_adapter(
    adapter_dir: Path,
    out_path: Path,
    *,
    model_type: str,
    n_head: int,
    n_head_kv: int | None = None,
    n_layers: int | None = None,
) -> Path:
    """Write `adapter_dir` (peft LoRA: adapter_model.safetensors + adapter_config.json) as a
    GGUF LoRA adapter for a base of `model_type`, f32 tensors (see the note in the body)."""
    import gguf
    import numpy as np

    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    if model_type not in ARCHITECTURES:
        raise WorkbenchError(
            f"no GGUF adapter layout for a '{model_type}' base (only {', '.join(ARCHITECTURES)})",
            field="finetune.base_model",
        )
    arch_name, permute_qk = ARCHITECTURES[model_type]
    cfg_path = adapter_dir / CONFIG
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"cannot read the adapter config: {exc}", path=cfg_path) from None
    if cfg.get("alpha_pattern"):
        # llama.cpp applies one adapter.lora.alpha to every tensor (scale = alpha / rank).
        raise WorkbenchError(
            "alpha_pattern (a different lora_alpha per module) has no GGUF equivalent; retrain with one lora_alpha",
            path=cfg_path,
            field="alpha_pattern",
        )
    alpha = float(cfg.get("lora_alpha") or 8)
    tensors = read_safetensors(adapter_dir / SAFETENSORS)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for name, arr in tensors.items():
        m = _PEFT_NAME.match(name)
        if m is None:
            raise WorkbenchError(f"{name} is not a LoRA A/B tensor", path=adapter_dir / SAFETENSORS, field=name)
        pairs.setdefault(m["module"], {})[m["ab"]] = arr
    layers = [int(x) for x in re.findall(r"layers\.(\d+)\.", " ".join(pairs))]
    n_blocks = n_layers or (max(layers) + 1 if layers else 1)
    arch = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch_name)
    names = gguf.get_tensor_name_map(arch, n_blocks)  # HF name -> llama.cpp name, as the converter maps

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial")  # no half-written adapter.gguf on failure
    writer = gguf.GGUFWriter(str(tmp), arch_name)  # writes general.architecture
    # The keys llama.cpp's convert_lora_to_gguf.py writes (set_type, set_gguf_parameters) and
    # llama-adapter.cpp `llama_adapter_lora_init_impl` checks.
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for module in sorted(pairs, key=_natural):
        ab = pairs[module]
        where = adapter_dir / SAFETENSORS
        if set(ab) != {"A", "B"}:
            raise WorkbenchError(f"{module} has lora_{'A' if 'A' not in ab else 'B'} missing", path=where, field=module)
        a, b = ab["A"], ab["B"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise WorkbenchError(
                f"{module}: lora_A {list(a.shape)} and lora_B {list(b.shape)} do not pair", path=where, field=module
            )
        gname = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if gname is None:
            raise WorkbenchError(
                f"{module} has no llama.cpp tensor name for a {arch_name} model", path=where, field=module
            )
        rank = a.shape[0]
        fold = _scale(cfg, rank) / (alpha / rank)  # llama.cpp scales by alpha / rank; rsLoRA differs
        if fold != 1.0:
            b = b * np.float32(fold)
        if permute_qk and gname.endswith((".attn_q.weight", ".attn_k.weight")):
            # as LlamaModel.modify_tensors: q with (n_head, n_head), k with (n_head, n_head_kv)
            kv = n_head_kv if gname.endswith(".attn_k.weight") else n_head
            heads = kv or n_head
            if b.shape[0] % (2 * heads):
                raise WorkbenchError(
                    f"{module}: {b.shape[0]} output rows do not split into {heads} heads; "
                    "is the base config.json the one this adapter was trained on?",
                    path=where,
                    field=module,
                )
            b = permute_rows(b, n_head, kv)
        # f32 like convert_lora_to_gguf.py's default --outtype: exact (the test compares deltas
        # to 1e-6), small (SmolLM2-135M, r=8 on all 7 projections: ~10 MB), and llama.cpp's loader takes
        # any type (it ggml_dup's the tensor and runs mul_mat on it).
        writer.add_tensor(gname + ".lora_a", np.ascontiguousarray(a, dtype=np.float32))
        writer.add_tensor(gname + ".lora_b", np.ascontiguousarray(b, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out_path)
    return out_path


def _natural(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
