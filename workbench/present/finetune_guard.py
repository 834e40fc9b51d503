"""The fine-tune guard's words: each rule's kind and facts (core/finetune/guard_rules.py) become its
summary, next step (the CLI's and the Fine-tune tab's) and the report's advice. `worded` fills
them in; a report stored before rules had a kind keeps the words it was stored with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from workbench.core.finetune.guard_report import GuardReport, Rule
from workbench.present.numbers import (
    about,
    format_cost,
    pct,
    plural,
    points,
    resolution_words,
    resolves,
    secs,
    signed_points,
)

HISTORY_POINTER = "; see it: `workbench eval history`"  # the pass rate per run with its CI, plotted

PLATEAU_RULE = (
    "A plateau needs evidence of a ceiling: for each of the last variants, the {conf} "
    "upper bound of its paired gain over the best is below {gain} points. A set too small "
    "to show that cannot tell, and the guard says how many cases would."
)

Words = tuple[str, str | None, str | None]  # summary, next step, the TUI's next step (None: the same)


def worded(report: GuardReport) -> GuardReport:
    """A copy of the report with every rule's words and the advice filled in from its facts."""
    rules = [word_rule(r) for r in report.rules]
    out = replace(report, rules=rules)
    if not report.advice:  # core leaves it to the words; a stored report keeps its own
        out.advice, out.tui_advice = _advice(out)
    return out


def word_rule(rule: Rule) -> Rule:
    """The rule with its summary and next steps from its kind and facts (as stored when it has no kind)."""
    wording = _WORDS.get(rule.kind)
    if wording is None:
        return rule
    evidence = dict(rule.evidence)
    summary, step, tui = wording(rule.facts, evidence)
    return replace(rule, summary=summary, next_step=step, tui_step=tui, evidence=evidence)


def stored_report(guard: dict[str, Any]) -> dict[str, Any]:
    """A job's stored guard report (JSON) with its words filled in, as `finetune check --json` shows it."""
    return worded(GuardReport.from_dict(guard)).to_dict() if guard.get("rules") else guard


def refused_message(report: GuardReport) -> str:
    """Why `finetune train` did not start (the TUI's train view shows it)."""
    return (
        "fine-tune refused by the guard: "
        + worded(report).advice
        + ' (see `workbench finetune check`; to train anyway pass --override "reason")'
    )


def _advice(report: GuardReport) -> tuple[str, str | None]:
    """(advice, the TUI's advice or None when it reads the same)."""
    if report.lead is None:
        advice = (
            f"The evidence supports a LoRA fine-tune for the {report.signal} signal: run `workbench finetune train`."
        )
        if report.warnings:
            advice += " But read the warning: " + report.warnings[0].summary
        return advice, None
    lead = report.rule(report.lead)
    lead_text = lead.evidence.get("advice") or lead.next_step or lead.summary
    tui_text = lead.evidence.get("tui_advice") or lead.tui_step or lead_text
    also = f" (also missing: {', '.join(report.also)})" if report.also else ""
    return f"Not yet: {lead_text}{also}", (f"Not yet: {tui_text}{also}" if tui_text != lead_text else None)


# --------------------------------------------------------------------------- the context


def uncounted_words(u: dict[str, Any]) -> str:
    """Why a stored run is left out: a subset, an earlier version of the set, unfinished."""
    label, cases, selected, full = u["label"], u["cases"], u["selected"], u["of"]
    if u["reason"] == "subset":
        return f"{label} covers only {selected} of {plural(full, 'case')} (--limit/--tag/--case)"
    if u["reason"] == "earlier set":
        return f"{label} ran an earlier version of the set ({plural(selected, 'case')}; it has {full} now)"
    if u["reason"] == "running":
        return f"{label} has not finished ({cases} of {plural(full, 'case')} so far)"
    return f"{label} was {u['reason']} after {cases} of {plural(full, 'case')}"


def pace_words(ctx: dict[str, Any], runs_needed: int = 1, *, short: bool = False) -> str:
    """How long the runs asked for take, from the stored pace; honest when there is none.
    `short` leaves out the case count (the sentence before says it)."""
    pace, cases = ctx["pace"], ctx["cases"]
    if pace is None:
        return f"a full run is {cases} model calls (no run on this set shows the pace yet)"
    per_case = pace["seconds_per_case"]
    of = "" if short else f" of {plural(cases, 'case')}"
    words = (
        f"a full run{of} takes {about(cases * per_case)} "
        f"({secs(per_case, 1)} a case in {', '.join(f'e{r}' for r in pace['runs'])})"
    )
    if short:
        words = words[0].upper() + words[1:]
    if runs_needed > 1:
        words += f", {runs_needed} runs {about(runs_needed * cases * per_case)}"
    return words


def _uncounted_list(ctx: dict[str, Any], limit: int = 4) -> str:
    uncounted = ctx["uncounted"]
    shown = [uncounted_words(u) for u in uncounted[:limit]]
    if len(uncounted) > limit:
        shown.append(f"{len(uncounted) - limit} more")
    return ", ".join(shown) + " — only complete runs of the whole set count"


def _resumable(ctx: dict[str, Any], limit: int = 2) -> list[dict[str, Any]]:
    return [u for u in ctx["uncounted"] if u.get("resume")][:limit]


def _resume_steps(ctx: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(CLI, TUI) sentences offering to finish cancelled runs rather than start again."""
    cli, tui = [], []
    for u in _resumable(ctx):
        left = f"{plural(u['of'] - u['cases'], 'case')} left"
        cli.append(f"{u['label']} can be resumed instead of started again (`{ctx['run_cmd']} {u['resume']}`: {left})")
        tui.append(
            f"{u['label']} can be resumed instead of started again (Evals tab, F3: select e{u['run']}, ctrl+e: {left})"
        )
    return cli, tui


# --------------------------------------------------------------------------- the rules


def _evalset(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    n, heldout = f["cases"], f["heldout"]
    train = plural(f["train_with_expected"], "train case")
    summary = f"{f['evalset']}: {plural(n, 'case')} ({heldout} held out, {train} with `expected`)"
    problems = []
    if n < f["min_cases"]:
        problems.append(f"add cases: {n} is below the minimum {f['min_cases']}")
    if heldout == 0:
        problems.append(
            "mark about 20% of the cases `split: heldout` so the adapter is judged on cases it never trained on"
        )
    return summary, "; ".join(problems) or None, None


def _no_evalset(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    folder = f["folder"]
    step = (
        f"write an eval set ({folder}/NAME.yaml) with at least {f['min_cases']} "
        "cases, about 20% of them `split: heldout`, then evaluate prompt variants on it"
    )
    return f"no eval set in {folder}/", step, None


def _needs_evalset(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    return "needs an eval set first", None, None


def _base_model(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    return f["message"], "set finetune.base_model to embedded or to a local llama or gemma2 folder", None


def _variants(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    levers, need, run_cmd, evalset = f["levers"], f["min_variants"], f["run_cmd"], f["evalset"]
    listed = ", ".join(f["labels"])
    if f["uncounted"]:
        listed = (f"{listed}; not counted: " if listed else "none counted; ") + _uncounted_list(f)
    summary = (
        f"{levers} distinct prompt/retrieval variant(s) evaluated on {evalset} (runs: {listed or 'none'}); need {need}"
    )
    if levers >= need:
        return summary, None, None
    missing = need - levers
    untried = ", ".join(f["untried"])
    named = f"; workbench.yaml defines {untried}" if untried else ""
    in_picker = f" Variant picker: {untried}" if untried else " Variant picker"
    new_one = "; a new one: edit the prompt in the Prompt tab (F1) and save it with ctrl+s"
    if not f["labels"]:
        # the current settings count as the first variant; with finetune.min_variants 1 they are all
        more = _that_change(need - 1, "variant")
        cli = [
            f"evaluate the current settings on all {f['cases']} cases (`{run_cmd}`)"
            + (f", then {more} the prompt or retrieval (`{run_cmd} --variant NAME`{named})" if need > 1 else "")
        ]
        tui = [
            f"evaluate the current settings on all {f['cases']} cases (Evals tab, F3: set {evalset}, "
            "Variant base, ctrl+r)"
            + (
                f", then {more} the prompt or retrieval (pick {'it' if need == 2 else 'them'} in the Evals tab's"
                f"{in_picker}{new_one})"
                if need > 1
                else ""
            )
        ]
    else:
        cli = [
            f"evaluate {_that_change(missing, 'more variant')} the prompt or retrieval "
            f"(`{run_cmd} --variant NAME`{named}): a model-only change does not count"
        ]
        tui = [
            f"evaluate {_that_change(missing, 'more variant')} the prompt or retrieval (Evals tab, F3: "
            f"choose one in the{in_picker}, then ctrl+r{new_one}): a model-only change does not count"
        ]
    resume_cli, resume_tui = _resume_steps(f)
    time = pace_words(f, missing)
    return summary, "; ".join(cli + resume_cli + [time]), "; ".join(tui + resume_tui + [time])


def _that_change(n: int, word: str) -> str:
    """`1 more variant that changes`, `2 more variants that change`: the verb agrees."""
    return plural(n, word) + (" that changes" if n == 1 else " that change")


def _plateau_no_history(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    step = f"evaluate at least {f['window'] + 1} variants to see whether the pass rate still moves"
    return f"{f['scored']} scored run(s): a plateau needs a history", step, None


def _plateau_terms(f: dict[str, Any], ev: dict[str, Any]) -> tuple[str, str, str]:
    """(head, minimum gain in points, confidence); fills the evidence's rule and resolution words."""
    gain, conf = points(f["min_gain"]), pct(1 - f["significance"])
    ev["rule"] = PLATEAU_RULE.format(conf=conf, gain=gain)
    widest = f["widest"]
    if widest is not None:
        ev["resolution_words"] = resolution_words(widest["n"], widest["flips"], widest["resolution"])
    return f"best {pct(f['best_pass_rate'])} ({f['best_label']})", gain, conf


def _plateau_too_few(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    head, _, _ = _plateau_terms(f, ev)
    more, ctx = f["more"], f["ctx"]
    summary = f"{head}; only {f['comparisons']} comparison(s) so far"
    if "resolution_words" in ev:
        summary += f"; {ev['resolution_words']}"
    step = f"evaluate {more} more variant(s) to show the pass rate stopped moving"
    tui = f"{step} (Evals tab, F3: pick a Variant, ctrl+r)"
    if ctx is not None:
        step, tui = f"{step}; {pace_words(ctx, more)}", f"{tui}; {pace_words(ctx, more)}"
    return summary, step, tui


def _plateau_ceiling(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    head, gain, conf = _plateau_terms(f, ev)
    last = f["last"]
    each = ", ".join(
        f"{h['label']} vs e{h['vs']} {signed_points(h['gain'])} points (at most {signed_points(h['gain_high'])})"
        for h in last
    )
    summary = (
        f"{head}; the last {len(last)} variant(s) gain less than {gain} points on the best "
        f"({conf} upper bounds): {each}; {ev['resolution_words']}{HISTORY_POINTER}"
    )
    return summary, None, None


def _plateau_still_improving(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    head, gain, conf = _plateau_terms(f, ev)
    h = f["moved"]
    summary = (
        f"{head}; {h['label']} still moved the bar: {signed_points(h['gain'])} points on e{h['vs']} "
        f"(at least {signed_points(h['gain_low'])}, {conf} lower bound); {ev['resolution_words']}"
        f"{HISTORY_POINTER}"
    )
    step = (
        "prompting and retrieval are still improving the score: keep iterating on variants "
        f"until the last ones gain less than {gain} points on the best"
    )
    return summary, step, None


def _plateau_no_common(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    head, _, _ = _plateau_terms(f, ev)
    worst = f["worst"]
    summary = f"{head}; cannot tell: {worst['label']} vs e{worst['vs']}: {worst['words']}"
    return summary, "re-run the variants on the same cases", None


def _plateau_cannot_tell(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    head, gain, conf = _plateau_terms(f, ev)
    worst, needed = f["worst"], f["cases_needed"]
    set_resolves = resolves(worst["resolution"])  # "resolves ±8 points" or "is too small to resolve ..."
    summary = (
        f"{head}; cannot tell: {worst['label']} vs e{worst['vs']} {signed_points(worst['gain'])} points, "
        f"could be up to {signed_points(worst['gain_high'])} ({conf} upper bound), above the {gain}-point "
        "minimum gain; "
        f"{resolution_words(worst['n'], worst['flips'], worst['resolution'])}{HISTORY_POINTER}"
    )
    if needed is not None:
        step = (
            f"cannot tell: the eval set {set_resolves}; to show a ceiling at {gain} points you "
            f"need about {needed} cases (or repeats of the noisy ones)"
        )
    else:
        step = (
            f"cannot tell: the eval set {set_resolves}, and {worst['label']} gained "
            f"{signed_points(worst['gain'])}, more than {gain}: add cases (or repeats of the noisy ones) to "
            "see whether that gain is real"
        )
    return summary, step, None


def _count_sentence(n: int, total: int) -> str:
    if total == 1:
        return "The one failure is a retrieval miss:"
    if n == total:
        return f"All {total} failures are retrieval misses:"
    verb = "is a retrieval miss" if n == 1 else "are retrieval misses"
    return f"{n} of {total} failures {verb}:"


def _retrieval(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    misses, total, recall, k = f["retrieval_misses"], f["failures"], f["recall_at_k"], f["k"]
    parts = [
        f"in {f['label']}, {misses} of {total} failures are retrieval misses ({pct(f['miss_share'])}, "
        f"limit {pct(f['max_miss_share'])})"
    ]
    if recall is not None:
        on = f" on {f['labelled']} labelled cases" if f["labelled"] else ""
        parts.append(f"recall@{k} {pct(recall)}{on} in {f['recall_source']} (minimum {pct(f['min_recall'])})")
    else:
        parts.append("no retrieval evidence (no `relevant` documents, or the variant does not retrieve)")
    summary = "; ".join(parts)
    if not f["bad_share"] and (recall is None or recall >= f["min_recall"]):
        return summary, None, None
    if f["bad_share"]:
        ev["advice"] = (
            _count_sentence(misses, total) + " fix retrieval (chunking, k, hybrid search) before touching the weights."
        )
    else:
        ev["advice"] = (
            f"recall@{k} is {pct(recall)}: the answer is often not in the context — fix "
            "retrieval (chunking, k, hybrid search) before touching the weights."
        )
    step = "fix retrieval first (`workbench retrieval eval`, then chunking, k, hybrid search), and re-run the eval set"
    return summary, step, None


def _retrieval_no_run(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    ctx = f["ctx"]
    if ctx is None or not ctx["uncounted"]:
        where = f" of {ctx['evalset']}" if ctx else ""
        step = f"run the eval set (`{ctx['run_cmd'] if ctx else 'workbench eval run'}`) so failures can be attributed"
        tui = "run the eval set (Evals tab, F3: ctrl+r) so failures can be attributed"
        if ctx is not None and ctx["pace"] is not None:
            step, tui = f"{step}; {pace_words(ctx)}", f"{tui}; {pace_words(ctx)}"
        return f"no finished eval run{where} to read failures from", step, tui
    n = len(ctx["uncounted"])
    summary = (
        f"no complete eval run of {ctx['evalset']} to read failures from "
        f"({n} run{'s' if n > 1 else ''} not counted: see variants)"
    )
    first = _resumable(ctx, 1)
    resume = f", or `{ctx['run_cmd']} {first[0]['resume']}` to finish e{first[0]['run']}" if first else ""
    tui_resume = f"; or select e{first[0]['run']}, ctrl+e to finish it" if first else ""
    # Short: as the lead advice it must fit the TUI's advice band (4 lines at 80 columns).
    step = (
        f"run all {ctx['cases']} cases once (`{ctx['run_cmd']}` without --limit/--tag/--case{resume}): "
        f"only complete runs of the whole set count. {pace_words(ctx, short=True)}"
    )
    tui = (
        f"run all {ctx['cases']} cases once (Evals tab, F3: ctrl+r{tui_resume}): only complete runs of "
        f"the whole set count. {pace_words(ctx, short=True)}"
    )
    return summary, step, tui


def _prompt_cost(f: dict[str, Any]) -> str:
    """`600 per request, cost 0.0012 per request`."""
    cost = f", cost {format_cost(f['cost_per_request'])} per request" if f.get("cost_per_request") else ""
    return f"{round(f['prompt_tokens_per_request'])} per request{cost}"


def _signal_shown(f: dict[str, Any]) -> str:
    """The evidence for each signal, as the summary of an unnamed or unprovable one lists it.

    Format and capability failures count only when a case fails in every variant evaluated
    (core/finetune/guard_evidence.py signal_evidence), which takes two variants: with fewer the
    count is no evidence of anything, so it is not given as a count."""
    n = f["variants"]
    if n >= 2:
        persisting = (
            f"format failures persisting across all {n} variants: {len(f['format'])}; "
            f"capability failures (context present, failing in every variant): {len(f['capability'])}"
        )
    else:
        evaluated = "no variant evaluated yet" if n == 0 else "only 1 variant evaluated"
        persisting = f"format or capability failures that persist across variants: cannot tell ({evaluated})"
    return f"{persisting}; prompt tokens " + (
        f"{pct(f['prompt_share'])} of all tokens, {_prompt_cost(f)}" if f["prompt_share"] is not None else "unknown"
    )


def _signal_none(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    return (
        "no signal named. Evidence: " + _signal_shown(f),
        "name why a fine-tune is needed: --signal format | capability | prompt-cost",
        "name why a fine-tune is needed: choose format, capability or prompt-cost in Signal above",
    )


def _signal_too_few(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    return (
        f"{f['signal']}: persistence needs at least 2 variants. " + _signal_shown(f),
        "evaluate more variants so persistent failures can be told from prompt problems",
        None,
    )


def _signal_format(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    cases, need = f["format"], f["min_signal_cases"]
    n = len(cases)
    summary = f"format: {n} case(s) fail on format in every variant (need {need})" + (
        f": {', '.join(cases[:8])}" if n else ""
    )
    step = (
        "the runs do not show format failures that survive prompt changes; try "
        "structured output (format: json schema) or a clearer format instruction"
    )
    return summary, None if n >= need else step, None


def _signal_capability(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    cases, need = f["capability"], f["min_signal_cases"]
    n = len(cases)
    summary = f"capability: {n} case(s) fail with the right context present in every variant (need {need})" + (
        f": {', '.join(cases[:8])}" if n else ""
    )
    step = "no persistent failures with context present: the prompt or retrieval still explains the failures"
    return summary, None if n >= need else step, None


def _signal_prompt_cost(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    share = f["prompt_share"]
    summary = "prompt-cost: " + (
        f"prompt tokens are {pct(share)} of all tokens ({_prompt_cost(f)}); need {pct(f['min_prompt_share'])}"
        if share is not None
        else "no token counts stored"
    )
    step = (
        "prompts are not the bulk of the cost; a fine-tune will not save much — trim few-shot examples or context first"
    )
    return summary, None if share is not None and share >= f["min_prompt_share"] else step, None


def _knowledge(f: dict[str, Any], ev: dict[str, Any]) -> Words:
    summary = (
        f"{f['restating']} of {f['targets']} training targets ({pct(f['share'])}) mostly restate a "
        f"passage of the corpus ({f['documents']} documents)"
    )
    if f["share"] < f["threshold"]:
        return summary, None, None
    return (
        summary + ": facts belong in retrieval; a fine-tune teaches behaviour (format, style), not knowledge",
        "train on targets that show the behaviour you want, and let retrieval supply the facts",
        None,
    )


_WORDS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Words]] = {
    "eval set": _evalset,
    "eval set.none": _no_evalset,
    "needs eval set": _needs_evalset,
    "base model": _base_model,
    "variants": _variants,
    "plateau.no history": _plateau_no_history,
    "plateau.too few": _plateau_too_few,
    "plateau.ceiling": _plateau_ceiling,
    "plateau.still improving": _plateau_still_improving,
    "plateau.no common cases": _plateau_no_common,
    "plateau.cannot tell": _plateau_cannot_tell,
    "retrieval": _retrieval,
    "retrieval.no run": _retrieval_no_run,
    "signal.none": _signal_none,
    "signal.too few variants": _signal_too_few,
    "signal.format": _signal_format,
    "signal.capability": _signal_capability,
    "signal.prompt-cost": _signal_prompt_cost,
    "knowledge": _knowledge,
    "knowledge.no targets": lambda f, ev: ("no training targets to compare with the corpus", None, None),
    "knowledge.no corpus": lambda f, ev: ("no corpus documents to compare training targets with", None, None),
}
