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
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.core.project import Project

SIGNALS = ("format", "capability", "prompt-cost")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "finetune",
        help="guarded LoRA fine-tuning: check, train, eval, export",
        description="Fine-tune last, rarely, and only with evidence. Exit codes: 0 ok, 1 the "
        "goal was not reached (guard refused, no significant improvement, training failed, "
        "export dropped), 2 bad input, 130 Ctrl-C / 143 SIGTERM (checkpoint kept).",
    )
    fsub = p.add_subparsers(dest="finetune_command", metavar="check|train|eval|export|jobs|show")
    p.set_defaults(func=lambda args, project: _usage(p))

    c = fsub.add_parser(
        "check",
        help="does the evidence justify a fine-tune? (exit 0 only if every rule passes)",
        description="Reads the stored eval runs. The plateau rule needs evidence of a ceiling: for "
        "each of the last variants, the one-sided upper bound of its paired gain over the best "
        "is below finetune.min_gain (5 points). A set too small to show that cannot tell, and "
        "the guard says how many cases would.",
    )
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
    t.add_argument(
        "--generation",
        type=int,
        action="append",
        default=[],
        metavar="ID",
        help="a stored generation whose answer is a training target (repeatable)",
    )
    t.add_argument("--no-evalset", action="store_true", help="do not train on the eval set's train cases")
    t.add_argument("--variant", help="the variant whose prompt frames the examples (default: finetune.variant)")
    t.add_argument("--evalset", help="eval file or name")
    t.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="train in N data-parallel processes (accelerate; gloo on CPU, one GPU each on CUDA); "
        "default: finetune.processes",
    )
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
    x.add_argument(
        "--system",
        metavar="TEXT",
        default=None,
        help="the model's SYSTEM prompt: TEXT sets it, \"\" clears it (the base model's too); "
        "default: the one training used",
    )
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


def check_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.finetune_cli import check

    return check(project, args.signal, args.evalset, as_json=args.json)


def train_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.finetune_cli import train

    return train(
        project,
        resume=args.resume,
        steps=args.steps,
        processes=args.processes,
        override=args.override,
        as_json=args.json,
        signal=args.signal,
        data=args.data,
        generations=args.generation,
        evalset=args.evalset,
        variant=args.variant,
        use_evalset=False if args.no_evalset else None,
    )


def eval_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.core.evals import runstore
    from workbench.core.finetune import jobs
    from workbench.present.finetune_cli import adapter_eval

    job_id = jobs.resolve_job_ref(project.store, args.job)
    baseline = runstore.resolve_run_ref(project.store, args.baseline) if args.baseline else None
    return adapter_eval(project, job_id, baseline, args.concurrency, as_json=args.json)


def export_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.core.finetune import jobs
    from workbench.present.finetune_cli import export

    job_id = jobs.resolve_job_ref(project.store, args.job)
    return export(project, job_id, args.name, run_eval=not args.no_eval, system=args.system, as_json=args.json)


def jobs_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.finetune_cli import print_jobs

    print_jobs(project, limit=args.limit, as_json=args.json)
    return 0


def show_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.finetune_cli import print_job

    print_job(project, args.job, as_json=args.json)
    return 0
