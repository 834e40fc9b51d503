"""A fine-tune job's stored facts as plain text lines: `finetune jobs`, `finetune show`,
`runs show fN`, the Runs listing's summary and the Fine-tune tab read alike. No markup: user
text (override reasons, errors, names) is inside; callers pass each line through `safe`.
"""

from __future__ import annotations

from typing import Any

from workbench.core.finetune.jobs import export_dropped, exports, loss_points
from workbench.core.records import FinetuneJob
from workbench.core.store import as_dict
from workbench.present.finetune_guard import stored_report
from workbench.present.numbers import pct

LORA_KEYS = ("rank", "alpha", "dropout", "target_modules", "lr", "batch_size", "max_length")


def export_words(exp: dict[str, Any]) -> str:
    """`quack (ollama)`, `quack (ollama, DROP 0% vs the adapter's 100%)`, `quack (folder only)`."""
    if not exp.get("created"):
        return f"{exp.get('name')} (folder only)"
    ev = as_dict(exp.get("eval"))
    if export_dropped(exp):
        rates = ""
        if ev.get("pass_rate") is not None and ev.get("adapter_pass_rate") is not None:
            rates = f" {pct(ev['pass_rate'])} vs the adapter's {pct(ev['adapter_pass_rate'])}"
        return f"{exp.get('name')} (ollama, DROP{rates})"
    return f"{exp.get('name')} (ollama)"


def export_lines(exp: dict[str, Any]) -> list[str]:
    """One export as people read it: where, what was created, how the exported model scored."""
    lines = [f"export {exp.get('name')}: {exp.get('folder')} (Modelfile: FROM {exp.get('base')} + ADAPTER)"]
    ev = as_dict(exp.get("eval"))
    warnings = [w for w in exp.get("warnings") or [] if w != ev.get("words")]
    if exp.get("created"):
        lines.append(f"  created ollama:{exp.get('name')} in Ollama {exp.get('ollama')}")
    elif not warnings:  # an unreachable Ollama says so in a warning
        lines.append("  not created in Ollama")
    if ev.get("words"):
        lines.append(f"  {ev['words']}")
    return lines + [f"  warning: {w}" for w in warnings]


def eval_lines(ev: dict[str, Any]) -> list[str]:
    """The adapter's eval: verdict, statistics, pass rates, the held-out cases alone, notes."""
    stats = ev.get("stats") if isinstance(ev.get("stats"), dict) else None
    line = f"eval e{ev.get('run_id')} vs e{ev.get('baseline_run_id')}: {ev.get('verdict')} — {ev.get('words')}"
    if stats and stats.get("pass_rate_a") is not None and stats.get("pass_rate_b") is not None:
        line += f" · pass {pct(stats['pass_rate_a'])} → {pct(stats['pass_rate_b'])}"
    lines = [line]
    heldout = ev.get("heldout")
    if isinstance(heldout, dict) and heldout.get("words"):
        lines.append(f"  held-out cases only ({heldout.get('n')}): {heldout['words']}")
    return lines + [f"  note: {note}" for note in ev.get("notes") or []]


def job_summary(job: FinetuneJob) -> str:
    """One line: status, progress, loss, eval verdict, export."""
    config = as_dict(job.get("config"))
    curve = loss_points(job)
    total = config.get("total_steps")
    parts = [f"f{job['id']} {job.get('status')}"]
    if curve:
        parts.append(f"step {curve[-1]['step']}/{total or '?'}")
        parts.append(f"loss {curve[0]['loss']:.3f} -> {curve[-1]['loss']:.3f}")
    elif total:
        parts.append(f"0/{total} steps")
    if job.get("signal"):
        parts.append(f"signal {job['signal']}")
    if job.get("override_reason"):
        parts.append(f"OVERRIDE: {job['override_reason']}")
    ev = config.get("eval") if isinstance(config.get("eval"), dict) else None
    if ev:
        parts.append(f"eval e{ev.get('run_id')}: {ev.get('verdict')}")
    done = exports(job)
    if done:
        parts.append("exported " + ", ".join(export_words(e) for e in done))
    if job.get("error"):
        parts.append(f"error: {job['error']}")
    return ", ".join(parts)


def job_lines(job: FinetuneJob) -> list[str]:
    """Everything stored about a job, as plain text lines."""
    config = as_dict(job.get("config"))
    lines = [job_summary(job), f"created {job.get('created_at')}, updated {job.get('updated_at')}"]
    base = config.get("base") or {}
    lines.append(f"base model: {job.get('base_model')} ({base.get('model_type', '?')}, {base.get('folder', '?')})")
    lora = config.get("lora") or {}
    if lora:
        lines.append("lora: " + ", ".join(f"{k}={lora[k]}" for k in LORA_KEYS if k in lora))
    if job.get("override_reason"):
        lines.append(f"guard overridden: {job['override_reason']}")
    guard = stored_report(as_dict(job.get("guard_report")))
    if guard.get("advice"):
        lines.append(f"guard: {'passed' if guard.get('passed') else 'did not pass'} — {guard['advice']}")
    ds = config.get("dataset") or {}
    sha = job.get("dataset_hash")
    if sha:
        lines.append(
            f"dataset: {ds.get('train', '?')} train / {ds.get('heldout', '?')} held-out examples, "
            f"{ds.get('answer_tokens', '?')} answer tokens, sha256 {sha[:16]}… "
            f"({job.get('dataset_path')})"
        )
    if config.get("heldout_loss") is not None:
        lines.append(f"held-out loss {config['heldout_loss']:.3f}")
    if job.get("adapter_path"):
        lines.append(f"adapter: {job['adapter_path']}")
    if job.get("checkpoint_path"):
        lines.append(f"checkpoint: {job['checkpoint_path']} (step {config.get('checkpoint_step', '?')})")
    ev = config.get("eval") if isinstance(config.get("eval"), dict) else None
    if ev:
        lines += eval_lines(ev)
    for exp in exports(job):
        lines += export_lines(exp)
    return lines
