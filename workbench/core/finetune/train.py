"""Start, watch, cancel and resume a LoRA training job (the parent side of train_worker.py).

`prepare_job` does everything that must happen before a single gradient step and can fail on
user input: the base model, the guard (refusing without evidence or an explicit override), the
dataset (encoded before the job row exists, so bad data or a too-small max_length leaves no
failed job behind; then written and hashed into the job folder), the step count. `TrainingRun` then runs the
worker subprocess with an explicit thread count and turns its JSON-lines progress into
callbacks and store updates (the loss curve grows in SQLite as training goes), so the CLI, the
TUI and a crash all see the same facts.

Cancel = a `cancel` file plus SIGTERM; the worker saves a checkpoint at the current step and
exits. `resume_job` continues from that checkpoint with the same step count, optimizer state and
data order. Ctrl-C in a terminal reaches the worker too (same process group): it is handled as
a cancel on both sides. SIGTERM to the CLI alone takes the same path (core/interrupts.py) and
stores the job `interrupted`; if this process dies outright, the worker exits at once.
With finetune.processes > 1 (or --processes) this process starts every rank itself (ranks.py),
reads rank 0's progress, signals them all on cancel and kills any left after rank 0 ends.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal as signals
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.finetune import jobs
from workbench.core.finetune.ranks import rank_envs
from workbench.core.finetune.settings import OLLAMA_LORA_TARGETS, FinetuneSettings
from workbench.core.store import RUNNING

Event = dict[str, Any]
OnEvent = Callable[[Event], Any]


class GuardRefused(WorkbenchError):
    """The evidence does not support a fine-tune and no override was given (CLI exit 1)."""

    exit_code = 1

    def __init__(self, report: Any) -> None:
        # present/finetune_guard.refused_message words it with the guard's advice
        super().__init__(
            'fine-tune refused by the guard (see `workbench finetune check`; to train anyway pass --override "reason")'
        )
        self.report = report


@dataclass
class TrainPlan:
    job_id: int
    folder: Path
    total_steps: int
    dataset: Any  # DatasetReport
    base: Any  # BaseModel
    guard: Any  # GuardReport
    warnings: list[str] = field(default_factory=list)


@dataclass
class JobOutcome:
    job_id: int
    status: str  # done | cancelled | interrupted (SIGTERM) | failed
    step: int
    total_steps: int
    loss_curve: list[dict[str, Any]]
    adapter_path: str | None = None
    checkpoint_path: str | None = None
    heldout_loss: float | None = None
    error: str | None = None
    error_kind: str | None = None


def total_steps(n_train: int, settings: FinetuneSettings, steps: int | None = None) -> int:
    if steps is not None:
        if steps < 1:
            raise WorkbenchError("--steps must be at least 1", field="steps")
        return steps
    if settings.max_steps:
        return settings.max_steps
    return settings.epochs * math.ceil(n_train / settings.batch_size)


def resolve_threads(threads: int | None, processes: int = 1) -> int:
    """Threads per training process: the explicit setting, else all cores but one (min 1) shared
    by the processes. On a small shared machine torch's pool stalls when one of its threads
    loses its core (2 threads on 2 busy cores gave 20-30 s steps where 1 thread gave 2-5 s),
    and the UI keeps a core to itself."""
    if threads:
        return int(threads)
    return max(1, ((os.cpu_count() or 1) - 1) // max(1, processes))


def prepare_job(
    project: Any,
    *,
    signal: str | None = None,
    override: str | None = None,
    steps: int | None = None,
    data: str | Path | None = None,
    generations: Sequence[int] = (),
    evalset: str | None = None,
    variant: str | None = None,
    use_evalset: bool | None = None,
    guard_report: Any = None,
    settings: FinetuneSettings | None = None,
) -> TrainPlan:
    """Guard, base model, dataset, job row and worker.json; raises before any training starts."""
    from workbench.core.finetune import guard as guard_mod
    from workbench.core.finetune.base import base_problem, resolve_base
    from workbench.core.finetune.dataset import (
        encode_examples,
        examples_from_evalset,
        examples_from_generations,
        examples_from_jsonl,
        load_tokenizer,
        write_dataset,
    )

    settings = settings or project.config.finetune
    problem = base_problem(project)
    if problem is not None:  # before the guard: an override cannot make such a job useful
        raise problem
    report = guard_report or guard_mod.check(project, signal, evalset=evalset)
    if override is not None and not override.strip():
        raise WorkbenchError("--override needs a reason (it is stored with the job)", field="override")
    if not report.passed and not override:
        raise GuardRefused(report)
    warnings = []
    outside = [t for t in settings.target_modules if t not in OLLAMA_LORA_TARGETS]
    if outside:
        warnings.append(
            f"target_modules {outside} cannot be exported to Ollama (only "
            f"{', '.join(OLLAMA_LORA_TARGETS)}); `finetune export` will refuse this adapter"
        )
    base = resolve_base(project)
    variant_name = variant or settings.variant
    from workbench.core.variants import resolve_variant

    var = resolve_variant(project, variant_name, model="embedded" if base.embedded else None)

    # Eval-set examples are rendered (for a grounded prompt: retrieved) lazily, while encoding.
    sources: list[Any] = []
    targets: list[tuple[str, str]] = []  # (id, answer) of what is trained on
    total = 0
    if use_evalset is None:
        use_evalset = data is None and not generations
    if use_evalset:
        if report.evalset_path is None:
            raise WorkbenchError("no eval set to take training examples from; pass --data FILE.jsonl")
        from workbench.core.evals.evalset import load_evalset

        es = load_evalset(report.evalset_path)
        sources.append(examples_from_evalset(project, es, var))
        targets += [(c.id, c.expected) for c in es.cases if c.expected and c.split != "heldout"]
        total += sum(1 for c in es.cases if c.expected)
    eager = []
    if generations:
        eager += examples_from_generations(project.store, generations)
    if data is not None:
        eager += examples_from_jsonl(data, heldout_fraction=settings.jsonl_heldout_fraction)
    sources.append(eager)
    targets += [(e.id, e.messages[-1]["content"]) for e in eager if e.split == "train"]
    total += len(eager)

    # The knowledge check, again, on the targets actually trained on.
    knowledge = guard_mod.knowledge_rule(targets, guard_mod.corpus_passages(project), settings)
    report.rules = [r for r in report.rules if r.name != "knowledge"] + [knowledge]  # a warning present/ words

    # Everything a user can get wrong in the data fails here, before a job row exists.
    tokenizer = load_tokenizer(base.folder)
    where = {"field": "finetune.max_length"}
    if settings.max_length == project.config.finetune.max_length:  # not one set in the TUI's form
        where.update(path=project.config.path, line=project.config.line_of("finetune", "max_length"))
    encoding = encode_examples(
        itertools.chain(*sources), tokenizer, max_length=settings.max_length, total=total, where=where
    )
    n_steps = total_steps(len(encoding.train), settings, steps)

    config: dict[str, Any] = {
        "lora": settings.lora_dict(),
        "base": base.as_dict(),
        "evalset": report.evalset,
        "evalset_path": report.evalset_path,
        "variant": variant_name,
        "variant_id": var.id,
        "data": str(data) if data else None,
        "generations": list(generations),
    }
    store = project.store
    job_id = jobs.create_job(
        store,
        base_model=base.spec,
        signal=signal,
        config=config,
        guard_report=report.to_dict(),
        override_reason=override,
    )
    folder = jobs.job_dir(project, job_id)
    try:
        dataset = write_dataset(encoding, folder)
    except BaseException as exc:
        jobs.update_job(store, job_id, {"status": "failed", "error": str(exc)})
        raise
    warnings += dataset.warnings
    config.update(total_steps=n_steps, dataset=dataset.as_dict(), warnings=warnings)
    jobs.update_job(
        store, job_id, {"config": config, "dataset_path": str(dataset.folder), "dataset_hash": dataset.sha256}
    )
    _write_worker_spec(folder, base.folder, dataset.train_path, dataset.heldout_path, settings, n_steps, resume=False)
    return TrainPlan(job_id, folder, n_steps, dataset, base, report, warnings)


def _write_worker_spec(
    folder: Path,
    base_folder: Path,
    train_path: Path,
    heldout_path: Path,
    settings: FinetuneSettings | dict[str, Any],
    total: int,
    *,
    resume: bool,
) -> None:
    lora = settings.lora_dict() if isinstance(settings, FinetuneSettings) else dict(settings)
    spec = {
        "base_folder": str(base_folder),
        "train_path": str(train_path),
        "heldout_path": str(heldout_path),
        "lora": lora,
        "threads": lora.get("threads"),
        "total_steps": total,
        "resume": resume,
    }
    (folder / "worker.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")


class TrainingRun:
    """One run of the worker for a prepared (or resumable) job."""

    def __init__(
        self,
        project: Any,
        job_id: int,
        *,
        on_event: OnEvent | None = None,
        resume: bool = False,
        steps: int | None = None,
        processes: int | None = None,
    ) -> None:
        self.project = project
        self.job_id = job_id
        self.on_event = on_event
        self.folder = jobs.job_dir(project, job_id)
        if processes is not None and processes < 1:
            raise WorkbenchError("--processes must be at least 1", field="processes")
        self.processes = processes  # None: finetune.processes as stored with the job
        self.proc: subprocess.Popen[bytes] | None = None  # rank 0: its stdout is the progress
        self.procs: list[subprocess.Popen[bytes]] = []  # every rank (just `proc` for one process)
        self.job = jobs.get_job(project.store, job_id)
        self.config = dict(self.job.get("config") or {})
        self.curve: list[dict[str, Any]] = list(jobs.loss_points(self.job))
        self.total = int(self.config.get("total_steps") or 0)
        self.step = 0
        self.resume = resume
        if resume:
            self._prepare_resume(steps)
        elif steps is not None and steps != self.total:
            self.total = steps
            self._rewrite_spec(resume=False)

    # -- control ------------------------------------------------------------------------------
    def _prepare_resume(self, steps: int | None) -> None:
        status = self.job.get("status")
        if status == RUNNING:
            raise WorkbenchError(f"job f{self.job_id} is still running (process {self.job.get('pid')})")
        if status == "done" and steps is None:
            raise WorkbenchError(
                f"job f{self.job_id} already finished; nothing to resume (pass --steps N to train further)"
            )
        state = self.folder / "checkpoint" / "state.json"
        if not state.is_file():
            if (self.folder / "worker.json").is_file() and status != "done":
                # Prepared (dataset written) but stopped before the first checkpoint: start over.
                self.resume = False
                self.curve = []
                if steps is not None:
                    self.total = steps
                self._rewrite_spec(resume=False)
                return
            raise WorkbenchError(f"job f{self.job_id} has no checkpoint to resume from", path=self.folder)
        ckpt_step = int(json.loads(state.read_text())["step"])
        if steps is not None:
            if steps <= ckpt_step:
                raise WorkbenchError(f"--steps {steps} is not beyond the checkpoint at step {ckpt_step}", field="steps")
            self.total = steps
        self.curve = [p for p in self.curve if p["step"] <= ckpt_step]  # later steps are redone
        self.step = ckpt_step
        self._rewrite_spec(resume=True)

    def _rewrite_spec(self, *, resume: bool) -> None:
        spec_path = self.folder / "worker.json"
        if not spec_path.is_file():
            raise WorkbenchError(f"job f{self.job_id} has no worker.json (its folder was removed?)", path=self.folder)
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        spec["resume"] = resume
        spec["total_steps"] = self.total
        spec_path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
        self.config["total_steps"] = self.total

    def start(self) -> None:
        store = self.project.store
        cancel_file = self.folder / "cancel"
        cancel_file.unlink(missing_ok=True)
        spec = json.loads((self.folder / "worker.json").read_text(encoding="utf-8"))
        lora = spec.get("lora") or {}
        world = int(self.processes or spec.get("processes") or lora.get("processes") or 1)
        # lora["threads"] is the setting (None: share the cores); spec["threads"] what was used
        threads = str(resolve_threads(lora.get("threads", spec.get("threads")), world))
        if spec.get("threads") != int(threads) or spec.get("processes", 1) != world:
            spec["threads"], spec["processes"] = int(threads), world
            (self.folder / "worker.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
        self.config["processes"] = world
        env = {
            **os.environ,
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
            # the worker exits at once if this process dies (train_worker.watch_parent)
            "WORKBENCH_TRAIN_PARENT": str(os.getpid()),
        }
        self._logs = []
        command = [sys.executable, "-m", "workbench.core.finetune.train_worker", str(self.folder)]
        try:
            for rank, rank_env in enumerate(rank_envs(env, world)):  # ranks.py: every rank is our child
                log = open(self.folder / rank_log(rank), "ab")  # noqa: SIM115 - closed in wait()
                self._logs.append(log)
                out = subprocess.PIPE if rank == 0 else log  # rank 0 alone prints progress
                self.procs.append(
                    subprocess.Popen(command, stdout=out, stderr=log, env=rank_env, cwd=str(self.project.root))
                )
        except BaseException:
            self.kill()
            raise
        self.proc = self.procs[0]
        jobs.update_job(
            store,
            self.job_id,
            {"status": RUNNING, "pid": os.getpid(), "error": None, "loss_curve": self.curve, "config": self.config},
        )

    def cancel(self) -> None:
        """Ask the worker to checkpoint and stop (safe to call more than once, from any thread)."""
        try:
            (self.folder / "cancel").touch()
        except OSError:
            pass
        for proc in self.procs:  # every rank: they agree on the step to stop at (ranks.py)
            if proc.poll() is None:
                try:
                    proc.send_signal(signals.SIGTERM)
                except OSError:
                    pass

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass

    # -- watching -----------------------------------------------------------------------------
    def wait(self) -> JobOutcome:
        """Read progress until the worker exits. Ctrl-C here cancels (checkpoint kept); a second
        Ctrl-C kills the worker (the last periodic checkpoint stays)."""
        assert self.proc is not None and self.proc.stdout is not None
        self._final: Event | None = None
        self._error: Event | None = None
        self._heldout: float | None = None
        interrupts = 0
        while True:
            try:
                self._read_events()
                break
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts == 1:
                    self.cancel()
                else:
                    self.kill()
        code = self.proc.wait()
        self._reap_ranks()
        for log in self._logs:
            log.close()
        return self._finish(self._final, self._error, code, self._heldout)

    def _reap_ranks(self, grace: float = 10.0) -> None:
        """Rank 0 has exited; the others stop on their own at the same step (or when the group
        breaks); any still running after `grace` seconds is killed: no rank outlives a run."""
        deadline = time.monotonic() + grace
        for proc in self.procs[1:]:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _read_events(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                continue
            kind = event.get("event")
            if kind == "step":
                self.step = int(event["step"])
                self.curve.append(
                    {
                        "step": self.step,
                        "loss": event["loss"],
                        "tokens_per_s": event.get("tokens_per_s"),
                        "lr": event.get("lr"),
                    }
                )
                jobs.update_job(self.project.store, self.job_id, {"loss_curve": self.curve})
            elif kind == "checkpoint":
                self.config["checkpoint_step"] = event["step"]
                jobs.update_job(
                    self.project.store, self.job_id, {"checkpoint_path": event["path"], "config": self.config}
                )
            elif kind == "heldout":
                self._heldout = event["loss"]
                self.config["heldout_loss"] = self._heldout
            elif kind == "start":
                self.config["device"] = event.get("device")
                self.config["trainable_params"] = event.get("trainable_params")
                self.step = int(event.get("start_step") or 0)
            elif kind in ("done", "cancelled"):
                self._final = event
            elif kind == "error":
                self._error = event
            if self.on_event is not None:
                self.on_event(event)

    def run(self) -> JobOutcome:
        """start + wait (Ctrl-C cancels and keeps the checkpoint)."""
        self.start()
        return self.wait()

    def _finish(self, final: Event | None, error: Event | None, code: int, heldout: float | None) -> JobOutcome:
        store = self.project.store
        ckpt = self.folder / "checkpoint"
        ckpt_path = str(ckpt) if (ckpt / "state.json").is_file() else None
        changes: dict[str, Any] = {"loss_curve": self.curve, "config": self.config, "checkpoint_path": ckpt_path}
        adapter = None
        message = kind = None
        if final is not None and final["event"] == "done":
            status = "done"
            adapter = final.get("adapter")
            changes["adapter_path"] = adapter
        elif final is not None:  # SIGTERM to the CLI: `interrupted`, as a killed job would be
            from workbench.core.interrupts import stop_status

            status = stop_status("cancelled")
        else:
            status = "failed"
            if error is not None:
                message, kind = error.get("message"), error.get("kind")
            else:
                message = (
                    f"the training process ended with exit code {code} without a result"
                    f"{_log_tail(self.folder / 'worker.log')}"
                )
                kind = "crash"
            for rank, proc in enumerate(self.procs[1:], start=1):  # why rank 0 lost its group
                if proc.returncode not in (0, None, -signals.SIGKILL):
                    message = (
                        f"{message or ''}; rank {rank} ended with exit code {proc.returncode}"
                        f"{_log_tail(self.folder / rank_log(rank), name=rank_log(rank))}"
                    )
            changes["error"] = message
        changes["status"] = status
        jobs.update_job(store, self.job_id, changes)
        return JobOutcome(
            self.job_id, status, self.step, self.total, self.curve, adapter, ckpt_path, heldout, message, kind
        )


def _log_tail(path: Path, lines: int = 3, name: str = "worker.log") -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    tail = " | ".join(line.strip() for line in text[-lines:] if line.strip())
    return f" ({name}: {tail})" if tail else ""


def rank_log(rank: int) -> str:
    """worker.log for rank 0 (and a single process), worker.rankN.log for the others."""
    return "worker.log" if rank == 0 else f"worker.rank{rank}.log"
