"""Training tokens/s: the workbench trainer vs a bare transformers+peft loop, same run.

Both sides train the same LoRA (same rank, alpha, dropout, targets, lr, AdamW, LR schedule,
grad clipping) on the same base model, the same tokenized examples and the exact same batches
in the same order, with the same thread count, each in its own fresh subprocess:
- workbench: `TrainingRun` (the real worker subprocess, JSON-lines progress, the loss curve
  written to SQLite every step, checkpoint checks). Timed by the parent from the arrival of the
  step-1 event to the arrival of the last step event, so every per-step cost counts (emitting,
  piping, the parent's SQLite writes are in another process but the pipe wait is not hidden);
- bare: a hand-written loop in a subprocess, timed from the end of step 1 to the end of the last.
Step 1 is excluded on both sides (allocator warm-up). Runs alternate bare/workbench to spread
machine noise (which side goes first alternates too), and the median per-pair ratio is printed,
both for wall-clock tokens/s and for tokens per CPU-second of the training process. Target: ratio >= 0.95.

Run: .venv/bin/python benchmarks/finetune_throughput.py [--steps 12] [--pairs 2] [--threads N]
     [--batch 4] [--examples 32] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BARE = r"""
import json, math, sys, time, torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
spec = json.load(open(sys.argv[1]))
lora = spec["lora"]
torch.set_num_threads(spec["threads"])
torch.manual_seed(lora["seed"])
cuda = lora["device"] in ("auto", "cuda") and torch.cuda.is_available()
device = torch.device("cuda" if cuda else "cpu")
bf16 = cuda and torch.cuda.is_bf16_supported()
model = AutoModelForCausalLM.from_pretrained(spec["base_folder"], dtype=torch.bfloat16 if bf16 else torch.float32)
model.config.use_cache = False
model = get_peft_model(model, LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                                         target_modules=lora["target_modules"], task_type="CAUSAL_LM"))
model.to(device).train()
rows = [json.loads(l) for l in open(spec["train_path"]) if l.strip()]
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=lora["lr"], weight_decay=0.0)
total = spec["total_steps"]
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.1, 1.0 - 0.9 * s / total))
pad = model.config.pad_token_id or 0
tokens = 0
cpu = 0.0
t_first = None
for step, idx in enumerate(spec["batches"]):
    c0 = time.process_time()
    batch = [rows[i] for i in idx]
    width = max(len(r["input_ids"]) for r in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, r in enumerate(batch):
        t = torch.tensor(r["input_ids"])
        ids[i, :len(t)] = t; mask[i, :len(t)] = 1; labels[i, r["prompt_len"]:len(t)] = t[r["prompt_len"]:]
    ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
    float(loss.detach())
    if cuda: torch.cuda.synchronize()
    if step == 0:
        t_first = time.perf_counter()
    else:
        tokens += int(mask.sum())
        cpu += time.process_time() - c0
print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - t_first, "cpu_s": cpu, "device": str(device)}))
"""


def make_project(root: Path, args: argparse.Namespace) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "plain.yaml").write_text('system: Answer briefly.\ntemplate: "{question}"\n')
    threads = f"  threads: {args.threads}\n" if args.threads else ""
    (root / "workbench.yaml").write_text(
        "name: bench\nmodel: {provider: embedded}\nfallback: []\ndefault_prompt: plain\n"
        f"finetune:\n  rank: 8\n  alpha: 16\n  lr: 0.001\n  batch_size: {args.batch}\n  max_length: 128\n"
        f"  save_every: 1000\n  device: {args.device}\n{threads}"
    )
    topics = [
        "tables",
        "indexes",
        "WAL mode",
        "foreign keys",
        "JSON functions",
        "window functions",
        "triggers",
        "views",
        "transactions",
        "VACUUM",
        "ATTACH",
        "full-text search",
        "generated columns",
        "STRICT tables",
        "upsert",
        "RETURNING",
    ]
    rows = []
    for i in range(args.examples):
        t = topics[i % len(topics)]
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "Answer in one JSON object."},
                    {"role": "user", "content": f"In SQLite, what should I know about {t}? (#{i})"},
                    {
                        "role": "assistant",
                        "content": json.dumps(
                            {
                                "topic": t,
                                "answer": f"See the SQLite documentation page on {t}; "
                                f"it explains usage, limits and pitfalls.",
                            }
                        ),
                    },
                ],
                "split": "train",
            }
        )
    data = root / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def run_workbench(project, job_id: int) -> dict:
    from workbench.core.finetune.train import TrainingRun

    times: list[tuple[float, int, float]] = []

    def on_event(e: dict) -> None:
        if e["event"] == "step":
            times.append((time.perf_counter(), e["tokens"], e["cpu_s"]))
        elif e["event"] == "start":
            on_event.device = e["device"]

    run = TrainingRun(project, job_id, on_event=on_event)
    out = run.run()
    assert out.status == "done", out.error
    tokens = sum(t for _, t, _ in times[1:])
    return {
        "tokens": tokens,
        "seconds": times[-1][0] - times[0][0],
        "cpu_s": sum(c for _, _, c in times[1:]),
        "device": getattr(on_event, "device", "?"),
    }


def run_bare(spec_path: Path, env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", BARE, str(spec_path)], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"bare loop failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()

    from workbench.core.finetune import jobs
    from workbench.core.finetune.train import prepare_job, resolve_threads
    from workbench.core.finetune.train_worker import batch_for_step
    from workbench.core.project import Project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        data = make_project(root, args)
        project = Project.open(root)
        threads = resolve_threads(args.threads)
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
        }
        results = []
        for pair in range(args.pairs):
            plan = prepare_job(project, override="benchmark", data=data, steps=args.steps)
            spec = json.loads((plan.folder / "worker.json").read_text())
            n = plan.dataset.train
            spec["threads"] = threads
            spec["batches"] = [
                batch_for_step(s, n, spec["lora"]["batch_size"], spec["lora"]["seed"])[1] for s in range(args.steps)
            ]
            bare_spec = plan.folder / "bare.json"
            bare_spec.write_text(json.dumps(spec))
            if pair % 2 == 0:  # alternate which side goes first, so drifting load favours neither
                bare = run_bare(bare_spec, env)
                wb = run_workbench(project, plan.job_id)
            else:
                wb = run_workbench(project, plan.job_id)
                bare = run_bare(bare_spec, env)
            assert jobs.get_job(project.store, plan.job_id)["status"] == "done"
            b_tps, w_tps = bare["tokens"] / bare["seconds"], wb["tokens"] / wb["seconds"]
            b_cpu, w_cpu = bare["tokens"] / bare["cpu_s"], wb["tokens"] / wb["cpu_s"]
            assert bare["tokens"] == wb["tokens"], (bare["tokens"], wb["tokens"])  # identical work
            results.append((b_tps, w_tps, b_cpu, w_cpu))
            print(
                f"pair {pair + 1}: wall: bare {b_tps:7.1f} tok/s  workbench {w_tps:7.1f} tok/s  ratio "
                f"{w_tps / b_tps:.3f} | per CPU-second: bare {b_cpu:7.1f}  workbench {w_cpu:7.1f}  ratio "
                f"{w_cpu / b_cpu:.3f}  ({bare['tokens']} tokens, {args.steps - 1} steps, device {wb['device']}, "
                f"{threads} threads)",
                flush=True,
            )
        project.close()
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for label, b_i, w_i in (("wall-clock", 0, 1), ("per CPU-second", 2, 3)):
        ratios = [r[w_i] / r[b_i] for r in results]
        print(
            f"{label}: median bare {statistics.median(r[b_i] for r in results):.1f} tok/s, workbench "
            f"{statistics.median(r[w_i] for r in results):.1f} tok/s, median ratio workbench/bare "
            f"{statistics.median(ratios):.3f} (target >= 0.95)"
        )
    print(
        "On a shared machine the wall-clock ratio swings with other load; the CPU-second ratio is the "
        "steadier measure of the trainer's own overhead."
    )


if __name__ == "__main__":
    main()
