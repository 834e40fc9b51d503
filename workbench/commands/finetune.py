"""`workbench finetune check|train|eval|export|jobs|show`: guarded LoRA fine-tuning, headless.

Exit codes: 0 ok; 1 the job ran but did not reach its goal (the guard refused, the adapter is
not a significant improvement, training failed, the exported model dropped); 2 bad input or
config; 130 Ctrl-C, 143 SIGTERM (training keeps its checkpoint, the job is `cancelled` or
`interrupted`: `finetune train --resume JOB` continues).
Progress goes to stderr, results to stdout; everything from users or models is printed as plain
Rich `Text` through `terminal_safe`, never as markup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from workbench.core.safetext import terminal_safe

SIGNALS = ("format", "capability", "prompt-cost")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="guarded LoRA fine-tuning: check, train, eval, export",
                       description="Fine-tune last, rarely, and only with evidence. Exit codes: 0 ok, 1 the "
                       "goal was not reached (guard refused, no significant improvement, training failed, "
                       "export dropped), 2 bad input, 130 Ctrl-C / 143 SIGTERM (checkpoint kept).")
    fsub = p.add_subparsers(dest="finetune_command", metavar="check|train|eval|export|jobs|show")
    p.set_defaults(func=lambda args, project: _usage(p))

    c = fsub.add_parser("check", help="does the evidence justify a fine-tune? (exit 0 only if every rule passes)",
                        description="Reads the stored eval runs. The plateau rule needs evidence of a ceiling: for "
                        "each of the last variants, the one-sided upper bound of its paired gain over the best "
                        "is below finetune.min_gain (5 points). A set too small to show that cannot tell, and "
                        "the guard says how many cases would.")
    c.add_argument("--signal", choices=SIGNALS, help="why a fine-tune: format, capability or prompt-cost")
    c.add_argument("--evalset", help="eval file or name (default: finetune.evalset / evals.default_set)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=check_cmd)

    t = fsub.add_parser("train", help="train a LoRA adapter (refused unless the guard passes or --override)")
    t.add_argument("--signal", choices=SIGNALS, help="the signal the guard checks")
    t.add_argument("--override", metavar="REASON", help="train although the guard refuses; the reason is stored")
    t.add_argument("--steps", type=int, metavar="N", help="optimizer steps (default: from finetune.epochs)")
    t.add_argument("--resume", metavar="JOB", help="continue a cancelled or interrupted job from its checkpoint")
    t.add_argument("--data", metavar="FILE", help="a JSONL training file ({messages} or {prompt, completion})")
    t.add_argument("--generation", type=int, action="append", default=[], metavar="ID",
                   help="a stored generation whose answer is a training target (repeatable)")
    t.add_argument("--no-evalset", action="store_true", help="do not train on the eval set's train cases")
    t.add_argument("--variant", help="the variant whose prompt frames the examples (default: finetune.variant)")
    t.add_argument("--evalset", help="eval file or name")
    t.add_argument("--json", action="store_true", help="print progress events and the result as JSON lines")
    t.set_defaults(func=train_cmd)

    e = fsub.add_parser("eval", help="run the eval set on the adapter and diff it against the best variant")
    e.add_argument("job", help="job id, f<id> or last")
    e.add_argument("--baseline", metavar="RUN", help="compare with this run instead of the best non-fine-tuned one")
    e.add_argument("--concurrency", type=int, default=1)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=eval_cmd)

    x = fsub.add_parser("export", help="write adapter + Modelfile; create the model in Ollama when it runs")
    x.add_argument("job", help="job id, f<id> or last")
    x.add_argument("--name", required=True, help="the Ollama model name to create")
    x.add_argument("--no-eval", action="store_true", help="do not re-run the eval set on the exported model")
    x.add_argument("--system", metavar="TEXT", default=None,
                   help="the model's SYSTEM prompt: TEXT sets it, \"\" clears it (the base model's too); "
                        "default: the one training used")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=export_cmd)

    j = fsub.add_parser("jobs", help="list fine-tune jobs")
    j.add_argument("--limit", type=int, default=20)
    j.add_argument("--json", action="store_true", help="JSON lines")
    j.set_defaults(func=jobs_cmd, read_only=True)

    s = fsub.add_parser("show", help="everything stored about one job")
    s.add_argument("job", help="job id, f<id> or last")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=show_cmd, read_only=True)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _console(file: Any = None) -> Any:
    from rich.console import Console

    return Console(file=file, highlight=False, soft_wrap=True)


def _text(s: Any, style: str = "") -> Any:
    from rich.text import Text

    return Text(terminal_safe(str(s)), style=style)


def _print_guard(out: Any, report: Any) -> None:
    if report.lead_resolution:
        out.print(_text(report.lead_resolution, "bold"))
    out.print(_text(report.advice, "bold green" if report.passed else "bold red"))
    out.print()
    for r in report.rules:
        mark, style = ("PASS", "green") if r.passed else (("WARN", "yellow") if r.severity == "warning" else ("FAIL", "red"))
        line = _text(f"[{mark}] ", style)
        line.append_text(_text(f"{r.name}: {r.summary}"))
        out.print(line)
        if not r.passed and r.next_step:
            out.print(_text(f"       next: {r.next_step}", "dim"))


# --------------------------------------------------------------------------- check


def check_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.finetune.guard import check

    report = check(project, args.signal, evalset=args.evalset)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        _print_guard(_console(), report)
    return 0 if report.passed else 1


# --------------------------------------------------------------------------- train


class _Progress:
    """Training progress on stderr: a Rich bar on a terminal, one line per step otherwise."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.tty = sys.stderr.isatty() and not as_json
        self.err = _console(sys.stderr)
        self.bar = None
        self.task = None

    def __call__(self, event: dict[str, Any]) -> None:
        from workbench.core.finetune.train import eta_text

        kind = event.get("event")
        if self.as_json:
            print(json.dumps(event), flush=True)
            return
        if kind == "start":
            self.err.print(_text(f"training on {event['device']} ({event['threads']} threads), "
                                 f"{event['trainable_params']:,} trainable parameters, {event['examples']} examples, "
                                 f"steps {event['start_step']}→{event['total_steps']}"))
            if self.tty:
                from rich.progress import BarColumn, Progress, TextColumn

                self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                    TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[info]}"),
                                    console=self.err, transient=False)
                self.bar.start()
                self.task = self.bar.add_task("LoRA", total=event["total_steps"], completed=event["start_step"],
                                              info="loading")
        elif kind == "step":
            tps = event.get("tokens_per_s")
            info = (f"loss {event['loss']:.4f}  {tps:.0f} tok/s  ETA {eta_text(event.get('eta_s'))}"
                    if tps else f"loss {event['loss']:.4f}")
            if self.bar is not None:
                self.bar.update(self.task, completed=event["step"], info=info)
            else:
                self.err.print(_text(f"step {event['step']}/{event['total_steps']}  {info}"))
        elif kind == "checkpoint" and self.bar is None:
            self.err.print(_text(f"checkpoint at step {event['step']}", "dim"))
        elif kind == "heldout":
            self.stop()
            self.err.print(_text(f"held-out loss {event['loss']:.4f}"))
        elif kind in ("done", "cancelled", "error"):
            self.stop()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def train_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.finetune import jobs
    from workbench.core.finetune.train import GuardRefused, TrainingRun, prepare_job

    out, err = _console(), _console(sys.stderr)
    store = project.store
    if args.resume:
        job_id = jobs.resolve_job_ref(store, args.resume)
        run = TrainingRun(project, job_id, on_event=_Progress(args.json), resume=True, steps=args.steps)
        if not args.json:
            err.print(_text(f"resuming job f{job_id} from its checkpoint at step {run.step}" if run.resume
                            else f"starting job f{job_id} (prepared earlier, no checkpoint yet) from step 0"))
    else:
        try:
            plan = prepare_job(project, signal=args.signal, override=args.override, steps=args.steps,
                               data=args.data, generations=args.generation, evalset=args.evalset,
                               variant=args.variant, use_evalset=False if args.no_evalset else None)
        except GuardRefused as refused:
            if args.json:
                print(json.dumps({"refused": True, "guard": refused.report.to_dict()}, ensure_ascii=False))
            else:
                _print_guard(err, refused.report)
                err.print()
                err.print(_text("refused: the evidence does not justify a fine-tune yet. To train anyway: "
                                "workbench finetune train --override \"why\"", "bold red"))
            return 1
        job_id = plan.job_id
        if not args.json:
            if args.override:
                err.print(_text(f"guard overridden: {args.override}", "yellow"))
            ds = plan.dataset
            err.print(_text(f"job f{job_id}: {ds.train} train / {ds.heldout} held-out examples "
                            f"({ds.answer_tokens} answer tokens), dataset sha256 {ds.sha256[:12]}…, "
                            f"{plan.total_steps} steps on {plan.base.spec} ({plan.base.model_type})"))
            for skipped in ds.skipped[:5]:
                err.print(_text(f"skipped {skipped}", "dim"))
            for w in plan.warnings:
                err.print(_text(f"warning: {w}", "yellow"))
        run = TrainingRun(project, job_id, on_event=_Progress(args.json))
    outcome = run.run()
    if args.json:
        print(json.dumps({"job": job_id, "status": outcome.status, "step": outcome.step,
                          "total_steps": outcome.total_steps, "adapter": outcome.adapter_path,
                          "checkpoint": outcome.checkpoint_path, "error": outcome.error,
                          "error_kind": outcome.error_kind,
                          "loss_first": outcome.loss_curve[0]["loss"] if outcome.loss_curve else None,
                          "loss_last": outcome.loss_curve[-1]["loss"] if outcome.loss_curve else None}))
    elif outcome.status == "done":
        curve = outcome.loss_curve
        loss = f", loss {curve[0]['loss']:.3f} → {curve[-1]['loss']:.3f}" if curve else ""
        out.print(_text(f"job f{job_id} done{loss}; adapter in {outcome.adapter_path}", "bold green"))
        out.print(_text(f"next: {next_after_training(store, job_id)}"))
    elif outcome.status in ("cancelled", "interrupted"):  # Ctrl-C | SIGTERM
        where = f" at step {outcome.step}" if outcome.checkpoint_path else " before the first checkpoint"
        how = "cancelled" if outcome.status == "cancelled" else "stopped by SIGTERM"
        err.print(_text(f"{how}{where}; checkpoint kept. Continue with: workbench finetune train --resume "
                        f"{job_id}", "yellow"))
    else:
        err.print(_text(f"job f{job_id} failed: {outcome.error}", "bold red"))
    return train_exit_code(outcome)


def next_after_training(store: Any, job_id: int) -> str:
    """`finetune eval` runs adapters on the embedded model only; an adapter on a local (llama
    or gemma2) folder is judged through its export."""
    from workbench.core.finetune import jobs

    base = (jobs.get_job(store, job_id).get("config") or {}).get("base") or {}
    if base.get("spec", "embedded") == "embedded":
        return f"workbench finetune eval {job_id}"
    return (f"workbench finetune export {job_id} --name NAME, then workbench eval run --model ollama:NAME "
            "(the workbench runs adapters only on the embedded model)")


def train_exit_code(outcome: Any) -> int:
    """The same code with and without --json (a script reading JSON still needs 130 to tell a
    cancel, which keeps a checkpoint, from a failure): 0 done, 130 cancelled (Ctrl-C), 143
    interrupted (SIGTERM), 2 a config problem, 1 any other failure."""
    if outcome.status == "done":
        return 0
    if outcome.status == "cancelled":
        return 130
    if outcome.status == "interrupted":
        return 143
    return 2 if outcome.error_kind == "config" else 1


# --------------------------------------------------------------------------- eval


def eval_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals import runstore
    from workbench.core.finetune import jobs
    from workbench.core.finetune.evaluate import evaluate_job

    store = project.store
    job_id = jobs.resolve_job_ref(store, args.job)
    baseline = runstore.resolve_run_ref(store, args.baseline) if args.baseline else None
    from workbench.present.progress import CaseProgress

    on_progress = CaseProgress(_console(sys.stderr), quiet=args.json, log_lines=False)
    try:
        with on_progress:
            result = asyncio.run(evaluate_job(project, job_id, baseline=baseline, concurrency=args.concurrency,
                                              on_progress=on_progress))
    except KeyboardInterrupt:
        print("cancelled: the finished cases are kept in the eval run (`workbench eval runs`)", file=sys.stderr)
        return 130
    if args.json:
        d = result.as_dict()
        d["diff"] = result.diff.to_dict(only="changed") if result.diff is not None else None
        print(json.dumps(d, ensure_ascii=False, default=str))
        return 0 if result.improvement else 1
    out = _console()
    rate = result.summary.get("pass_rate")
    out.print(_text(f"adapter of job f{job_id}: run e{result.run_id}, pass rate "
                    f"{'n/a' if rate is None else f'{rate:.0%}'}"))
    if result.diff is not None:
        from workbench.present.evals import diff_texts

        for line in diff_texts(result.diff, only="changed", limit=15, plain=out.no_color or not out.is_terminal):
            out.print(line)
    if result.heldout:
        h = result.heldout
        out.print(_text(f"held-out cases only ({h['n']}): {h['words']}"))
    for note in result.notes:
        out.print(_text(f"note: {note}", "yellow"))
    style = "bold green" if result.improvement else "bold yellow"
    verdict = {"improvement": "an improvement (the statistics say so)",
               "regression": "a regression: the adapter is worse than the best variant",
               "no significant change": "not an improvement: the difference could be noise",
               "no baseline": "not judged: no non-fine-tuned run to compare with"}[result.verdict]
    out.print(_text(f"verdict: {verdict}", style))
    return 0 if result.improvement else 1


# --------------------------------------------------------------------------- export


def export_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.finetune import jobs
    from workbench.core.finetune.export import export_job

    job_id = jobs.resolve_job_ref(project.store, args.job)
    err = _console(sys.stderr)

    def on_status(status: str) -> None:
        if not args.json:
            err.print(_text(f"ollama: {status}", "dim"))

    result = asyncio.run(export_job(project, job_id, args.name, run_eval=not args.no_eval, on_status=on_status,
                                    system=args.system))
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        out = _console()
        out.print(_text(f"exported job f{job_id} to {result.folder} (Modelfile: FROM {result.base} + ADAPTER)"))
        if result.created:
            out.print(_text(f"created ollama:{result.name} (Ollama {result.ollama})", "bold green"))
        if result.eval and not result.eval.get("drop"):
            out.print(_text(result.eval["words"]))
        for w in result.warnings:
            out.print(_text(f"warning: {w}", "yellow"))
    return 1 if result.eval and result.eval.get("drop") else 0


# --------------------------------------------------------------------------- jobs / show


def jobs_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.finetune import jobs

    rows = jobs.list_jobs(project.store, limit=args.limit)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=str))
        return 0
    out = _console()
    if not rows:
        out.print("No fine-tune jobs yet. Start with: workbench finetune check")
        return 0
    for row in rows:
        out.print(_text(f"{row['created_at'][:19].replace('T', ' ')}  " + jobs.job_summary(row)))
    return 0


def show_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.finetune import jobs

    job = jobs.get_job(project.store, jobs.resolve_job_ref(project.store, args.job))
    if args.json:
        print(json.dumps(job, ensure_ascii=False, indent=2, default=str))
        return 0
    out = _console()
    for line in jobs.job_lines(job):
        out.print(_text(line))
    return 0
