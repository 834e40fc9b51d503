"""The LoRA training process: `python -m workbench.core.finetune.train_worker JOB_DIR`.

Why a separate process: torch with a thread pool on a small shared machine stalls when another
core is busy (27 s steps on 2 shared cores), and training must never freeze the TUI or the CLI that started it. So
the parent hands over a `worker.json` and reads progress as JSON lines on stdout:

  {"event": "start", "device", "dtype", "total_steps", "start_step", "trainable_params", ...}
  {"event": "step", "step", "total_steps", "loss", "lr", "tokens", "tokens_per_s", "eta_s", "epoch"}
  {"event": "checkpoint", "step", "path"}
  {"event": "heldout", "step", "loss"}
  {"event": "done" | "cancelled", "step", "adapter" | "checkpoint"}
  {"event": "error", "kind": "config" | "oom" | "crash", "message"}

Cancel (SIGTERM, SIGINT, or a `cancel` file in the job folder) saves the state as a checkpoint
(adapter + optimizer + scheduler + step), so `resume` continues at the same step with the same
optimizer moments and the same data order (each epoch's order is a seeded permutation, so the
batch for step N is the same in every run). A signal stops at once while the model loads or a
step computes its gradients (the step's update is not applied, so the checkpoint is exact);
a cancel file is seen between steps. If the parent dies (kill -9 of the CLI or the TUI), the
worker exits at once, keeping the last checkpoint: nobody reads its progress any more, and a
later `--resume` must not find it still writing (`watch_parent`).

The step loop is deliberately the bare transformers+peft loop (forward, backward, clip, AdamW,
scheduler): the only extras per step are a flag check, a clock read and one printed line, which
is how benchmarks/finetune_throughput.py keeps it within a few percent of a hand-written loop.
A batch of long examples (more than finetune.micro_batch_tokens padded tokens) is run as
micro-batches with their gradients accumulated, so long grounded prompts fit in memory.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from workbench.core.finetune.ranks import is_distributed, row_answer_tokens

_cancel = False
_stdout_ok = True
_quiet = False  # a rank other than 0 of a multi-process run: rank 0 alone prints progress
# What the main thread is doing: a signal raises _StopNow only where stopping loses nothing
# ("loading": no step yet; "grad": gradients not yet applied), else it waits for the step's end.
_phase = "loading"
_parent: int | None = None  # the pid that started us (WORKBENCH_TRAIN_PARENT), watched
_job_dir: Path | None = None  # set by main(): where a stop while loading reads the checkpoint
_parent_wake = threading.Event()
_saving = threading.Lock()  # held while a checkpoint is written: a parent-death exit waits for it

PARENT_GONE_EXIT = 143  # nobody reads it; as a SIGTERM'd process would report


class _StopNow(BaseException):
    """Raised by the signal handler to leave model loading or a gradient computation at once
    (BaseException, so library code catching Exception does not swallow it)."""


def _on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001
    global _cancel
    if parent_gone():  # PR_SET_PDEATHSIG: the parent died; the watchdog thread exits
        _parent_wake.set()
        return
    first = not _cancel
    _cancel = True
    if first and _phase == "loading":
        # Not an exception: the signal may land inside torch's import or a pybind11 call, and a
        # Python exception crossing C++ frames there aborts the process ("terminate called ...
        # error_already_set"). No step has run, so the checkpoint is as it was: report and leave.
        _report_cancelled(_job_dir)
        os._exit(0)
    if first and _phase == "grad":
        raise _StopNow


def _report_cancelled(job_dir: Path | None) -> None:
    """The `cancelled` event for a stop before any step of this run: the checkpoint on disk."""
    state = job_dir / "checkpoint" / "state.json" if job_dir else None
    try:
        step = json.loads(state.read_text(encoding="utf-8"))["step"] if state and state.is_file() else 0
    except (OSError, ValueError, KeyError):
        step = 0
    emit("cancelled", step=step, checkpoint=str(state.parent) if state and state.is_file() else None)


def parent_gone() -> bool:
    """The parent that started us has died: we were re-parented, or it is a zombie its own
    parent has not reaped yet (the kernel may deliver PDEATHSIG before getppid() changes)."""
    if _parent is None:
        return False
    if os.getppid() != _parent:
        return True
    try:
        stat = Path(f"/proc/{_parent}/stat").read_text()
    except OSError:
        return False  # no procfs (or a pid we may not read): getppid() is the only sign
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def watch_parent(parent: int | None) -> None:
    """Exit at once when `parent` dies. Linux: prctl(PR_SET_PDEATHSIG, SIGTERM) wakes us the
    moment it does; everywhere: a daemon thread polls getppid() (a dead parent's children are
    re-parented), which also covers the parent dying before prctl ran. The exit waits for a
    checkpoint being written, so the last checkpoint is always whole."""
    global _parent
    if not parent:
        return
    _parent = parent
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the polling thread still notices

    def watch() -> None:
        while not parent_gone():
            _parent_wake.wait(0.25)
        with _saving:
            try:
                print(
                    f"parent process {parent} is gone: stopping (the last checkpoint is kept)",
                    file=sys.stderr,
                    flush=True,
                )
            except (OSError, ValueError):
                pass
            os._exit(PARENT_GONE_EXIT)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def emit(event: str, **fields: Any) -> None:
    """One progress line; a closed pipe (the parent died) turns into a cancel."""
    global _stdout_ok, _cancel
    if not _stdout_ok or _quiet:
        return
    try:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        _stdout_ok = False
        _cancel = True
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so later prints cannot raise
        except OSError:
            pass


class ConfigProblem(Exception):
    """A setting the user can fix (bad target modules, missing files)."""


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )


# --------------------------------------------------------------------------- data


def read_rows(path: str) -> list[tuple[list[int], int]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                rows.append((d["input_ids"], d["prompt_len"]))
    return rows


def collate(rows: list[tuple[list[int], int]], pad_id: int, device: Any) -> dict[str, Any]:
    """Right-padded batch; labels are -100 on prompt and padding tokens."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, prompt_len) in enumerate(rows):
        t = torch.tensor(ids, dtype=torch.long)
        input_ids[i, : len(ids)] = t
        labels[i, prompt_len : len(ids)] = t[prompt_len:]
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def micro_batches(rows: list[tuple[list[int], int]], budget: int | None) -> list[list[tuple[list[int], int]]]:
    """One optimizer batch split into micro-batches of at most `budget` padded tokens (rows x
    longest row), in order; a row longer than the budget goes alone. Why: activation memory
    grows with the padded tokens of a forward pass (about 2.6 GB per 1000 tokens on the 135M
    model on CPU), so 4 grounded prompts of 900 tokens took 12.6 GB in one pass. Gradients of
    the parts, each weighted by its share of the answer tokens, add up to the full batch's:
    the step is the same, only the peak memory is lower. Short examples fit one micro-batch,
    so the step is then exactly the bare loop (benchmarks/finetune_throughput.py)."""
    groups: list[list[tuple[list[int], int]]] = []
    current: list[tuple[list[int], int]] = []
    width = 0
    for row in rows:
        wider = max(width, len(row[0]))
        if current and budget is not None and wider * (len(current) + 1) > budget:
            groups.append(current)
            current, wider = [], len(row[0])
        current.append(row)
        width = wider
    if current:
        groups.append(current)
    return groups


def answer_tokens(batch: dict[str, Any]) -> int:
    """Tokens the loss is averaged over (labels shifted by one, as the model computes it)."""
    return int((batch["labels"][:, 1:] != -100).sum())


def forward_backward(
    model: Any,
    rows: list[tuple[list[int], int]],
    budget: int | None,
    pad_id: int,
    device: Any,
    autocast: str,
    of_total: int | None = None,
) -> tuple[float, int]:
    """Loss of one optimizer batch with its gradients accumulated: (loss, tokens seen).
    `of_total`: these rows are one rank's share of a batch with that many answer tokens; the
    loss and gradients are weighted by the share, so the ranks' sum is the whole batch's."""
    groups = micro_batches(rows, budget) if rows else []
    if len(groups) == 1 and of_total is None:  # the common case: one pass, as a plain loop does it
        batch = collate(rows, pad_id, device)
        with _autocast(device, autocast):
            out = model(**batch)
        out.loss.backward()
        return float(out.loss.detach()), int(batch["attention_mask"].sum())
    batches = [collate(g, pad_id, device) for g in groups]
    counts = [answer_tokens(b) for b in batches]
    total = of_total or sum(counts) or 1
    loss, tokens = 0.0, 0
    for batch, n in zip(batches, counts, strict=True):
        if n == 0:
            continue
        with _autocast(device, autocast):
            out = model(**batch)
        (out.loss * (n / total)).backward()
        loss += float(out.loss.detach()) * n / total
        tokens += int(batch["attention_mask"].sum())
    return loss, tokens


def epoch_order(n: int, epoch: int, seed: int) -> list[int]:
    import torch

    g = torch.Generator()
    g.manual_seed(seed * 1000003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def batch_for_step(step: int, n: int, batch_size: int, seed: int) -> tuple[int, list[int]]:
    """(epoch, row indices) of global step `step` (0-based): the same in every run."""
    per_epoch = math.ceil(n / batch_size)
    epoch, index = divmod(step, per_epoch)
    order = epoch_order(n, epoch, seed)
    return epoch, order[index * batch_size : (index + 1) * batch_size]


# --------------------------------------------------------------------------- model


def pick_device(wanted: str) -> tuple[Any, Any, str]:
    """(device, weights dtype, autocast dtype name or '') for 'auto' | 'cpu' | 'cuda'."""
    import torch

    if wanted in ("auto", "cuda") and torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return torch.device("cuda"), torch.bfloat16, "bfloat16"
        return torch.device("cuda"), torch.float32, ""
    if wanted == "cuda":
        raise ConfigProblem(
            "finetune.device is 'cuda' but no CUDA device is available here (use 'auto' to fall back to the CPU)"
        )
    return torch.device("cpu"), torch.float32, ""


def build_model(spec: dict[str, Any], device: Any, dtype: Any, resume_adapter: Path | None) -> Any:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    base = Path(spec["base_folder"])
    if not (base / "config.json").is_file():
        raise ConfigProblem(f"base model folder {base} has no config.json")
    base_model = AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype)
    base_model.config.use_cache = False
    lora = spec["lora"]
    model: PeftModel
    if resume_adapter is not None:
        model = PeftModel.from_pretrained(base_model, str(resume_adapter), is_trainable=True)
    else:
        names = {name.rsplit(".", 1)[-1] for name, _ in base_model.named_modules()}
        missing = [t for t in lora["target_modules"] if t not in names]
        if missing:
            linear = sorted(
                {name.rsplit(".", 1)[-1] for name, m in base_model.named_modules() if isinstance(m, torch.nn.Linear)}
            )
            raise ConfigProblem(
                f"finetune.target_modules {missing} do not exist in this model; "
                f"its linear layers are: {', '.join(linear)}"
            )
        config = LoraConfig(
            r=lora["rank"],
            lora_alpha=lora["alpha"],
            lora_dropout=lora["dropout"],
            target_modules=list(lora["target_modules"]),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base_model, config)
    model.to(device)
    model.train()
    return model


def save_checkpoint(model: Any, optimizer: Any, scheduler: Any, step: int, folder: Path, extra: dict[str, Any]) -> None:
    """Replace the checkpoint atomically: a crash mid-save leaves the previous one intact."""
    import torch

    with _saving:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(str(tmp / "adapter"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **extra}), encoding="utf-8")
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)


def heldout_loss(
    model: Any,
    rows: list[tuple[list[int], int]],
    batch_size: int,
    pad_id: int,
    device: Any,
    autocast: str,
    budget: int | None = None,
) -> float | None:
    import torch

    if not rows:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            for group in micro_batches(rows[i : i + batch_size], budget):
                batch = collate(group, pad_id, device)
                n = answer_tokens(batch)
                if n == 0:
                    continue
                with _autocast(device, autocast):
                    out = model(**batch)
                total += float(out.loss) * n
                count += n
    model.train()
    return total / count if count else None


def _autocast(device: Any, name: str) -> Any:
    import contextlib

    import torch

    if not name:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, name))


# --------------------------------------------------------------------------- main loop


def train(job_dir: Path) -> int:
    global _phase, _quiet
    import torch

    spec = json.loads((job_dir / "worker.json").read_text(encoding="utf-8"))
    lora = spec["lora"]
    threads = int(spec.get("threads") or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.manual_seed(int(lora["seed"]))
    device, dtype, autocast = pick_device(lora["device"])
    group = None
    if is_distributed():  # one of finetune.processes ranks (ranks.py); rank 0 alone reports and saves
        from workbench.core.finetune.ranks import RankGroup

        group = RankGroup(lora["device"])
        device = group.device
        _quiet = not group.lead
    lead = group is None or group.lead
    rows = read_rows(spec["train_path"])
    held = read_rows(spec["heldout_path"]) if spec.get("heldout_path") and Path(spec["heldout_path"]).exists() else []
    if not rows:
        raise ConfigProblem("the training file is empty")
    bs = int(lora["batch_size"])
    budget = lora.get("micro_batch_tokens")  # absent in a job prepared before it existed: no split
    total = int(spec["total_steps"])
    ckpt = job_dir / "checkpoint"
    cancel_file = job_dir / "cancel"
    start = 0
    resume_adapter = None
    if spec.get("resume"):
        state_file = ckpt / "state.json"
        if not state_file.is_file():
            raise ConfigProblem(f"no checkpoint to resume from in {ckpt}")
        start = int(json.loads(state_file.read_text())["step"])
        resume_adapter = ckpt / "adapter"
    model = build_model(spec, device, dtype, resume_adapter)
    params = [p for p in model.parameters() if p.requires_grad]
    if group is not None:
        group.broadcast(params)
    optimizer = torch.optim.AdamW(params, lr=float(lora["lr"]), weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.1, 1.0 - 0.9 * s / max(1, total)))
    if resume_adapter is not None:
        state = torch.load(ckpt / "optimizer.pt", map_location=device, weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    _phase = "ready"  # from here a signal is seen between steps (never half a progress line)
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    trainable = sum(p.numel() for p in params)
    emit(
        "start",
        device=str(device),
        dtype=str(dtype).replace("torch.", ""),
        autocast=autocast or None,
        threads=threads,
        total_steps=total,
        start_step=start,
        trainable_params=trainable,
        examples=len(rows),
        heldout=len(held),
        batch_size=bs,
        processes=group.world if group else 1,
    )
    if start >= total:
        if group is not None:
            group.close()
        if lead:
            emit("done", step=start, adapter=_finish(model, job_dir))
        return 0

    save_every = int(lora["save_every"])
    saved_step = start
    step_times: list[float] = []

    def stop(step: int) -> int:
        global _phase
        _phase = "saving"
        if group is not None:
            group.close()
            if not lead:
                return 0
        if step > saved_step:
            save_checkpoint(model, optimizer, scheduler, step, ckpt, {"total_steps": total})
            emit("checkpoint", step=step, path=str(ckpt))
        emit("cancelled", step=step, checkpoint=str(ckpt) if (ckpt / "state.json").exists() else None)
        return 0

    for step in range(start, total):
        stopping = bool(_cancel or cancel_file.exists())
        if stopping and group is None:
            return stop(step)
        t0, c0 = time.perf_counter(), time.process_time()
        epoch, idx = batch_for_step(step, len(rows), bs, int(lora["seed"]))
        batch = [rows[i] for i in idx]
        loss_value, tokens = 0.0, sum(len(r[0]) for r in batch)
        try:  # a signal here drops this step's gradients: the weights are still those of `step`
            _phase = "grad"
            if _cancel:  # signalled since the check above, while the phase said "wait"
                raise _StopNow
            if group is None:
                loss_value, tokens = forward_backward(model, batch, budget, pad_id, device, autocast)
            elif not stopping:
                loss_value, _ = forward_backward(
                    model,
                    [rows[i] for i in group.share(idx)],
                    budget,
                    pad_id,
                    device,
                    autocast,
                    of_total=sum(map(row_answer_tokens, batch)),
                )
            _phase = "update"
        except _StopNow:
            _phase = "saving"
            optimizer.zero_grad(set_to_none=True)
            if group is None:
                return stop(step)
            stopping = True
        if group is not None:  # one all-reduce: the batch's gradients and loss, or every rank stops
            _phase = "sync"
            loss_value, stopping = group.sync(params, loss_value, stopping)
            _phase = "update"
            if stopping:
                optimizer.zero_grad(set_to_none=True)
                return stop(step)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        step_times.append(dt)
        recent = step_times[-10:]
        eta = (total - step - 1) * (sum(recent) / len(recent))
        emit(
            "step",
            step=step + 1,
            total_steps=total,
            loss=loss_value,
            lr=scheduler.get_last_lr()[0],
            tokens=tokens,
            tokens_per_s=tokens / dt if dt > 0 else None,
            step_s=dt,
            cpu_s=time.process_time() - c0,
            eta_s=eta,
            epoch=epoch,
        )
        if not math.isfinite(loss_value):
            raise ConfigProblem(f"the loss became {loss_value} at step {step + 1}: lower finetune.lr")
        if lead and (step + 1) % save_every == 0 and step + 1 < total:
            save_checkpoint(model, optimizer, scheduler, step + 1, ckpt, {"total_steps": total})
            saved_step = step + 1
            emit("checkpoint", step=step + 1, path=str(ckpt))
    if group is not None:
        group.close()
        if not lead:
            return 0
    save_checkpoint(model, optimizer, scheduler, total, ckpt, {"total_steps": total})
    emit("checkpoint", step=total, path=str(ckpt))
    hl = heldout_loss(model, held, bs, pad_id, device, autocast, budget)
    if hl is not None:
        emit("heldout", step=total, loss=hl)
    emit("done", step=total, adapter=_finish(model, job_dir))
    return 0


def _finish(model: Any, job_dir: Path) -> str:
    adapter = job_dir / "adapter"
    tmp = job_dir / "adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    shutil.rmtree(adapter, ignore_errors=True)
    os.replace(tmp, adapter)
    return str(adapter)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m workbench.core.finetune.train_worker JOB_DIR", file=sys.stderr)
        return 2
    global _job_dir
    job_dir = _job_dir = Path(args[0])
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    watch_parent(int(os.environ.get("WORKBENCH_TRAIN_PARENT") or 0) or None)
    try:
        return train(job_dir)
    except _StopNow:  # stopped while the model loaded: no step ran, the checkpoint is as it was
        _report_cancelled(job_dir)
        return 0
    except ConfigProblem as exc:
        emit("error", kind="config", message=str(exc))
        return 2
    except BaseException as exc:  # noqa: BLE001 - every failure becomes one readable event
        traceback.print_exc(file=sys.stderr)
        try:
            oom = _is_oom(exc)
        except Exception:  # noqa: BLE001
            oom = False
        if oom:
            emit(
                "error",
                kind="oom",
                message=f"out of memory while training ({type(exc).__name__}): lower "
                "finetune.batch_size or finetune.max_length (or use a smaller base model)",
            )
            return 3
        if isinstance(exc, ValueError):
            emit("error", kind="config", message=f"{exc}")
            return 2
        emit("error", kind="crash", message=f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
