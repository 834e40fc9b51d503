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


def _text(s: Any, style: str = ""):
    from rich.text import Text

    return Text(terminal_safe(str(s)), style=style)


# --------------------------------------------------------------------------- run


def run_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals import runstore
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.runner import EvalRunner
    from workbench.core.evals.selection import select_cases
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
    # `is None`, not `or`: --concurrency 0 is bad input (exit 2, from the runner), not "default"
    concurrency = project.config.evals.concurrency if args.concurrency is None else args.concurrency
    if resume is not None and args.concurrency is None:  # a resumed run keeps its own pace
        concurrency = (runstore.get_run(store, resume).get("config") or {}).get("concurrency") or concurrency

    err = _console(sys.stderr)
    show_progress = sys.stderr.isatty() and not args.json

    logged = {"at": -1}  # without a terminal (CI logs): a plain line every tenth of the run

    def on_progress(p: Any) -> None:
        counts = (f"{p.done}/{p.total}  pass {p.passed}  fail {p.failed}"
                  + (f"  judge errors {p.judge_errors}" if p.judge_errors else "")
                  + (f"  cached {p.cached}" if p.cached else "")
                  + ("  hosts: " + " · ".join(h.brief() for h in p.hosts) if p.hosts else ""))
        if show_progress:
            width = 24
            filled = int(width * p.done / p.total) if p.total else width
            bar = "█" * filled + "·" * (width - filled)
            sys.stderr.write(f"\r{bar} {counts}   ")
            sys.stderr.flush()
        elif not args.json and p.total:
            step = max(1, p.total // 10)
            if p.done == p.total or p.done - logged["at"] >= step and p.done > p.skipped:
                if logged["at"] != p.done:
                    logged["at"] = p.done
                    print(f"progress {counts}", file=sys.stderr, flush=True)

    runner = EvalRunner(project, evalset, variant, concurrency=concurrency, repeat=args.repeat,
                        use_cache=not args.no_cache, on_progress=on_progress)
    if resume is not None:
        runner.check_resume(resume)  # refuse a finished/changed run before the header; narrows a subset
        evalset = runner.evalset
    if not args.json:
        cases = len(evalset.cases)
        err.print(_text(f"eval {evalset.name} ({cases} case{'s' if cases != 1 else ''} × {runner.repeat}) with variant "
                        f"{variant.label}, models {' → '.join(chain_specs(project.config, variant.model))}, "
                        f"concurrency {concurrency}"
                        + (f", resuming run {resume}" if resume else "")))
    try:
        outcome = asyncio.run(runner.run(resume=resume))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM routed the same way (core/interrupts.py)
        from workbench.core.interrupts import interrupt_exit_code, stop_status, terminated

        if show_progress:
            sys.stderr.write("\n")
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
    if show_progress:
        sys.stderr.write("\n")
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
        out = _console()
        out.print(_text(f"run e{outcome.run_id}: {outcome.status}"
                        + (f" ({outcome.skipped} case(s) kept from before the resume)" if outcome.skipped else "")))
        _print_summary(out, outcome.summary)
        _print_failures(out, outcome.results, limit=15)
        if diff is not None:
            out.print()
            _print_diff(out, diff, only="changed", limit=15, texts=evalset_texts(evalset))
        if gated:
            out.print()
            if gate.passed:
                out.print(_text("gate passed: " + "; ".join(gate.checks), "green"))
            else:
                for reason in gate.reasons:
                    out.print(_text(f"gate FAILED: {reason}", "bold red"))
    return gate.exit_code if gated else 0


def _print_summary(out: Any, summary: dict[str, Any]) -> None:
    """The advice first, in bold (it says what to do next), then the numbers behind it."""
    from workbench.core.evals.summary import summary_lines

    for n, line in enumerate(summary_lines(summary)):
        out.print(_text(line, "bold" if n == 0 and summary.get("advice") else ""))


def _print_failures(out: Any, results: list, *, limit: int = 15, everything: bool = False) -> None:
    from workbench.core.evals.python_scorer import scorer_error_only
    from workbench.core.evals.results import fold_repeats

    folded = fold_repeats(results)
    shown = [s for s in folded.values() if everything or s.verdict in ("fail", "judge-error")]
    if not shown:
        return
    out.print()
    out.print(_text("cases:" if everything else "failing cases:", "bold"))
    for s in shown[:limit]:
        r = s.evidence
        failing = [a for a in r.assertions if a.passed is not True]
        why = "; ".join(f"{a.name}: {a.detail}" for a in failing[:2]) or r.error or ""
        kind = f" [{r.failure_kind}]" if r.failure_kind else ""
        flaky = f" (flaky: {s.passes} pass / {s.fails} fail)" if s.flaky else ""
        style = {"pass": "green", "fail": "red", "judge-error": "yellow"}.get(s.verdict, "")
        shown_as = s.verdict
        if s.verdict == "judge-error" and scorer_error_only(r):  # a python check, not a judge
            shown_as, kind = "scorer-err", ""
        line = _text(f"  {shown_as:<11} ", style)
        line.append_text(_text(f"{s.case_id}{kind}{flaky}  {why}"[:300]))
        out.print(line)
        answer = " ".join((r.output or "").split())
        if answer and s.verdict != "pass":
            out.print(_text(f"               answer: {answer[:160]}{'…' if len(answer) > 160 else ''}", "dim"))
    if len(shown) > limit:
        out.print(_text(f"  … and {len(shown) - limit} more (workbench eval show RUN --all)", "dim"))


def _print_diff(out: Any, diff: Any, *, only: str | None, limit: int | None = None,
                texts: dict[str, tuple[str | None, str | None]] | None = None) -> None:
    """A run diff for people: counts, then regressions, fixes and the rest, each case with its
    question and expected answer (`texts`, see case_texts) and its answer's word diff."""
    from rich.text import Text

    out.print(_text(diff.heading, "bold"))
    if diff.stats:
        st = diff.stats
        out.print(_text(f"{st.words}; pass rate {st.pass_rate_a:.0%} -> {st.pass_rate_b:.0%}, "
                        f"delta 95% CI {st.ci_low:+.0%} to {st.ci_high:+.0%}"))
        out.print(_text(st.resolution_words))
    tot = diff.totals.get("delta", {})
    parts = []
    if tot.get("latency_p50_ms") is not None:
        parts.append(f"latency p50 {tot['latency_p50_ms']:+.0f} ms")
    if tot.get("completion_tokens") is not None:
        parts.append(f"completion tokens {tot['completion_tokens']:+.0f}")
    if tot.get("cost"):
        parts.append(f"cost {tot['cost']:+.5f}")
    if parts:
        out.print(_text(", ".join(parts)))
    for w in diff.warnings:
        out.print(_text(f"warning: {w}", "yellow"))
    cases = [c for c in diff.only(only) if not (c.label == "same" and only is None)]
    # Regressions first, then fixes, then the rest: what needs a look comes first (stable sort).
    cases.sort(key=lambda c: {"regression": 0, "fix": 1}.get(c.change, 2))
    texts = texts or {}
    for c in cases[:limit] if limit else cases:
        style = {"regression": "bold red", "fix": "bold green", "added": "cyan", "removed": "cyan"}.get(c.change, "")
        out.print()  # a blank line between cases: one case's answer never runs into the next
        head = _text(f"{c.label:<10} ", style)  # the counts' words: answer, retrieval, verdict
        head.append_text(_text(f"{c.case_id}  {c.before or '-'} -> {c.after or '-'}"))
        if c.gold_rank_before != c.gold_rank_after and (c.gold_rank_before or c.gold_rank_after):
            head.append_text(_text(f"  gold rank {c.gold_rank_before or '-'} -> {c.gold_rank_after or '-'}"))
        if c.latency_delta_ms is not None:
            head.append_text(_text(f"  {c.latency_delta_ms:+.0f} ms", "dim"))
        out.print(head)
        question, expected = texts.get(c.case_id, (None, None))
        if question:
            out.print(_text(f"    question: {_one_line(question)}"))
        if expected:
            out.print(_text(f"    expected: {_one_line(expected)}", "dim"))
        for f in c.assertion_flips:
            out.print(_text(f"    {f.name}: {f.before} -> {f.after}  {f.detail_after}"[:200], "dim"))
        if c.output_changed:
            out.print(_word_diff_text(c.words, plain=out.no_color or not out.is_terminal))
    if limit and len(cases) > limit:
        out.print(_text(f"  … {len(cases) - limit} more (workbench eval diff A B)", "dim"))


def _one_line(text: str, width: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def evalset_texts(evalset: Any) -> dict[str, tuple[str | None, str | None]]:
    """case id -> (question, expected) from an eval set (the first input when none is `question`)."""
    texts = {}
    for case in evalset.cases:
        question = case.inputs.get("question") or next(iter(case.inputs.values()), None)
        texts[case.id] = (str(question) if question is not None else None, case.expected)
    return texts


def case_texts(store: Any, run_rows: list[dict[str, Any]]) -> dict[str, tuple[str | None, str | None]]:
    """case id -> (question, expected) for a diff: from the runs' eval set file (the later run's
    first), else the question each case's generation was asked."""
    from workbench.core.evals.evalset import load_evalset

    texts: dict[str, tuple[str | None, str | None]] = {}
    for row in reversed(run_rows):
        try:
            evalset = load_evalset(row.get("evalset_path") or "")
        except (WorkbenchError, OSError):
            continue
        texts = {**evalset_texts(evalset), **texts}
    ids = [row["id"] for row in run_rows]
    with store.lock:
        rows = store.conn.execute(
            "SELECT r.case_id, g.inputs FROM eval_results r JOIN generations g ON g.id = r.generation_id "
            f"WHERE r.run_id IN ({', '.join('?' * len(ids))})", ids).fetchall()
    for case_id, inputs in rows:  # a case the file no longer has: the question it was asked
        if case_id in texts:
            continue
        try:
            question = (json.loads(inputs or "{}") or {}).get("question")
        except (ValueError, AttributeError):
            question = None
        if question:
            texts[case_id] = (str(question), None)
    return texts


def _word_diff_text(words: list, *, plain: bool) -> Any:
    """A word diff: struck red / underlined green on a colour terminal; `[-old-]{+new+}` markers
    (as `git diff --word-diff=plain`) where styles do not show: pipes, CI logs, NO_COLOR."""
    from rich.text import Text

    line = Text("    ")
    equal = sum(len(seg) for op, seg in words if op == "equal")
    changed = sum(len(seg) for op, seg in words if op != "equal")
    if changed > 2 * max(equal, 1):  # little in common: before and after read better
        before = "".join(seg for op, seg in words if op != "insert")
        after = "".join(seg for op, seg in words if op != "delete")
        line.append("A: ")
        line.append(terminal_safe(before), style="" if plain else "red")
        line.append("\n    B: ")
        line.append(terminal_safe(after), style="" if plain else "green")
        return line
    previous = ""
    for op, seg in words:
        seg = terminal_safe(seg)
        if op == "insert" and previous == "delete" and not plain and not line.plain[-1:].isspace() \
                and not seg[:1].isspace():
            line.append(" ")  # struck 'answer' + underlined 'error' must not read 'answererror'
        if op == "equal":
            line.append(seg)
        elif op == "delete":
            line.append(f"[-{seg}-]" if plain else seg, style="red strike")
        else:
            line.append(f"{{+{seg}+}}" if plain else seg, style="green underline")
        previous = op
    return line


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
        _print_diff(_console(), diff, only=args.only,
                    texts=case_texts(store, [runstore.get_run(store, a), runstore.get_run(store, b)]))
    return 0


def runs_cmd(args: argparse.Namespace, project: Any) -> int:
    from rich.table import Table
    from rich.text import Text

    from workbench.core.evals import runstore
    from workbench.core.variants import variant_label

    rows = runstore.list_runs(project.store, limit=args.limit, evalset=args.evalset)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    out = _console()
    if not rows:
        names = runstore.evalset_names(project.store) if args.evalset else []
        if names:  # a filter that matched nothing, most often a typo: say what would match
            out.print(_text(f"No runs of eval set '{args.evalset}'. Eval sets with runs: {', '.join(names)}"))
        else:
            out.print(_text(f"No runs of eval set '{args.evalset}' (no eval runs yet). Try: workbench eval run"
                            if args.evalset else "No eval runs yet. Try: workbench eval run"))
        return 0
    cells = []
    for row in rows:
        s = row.get("summary") if isinstance(row.get("summary"), dict) else {}
        rate = s.get("pass_rate")
        ci = s.get("ci") or [None, None]
        cells.append({
            "run": f"e{row['id']}", "when": (row.get("created_at") or "")[5:16].replace("T", " "),
            "eval set": terminal_safe(row.get("evalset_name") or ""),
            "variant": terminal_safe(variant_label(row.get("variant_name"), row.get("variant_id"))),
            "status": row.get("status") or "", "pass rate": "" if rate is None else f"{rate:.0%}",
            "95% CI": "" if ci[0] is None or rate is None else f"{ci[0]:.0%}–{ci[1]:.0%}",
            "cases": _cases_cell(row, s), "cached": str(s.get("cache_hits", "")),
            "judge err": str(s.get("judge_errors", "")),
        })
    widths, headers = fit_run_columns(cells, out.width)
    table = Table(box=None, pad_edge=False)
    for col, width in widths.items():
        table.add_column(headers[col], no_wrap=True, overflow="ellipsis", width=width)
    for c in cells:
        table.add_row(*(Text(c[col]) for col in widths))
    out.print(table)
    return 0


RUN_COLUMNS = ("run", "when", "eval set", "variant", "status", "pass rate", "95% CI", "cases", "cached",
               "judge err")
_NAMES = ("eval set", "variant")  # the only columns cut (with …): the run id is what show/diff need


def fit_run_columns(cells: list[dict[str, str]], width: int) -> tuple[dict[str, int], dict[str, str]]:
    """Column widths (in order) and headers for `eval runs`: one line per run within `width`.

    Nothing but the eval set and variant names is ever cut: the run id, pass rate and CI are
    what a person reads and types next. When the line is too long, the low-value columns give
    way first (cache hits, judge errors: `eval show` has them), `pass rate` is headed `pass`,
    then the names shrink to 12, then the date goes, then the names shrink to 6.
    """
    from rich.cells import cell_len  # terminal cells, not characters: a CJK name is twice as wide

    natural = {c: max([len(c), *(cell_len(row[c]) for row in cells)]) for c in RUN_COLUMNS}
    headers = {c: c for c in RUN_COLUMNS}
    cols = list(RUN_COLUMNS)

    def room_for_names() -> int:
        fixed = sum(natural[c] for c in cols if c not in _NAMES)
        return width - fixed - 2 * (len(cols) - 1)

    def fits(least: int) -> bool:
        return room_for_names() >= sum(min(natural[n], least) for n in _NAMES)

    for step in ("cached", "judge err", "pass"):
        if fits(18):
            break
        if step == "pass":
            headers["pass rate"] = "pass"
            natural["pass rate"] = max([4, *(len(row["pass rate"]) for row in cells)])
        else:
            cols.remove(step)
    if not fits(12):
        cols.remove("when")
    names = {n: natural[n] for n in _NAMES}
    room = room_for_names()
    while sum(names.values()) > room and max(names.values()) > 6:  # the wider name gives way first
        wider = max(_NAMES, key=lambda n: names[n])
        names[wider] -= 1
    return {c: names.get(c, natural[c]) for c in cols}, headers


def _cases_cell(row: dict[str, Any], summary: dict[str, Any]) -> str:
    """'93', or '10/93' for a --limit/--tag subset run (its pass rate is over those 10 only)."""
    selection = (row.get("config") or {}).get("selection") if isinstance(row.get("config"), dict) else None
    cases = str(summary.get("cases", row.get("total_cases") or ""))
    return f"{cases}/{selection['of']}" if selection and selection.get("of") else cases


def show_cmd(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals import runstore
    from workbench.core.evals.report import markdown_report
    from workbench.core.evals.summary import summarize
    from workbench.core.variants import variant_label

    store = project.store
    run_id = runstore.resolve_run_ref(store, args.run)
    row = runstore.get_run(store, run_id)
    results = runstore.load_results(store, run_id)
    summary = row["summary"] if isinstance(row.get("summary"), dict) else summarize(
        results, expected_results=(row.get("total_cases") or 0) * (row.get("repeat") or 1))
    info = runstore.run_info(row)
    if args.json:
        print(json.dumps({"run": {k: v for k, v in row.items() if k != "summary"}, "summary": summary,
                          "results": [{**r.to_dict(), "output": r.output, "status": r.status} for r in results]},
                         ensure_ascii=False, default=str))
        return 0
    if args.markdown:
        sys.stdout.write(markdown_report(summary, info))
        return 0
    out = _console()
    variant = variant_label(info.variant_name, info.variant_id, hash_chars=len(info.variant_id or ""))
    out.print(_text(f"run e{run_id} · {row.get('evalset_name')} · variant {variant} · "
                    f"{row.get('status')} · {row.get('created_at', '')[:19].replace('T', ' ')}", "bold"))
    _print_summary(out, summary)  # the advice leads, as in `eval run`
    out.print(_text(f"identity: {info.identity}", "dim"))  # what decides the answers, one line
    _print_failures(out, results, limit=10_000 if args.all else 30, everything=args.all)
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
    from workbench.core.evals.promote import (AlreadyPromoted, NothingToScore, corpus_documents,
                                              parse_assert_option, promote_generation)

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

    src = Path(args.jsonl)
    to = eval_file_arg(project, args.to) if args.to else project.root / project.config.evals.dir / f"{src.stem}.yaml"
    if not 0 < args.threshold <= 1:
        raise WorkbenchError("--threshold must be between 0 and 1", field="threshold")
    embed = None
    if args.semantic:
        from workbench.core.evals.assertions import default_embed

        embed = default_embed()
    report = import_jsonl(src, to, threshold=args.threshold, embed=embed, tags=args.tag)
    print(terminal_safe(f"imported {len(report.added)} case(s) into {to}; "
                        f"{len(report.duplicates)} near-duplicate(s) skipped, {len(report.invalid)} invalid line(s)"))
    for n, q, dup in report.duplicates[:20]:
        print(terminal_safe(f"  line {n}: duplicate of {dup}: {q[:80]}"), file=sys.stderr)
    for n, why in report.invalid[:20]:
        print(terminal_safe(f"  line {n}: {why}"), file=sys.stderr)
    if report.unchecked:
        shown = ", ".join(report.unchecked[:5]) + (", …" if len(report.unchecked) > 5 else "")
        print(terminal_safe(
            f"warning: {len(report.unchecked)} imported case(s) have no check of the answer (a "
            f"logged answer is kept as `expected`, a reference to review, not a check); until you "
            f"add `assert:` to them in {to} they are unscored, or pass on a latency/token budget "
            f"alone: {shown}"), file=sys.stderr)
    return 0
