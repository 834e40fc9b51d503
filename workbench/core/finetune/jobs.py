"""Fine-tune jobs in the run store (`finetune_jobs`) and their folders on disk.

A job is the unit a user reasons about: "f3 = LoRA on SmolLM2 for the format signal, overridden
because ..., trained on dataset sha 1a2b.., loss 2.9 -> 0.4, adapter at ..., eval e17: +6 cases,
p=0.03, exported as smollm2-sql". Every one of those facts is a column (JSON where structured),
written as it happens, so `workbench runs` and `finetune jobs` show a job mid-training too.
Files live in `<data_dir>/finetune/job-<id>/` (dataset, checkpoint, adapter, export, logs).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from workbench.core.errors import WorkbenchError
from workbench.core.run_ids import parse_kind_id
from workbench.core.store import RUNNING, as_dict, decode, now_iso

if TYPE_CHECKING:
    from workbench.core.project import Project
    from workbench.core.records import FinetuneJob
    from workbench.core.store import Store


JSON_FIELDS = ("config", "guard_report", "loss_curve", "export")
FINISHED = ("done", "failed", "cancelled", "interrupted")


def job_dir(project: Project, job_id: int) -> Path:
    return project.data_dir / "finetune" / f"job-{job_id}"


def create_job(
    store: Store,
    *,
    base_model: str,
    signal: str | None,
    config: dict[str, Any],
    guard_report: dict[str, Any],
    override_reason: str | None,
) -> int:
    stamp = now_iso()
    return store.insert(
        "finetune_jobs",
        {
            "created_at": stamp,
            "updated_at": stamp,
            "status": RUNNING,
            "pid": os.getpid(),
            "base_model": base_model,
            "signal": signal,
            "config": config,
            "guard_report": guard_report,
            "override_reason": override_reason,
            "loss_curve": [],
        },
    )


def update_job(store: Store, job_id: int, changes: dict[str, Any]) -> None:
    store.update("finetune_jobs", job_id, {**changes, "updated_at": now_iso()})


def get_job(store: Store, job_id: int) -> FinetuneJob:
    row = decode(store.get("finetune_jobs", int(job_id)), *JSON_FIELDS)
    if row is None:
        raise WorkbenchError(f"no fine-tune job {job_id} (see `workbench finetune jobs`)")
    for name in JSON_FIELDS:
        if isinstance(row.get(name), str):  # undecodable: keep the text, never crash a listing
            row[name] = {"raw": row[name]}
    return cast("FinetuneJob", row)


def list_jobs(store: Store, *, limit: int = 50) -> list[FinetuneJob]:
    return [get_job(store, r["id"]) for r in store.rows("finetune_jobs", limit=limit)]


def resolve_job_ref(store: Store, ref: str | int) -> int:
    """`3`, `f3` or `last` -> job id."""
    text = str(ref).strip()
    if text == "last":
        rows = store.rows("finetune_jobs", limit=1)
        if not rows:
            raise WorkbenchError("no fine-tune jobs yet (start one with `workbench finetune train`)")
        return int(rows[0]["id"])
    job_id = parse_kind_id(
        text, "finetune", noun="a fine-tune job", accepts="a number, f<N> or last", listing="workbench finetune jobs"
    )
    get_job(store, job_id)
    return job_id


def unfinished_words(project: Project, job: FinetuneJob) -> str:
    """Why a job has no adapter yet, and the next step that works: `--resume` only where
    `finetune train --resume` can continue (a cancelled or interrupted job); a failed job is
    retried as a new one, since its settings are what failed (a resume reuses them)."""
    status, ref = job.get("status"), job["id"]
    state = job_dir(project, ref) / "checkpoint" / "state.json"
    if status == RUNNING:
        return f"job f{ref} is still training; wait for it to finish"
    if status in ("cancelled", "interrupted"):
        return (
            f"job f{ref} was {status} before it finished; finish it first (`workbench finetune train --resume {ref}`)"
        )
    if status == "failed":
        retry = (
            f", or retry it from its checkpoint with the same settings (`workbench finetune train --resume {ref}`)"
            if state.is_file()
            else ""
        )
        return (
            f"job f{ref} failed ({job.get('error') or 'no reason stored'}): fix the cause and start a "
            f"new job (`workbench finetune train`){retry}"
        )
    return f"job f{ref} has no finished adapter (status {status})"


def exports(job: FinetuneJob) -> list[dict[str, Any]]:
    """Every export of the job, oldest first. Stored as a list so a second export (another
    name, or a retry once Ollama runs) does not erase what the first one measured; a job
    stored before that keeps its one export as a dict."""
    value = job.get("export")
    if isinstance(value, dict) and value.get("name"):
        return [value]
    return [e for e in value if isinstance(e, dict) and e.get("name")] if isinstance(value, list) else []


def add_export(store: Store, job_id: int, export: dict[str, Any]) -> None:
    update_job(store, job_id, {"export": exports(get_job(store, job_id)) + [export]})


def export_dropped(exp: dict[str, Any]) -> bool:
    """The exported model scored below the adapter on the eval set (export re-ran it)."""
    ev = exp.get("eval")
    return bool(isinstance(ev, dict) and ev.get("drop"))


# --------------------------------------------------------------------------- its eval runs
#
# The eval runs a job makes (the adapter's, and the check of an exported Ollama model) measure
# the fine-tune, so they are never evidence *for* one: the guard and the `finetune eval`
# baseline leave them out. The adapter's run says so in its variant (`adapter`); an exported
# model is a plain `ollama:NAME` to the runner, so its run is marked in the run's config.

RUN_MARK = "finetune"  # eval_runs.config key: {"job": N, "role": "adapter" | "export", ...}


def mark_runs(
    store: Store, mark: dict[str, Any], on_progress: Callable[[Any], Any] | None = None
) -> Callable[[Any], Any]:
    """An eval runner's `on_progress` that marks the run as this job's, when the runner
    reports the run's id (once at the start, before any case), then passes progress on."""
    marked: set[int] = set()

    def progress(p: Any) -> None:
        if p.run_id not in marked:
            marked.add(p.run_id)
            row = decode(store.get("eval_runs", p.run_id), "config") or {}
            config = as_dict(row.get("config"))
            store.update("eval_runs", p.run_id, {"config": {**config, RUN_MARK: mark}})
        if on_progress is not None:
            on_progress(p)

    return progress


def job_run_ids(store: Store) -> set[int]:
    """Eval runs any job recorded as its own (runs stored before runs were marked, too)."""
    ids: set[int] = set()
    for row in store.rows("finetune_jobs"):
        job = decode(row, *JSON_FIELDS)
        config = as_dict(job.get("config"))
        ev = as_dict(config.get("eval"))
        ids.update(i for i in (job.get("eval_run_id"), ev.get("run_id")) if i)
        ids.update(
            e["eval"]["run_id"] for e in exports(job) if isinstance(e.get("eval"), dict) and e["eval"].get("run_id")
        )
    return ids


def is_job_run(row: Mapping[str, Any], job_runs: set[int]) -> bool:
    """An eval run that measures a fine-tune (adapter variant, marked, or recorded by a job)."""
    config = as_dict(row.get("config"))
    spec = as_dict(config.get("variant"))
    return bool(spec.get("adapter") or isinstance(config.get(RUN_MARK), dict) or row.get("id") in job_runs)


def loss_points(job: FinetuneJob) -> list[dict[str, Any]]:
    curve = job.get("loss_curve")
    return curve if isinstance(curve, list) else []


def train_exit_code(outcome: Any) -> int:
    """The same code with and without --json (a script reading JSON still needs 130 to tell a
    cancel, which keeps a checkpoint, from a failure): 0 done, 130 cancelled (Ctrl-C), 143
    interrupted (SIGTERM), 2 a config problem, 1 any other failure."""
    codes = {"done": 0, "cancelled": 130, "interrupted": 143}
    return codes.get(outcome.status, 2 if outcome.error_kind == "config" else 1)
