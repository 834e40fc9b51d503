"""Fine-tune settings: the `finetune:` section of workbench.yaml.

Two halves. The *guard* thresholds decide when the evidence says a LoRA fine-tune is justified
(docs/ARCHITECTURE.md: fine-tune last, rarely, only with evidence); the *training* settings are the peft
LoRA hyper-parameters. Only plain types are used, because the lead's config loader validates
YAML into dataclasses generically from the annotations; `gt`/`ge`/`le` metadata are enforced
bounds, so a share written as a percentage (`min_recall: 90`) is an error naming file and line,
not a rule that can never pass.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Signal = Literal["format", "capability", "prompt-cost"]
SIGNALS: tuple[str, ...] = ("format", "capability", "prompt-cost")

# Projections Ollama's safetensors adapter converter understands (ollama
# convert/convert_llama_adapter.go).
OLLAMA_LORA_TARGETS: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)


@dataclass
class FinetuneSettings:
    """When a fine-tune is allowed, and how the LoRA adapter is trained."""

    # -- what the evidence is measured on ---------------------------------------------------
    # Eval-set file (under evals.dir) the guard reads and the adapter is judged on;
    # None -> evals.default_set, else the only/first file.
    evalset: str | None = None
    # Named variant whose prompt (system, template, few-shot) frames the training examples and
    # which `finetune eval` re-runs with the adapter. None -> the base settings.
    variant: str | None = None

    # -- guard thresholds -------------------------------------------------------------------
    # The eval set needs at least this many cases, and a held-out split training never sees.
    min_cases: int = field(default=30, metadata={"gt": 0})
    # At least this many distinct prompt/retrieval variants evaluated on it.
    min_variants: int = field(default=3, metadata={"gt": 0})
    # "Plateaued": for each of the last this-many variants evaluated, the paired confidence
    # bound of its gain over the best is below min_gain (evidence of a ceiling, not just "no
    # significant gain").
    plateau_window: int = field(default=2, metadata={"gt": 0})
    # The smallest pass-rate gain worth another prompt or retrieval change (0.05: 5 points).
    min_gain: float = field(default=0.05, metadata={"gt": 0, "le": 1})
    # The plateau rule's one-sided bounds are at this level (a gain is real when its lower bound
    # is above 0); `finetune eval` calls an adapter better when McNemar's p is below it.
    significance: float = field(default=0.05, metadata={"gt": 0, "le": 0.5})
    # Retrieval is the bottleneck when more than this share of failures are retrieval misses...
    max_retrieval_miss_share: float = field(default=0.2, metadata={"ge": 0, "le": 1})
    # ...or when recall@k (gold document in the top k) on labelled cases is below this.
    min_recall: float = field(default=0.9, metadata={"ge": 0, "le": 1})
    # A format/capability signal needs at least this many cases failing that way in every variant.
    min_signal_cases: int = field(default=3, metadata={"gt": 0})
    # The prompt-cost signal needs prompt tokens to be at least this share of all tokens.
    min_prompt_share: float = field(default=0.75, metadata={"ge": 0, "le": 1})
    # Warn (knowledge injection) when at least this share of training targets mostly restate the
    # corpus (word 3-gram containment >= 0.5 against the indexed documents).
    knowledge_overlap_warn: float = field(default=0.5, metadata={"ge": 0, "le": 1})

    # -- the base model ---------------------------------------------------------------------
    # "embedded" (the bundled SmolLM2-135M-Instruct) or a local Hugging Face model folder.
    base_model: str = "embedded"
    # The Ollama model the exported adapter is applied to (Modelfile FROM). It must be the same
    # weights the adapter was trained on. None -> "smollm2:135m" for the embedded base.
    ollama_base: str | None = None

    # -- LoRA (peft) ------------------------------------------------------------------------
    rank: int = field(default=8, metadata={"gt": 0})
    alpha: int = field(default=16, metadata={"gt": 0})
    dropout: float = field(default=0.05, metadata={"ge": 0, "le": 1})
    # Only q/k/v/o and gate/up/down projections can be exported to Ollama.
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lr: float = field(default=1e-3, metadata={"gt": 0})
    epochs: int = field(default=3, metadata={"gt": 0})
    # A fixed number of optimizer steps instead of epochs (None: epochs decide).
    max_steps: int | None = field(default=None, metadata={"gt": 0})
    batch_size: int = field(default=4, metadata={"gt": 0})
    # Tokens per example (prompt + answer); longer answers are cut, longer prompts are skipped.
    # 2048 fits grounded prompts (the sample's k=4 context is ~850 tokens, k=8 ~1600); memory
    # is bounded by micro_batch_tokens, not by this.
    max_length: int = field(default=2048, metadata={"gt": 0})
    # Padded tokens per forward pass: a batch of long examples is split into micro-batches whose
    # gradients add up to the same step (memory ~2.6 GB per 1000 tokens for the 135M model on
    # CPU; 4 x 900-token prompts in one pass took 12.6 GB).
    micro_batch_tokens: int = field(default=1024, metadata={"gt": 0})
    # CPU threads for the training subprocess (None: all cores but one). Explicit, because a busy
    # core stalls torch's thread pool (27 s steps were seen on 2 shared cores).
    threads: int | None = field(default=None, metadata={"gt": 0})
    # Training processes (data parallel through accelerate: gloo on CPU, NCCL on CUDA, one GPU
    # per process). Each takes a share of every batch; the steps and the adapter are those of
    # one process. With threads unset, the cores but one are shared between them.
    processes: int = field(default=1, metadata={"gt": 0})
    # A checkpoint (adapter + optimizer state) every this-many steps, and always at cancel.
    save_every: int = field(default=10, metadata={"gt": 0})
    # "auto": CUDA when available (bf16 where supported), else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 42
    # Share of JSONL rows without a `split` kept back as held-out (deterministic by content).
    jsonl_heldout_fraction: float = field(default=0.1, metadata={"ge": 0, "le": 1})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lora_dict(self) -> dict[str, Any]:
        """The training half, as stored with a job and handed to the worker."""
        keys = (
            "rank",
            "alpha",
            "dropout",
            "target_modules",
            "lr",
            "epochs",
            "max_steps",
            "batch_size",
            "max_length",
            "micro_batch_tokens",
            "threads",
            "processes",
            "save_every",
            "device",
            "seed",
        )
        return {k: getattr(self, k) for k in keys}
