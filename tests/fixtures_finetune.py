"""Fixtures and builders for the fine-tune tests.

- `sample_project`: a copy of sample_data/ (83-case SQLite eval set, 45-page corpus) in tmp.
- `add_eval_run(...)`: stores a finished eval run the way the runner does (eval_runs row,
  one eval_results row per case, a generation per case with token counts), so the guard reads
  realistic evidence without calling a model.
- `smol_folder`: the HF folder of the embedded SmolLM2 (converted once, then cached).
- `tiny_adapter`: a real peft LoRA adapter (q_proj/v_proj) saved from the SmolLM2 base.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.core.evals import runstore
from workbench.core.evals.assertions import AssertionResult
from workbench.core.evals.evalset import EvalSet, load_evalset
from workbench.core.evals.results import CaseResult
from workbench.core.evals.summary import summarize
from workbench.core.project import Project

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def sample_project(tmp_path: Path) -> Iterator[Project]:
    root = tmp_path / "sample"
    # Without any local .workbench/ (runs or an index someone made in the checkout): fresh.
    shutil.copytree(REPO / "sample_data", root, ignore=shutil.ignore_patterns(".workbench"))
    project = Project.open(root)
    yield project
    project.close()


def variant_spec(
    prompt: str = "grounded_qa",
    *,
    k: int = 4,
    system: str | None = None,
    model: str = "ollama:llama3.2",
    adapter: str | None = None,
) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "template": f"template of {prompt}",
        "system": system,
        "examples": [],
        "model": model,
        "options": {"temperature": 0},
        "retrieval": {"k": k, "mode": "hybrid"} if prompt == "grounded_qa" else None,
        "adapter": adapter,
    }


def add_eval_run(
    project: Project,
    evalset: Any,
    name: str,
    spec: dict[str, Any],
    outcomes: dict[str, tuple[str, str | None]],
    *,
    retrieve: bool = True,
    prompt_tokens: int = 600,
    completion_tokens: int = 60,
) -> int:
    """A finished run: `outcomes` maps case id -> (verdict, failure_kind); unlisted cases pass.

    With `retrieve`, every case's gold documents were retrieved except retrieval misses.
    """
    store = project.store
    vid = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    run_id = runstore.create_run(
        store,
        evalset=evalset,
        variant_id=vid,
        variant_name=name,
        repeat=1,
        config={"variant": spec, "concurrency": 1, "repeat": 1, "cache": True},
    )
    results = []
    for case in evalset.cases:
        verdict, kind = outcomes.get(case.id, ("pass", None))
        gen_id = store.start_generation(
            {
                "source": "eval",
                "variant_id": vid,
                "variant_name": name,
                "inputs": dict(case.inputs),
                "messages": [],
                "model_requested": spec["model"],
            }
        )
        store.update_generation(
            gen_id,
            {
                "status": "ok",
                "output": f"answer to {case.id}",
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost": prompt_tokens * 1.5e-7 + completion_tokens * 6e-7,
            },
        )
        retrieved = None
        if retrieve and case.relevant:
            retrieved = ("other.md",) if kind == "retrieval-miss" else (case.relevant[0], "other.md")
        assertion = AssertionResult(
            type="json-schema" if kind == "format" else "icontains",
            name="check",
            passed=verdict == "pass",
            score=None,
            detail="",
        )
        r = CaseResult(
            case.id,
            verdict,
            [assertion],
            kind,
            generation_id=gen_id,
            tags=case.tags,
            relevant=case.relevant,
            retrieved=retrieved,
            gold_rank=(1 if retrieved and retrieved[0] != "other.md" else None) if retrieved else None,
            latency_ms=100.0,
        )
        runstore.write_result(store, run_id, r)
        results.append(r)
    runstore.finish_run(store, run_id, "done", summarize(runstore.load_results(store, run_id)))
    return run_id


@pytest.fixture(scope="session")
def smol_folder() -> Path:
    from workbench.core.finetune.base import embedded_hf_folder

    return embedded_hf_folder()


@pytest.fixture(scope="session")
def tiny_adapter(smol_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (untrained, B=0) LoRA adapter on q_proj/v_proj of the SmolLM2 base."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("adapter") / "adapter"
    model = AutoModelForCausalLM.from_pretrained(str(smol_folder), dtype=torch.float32)
    model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    model.save_pretrained(str(out))
    return out


def train_cli(
    project: Project, data: Path, steps: int, override: str, *extra: str, **popen: Any
) -> subprocess.Popen[str]:
    """`workbench finetune train --json` in a child process, its output piped as text."""
    popen.setdefault("env", {**os.environ, "PYTHONPATH": os.getcwd()})
    command = [sys.executable, "-m", "workbench.cli", "--project", str(project.root), "finetune", "train", "--json"]
    command += ["--override", override, "--data", str(data), "--steps", str(steps), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def failing(cases: Any, kinds: list[str]) -> dict[str, tuple[str, str]]:
    """The first len(kinds) train cases fail with the given kinds."""
    ids = [c.id for c in cases if c.split != "heldout"]
    return {cid: ("fail", kind) for cid, kind in zip(ids, kinds, strict=False)}


def build_plateau(project: Project, *, last_jump: bool = False) -> EvalSet:
    """Four variants on the sample eval set: a real jump, then two within noise (a plateau);
    three format failures in every variant, one retrieval miss; `last_jump` adds a fifth that jumps."""
    es = load_evalset(project.root / "evals" / "sqlite_qa.yaml")
    cases = es.cases
    fmt = ["format"] * 3
    # base 60 pass; k8 fixes 10 (real); terse -1 (noise); v4 +1 (noise) -> plateau over the last two
    add_eval_run(project, es, None, variant_spec(), failing(cases, fmt + ["context-ignored"] * 19 + ["retrieval-miss"]))
    add_eval_run(
        project, es, "k8", variant_spec(k=8), failing(cases, fmt + ["context-ignored"] * 9 + ["retrieval-miss"])
    )
    add_eval_run(
        project,
        es,
        "terse",
        variant_spec("terse_qa", k=8),
        failing(cases, fmt + ["context-ignored"] * 10 + ["retrieval-miss"]),
        retrieve=False,
    )
    add_eval_run(
        project,
        es,
        "cite-first",
        variant_spec(system="Quote first.", k=8),
        failing(cases, fmt + ["context-ignored"] * 8 + ["retrieval-miss"]),
    )
    if last_jump:
        add_eval_run(project, es, "v5", variant_spec(system="Better.", k=8), failing(cases, fmt))
    return es
