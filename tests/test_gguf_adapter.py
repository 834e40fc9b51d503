"""The GGUF LoRA adapter we write applies the same weight change as the peft adapter, in the base
GGUF's own row order. The q/k row order is not taken from our code: it is derived by matching the
shipped SmolLM2 GGUF's raw rows to the rows transformers loads from it. The file is read back with
gguf.GGUFReader, as llama.cpp would read it, and B·A·alpha/r is compared with peft's own delta.

Also measured: Ollama's safetensors route (convert/convert_llama_adapter.go `llamaAdapter.repack`
permutes lora_a, leaves lora_b) does not reproduce the delta, which is why llama bases export GGUF.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.core.finetune.gguf_adapter import write_gguf_adapter

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GGUF_NAMES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def random_peft_adapter(model, out: Path, *, seed: int = 0, **lora: object) -> dict[str, np.ndarray]:
    """A saved peft LoRA (r=4, alpha=8) with random non-zero A and B; returns peft's deltas
    {"<layer>.<proj>": W delta} computed by peft itself (get_delta_weight)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, lora_dropout=0.0, **lora))
    deltas = {}
    with torch.no_grad():
        for name, module in peft_model.named_modules():
            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
                module.lora_A["default"].weight.normal_(0, 0.1)
                module.lora_B["default"].weight.normal_(0, 0.1)
                layer = name.split("layers.")[1].split(".")[0]
                deltas[f"{layer}.{name.rsplit('.', 1)[1]}"] = module.get_delta_weight("default").numpy().copy()
    peft_model.save_pretrained(str(out))
    return deltas


def gguf_deltas(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
    """(deltas, raw {name: array}, alpha) from a GGUF adapter, the way llama.cpp applies it:
    delta = B·A·alpha/rank with rank = lora_b's ne[0] (llama-adapter.h get_scale)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    kv = {f.name: f for f in reader.fields.values()}
    assert kv["general.type"].contents() == "adapter" and kv["adapter.type"].contents() == "lora"
    alpha = float(kv["adapter.lora.alpha"].contents())
    raw = {t.name: np.array(t.data, dtype=np.float32) for t in reader.tensors}
    deltas = {}
    for name, a in raw.items():
        if name.endswith(".lora_a"):
            b = raw[name[:-1] + "b"]
            deltas[name[: -len(".lora_a")]] = b @ a * (alpha / b.shape[1])
    return deltas, raw, alpha


def ollama_repack_lora_a(a: np.ndarray, heads: int) -> np.ndarray:
    """ollama convert/convert_llama_adapter.go `llamaAdapter.repack` on lora_a, step by step:
    the [r, in] buffer is read as dims [in, r] (shape swapped), reshaped to [heads, 2, in/heads/2,
    r], axes 1 and 2 swapped, and written back as [r, in]; lora_b is returned unchanged."""
    r, n_in = a.shape
    x = a.reshape(n_in, r).reshape(heads, 2, n_in // heads // 2, r).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(x).reshape(r, n_in)


@pytest.fixture(scope="module")
def base_layout(smol_folder: Path) -> dict:
    """The shipped SmolLM2 GGUF's row order for q/k/v, derived from the files themselves:
    perm[i] = the transformers (HF) row that GGUF row i holds."""
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    from workbench.core.llm.embedded_model import locate_gguf

    reader = GGUFReader(str(locate_gguf()))
    raw = {t.name: t for t in reader.tensors if t.name.startswith("blk.0.attn_")}
    config = json.loads((smol_folder / "config.json").read_text())
    layout = {"config": config, "ne": {}}
    with safe_open(str(smol_folder / "model.safetensors"), framework="np") as st:
        for proj, gname in (("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v")):
            t = raw[f"blk.0.{gname}.weight"]
            gguf_rows = dequantize(t.data, t.tensor_type).reshape(-1, int(t.shape[0]))
            hf_rows = st.get_tensor(f"model.layers.0.self_attn.{proj}.weight").astype(np.float32)
            # Nearest HF row for every GGUF row (|x-y|² = |x|² + |y|² - 2x·y); must be exact.
            dist = (gguf_rows**2).sum(1)[:, None] + (hf_rows**2).sum(1)[None, :] - 2 * gguf_rows @ hf_rows.T
            perm = dist.argmin(1)
            assert np.abs(gguf_rows - hf_rows[perm]).max() < 1e-5, f"{gname}: rows do not match"
            assert sorted(perm) == list(range(len(perm))), f"{gname}: not a permutation"
            layout[proj] = perm
            layout["ne"][gname] = [int(n) for n in t.shape]  # GGUF ne order: [in, out]
    return layout


@pytest.mark.slow
def test_llama_gguf_adapter_reproduces_the_peft_delta_in_the_base_gguf_row_order(base_layout, tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = base_layout["config"]
    perm_q, perm_k, perm_v = base_layout["q_proj"], base_layout["k_proj"], base_layout["v_proj"]
    # The base GGUF really is q/k-permuted (else this test would prove nothing) and v is not.
    assert not np.array_equal(perm_q, np.arange(len(perm_q)))
    assert not np.array_equal(perm_k, np.arange(len(perm_k)))
    assert np.array_equal(perm_v, np.arange(len(perm_v)))

    # Same head layout as SmolLM2 (576 wide, 9 query heads, 3 kv heads of 64), two layers.
    torch.manual_seed(0)
    tiny = LlamaForCausalLM(
        LlamaConfig(
            hidden_size=cfg["hidden_size"],
            num_attention_heads=cfg["num_attention_heads"],
            num_key_value_heads=cfg["num_key_value_heads"],
            head_dim=cfg.get("head_dim"),
            intermediate_size=96,
            num_hidden_layers=2,
            vocab_size=32,
        )
    )
    want = random_peft_adapter(tiny, tmp_path / "adapter")
    out = write_gguf_adapter(
        tmp_path / "adapter",
        tmp_path / "adapter.gguf",
        model_type="llama",
        n_head=cfg["num_attention_heads"],
        n_head_kv=cfg["num_key_value_heads"],
    )
    got, raw, alpha = gguf_deltas(out)
    assert alpha == 8.0
    assert sorted(got) == sorted(f"blk.{i}.{GGUF_NAMES[p]}.weight" for i in range(2) for p in TARGETS)
    assert all(t.dtype == np.float32 for t in raw.values())

    # llama-adapter.cpp's shape check against the real base tensors: a.ne[0] == W.ne[0] (in),
    # b.ne[1] == W.ne[1] (out), a.ne[1] == b.ne[0] (rank). numpy shapes are ne reversed.
    for gname in ("attn_q", "attn_k", "attn_v"):
        n_in, n_out = base_layout["ne"][gname]
        a, b = raw[f"blk.0.{gname}.weight.lora_a"], raw[f"blk.0.{gname}.weight.lora_b"]
        assert a.shape == (4, n_in) and b.shape == (n_out, 4)

    errors = {}
    for layer in range(2):
        for proj in TARGETS:
            delta = want[f"{layer}.{proj}"]
            row_order = {"q_proj": perm_q, "k_proj": perm_k}.get(proj, np.arange(delta.shape[0]))
            errors[f"{layer}.{proj}"] = rel_error(got[f"blk.{layer}.{GGUF_NAMES[proj]}.weight"], delta[row_order])
    assert max(errors.values()) < 1e-6, errors

    # Ollama's safetensors route on the same adapter: lora_a repacked, lora_b as is. Its delta
    # is not the base GGUF's (rel. error ~1), for q and for k, and so is "permute A's input axis".
    n_head = cfg["num_attention_heads"]
    for proj, perm in (("q_proj", perm_q), ("k_proj", perm_k)):
        gname = f"blk.0.{GGUF_NAMES[proj]}.weight"
        a, delta = raw[gname + ".lora_a"], want[f"0.{proj}"]
        b = raw[gname + ".lora_b"][np.argsort(perm)]  # B back in peft's order
        ollama = b @ ollama_repack_lora_a(a, n_head) * (alpha / 4)  # k too: num_key_value_heads unset
        input_axis = b @ a[:, perm_q] * (alpha / 4)
        assert np.allclose(b @ a * (alpha / 4), delta, atol=1e-6)
        errors[f"ollama {proj}"] = rel_error(ollama, delta[perm])
        errors[f"input-axis {proj}"] = rel_error(input_axis, delta[perm])
        assert errors[f"ollama {proj}"] > 0.5 and errors[f"input-axis {proj}"] > 0.5, errors
    print("relative errors:", {k: f"{v:.3g}" for k, v in errors.items()})


@pytest.mark.parametrize("rslora", [False, True])
def test_gemma2_gguf_adapter_is_the_peft_delta_unpermuted(tmp_path, rslora):
    """llama.cpp's Gemma2Model does not permute q/k (Gemma uses HF's rope layout), so neither do we.
    With rsLoRA (scale alpha/sqrt(r), llama.cpp applies alpha/r) the difference is folded into B."""
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(1)
    tiny = Gemma2ForCausalLM(
        Gemma2Config(
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            intermediate_size=48,
            num_hidden_layers=2,
            vocab_size=32,
        )
    )
    want = random_peft_adapter(tiny, tmp_path / "adapter", seed=1, use_rslora=rslora)
    out = write_gguf_adapter(
        tmp_path / "adapter", tmp_path / "adapter.gguf", model_type="gemma2", n_head=4, n_head_kv=2
    )
    got, _, alpha = gguf_deltas(out)
    assert alpha == 8.0 and len(got) == 14
    for key, delta in want.items():
        layer, proj = key.split(".")
        assert rel_error(got[f"blk.{layer}.{GGUF_NAMES[proj]}.weight"], delta) < 1e-6, key


def test_an_unpaired_or_foreign_tensor_is_named(tmp_path):
    from safetensors.numpy import save_file

    from workbench.core.errors import WorkbenchError

    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"lora_alpha": 8, "r": 4}))
    save_file(
        {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.ones((4, 8), np.float32)},
        str(folder / "adapter_model.safetensors"),
    )
    with pytest.raises(WorkbenchError, match="lora_B missing") as info:
        write_gguf_adapter(folder, tmp_path / "x.gguf", model_type="llama", n_head=2, n_head_kv=2)
    assert info.value.field == "model.layers.0.self_attn.q_proj"
    assert info.value.path.endswith("adapter_model.safetensors")


def test_bf16_and_f16_adapters_read_as_their_values(tmp_path):
    """peft saves in the training dtype; bfloat16 has no numpy dtype and is widened by hand."""
    import torch
    from safetensors.torch import save_file

    from workbench.core.finetune.gguf_adapter import read_safetensors

    values = torch.tensor([[1.5, -2.25, 3.0e-3], [65504.0, 0.0, -1.0e-2]])
    save_file({"bf": values.to(torch.bfloat16), "f16": values.to(torch.float16)}, str(tmp_path / "x.safetensors"))
    got = read_safetensors(tmp_path / "x.safetensors")
    assert np.array_equal(got["bf"], values.to(torch.bfloat16).float().numpy())
    assert np.array_equal(got["f16"], values.to(torch.float16).float().numpy())
    assert got["bf"].dtype == np.float32 and got["bf"].shape == (2, 3)
