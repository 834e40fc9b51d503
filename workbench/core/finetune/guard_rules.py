"""The fine-tune guard's rules, each turning the evidence (guard_evidence.py) into a Rule (a kind
and its facts; present/finetune_guard.py words them): eval set, variants tried, plateau, retrieval,
signal and knowledge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.core.evals.stats import cases_for_ceiling, discordance, gain_bounds, resolution
from workbench.core.finetune.guard_evidence import (
    CorpusPassages,
    Pace,
    UncountedRun,
    VariantRun,
    compare,
    corpus_passages,
    restates_corpus,
    signal_evidence,
)
from workbench.core.finetune.guard_report import WARNING, Rule
from workbench.core.finetune.settings import FinetuneSettings


def _rule_evalset(es: Any, s: FinetuneSettings) -> Rule:
    n = len(es.cases)
    heldout = sum(1 for c in es.cases if c.split == "heldout")
    train_expected = sum(1 for c in es.cases if c.split != "heldout" and c.expected)
    ev = {"cases": n, "heldout": heldout, "train_with_expected": train_expected, "min_cases": s.min_cases}
    passed = n >= s.min_cases and heldout > 0
    return Rule("eval set", passed, evidence=ev, kind="eval set", facts={"evalset": es.name, **ev})


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

    def to_facts(self) -> dict[str, Any]:
        return {
            "evalset": self.evalset,
            "cases": self.cases,
            "uncounted": [{**u.to_dict(), "label": u.label} for u in self.uncounted],
            "pace": None
            if self.pace is None
            else {"seconds_per_case": self.pace.seconds_per_case, "runs": self.pace.runs},
            "untried": self.untried,
            "run_cmd": self.run_cmd,
        }


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
    facts = {"labels": [r.label for r in runs], "levers": len(levers), "min_variants": s.min_variants}
    return Rule("variants", len(levers) >= s.min_variants, evidence=ev, kind="variants", facts=facts | ctx.to_facts())


def _rule_plateau(runs: list[VariantRun], s: FinetuneSettings, ctx: Context | None = None) -> Rule:
    """Walk the variants in the order they were evaluated; each is compared with the best so far.

    "Did not beat the best beyond noise" is absence of evidence: the smaller the set, the easier
    it passes. So the plateau is an equivalence judgement instead: it holds when every variant of
    the window has a one-sided upper bound (stats.gain_bounds) of its gain below `min_gain`.
    """
    scored = [r for r in runs if r.pass_rate is not None]
    if len(scored) < 2:
        few = {"scored": len(scored), "window": s.plateau_window}
        return Rule("plateau", False, evidence={"history": []}, kind="plateau.no history", facts=few)
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
    ev: dict[str, Any] = {
        "best_run": best.run_id,
        "best_pass_rate": best.pass_rate,
        "history": history,
        "window": s.plateau_window,
        "min_gain": s.min_gain,
    }
    facts: dict[str, Any] = {
        "best_label": best.label,
        "best_pass_rate": best.pass_rate,
        "significance": s.significance,
        "min_gain": s.min_gain,
        "comparisons": len(history),
        "last": last,
        "widest": None if widest is None else {k: widest[k] for k in ("n", "flips", "resolution")},
        "ctx": None if ctx is None else ctx.to_facts(),
    }
    if widest is not None:
        ev["resolution"] = widest["resolution"]
    if not enough:
        facts["more"] = s.plateau_window - len(history)
        return Rule("plateau", False, evidence=ev, kind="plateau.too few", facts=facts)
    if all(h["below_min_gain"] for h in last):
        ev["verdict"] = "ceiling"
        return Rule("plateau", True, evidence=ev, kind="plateau.ceiling", facts=facts)
    moved = [h for h in last if h["real"]]
    if moved:
        ev["verdict"] = "still improving"
        facts["moved"] = moved[-1]
        return Rule("plateau", False, evidence=ev, kind="plateau.still improving", facts=facts)
    ev["verdict"] = "cannot tell"
    open_ = [h for h in last if not h["below_min_gain"]]
    worst = max(open_, key=lambda h: h.get("gain_high", 1.0))
    facts["worst"] = worst
    if "gain_high" not in worst:  # no case decided in both runs
        return Rule("plateau", False, evidence=ev, kind="plateau.no common cases", facts=facts)
    needed = cases_for_ceiling(worst["flip_share"], worst["gain"], s.min_gain, s.significance)
    ev["cases_needed"] = facts["cases_needed"] = needed
    return Rule("plateau", False, evidence=ev, kind="plateau.cannot tell", facts=facts)


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
    bad_share = failed_total > 0 and share > s.max_retrieval_miss_share
    bad_recall = recall is not None and recall < s.min_recall
    facts = {**ev, "label": best.label, "labelled": labelled, "bad_share": bad_share}
    return Rule("retrieval", not (bad_share or bad_recall), evidence=ev, kind="retrieval", facts=facts)


def _rule_retrieval_no_run(ctx: Context | None) -> Rule:
    """No complete run to attribute failures in: the words say which runs were left out, how to
    make one (or finish a cancelled one), and how long it takes."""
    ev = {"uncounted": [u.to_dict() for u in ctx.uncounted]} if ctx is not None and ctx.uncounted else {}
    facts = {"ctx": None if ctx is None else ctx.to_facts()}
    return Rule("retrieval", False, evidence=ev, kind="retrieval.no run", facts=facts)


def _rule_signal(signal: str | None, runs: list[VariantRun], best: VariantRun | None, s: FinetuneSettings) -> Rule:
    ev = signal_evidence(runs, best)
    pc = ev["prompt_cost"]
    share = pc.get("prompt_share")
    ev["signal"] = signal
    facts: dict[str, Any] = {
        "variants": len(runs),
        "format": ev["format_persistent"],
        "capability": ev["capability_persistent"],
        "prompt_share": share,
        "prompt_tokens_per_request": pc.get("prompt_tokens_per_request"),
        "cost_per_request": pc.get("cost_per_request"),
        "min_signal_cases": s.min_signal_cases,
        "min_prompt_share": s.min_prompt_share,
    }
    if signal is None:
        return Rule("signal", False, evidence=ev, kind="signal.none", facts=facts)
    if len(runs) < 2 and signal != "prompt-cost":
        return Rule("signal", False, evidence=ev, kind="signal.too few variants", facts=facts | {"signal": signal})
    if signal in ("format", "capability"):
        ok = len(facts[signal]) >= s.min_signal_cases
    else:
        ok = share is not None and share >= s.min_prompt_share
    return Rule("signal", ok, evidence=ev, kind=f"signal.{signal}", facts=facts)


def knowledge_rule(targets: list[tuple[str, str]], corpus: CorpusPassages, s: FinetuneSettings) -> Rule:
    """The knowledge-injection warning for (id, target text) pairs."""
    if not targets:
        return Rule("knowledge", True, severity=WARNING, kind="knowledge.no targets")
    if not corpus.passages:
        return Rule("knowledge", True, severity=WARNING, evidence={"documents": 0}, kind="knowledge.no corpus")
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
    ok = share < s.knowledge_overlap_warn
    return Rule("knowledge", ok, evidence=ev, severity=WARNING, kind="knowledge", facts=dict(ev))


def _rule_knowledge(project: Any, es: Any, s: FinetuneSettings) -> Rule:
    targets = [(c.id, c.expected) for c in es.cases if c.split != "heldout" and c.expected]
    if not targets:
        return knowledge_rule([], CorpusPassages([], {}, 0), s)
    return knowledge_rule(targets, corpus_passages(project), s)
