"""The summary of one eval run: the numbers a person reads first, and the advice that leads.

Computed from stored `CaseResult`s only, so a finished, cancelled or resumed run summarises the
same way, and `eval show` can recompute it. Pass rates count decided cases (pass or fail); judge
errors and unscored cases are reported beside them, never folded into either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.core.evals.attribution import FAILURE_KINDS, advice
from workbench.core.evals.python_scorer import scorer_error_only
from workbench.core.evals.results import CaseResult, fold_repeats, percentile
from workbench.core.evals.stats import discordance, resolution, wilson_interval

if TYPE_CHECKING:
    from workbench.core.store import Store


def _rate(passed: int, total: int) -> dict[str, Any]:
    lo, hi = wilson_interval(passed, total)
    return {"passed": passed, "total": total, "rate": passed / total if total else None, "ci": [lo, hi]}


def retrieval_metrics(results: Sequence[CaseResult]) -> dict[str, Any] | None:
    """Retrieval quality over the cases with `relevant` documents, from what the run retrieved.

    Uses the retrieval package's metrics (hit@k, recall@k, MRR@10, nDCG@10, document-level), so
    the numbers match `workbench retrieval eval`. Only first repeats count (retrieval does not
    vary between repeats). None when no case has gold documents or no retrieval step ran.
    """
    rows = [r for r in results if r.repeat_index == 0 and r.relevant and r.retrieved is not None]
    if not rows:
        return None
    from workbench.core.retrieval.metrics import case_metrics, mean_metrics

    k = max((len(r.chunks) or len(r.retrieved or ()) for r in rows), default=0)
    per_case = []
    for r in rows:
        chunks = list(r.chunks) or [(p, p) for p in (r.retrieved or ())]
        per_case.append(case_metrics(chunks, list(r.relevant), max(k, 1)))
    means = mean_metrics(per_case)
    return {
        "cases": len(rows),
        "k": k,
        "hit_rate": means["hit@k"],
        "recall": means["recall@k"],
        "mrr": means["mrr@10"],
        "ndcg": means["ndcg@10"],
        "misses": [r.case_id for r, m in zip(rows, per_case, strict=True) if m["hit@k"] == 0.0],
    }


def summarize(
    results: Sequence[CaseResult], *, expected_results: int | None = None, grounded: bool | None = None
) -> dict[str, Any]:
    """A JSON-ready summary (stored in eval_runs.summary)."""
    folded = fold_repeats(results)
    verdicts = Counter(s.verdict for s in folded.values())
    decided = verdicts["pass"] + verdicts["fail"]
    scorer_errors = sum(1 for s in folded.values() if s.verdict == "judge-error" and scorer_error_only(s.evidence))
    summary: dict[str, Any] = {
        "cases": len(folded),
        "results": len(results),
        "missing": max(0, (expected_results or len(results)) - len(results)),
        "passed": verdicts["pass"],
        "failed": verdicts["fail"],
        "judge_errors": verdicts["judge-error"] - scorer_errors,
        "scorer_errors": scorer_errors,  # a `type: python` check that raised, hung or returned junk
        "unscored": verdicts["unscored"],
        **{k: v for k, v in _rate(verdicts["pass"], decided).items() if k != "passed"},
    }
    summary["pass_rate"] = summary.pop("rate")

    per_assertion: dict[str, dict[str, Any]] = {}  # type, passed, failed, errors, rate
    for r in results:
        for a in r.assertions:
            bucket = per_assertion.setdefault(a.name, {"type": a.type, "passed": 0, "failed": 0, "errors": 0})
            key = "passed" if a.passed is True else "failed" if a.passed is False else "errors"
            bucket[key] += 1
    for bucket in per_assertion.values():
        n = bucket["passed"] + bucket["failed"]
        bucket["rate"] = bucket["passed"] / n if n else None
    summary["per_assertion"] = per_assertion

    per_tag: dict[str, dict[str, Any]] = {}
    for s in folded.values():
        if s.passed is None:
            continue
        for tag in s.first.tags:
            t = per_tag.setdefault(tag, {"passed": 0, "total": 0})
            t["total"] += 1
            t["passed"] += int(bool(s.passed))
    for t in per_tag.values():
        t["rate"] = t["passed"] / t["total"]
    summary["per_tag"] = dict(sorted(per_tag.items()))

    summary["retrieval"] = retrieval_metrics(results)
    lat = [r.latency_ms for r in results if r.latency_ms is not None]
    summary["latency_ms"] = {"p50": percentile(lat, 50), "p95": percentile(lat, 95)}
    summary["tokens"] = {
        "prompt": sum(r.prompt_tokens or 0 for r in results),
        "completion": sum(r.completion_tokens or 0 for r in results),
        "unknown": sum(1 for r in results if r.completion_tokens is None),
    }
    costs = [r.cost for r in results if r.cost is not None]
    summary["cost"] = sum(costs) if costs else None
    summary["cache_hits"] = sum(1 for r in results if r.cached)
    summary["flaky"] = [cid for cid, s in folded.items() if s.flaky]

    kinds: Counter[str] = Counter()
    failing: dict[str, str] = {}
    for cid, s in folded.items():
        if s.verdict in ("fail", "judge-error"):
            reps = [r.failure_kind for r in s.repeats if r.failure_kind]
            kind = Counter(reps).most_common(1)[0][0] if reps else "other"
            kinds[kind] += 1
            failing[cid] = kind
    summary["failures"] = {k: kinds.get(k, 0) for k in FAILURE_KINDS}
    summary["failing_cases"] = failing
    unretrieved = sum(
        1
        for cid, kind in failing.items()
        if kind == "other" and folded[cid].first.relevant and folded[cid].first.retrieved is None
    )
    summary["advice"] = advice(
        summary["failures"], unretrieved=unretrieved, grounded=grounded, scorer_errors=scorer_errors
    )
    return summary


def resolution_vs_previous(store: Store, run_id: int, results: Sequence[CaseResult]) -> dict[str, Any] | None:
    """The set's resolution (minimum detectable effect, stats.resolution) at the flip rate
    between this run and the newest other finished run of the same set and selection: how
    large a change this set can tell from noise now. None when there is no such run."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.evals import runstore

    row = runstore.get_run(store, run_id)
    try:
        other = runstore.resolve_run_ref(
            store,
            "last",
            evalset=row.get("evalset_name"),
            exclude=run_id,
            selection=runstore.selection_of(row),
            evalset_hash=row.get("evalset_hash"),
        )
    except WorkbenchError:
        return None
    before = {cid: s.passed for cid, s in fold_repeats(runstore.load_results(store, other)).items()}
    pairs = [
        (before[cid], s.passed)
        for cid, s in fold_repeats(results).items()
        if s.passed is not None and before.get(cid) is not None
    ]
    if not pairs:
        return None
    fixes = sum(1 for a, b in pairs if not a and b)
    regressions = sum(1 for a, b in pairs if a and not b)
    return {
        "against": other,
        "cases": len(pairs),
        "flips": fixes + regressions,
        "resolution": resolution(len(pairs), discordance(fixes, regressions, len(pairs))),
    }
