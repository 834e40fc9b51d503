"""The fine-tune guard's rules, each turning the evidence (guard_evidence.py) into a Rule: eval
set, variants tried, plateau, retrieval, signal and knowledge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.core.evals.stats import cases_for_ceiling, discordance, gain_bounds, points, resolution, resolution_words
from workbench.core.finetune.guard_evidence import (
    CorpusPassages,
    Pace,
    UncountedRun,
    VariantRun,
    compare,
    corpus_passages,
    duration_words,
    restates_corpus,
    signal_evidence,
)
from workbench.core.finetune.guard_report import WARNING, Rule
from workbench.core.finetune.settings import FinetuneSettings
from workbench.core.message_numbers import format_cost


def _rule_evalset(es: Any, s: FinetuneSettings) -> Rule:
    n = len(es.cases)
    heldout = sum(1 for c in es.cases if c.split == "heldout")
    train_expected = sum(1 for c in es.cases if c.split != "heldout" and c.expected)
    ev = {"cases": n, "heldout": heldout, "train_with_expected": train_expected, "min_cases": s.min_cases}
    summary = f"{es.name}: {n} cases ({heldout} held out, {train_expected} train cases with `expected`)"
    problems = []
    if n < s.min_cases:
        problems.append(f"add cases: {n} is below the minimum {s.min_cases}")
    if heldout == 0:
        problems.append(
            "mark about 20% of the cases `split: heldout` so the adapter is judged on cases it never trained on"
        )
    return Rule("eval set", not problems, summary, "; ".join(problems) or None, ev)


@dataclass
class Context:
    """What the rules' wording needs beyond the counted runs: the runs left out and why, the
    pace of a full run, and the configured variants not measured yet."""

    evalset: str
    cases: int
    uncounted: list[UncountedRun] = field(default_factory=list)
    pace: Pace | None = None
    untried: list[str] = field(default_factory=list)
    run_cmd: str = "workbench eval run"  # with the set named when `eval run` would pick another

    def pace_words(self, runs_needed: int = 1, *, short: bool = False) -> str:
        """How long the runs asked for take, from the stored pace; honest when there is none.
        `short` leaves out the case count (the sentence before says it)."""
        if self.pace is None:
            return f"a full run is {self.cases} model calls (no run on this set shows the pace yet)"
        words = self.pace.run_words(self.cases, say_cases=not short)
        if short:
            words = words[0].upper() + words[1:]
        if runs_needed > 1:
            words += f", {runs_needed} runs {duration_words(runs_needed * self.cases * self.pace.seconds_per_case)}"
        return words

    def uncounted_words(self, limit: int = 4) -> str:
        shown = [u.words for u in self.uncounted[:limit]]
        if len(self.uncounted) > limit:
            shown.append(f"{len(self.uncounted) - limit} more")
        return ", ".join(shown) + " — only complete runs of the whole set count"

    def resumable(self, limit: int = 2) -> list[UncountedRun]:
        return [u for u in self.uncounted if u.resume][:limit]

    def resume_steps(self) -> tuple[list[str], list[str]]:
        """(CLI, TUI) sentences offering to finish cancelled runs rather than start again."""
        cli, tui = [], []
        for u in self.resumable():
            left = f"{u.full - u.cases} cases left"
            cli.append(f"{u.label} can be resumed instead of started again (`{self.run_cmd} {u.resume}`: {left})")
            tui.append(
                f"{u.label} can be resumed instead of started again (Evals tab, F3: select e{u.run_id}, ctrl+e: {left})"
            )
        return cli, tui


def _rule_variants(runs: list[VariantRun], s: FinetuneSettings, ctx: Context) -> Rule:
    levers = {r.lever_key for r in runs}
    ev = {
        "variants": len(runs),
        "distinct_prompt_retrieval": len(levers),
        "min_variants": s.min_variants,
        "runs": [r.run_id for r in runs],
        "uncounted": [u.to_dict() for u in ctx.uncounted],
        "seconds_per_case": ctx.pace.seconds_per_case if ctx.pace else None,
        "untried_variants": ctx.untried,
    }
    listed = ", ".join(r.label for r in runs)
    if ctx.uncounted:
        listed = (f"{listed}; not counted: " if listed else "none counted; ") + ctx.uncounted_words()
    summary = (
        f"{len(levers)} distinct prompt/retrieval variant(s) evaluated on {ctx.evalset} "
        f"(runs: {listed or 'none'}); need {s.min_variants}"
    )
    if len(levers) >= s.min_variants:
        return Rule("variants", True, summary, None, ev)
    missing = s.min_variants - len(levers)
    untried = ", ".join(ctx.untried)
    named = f"; workbench.yaml defines {untried}" if untried else ""
    in_picker = f" Variant picker: {untried}" if untried else " Variant picker"
    new_one = "; a new one: edit the prompt in the Prompt tab (F1) and save it with ctrl+s"
    if not runs:
        cli = [
            f"evaluate the current settings on all {ctx.cases} cases (`{ctx.run_cmd}`), then "
            f"{s.min_variants - 1} variants that change the prompt or retrieval "
            f"(`{ctx.run_cmd} --variant NAME`{named})"
        ]
        tui = [
            f"evaluate the current settings on all {ctx.cases} cases (Evals tab, F3: set {ctx.evalset}, "
            f"Variant base, ctrl+r), then {s.min_variants - 1} variants that change the prompt or "
            f"retrieval (pick them in the Evals tab's{in_picker}{new_one})"
        ]
    else:
        cli = [
            f"evaluate {missing} more variant(s) that change the prompt or retrieval "
            f"(`{ctx.run_cmd} --variant NAME`{named}): a model-only change does not count"
        ]
        tui = [
            f"evaluate {missing} more variant(s) that change the prompt or retrieval (Evals tab, F3: "
            f"choose one in the{in_picker}, then ctrl+r{new_one}): a model-only change does not count"
        ]
    resume_cli, resume_tui = ctx.resume_steps()
    time = ctx.pace_words(missing)
    return Rule(
        "variants",
        False,
        summary,
        "; ".join(cli + resume_cli + [time]),
        ev,
        tui_step="; ".join(tui + resume_tui + [time]),
    )


HISTORY_POINTER = "; see it: `workbench eval history`"  # the pass rate per run with its CI, plotted


PLATEAU_RULE = (
    "A plateau needs evidence of a ceiling: for each of the last variants, the {conf} "
    "upper bound of its paired gain over the best is below {gain} points. A set too small "
    "to show that cannot tell, and the guard says how many cases would."
)


def _rule_plateau(runs: list[VariantRun], s: FinetuneSettings, ctx: Context | None = None) -> Rule:
    """Walk the variants in the order they were evaluated; each is compared with the best so far.

    "Did not beat the best beyond noise" is absence of evidence: the smaller the set, the easier
    it passes. So the plateau is an equivalence judgement instead: it holds when every variant of
    the window has a one-sided upper bound (stats.gain_bounds) of its gain below `min_gain`.
    """
    scored = [r for r in runs if r.pass_rate is not None]
    if len(scored) < 2:
        return Rule(
            "plateau",
            False,
            f"{len(scored)} scored run(s): a plateau needs a history",
            f"evaluate at least {s.plateau_window + 1} variants to see whether the pass rate still moves",
            {"history": []},
        )
    best = scored[0]
    history = []
    for r in scored[1:]:
        history.append(_plateau_step(best, r, s))
        if (r.pass_rate or 0.0) > (best.pass_rate or 0.0):  # scored: neither is None
            best = r
    last = history[-s.plateau_window :]
    enough = len(history) >= s.plateau_window
    judged = [h for h in last if "gain_high" in h]
    widest = max(judged, key=lambda h: h["resolution"], default=None)
    gain, conf = points(s.min_gain), f"{1 - s.significance:.0%}"
    ev: dict[str, Any] = {
        "best_run": best.run_id,
        "best_pass_rate": best.pass_rate,
        "history": history,
        "window": s.plateau_window,
        "min_gain": s.min_gain,
        "rule": PLATEAU_RULE.format(conf=conf, gain=gain),
    }
    if widest is not None:
        ev["resolution"] = widest["resolution"]
        ev["resolution_words"] = resolution_words(widest["n"], widest["flips"], widest["resolution"])
    head = f"best {best.pass_rate:.0%} ({best.label})"
    if not enough:
        more = s.plateau_window - len(history)
        summary = f"{head}; only {len(history)} comparison(s) so far"
        if widest is not None:
            summary += f"; {ev['resolution_words']}"
        step = f"evaluate {more} more variant(s) to show the pass rate stopped moving"
        tui = f"{step} (Evals tab, F3: pick a Variant, ctrl+r)"
        if ctx is not None:
            step, tui = f"{step}; {ctx.pace_words(more)}", f"{tui}; {ctx.pace_words(more)}"
        return Rule("plateau", False, summary, step, ev, tui_step=tui)
    if all(h["below_min_gain"] for h in last):
        ev["verdict"] = "ceiling"
        each = ", ".join(
            f"{h['label']} vs e{h['vs']} {_signed(h['gain'])} points (at most {_signed(h['gain_high'])})" for h in last
        )
        summary = (
            f"{head}; the last {len(last)} variant(s) gain less than {gain} points on the best "
            f"({conf} upper bounds): {each}; {ev['resolution_words']}{HISTORY_POINTER}"
        )
        return Rule("plateau", True, summary, None, ev)
    moved = [h for h in last if h["real"]]
    if moved:
        ev["verdict"] = "still improving"
        h = moved[-1]
        summary = (
            f"{head}; {h['label']} still moved the bar: {_signed(h['gain'])} points on e{h['vs']} "
            f"(at least {_signed(h['gain_low'])}, {conf} lower bound); {ev['resolution_words']}"
            f"{HISTORY_POINTER}"
        )
        step = (
            "prompting and retrieval are still improving the score: keep iterating on variants "
            f"until the last ones gain less than {gain} points on the best"
        )
        return Rule("plateau", False, summary, step, ev)
    ev["verdict"] = "cannot tell"
    open_ = [h for h in last if not h["below_min_gain"]]
    worst = max(open_, key=lambda h: h.get("gain_high", 1.0))
    if "gain_high" not in worst:  # no case decided in both runs
        summary = f"{head}; cannot tell: {worst['label']} vs e{worst['vs']}: {worst['words']}"
        return Rule("plateau", False, summary, "re-run the variants on the same cases", ev)
    resolves = points(worst["resolution"])
    summary = (
        f"{head}; cannot tell: {worst['label']} vs e{worst['vs']} {_signed(worst['gain'])} points, "
        f"could be up to {_signed(worst['gain_high'])} ({conf} upper bound), above the {gain}-point "
        "minimum gain; "
        f"{resolution_words(worst['n'], worst['flips'], worst['resolution'])}{HISTORY_POINTER}"
    )
    needed = cases_for_ceiling(worst["flip_share"], worst["gain"], s.min_gain, s.significance)
    ev["cases_needed"] = needed
    if needed is not None:
        step = (
            f"cannot tell: the eval set resolves ±{resolves} points; to show a ceiling at {gain} points you "
            f"need about {needed} cases (or repeats of the noisy ones)"
        )
    else:
        step = (
            f"cannot tell: the eval set resolves ±{resolves} points, and {worst['label']} gained "
            f"{_signed(worst['gain'])}, more than {gain}: add cases (or repeats of the noisy ones) to "
            "see whether that gain is real"
        )
    return Rule("plateau", False, summary, step, ev)


def _plateau_step(best: VariantRun, r: VariantRun, s: FinetuneSettings) -> dict[str, Any]:
    """Run r against the best before it: the paired gain, its one-sided bounds at
    `significance`, and the set's resolution at this pair's flip rate."""
    st = compare(best, r)
    h: dict[str, Any] = {
        "run": r.run_id,
        "label": r.label,
        "pass_rate": r.pass_rate,
        "vs": best.run_id,
        "p": st.p_value if st else None,
        "words": st.words if st else "no cases in common",
        "real": False,
        "below_min_gain": False,
    }
    if st is None:
        return h
    low, high = gain_bounds(st.fixes, st.regressions, st.n, s.significance)
    flip_share = discordance(st.fixes, st.regressions, st.n)
    h.update(
        n=st.n,
        flips=st.fixes + st.regressions,
        gain=st.delta,
        gain_low=low,
        gain_high=high,
        flip_share=flip_share,
        resolution=resolution(st.n, flip_share, s.significance),
        real=low > 0,
        below_min_gain=high < s.min_gain,
    )
    return h


def _signed(share: float) -> str:
    """A gain in points with its sign and one decimal: +1.2, -0.6."""
    return f"{share * 100:+.1f}"


def _rule_retrieval(
    best: VariantRun | None, s: FinetuneSettings, reval: dict[str, Any] | None = None, ctx: Context | None = None
) -> Rule:
    if best is None:
        return _rule_retrieval_no_run(ctx)
    failures = {k: int(v) for k, v in (best.summary.get("failures") or {}).items()}
    if not failures and best.results:
        from workbench.core.evals.attribution import count_kinds

        failures = count_kinds([r.failure_kind for r in best.results if r.repeat_index == 0])
    failed_total = sum(v for k, v in failures.items() if k != "judge-error")
    misses = failures.get("retrieval-miss", 0)
    share = misses / failed_total if failed_total else 0.0
    retr = best.summary.get("retrieval") or None
    if retr is None and best.results:
        from workbench.core.evals.summary import retrieval_metrics

        retr = retrieval_metrics(best.results)
    recall = retr.get("hit_rate") if retr else None
    k = retr.get("k") if retr else None
    labelled = retr.get("cases") if retr else None
    source = f"{best.label}"
    if reval is not None:  # a dedicated retrieval eval measures recall over every relevant document
        recall, k, labelled = reval["recall"], reval["k"], None
        source = f"retrieval eval re{reval['id']} ({reval['mode']})"
    ev = {
        "run": best.run_id,
        "failures": failed_total,
        "retrieval_misses": misses,
        "miss_share": share,
        "recall_at_k": recall,
        "k": k,
        "max_miss_share": s.max_retrieval_miss_share,
        "min_recall": s.min_recall,
        "recall_source": source,
    }
    parts = [
        f"in {best.label}, {misses} of {failed_total} failures are retrieval misses ({share:.0%}, "
        f"limit {s.max_retrieval_miss_share:.0%})"
    ]
    if recall is not None:
        on = f" on {labelled} labelled cases" if labelled else ""
        parts.append(f"recall@{k} {recall:.0%}{on} in {source} (minimum {s.min_recall:.0%})")
    else:
        parts.append("no retrieval evidence (no `relevant` documents, or the variant does not retrieve)")
    summary = "; ".join(parts)
    bad_share = failed_total > 0 and share > s.max_retrieval_miss_share
    bad_recall = recall is not None and recall < s.min_recall
    if not (bad_share or bad_recall):
        return Rule("retrieval", True, summary, None, ev)
    if bad_share:
        ev["advice"] = (
            _count_sentence(misses, failed_total) + " fix retrieval (chunking, k, hybrid "
            "search) before touching the weights."
        )
    else:
        ev["advice"] = (
            f"recall@{k} is {recall:.0%}: the answer is often not in the context — fix "
            "retrieval (chunking, k, hybrid search) before touching the weights."
        )
    step = "fix retrieval first (`workbench retrieval eval`, then chunking, k, hybrid search), and re-run the eval set"
    return Rule("retrieval", False, summary, step, ev)


def _rule_retrieval_no_run(ctx: Context | None) -> Rule:
    """No complete run to attribute failures in: say which runs were left out, how to make one
    (or finish a cancelled one), and how long it takes."""
    if ctx is None or not ctx.uncounted:
        where = f" of {ctx.evalset}" if ctx else ""
        step = f"run the eval set (`{ctx.run_cmd if ctx else 'workbench eval run'}`) so failures can be attributed"
        tui = "run the eval set (Evals tab, F3: ctrl+r) so failures can be attributed"
        if ctx is not None and ctx.pace is not None:
            step, tui = f"{step}; {ctx.pace_words()}", f"{tui}; {ctx.pace_words()}"
        return Rule("retrieval", False, f"no finished eval run{where} to read failures from", step, tui_step=tui)
    n = len(ctx.uncounted)
    summary = (
        f"no complete eval run of {ctx.evalset} to read failures from "
        f"({n} run{'s' if n > 1 else ''} not counted: see variants)"
    )
    first = ctx.resumable(1)
    resume = f", or `{ctx.run_cmd} {first[0].resume}` to finish e{first[0].run_id}" if first else ""
    tui_resume = f"; or select e{first[0].run_id}, ctrl+e to finish it" if first else ""
    ev = {"uncounted": [u.to_dict() for u in ctx.uncounted]}
    # Short: as the lead advice it must fit the TUI's advice band (4 lines at 80 columns).
    step = (
        f"run all {ctx.cases} cases once (`{ctx.run_cmd}` without --limit/--tag/--case{resume}): "
        f"only complete runs of the whole set count. {ctx.pace_words(short=True)}"
    )
    tui = (
        f"run all {ctx.cases} cases once (Evals tab, F3: ctrl+r{tui_resume}): only complete runs of "
        f"the whole set count. {ctx.pace_words(short=True)}"
    )
    return Rule("retrieval", False, summary, step, ev, tui_step=tui)


def _count_sentence(n: int, total: int) -> str:
    if total == 1:
        return "The one failure is a retrieval miss:"
    if n == total:
        return f"All {total} failures are retrieval misses:"
    verb = "is a retrieval miss" if n == 1 else "are retrieval misses"
    return f"{n} of {total} failures {verb}:"


def _rule_signal(signal: str | None, runs: list[VariantRun], best: VariantRun | None, s: FinetuneSettings) -> Rule:
    ev = signal_evidence(runs, best)
    pc = ev["prompt_cost"]
    share = pc.get("prompt_share")
    shown = (
        f"format failures persisting across all {len(runs)} variants: {len(ev['format_persistent'])}; "
        f"capability failures (context present, failing in every variant): "
        f"{len(ev['capability_persistent'])}; prompt tokens "
        + (
            f"{share:.0%} of all tokens, {pc['prompt_tokens_per_request']:.0f} per request"
            + (f", cost {format_cost(pc['cost_per_request'])} per request" if pc.get("cost_per_request") else "")
            if share is not None
            else "unknown"
        )
    )
    ev["signal"] = signal
    if signal is None:
        return Rule(
            "signal",
            False,
            "no signal named. Evidence: " + shown,
            "name why a fine-tune is needed: --signal format | capability | prompt-cost",
            ev,
            tui_step="name why a fine-tune is needed: choose format, capability or prompt-cost in Signal above",
        )
    if len(runs) < 2 and signal != "prompt-cost":
        return Rule(
            "signal",
            False,
            f"{signal}: persistence needs at least 2 variants. " + shown,
            "evaluate more variants so persistent failures can be told from prompt problems",
            ev,
        )
    if signal == "format":
        n = len(ev["format_persistent"])
        ok = n >= s.min_signal_cases
        summary = f"format: {n} case(s) fail on format in every variant (need {s.min_signal_cases})" + (
            f": {', '.join(ev['format_persistent'][:8])}" if n else ""
        )
        step = (
            None
            if ok
            else (
                "the runs do not show format failures that survive prompt changes; try "
                "structured output (format: json schema) or a clearer format instruction"
            )
        )
    elif signal == "capability":
        n = len(ev["capability_persistent"])
        ok = n >= s.min_signal_cases
        summary = (
            f"capability: {n} case(s) fail with the right context present in every variant "
            f"(need {s.min_signal_cases})" + (f": {', '.join(ev['capability_persistent'][:8])}" if n else "")
        )
        step = (
            None
            if ok
            else ("no persistent failures with context present: the prompt or retrieval still explains the failures")
        )
    else:
        ok = share is not None and share >= s.min_prompt_share
        summary = "prompt-cost: " + (
            f"prompt tokens are {share:.0%} of all tokens "
            f"({pc['prompt_tokens_per_request']:.0f} per request"
            + (f", cost {format_cost(pc['cost_per_request'])} per request" if pc.get("cost_per_request") else "")
            + f"); need {s.min_prompt_share:.0%}"
            if share is not None
            else "no token counts stored"
        )
        step = (
            None
            if ok
            else (
                "prompts are not the bulk of the cost; a fine-tune will not save much — "
                "trim few-shot examples or context first"
            )
        )
    return Rule("signal", ok, summary, step, ev)


def knowledge_rule(targets: list[tuple[str, str]], corpus: CorpusPassages, s: FinetuneSettings) -> Rule:
    """The knowledge-injection warning for (id, target text) pairs."""
    if not targets:
        return Rule("knowledge", True, "no training targets to compare with the corpus", severity=WARNING)
    if not corpus.passages:
        return Rule(
            "knowledge",
            True,
            "no corpus documents to compare training targets with",
            severity=WARNING,
            evidence={"documents": 0},
        )
    restating = [tid for tid, text in targets if restates_corpus(text, corpus)[0]]
    share = len(restating) / len(targets)
    ev = {
        "targets": len(targets),
        "restating": len(restating),
        "share": share,
        "documents": corpus.documents,
        "threshold": s.knowledge_overlap_warn,
        "examples": restating[:8],
    }
    summary = (
        f"{len(restating)} of {len(targets)} training targets ({share:.0%}) mostly restate a "
        f"passage of the corpus ({corpus.documents} documents)"
    )
    if share >= s.knowledge_overlap_warn:
        return Rule(
            "knowledge",
            False,
            summary + ": facts belong in retrieval; a fine-tune teaches behaviour (format, style), not knowledge",
            "train on targets that show the behaviour you want, and let retrieval supply the facts",
            ev,
            severity=WARNING,
        )
    return Rule("knowledge", True, summary, None, ev, severity=WARNING)


def _rule_knowledge(project: Any, es: Any, s: FinetuneSettings) -> Rule:
    targets = [(c.id, c.expected) for c in es.cases if c.split != "heldout" and c.expected]
    if not targets:
        return knowledge_rule([], CorpusPassages([], {}, 0), s)
    return knowledge_rule(targets, corpus_passages(project), s)
