"""`workbench eval run|diff|runs|show|promote|import`: eval sets, headless (SSH, CI, scripts).

Exit codes: 0 ok, 1 the gate failed, 2 bad input (eval file, run id, flags), 130 Ctrl-C (run
`cancelled`), 143 SIGTERM (run `interrupted`); either way the finished cases are kept and
`--resume RUN` continues. Everything printed from a model or a user
file goes through `terminal_safe` and Rich `Text`, never markup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.evals.lookup import eval_file_arg, resolve_evalset_path
from workbench.core.safetext import terminal_safe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="run eval sets, compare runs, gate CI, grow the set",
                       description="Eval sets (evals/*.yaml) run against a variant. Exit codes: 0 ok, "
                       "1 gate failed, 2 bad input, 130 Ctrl-C, 143 SIGTERM (both keep the finished cases: resume with --resume RUN).")
    esub = p.add_subparsers(dest="eval_command", metavar="run|diff|runs|show|promote|import|history")
    p.set_defaults(func=lambda args, project: _usage(p))

    r = esub.add_parser("run", help="run an eval set against a variant and store the run")
    r.add_argument("evalset", nargs="?", help="eval file or name under evals/ (default: evals.default_set)")
    r.add_argument("--variant", help="a named variant from workbench.yaml")
    r.add_argument("--prompt", help="prompt name (overrides the variant's)")
    r.add_argument("--model", help="ollama:NAME or embedded (overrides the variant's)")
    r.add_argument("--concurrency", type=int, help="cases in flight at once (default: evals.concurrency, 4)")
    r.add_argument("--repeat", type=int, default=1, help="run every case N times to find flaky cases")
    r.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="only cases with this tag (repeatable: any of them)")
    r.add_argument("--case", action="append", default=[], metavar="ID",
                   help="only this case (repeatable)")
    r.add_argument("--limit", type=int, metavar="N",
                   help="only the first N cases (after --tag/--case): a quick check while iterating")
    r.add_argument("--no-cache", action="store_true", help="call the model even for unchanged cases")
    r.add_argument("--resume", metavar="RUN", help="continue an interrupted or cancelled run")
    r.add_argument("--baseline", metavar="RUN|best|last", help="compare with this run (and gate against it); best/last: among finished runs "
                        "with the same --tag/--case/--limit selection, preferring the same eval-set version")
    r.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a case passed in the baseline and fails now")
    r.add_argument("--max-regressions", type=int, metavar="N", help="allow up to N regressions (implies the regression gate)")
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
    pr.add_argument("--assert", dest="asserts", action="append", default=[], metavar="TYPE=VALUE",
                    help="a check (repeatable), e.g. icontains=WAL, contains-any=WAL,wal, regex=..., "
                         "'llm-judge=Says WAL lets readers run during a write', cites. "
                         "A case needs --expected or an --assert that looks at the answer")
    pr.add_argument("--relevant", nargs="+", default=[], metavar="PATH",
                    help="gold documents: paths relative to the corpus root (checked against the corpus "
                         "and the index), or chunk ids PATH#N")
    pr.add_argument("--id", dest="case_id", help="case id (default: from the question)")
    pr.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    pr.add_argument("--split", choices=("train", "heldout"))
    pr.add_argument("--force", action="store_true",
                    help="append even if the set already has this generation or a case with the same inputs")
    pr.set_defaults(func=promote_cmd)

    im = esub.add_parser("import", help="import logged questions (JSONL) as cases, skipping near-duplicates")
    im.add_argument("jsonl", help="one JSON object per line with `question` (and optional expected/answer, relevant, tags)")
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


def _console(file=None):
    from rich.console import Console

    return Console(file=file, highlight=False, soft_wrap=True)


def _plain(out: Any) -> bool:
    """Styles do not show (a pipe, a CI log, NO_COLOR): word diffs use `[-old-]{+new+}` markers."""
    return bool(out.no_color or not out.is_terminal)


def _print_all(out: Any, *groups: list[Any]) -> None:
    for group in groups:
        for line in group:
            out.print(line)


# --------------------------------------------------------------------------- run


def run_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals import runstore
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.runner import EvalRunner
    from workbench.core.evals.selection import run_concurrency, select_cases
    from workbench.core.llm.registry import chain_specs
    from workbench.core.variants import resolve_variant

    if args.repeat < 1:
        raise WorkbenchError("--repeat must be at least 1", field="repeat")
    if args.min_pass_rate is not None:
        from workbench.core.evals.gate import normalize_rate

        normalize_rate(args.min_pass_rate)  # bad input is exit 2 before any model call
    if (args.fail_on_regression or args.max_regressions is not None) and not args.baseline:
        raise WorkbenchError("--fail-on-regression / --max-regressions need --baseline RUN|best|last",
                             field="baseline")
    if args.resume and (args.tag or args.case or args.limit is not None):
        raise WorkbenchError("--resume continues the run's own cases; drop --tag/--case/--limit",
                             field="--resume")
    evalset = select_cases(load_evalset(resolve_evalset_path(project, args.evalset)),
                           tags=args.tag, case_ids=args.case, limit=args.limit)
    variant = resolve_variant(project, args.variant, prompt=args.prompt, model=args.model)
    if variant.prompt.grounded and not args.json:
        from workbench.core.evals.promote import unindexed_labels
        from workbench.core.retrieval.service import project_index

        unknown = unindexed_labels(evalset.cases, project_index(project, variant.retrieval))
        if unknown:
            print(f"warning: {len(unknown)} `relevant` label(s) name no indexed document (paths are "
                  f"relative to the corpus folder): {', '.join(unknown[:5])}"
                  + (" …" if len(unknown) > 5 else "") + "; retrieval metrics count them as never "
                  "retrieved", file=sys.stderr)
    store = project.store
    resume = runstore.resolve_run_ref(store, args.resume) if args.resume else None
    baseline_id = None
    if args.baseline:  # best/last: a run that covered the same cases (a resumed run: its own)
        selection = runstore.selection_of(runstore.get_run(store, resume)) if resume else evalset.selection
        baseline_id = runstore.resolve_run_ref(store, args.baseline, evalset=evalset.name, exclude=resume,
                                               selection=selection, evalset_hash=evalset.content_hash)
    concurrency = run_concurrency(store, project.config.evals.concurrency, args.concurrency, resume)

    err = _console(sys.stderr)
    from workbench.present.progress import CaseProgress

    on_progress = CaseProgress(err, quiet=args.json)
    runner = EvalRunner(project, evalset, variant, concurrency=concurrency, repeat=args.repeat,
                        use_cache=not args.no_cache, on_progress=on_progress)
    if resume is not None:
        runner.check_resume(resume)  # refuse a finished/changed run before the header; narrows a subset
        evalset = runner.evalset
    if not args.json:
        from workbench.present.evals import run_header

        err.print(run_header(evalset.name, len(evalset.cases), runner.repeat, variant.label,
                             chain_specs(project.config, variant.model), concurrency, resume))
    try:
        with on_progress:
            outcome = asyncio.run(runner.run(resume=resume))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM routed the same way (core/interrupts.py)
        from workbench.core.interrupts import interrupt_exit_code, stop_status, terminated

        run_id = runner.run_id if runner.run_id is not None else resume
        how = "stopped by SIGTERM" if terminated() else "cancelled"
        if run_id is None:  # before the run's row existed
            print(f"{how} before the run started: nothing stored", file=sys.stderr)
            return interrupt_exit_code()
        if runner.run_id is not None:  # SIGTERM: `interrupted`, as a killed run is; a 2nd signal: not `running`
            if runstore.get_run(store, run_id)["status"] in ("running", "cancelled"):
                store.update("eval_runs", run_id, {"status": stop_status("cancelled")})
        done = len(runstore.finished_keys(store, run_id))
        print(f"{how}: {done} finished case(s) kept in run {run_id}; continue with "
              f"`{resume_command(args, project, run_id)}`", file=sys.stderr)
        return interrupt_exit_code()
    return _report_run(args, project, evalset, outcome, baseline_id)


def resume_command(args: argparse.Namespace, project: Any, run_id: int | None) -> str:
    """The command that continues a cancelled run, ready to paste: with `-p DIR` when the project
    is not the current folder, and the flags that chose the variant (a resume with another
    variant is refused)."""
    import shlex

    try:
        here = Path.cwd().resolve()
    except OSError:  # the current folder was removed meanwhile
        here = None
    words = ["workbench"]
    if project.root != here:
        words += ["-p", str(project.root)]
    words += ["eval", "run", *([args.evalset] if args.evalset else [])]
    for flag in ("variant", "prompt", "model"):
        if getattr(args, flag, None):
            words += [f"--{flag}", getattr(args, flag)]
    return shlex.join([*words, "--resume", str(run_id)])


def _report_run(args: argparse.Namespace, project: Any, evalset: Any, outcome: Any, baseline_id: int | None) -> int:
    from workbench.core.evals import runstore
    from workbench.core.evals.diff import diff_runs
    from workbench.core.evals.gate import evaluate_gate
    from workbench.core.evals.report import markdown_report, write_junit

    store = project.store
    info = runstore.run_info(runstore.get_run(store, outcome.run_id))
    diff = None
    if baseline_id is not None:
        base_info = runstore.run_info(runstore.get_run(store, baseline_id))
        diff = diff_runs(runstore.load_results(store, baseline_id), outcome.results, a=base_info, b=info)
    gate = evaluate_gate(outcome.summary, diff, fail_on_regression=args.fail_on_regression,
                         max_regressions=args.max_regressions, min_pass_rate=args.min_pass_rate)
    gated = args.fail_on_regression or args.max_regressions is not None or args.min_pass_rate is not None
    if args.junit:
        write_junit(args.junit, outcome.results, suite=evalset.name, summary=outcome.summary)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown_report(outcome.summary, info, diff=diff,
                                                       gate=gate if gated else None), encoding="utf-8")
    if args.json:
        print(json.dumps({
            "run_id": outcome.run_id, "status": outcome.status, "skipped": outcome.skipped,
            "summary": outcome.summary,
            "diff": diff.to_dict(only="changed") if diff else None,
            "gate": {"passed": gate.passed, "reasons": gate.reasons, "checks": gate.checks} if gated else None,
        }, ensure_ascii=False))
    else:
        from workbench.core.evals.case_texts import evalset_texts
        from workbench.present import evals as present

        out = _console()
        out.print(present.text(f"run e{outcome.run_id}: {outcome.status}" + (
            f" ({outcome.skipped} case(s) kept from before the resume)" if outcome.skipped else "")))
        _print_all(out, present.summary_texts(outcome.summary), present.failure_texts(outcome.results, limit=15))
        if diff is not None:
            out.print()
            _print_all(out, present.diff_texts(diff, only="changed", limit=15, texts=evalset_texts(evalset),
                                               plain=_plain(out)))
        if gated:
            out.print()
            _print_all(out, present.gate_texts(gate))
    return gate.exit_code if gated else 0


# --------------------------------------------------------------------------- diff / runs / show


def diff_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals import runstore
    from workbench.core.evals.diff import diff_runs

    store = project.store
    a = runstore.resolve_run_ref(store, args.run_a)
    b = runstore.resolve_run_ref(store, args.run_b)
    ia, ib = runstore.run_info(runstore.get_run(store, a)), runstore.run_info(runstore.get_run(store, b))
    diff = diff_runs(runstore.load_results(store, a), runstore.load_results(store, b), a=ia, b=ib)
    if args.json:
        print(json.dumps(diff.to_dict(only=args.only), ensure_ascii=False))
    else:
        from workbench.core.evals.case_texts import case_texts
        from workbench.present.evals import diff_texts

        out = _console()
        texts = case_texts(store, [runstore.get_run(store, a), runstore.get_run(store, b)])
        _print_all(out, diff_texts(diff, only=args.only, texts=texts, plain=_plain(out)))
    return 0


def runs_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals import runstore
    from workbench.present.evals import no_runs_line, runs_table

    rows = runstore.list_runs(project.store, limit=args.limit, evalset=args.evalset)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    out = _console()
    if not rows:
        out.print(no_runs_line(args.evalset, runstore.evalset_names(project.store) if args.evalset else []))
        return 0
    out.print(runs_table(rows, out.width))
    return 0


def show_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals import runstore
    from workbench.core.evals.report import markdown_report
    from workbench.core.runlog import load_eval_run

    row, results, summary = load_eval_run(project.store, runstore.resolve_run_ref(project.store, args.run))
    if args.json:
        print(json.dumps({"run": {k: v for k, v in row.items() if k != "summary"}, "summary": summary,
                          "results": [{**r.to_dict(), "output": r.output, "status": r.status} for r in results]},
                         ensure_ascii=False, default=str))
        return 0
    if args.markdown:
        sys.stdout.write(markdown_report(summary, runstore.run_info(row)))
        return 0
    from workbench.present.evals import show_texts

    _print_all(_console(), show_texts(row, results, summary, everything=args.all))
    return 0


# --------------------------------------------------------------------------- promote / import


def _default_promote_target(project: Any) -> Path:
    """Where `eval promote` without --to appends: evals.default_set (created if missing)."""
    evals = project.config.evals
    if not evals.default_set:
        raise WorkbenchError("say which eval file to append to: --to evals/NAME.yaml (or set "
                             "evals.default_set in workbench.yaml)", path=project.config.path, field="--to")
    return project.root / evals.dir / evals.default_set


def promote_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals.promote import (
        AlreadyPromoted,
        NothingToScore,
        corpus_documents,
        parse_assert_option,
        promote_generation,
    )

    to = eval_file_arg(project, args.to) if args.to else _default_promote_target(project)
    asserts = [parse_assert_option(a) for a in args.asserts]
    documents = (corpus_documents(project.root, project.data_dir, project.config.retrieval)
                 if args.relevant else None)
    try:
        case = promote_generation(project.store, args.generation, to, expected=args.expected,
                                  relevant=args.relevant, case_id=args.case_id, tags=args.tag,
                                  split=args.split, asserts=asserts, documents=documents, force=args.force)
    except NothingToScore as exc:
        effect = ("so it would pass whatever the model answers and inflate the pass rate" if exc.budgets
                  else "so `eval run` could only report it as unscored")
        raise WorkbenchError(
            f"generation {exc.generation_id} would become a case with {exc.why}, {effect}. "
            "Add --expected TEXT (the reference answer, scored by similarity) or --assert TYPE=VALUE, "
            "e.g. --assert icontains=KEYWORD or --assert 'llm-judge=what a good answer says'",
            path=exc.path, field="assert") from None
    except AlreadyPromoted as exc:
        if exc.same != "inputs":
            raise
        raise WorkbenchError(f"{exc.message} (or pass --force to add another case with these inputs)",
                             path=exc.path, line=exc.line, field="inputs") from None
    print(terminal_safe(f"added case '{case.id}' to {case.path}:{case.line}"))
    return 0


def import_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals.promote import import_jsonl
    from workbench.present.evals import import_lines

    src = Path(args.jsonl)
    to = eval_file_arg(project, args.to) if args.to else project.root / project.config.evals.dir / f"{src.stem}.yaml"
    if not 0 < args.threshold <= 1:
        raise WorkbenchError("--threshold must be between 0 and 1", field="threshold")
    embed = None
    if args.semantic:
        from workbench.core.evals.assertions import default_embed

        embed = default_embed()
    report = import_jsonl(src, to, threshold=args.threshold, embed=embed, tags=args.tag)
    out, notes = import_lines(report, to)
    print("\n".join(out))
    for line in notes:
        print(line, file=sys.stderr)
    return 0
