"""`workbench finetune`'s CLI-only text: the resume line, a refused guard, and the JSON objects
of `train` and `eval` (the text both the CLI and the Fine-tune tab show is in present/finetune.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from workbench.core.store import as_dict
from workbench.present import finetune as present
from workbench.present.finetune_guard import stored_report, worded
from workbench.present.terminal import console, print_lines

if TYPE_CHECKING:
    from workbench.core.project import Project


def resume_line(job_id: int, from_checkpoint: bool, step: int) -> Text:
    return Text(
        f"resuming job f{job_id} from its checkpoint at step {step}"
        if from_checkpoint
        else f"starting job f{job_id} (prepared earlier, no checkpoint yet) from step 0"
    )


def print_refused(report: Any, err: Console, *, as_json: bool) -> None:
    """The guard refused a training: its report, then why nothing was trained."""
    if as_json:
        print(json.dumps({"refused": True, "guard": worded(report).to_dict()}, ensure_ascii=False))
    else:
        print_lines(err, [*present.guard_texts(report), Text(), Text(present.REFUSED, "bold red")])


def train_json(job_id: int, outcome: Any) -> str:
    curve = outcome.loss_curve
    return json.dumps(
        {
            "job": job_id,
            "status": outcome.status,
            "step": outcome.step,
            "total_steps": outcome.total_steps,
            "adapter": outcome.adapter_path,
            "checkpoint": outcome.checkpoint_path,
            "error": outcome.error,
            "error_kind": outcome.error_kind,
            "loss_first": curve[0]["loss"] if curve else None,
            "loss_last": curve[-1]["loss"] if curve else None,
        }
    )


def eval_json(result: Any) -> str:
    d = result.as_dict()
    d["diff"] = result.diff.to_dict(only="changed") if result.diff is not None else None
    return json.dumps(d, ensure_ascii=False, default=str)


def adapter_eval(project: Project, job_id: int, baseline: int | None, concurrency: int, *, as_json: bool) -> int:
    """`finetune eval`: the eval set on the adapter with case progress; Ctrl-C keeps the finished
    cases. Exit 0 when the adapter is a significant improvement, 1 when not, 130 on Ctrl-C, 143 on SIGTERM."""
    import asyncio
    import sys

    from workbench.core.finetune.evaluate import evaluate_job
    from workbench.present.progress import CaseProgress
    from workbench.present.terminal import plain

    on_progress = CaseProgress(console(sys.stderr), quiet=as_json, log_lines=False)
    try:
        with on_progress:
            result = asyncio.run(
                evaluate_job(project, job_id, baseline=baseline, concurrency=concurrency, on_progress=on_progress)
            )
    except KeyboardInterrupt:  # Ctrl-C 130, SIGTERM 143 (routed the same way by core/interrupts.py)
        from workbench.core.interrupts import interrupt_exit_code, terminated

        how = "stopped by SIGTERM" if terminated() else "cancelled"
        print(f"{how}: the finished cases are kept in the eval run (`workbench eval runs`)", file=sys.stderr)
        return interrupt_exit_code()
    if as_json:
        print(eval_json(result))
    else:
        out = console()
        print_lines(out, present.adapter_eval_texts(result, plain=plain(out)))
    return 0 if result.improvement else 1


def export(project: Project, job_id: int, name: str, *, run_eval: bool, system: str | None, as_json: bool) -> int:
    """`finetune export`: Ollama's status lines on stderr, then the result. Exit 1 when the
    exported model's eval dropped."""
    import asyncio
    import sys

    from workbench.core.finetune.export import export_job
    from workbench.core.safetext import terminal_safe

    err = console(sys.stderr)

    def on_status(status: str) -> None:
        if not as_json:
            err.print(Text(terminal_safe(f"ollama: {status}"), "dim"))

    result = asyncio.run(export_job(project, job_id, name, run_eval=run_eval, on_status=on_status, system=system))
    if as_json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print_lines(console(), present.export_texts(result))
    return 1 if result.eval and result.eval.get("drop") else 0


def train(
    project: Project,
    *,
    resume: str | None,
    steps: int | None,
    processes: int | None,
    override: str | None,
    as_json: bool,
    signal: str | None,
    data: str | None,
    generations: list[int],
    evalset: str | None,
    variant: str | None,
    use_evalset: bool | None,
) -> int:
    """`finetune train`: resume a job from its checkpoint, or prepare one (refused unless the
    guard passes or OVERRIDE), then train with progress on stderr. The exit code is
    core's train_exit_code."""
    import sys

    from workbench.core.errors import WorkbenchError
    from workbench.core.finetune import jobs
    from workbench.core.finetune.train import GuardRefused, TrainingRun, prepare_job

    err = console(sys.stderr)
    if processes is not None and processes < 1:  # before a job row exists
        raise WorkbenchError("--processes must be at least 1", field="processes")
    progress = present.TrainingProgress(as_json, err)
    if resume:
        job_id = jobs.resolve_job_ref(project.store, resume)
        run = TrainingRun(project, job_id, on_event=progress, resume=True, steps=steps, processes=processes)
        if not as_json:
            err.print(resume_line(job_id, run.resume, run.step))
    else:
        try:
            plan = prepare_job(
                project,
                signal=signal,
                override=override,
                steps=steps,
                data=data,
                generations=generations,
                evalset=evalset,
                variant=variant,
                use_evalset=use_evalset,
            )
        except GuardRefused as refused:
            print_refused(refused.report, err, as_json=as_json)
            return 1
        job_id = plan.job_id
        if not as_json:
            print_lines(err, present.plan_texts(plan, override))
        run = TrainingRun(project, job_id, on_event=progress, processes=processes)
    outcome = run.run()
    if as_json:
        print(train_json(job_id, outcome))
    else:
        line, next_step = present.train_result(job_id, outcome, jobs.get_job(project.store, job_id))
        print_lines(console() if next_step else err, [line] + ([next_step] if next_step else []))
    return jobs.train_exit_code(outcome)


def check(project: Project, signal: str | None, evalset: str | None, *, as_json: bool) -> int:
    """`finetune check`: the guard report as text or JSON; exit 0 only if every rule passes."""
    from workbench.core.finetune.guard import check as guard_check

    report = worded(guard_check(project, signal, evalset=evalset))
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print_lines(console(), present.guard_texts(report))
    return 0 if report.passed else 1


def print_jobs(project: Project, *, limit: int, as_json: bool) -> None:
    """`finetune jobs`: one line per job (JSON lines with `as_json`), newest first."""
    from workbench.core.finetune import jobs

    rows = jobs.list_jobs(project.store, limit=limit)
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=str))
    else:
        print_lines(console(), present.job_list_lines(rows))


def print_job(project: Project, ref: str, *, as_json: bool) -> None:
    """`finetune show`: everything stored about one job."""
    from workbench.core.finetune import jobs

    job = jobs.get_job(project.store, jobs.resolve_job_ref(project.store, ref))
    if as_json:
        if job.get("guard_report"):
            job["guard_report"] = stored_report(as_dict(job["guard_report"]))
        print(json.dumps(job, ensure_ascii=False, indent=2, default=str))
    else:
        print_lines(console(), present.job_detail(job))
