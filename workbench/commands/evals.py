"""`workbench eval run|diff|runs|show|promote|import`: eval sets, headless (SSH, CI, scripts).

Exit codes: 0 ok, 1 the gate failed, 2 bad input (eval file, run id, flags), 130 Ctrl-C (run
`cancelled`), 143 SIGTERM (run `interrupted`); either way the finished cases are kept and
`--resume RUN` continues. Everything printed from a model or a user
file goes through `terminal_safe` and Rich `Text`, never markup.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from workbench.core.safetext import terminal_safe

if TYPE_CHECKING:
    from workbench.core.project import Project


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help="run eval sets, compare runs, gate CI, grow the set",
        description="Eval sets (evals/*.yaml) run against a variant. Exit codes: 0 ok, "
        "1 gate failed, 2 bad input, 130 Ctrl-C, 143 SIGTERM (both keep the finished cases: resume with --resume RUN).",
    )
    esub = p.add_subparsers(dest="eval_command", metavar="run|diff|runs|show|promote|import|history")
    p.set_defaults(func=lambda args, project: _usage(p))

    r = esub.add_parser("run", help="run an eval set against a variant and store the run")
    r.add_argument("evalset", nargs="?", help="eval file or name under evals/ (default: evals.default_set)")
    r.add_argument("--variant", help="a named variant from workbench.yaml")
    r.add_argument("--prompt", help="prompt name (overrides the variant's)")
    r.add_argument("--model", help="ollama:NAME or embedded (overrides the variant's)")
    r.add_argument("--concurrency", type=int, help="cases in flight at once (default: evals.concurrency, 4)")
    r.add_argument("--repeat", type=int, default=1, help="run every case N times to find flaky cases")
    r.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="only cases with this tag (repeatable: any of them)"
    )
    r.add_argument("--case", action="append", default=[], metavar="ID", help="only this case (repeatable)")
    r.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="only the first N cases (after --tag/--case): a quick check while iterating",
    )
    r.add_argument("--no-cache", action="store_true", help="call the model even for unchanged cases")
    r.add_argument("--resume", metavar="RUN", help="continue an interrupted or cancelled run")
    r.add_argument(
        "--baseline",
        metavar="RUN|best|last",
        help="compare with this run (and gate against it); best/last: among finished runs "
        "with the same --tag/--case/--limit selection, preferring the same eval-set version",
    )
    r.add_argument(
        "--fail-on-regression", action="store_true", help="exit 1 when a case passed in the baseline and fails now"
    )
    r.add_argument(
        "--max-regressions", type=int, metavar="N", help="allow up to N regressions (implies the regression gate)"
    )
    r.add_argument("--min-pass-rate", type=float, metavar="X", help="exit 1 below this pass rate (0.8 or 80)")
    r.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    r.add_argument("--markdown", metavar="FILE", help="write a Markdown report (for a pull request)")
    r.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    r.set_defaults(func=run_cmd)

    d = esub.add_parser("diff", help="compare two runs case by case")
    d.add_argument("run_a", help="the before run (id, e<id>, or last/best: of the finished whole-set runs)")
    d.add_argument("run_b", help="the after run")
    d.add_argument("--only", choices=("regressions", "fixes", "changed"), help="only these cases")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=diff_cmd, read_only=True)  # never creates runs.db (cli.py)

    ls = esub.add_parser("runs", help="list eval runs, newest first")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--set", dest="evalset", help="only runs of this eval set (its name)")
    ls.add_argument("--json", action="store_true", help="JSON lines")
    ls.set_defaults(func=runs_cmd, read_only=True)

    s = esub.add_parser("show", help="print a run's summary and its failing cases")
    s.add_argument("run", help="run id, e<id>, or last/best: of the finished whole-set runs")
    s.add_argument("--all", action="store_true", help="list every case, not only failures")
    s.add_argument("--json", action="store_true")
    s.add_argument("--markdown", action="store_true", help="a Markdown report instead")
    s.set_defaults(func=show_cmd, read_only=True)

    pr = esub.add_parser("promote", help="append a case made from a stored generation to an eval file")
    pr.add_argument("generation", type=int, help="generation id (see `workbench runs`)")
    pr.add_argument("--to", help="eval file to append to (created if missing; default: evals.default_set)")
    pr.add_argument("--expected", help="the reference answer (scored by a `similar` check)")
    pr.add_argument(
        "--assert",
        dest="asserts",
        action="append",
        default=[],
        metavar="TYPE=VALUE",
        help="a check (repeatable), e.g. icontains=WAL, contains-any=WAL,wal, regex=..., "
        "'llm-judge=Says WAL lets readers run during a write', cites. "
        "A case needs --expected or an --assert that looks at the answer",
    )
    pr.add_argument(
        "--relevant",
        nargs="+",
        default=[],
        metavar="PATH",
        help="gold documents: paths relative to the corpus root (checked against the corpus "
        "and the index), or chunk ids PATH#N",
    )
    pr.add_argument("--id", dest="case_id", help="case id (default: from the question)")
    pr.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    pr.add_argument("--split", choices=("train", "heldout"))
    pr.add_argument(
        "--force",
        action="store_true",
        help="append even if the set already has this generation or a case with the same inputs",
    )
    pr.set_defaults(func=promote_cmd)

    im = esub.add_parser("import", help="import logged questions (JSONL) as cases, skipping near-duplicates")
    im.add_argument(
        "jsonl", help="one JSON object per line with `question` (and optional expected/answer, relevant, tags)"
    )
    im.add_argument("--to", help="eval file to append to (default: evals/<jsonl stem>.yaml)")
    im.add_argument("--threshold", type=float, default=0.9, help="text similarity (0-1) counted as a duplicate")
    im.add_argument("--semantic", action="store_true", help="also drop paraphrases (embedding cosine >= 0.95)")
    im.add_argument("--tag", action="append", default=[], help="a tag for every imported case")
    im.set_defaults(func=import_cmd)

    from workbench.commands.eval_history import register_history

    register_history(esub)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# --------------------------------------------------------------------------- run


def run_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.evals_cli import RunOptions, run_evalset

    return run_evalset(project, RunOptions.from_args(args))


# --------------------------------------------------------------------------- diff / runs / show


def diff_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.core.evals.run_plan import diff_refs
    from workbench.present.eval_run import print_diff

    diff, rows = diff_refs(project.store, args.run_a, args.run_b)
    print_diff(project.store, diff, rows, only=args.only, as_json=args.json)
    return 0


def runs_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.present.evals_cli import print_runs

    print_runs(project, limit=args.limit, evalset=args.evalset, as_json=args.json)
    return 0


def show_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.core.evals import runstore
    from workbench.core.runlog import load_eval_run
    from workbench.present.eval_run import print_show

    row, results, summary = load_eval_run(project.store, runstore.resolve_run_ref(project.store, args.run))
    print_show(row, results, summary, as_json=args.json, markdown=args.markdown, everything=args.all)
    return 0


# --------------------------------------------------------------------------- promote / import


def promote_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.core.evals.grow import promote

    case = promote(
        project,
        args.generation,
        args.to,
        expected=args.expected,
        asserts=args.asserts,
        relevant=args.relevant,
        case_id=args.case_id,
        tags=args.tag,
        split=args.split,
        force=args.force,
    )
    print(terminal_safe(f"added case '{case.id}' to {case.path}:{case.line}"))
    return 0


def import_cmd(args: argparse.Namespace, project: Project) -> int:
    from workbench.core.evals.grow import import_cases
    from workbench.present.evals import import_lines

    report, to = import_cases(
        project, args.jsonl, args.to, threshold=args.threshold, semantic=args.semantic, tags=args.tag
    )
    out, notes = import_lines(report, to)
    print("\n".join(out))
    for line in notes:
        print(line, file=sys.stderr)
    return 0
