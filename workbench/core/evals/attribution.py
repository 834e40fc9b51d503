"""Which lever would fix this failure? Classify each failing case, then advise from the counts.

Details: docs/NOTES.md, section core/evals/attribution.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from workbench.core.evals.assertions import (
    BUDGET_TYPES,
    CONTENT_TYPES,
    AssertionResult,
    GenerationOutcome,
    gold_rank,
    verdict,
)
from workbench.core.evals.evalset import Case

FAILURE_KINDS = ("retrieval-miss", "context-ignored", "format", "judge-error", "infra", "other")
# Tie-break order when two kinds have the same count: what invalidates the rest comes first.
_LEAD_ORDER = ("infra", "retrieval-miss", "format", "context-ignored", "other")


def attribute(case: Case, outcome: GenerationOutcome, results: Sequence[AssertionResult]) -> str | None:
    """The failure kind of one case, or None when it did not fail (pass or unscored)."""
    v = verdict(results)
    if not outcome.complete:
        return "infra"
    if v in ("pass", "unscored"):
        return None
    if v == "judge-error":
        return "judge-error"
    failing = [r for r in results if r.passed is False]
    if {r.base for r in failing} <= set(BUDGET_TYPES):
        return "infra"
    retrieval = _retrieval_verdict(case, outcome)
    if all(r.is_form or r.base in BUDGET_TYPES for r in failing):
        has_content_check = any(r.base in CONTENT_TYPES and not r.is_form for r in results)
        # Form failed, content fine: the format lever. With no content check at all, a missed
        # retrieval is the likelier cause (a regex often stands in for a content check).
        if has_content_check or retrieval != "retrieval-miss":
            return "format"
    return retrieval or "other"


def _retrieval_verdict(case: Case, outcome: GenerationOutcome) -> str | None:
    if not case.relevant or outcome.retrieved is None:
        return None
    return "retrieval-miss" if gold_rank(case.relevant, outcome.retrieved) is None else "context-ignored"


# "{who}" is "7 of 10 failures" / "All 3 failures" / "The one failure"; [a|b] picks plural|singular.
_SENTENCES = {
    "retrieval-miss": "{who} [are retrieval misses|is a retrieval miss] — fix retrieval (chunking, k, "
    "hybrid search) before touching the prompt or the weights.",
    "context-ignored": "{who} had a relevant document in context and still failed — work on the prompt "
    "first (answer from the sources, quote them); if prompt changes do not move [these cases|it], that "
    "is a capability limit, where a larger model or a fine-tune can help.",
    "format": "{who} [are format violations|is a format violation] (only shape checks failed: JSON "
    "schema, length, a format regex) — fix the output format in the prompt or use structured output; this is "
    "no reason to fine-tune.",
    "infra": "{who} [are|is] infrastructure (timeouts, model errors, latency budget) — fix the plumbing "
    "and re-run before judging the model.",
    "other-unretrieved": "{who} [have|has] gold documents but no retrieval ran (no index yet, retrieval "
    "unavailable, or a prompt without {{context}}) — build the index or use a grounded prompt, then "
    "re-run so retrieval misses can be told apart from prompt problems.",
    "other-ungrounded": "{who} [have|has] gold documents, but this variant's prompt has no "
    "{{context}}, so it answers without retrieval by design — the failures cannot be told apart "
    "between the prompt and missing knowledge; run a grounded variant on the same set to see "
    "whether retrieval fixes them.",
    "other": "{who} [have|has] no retrieval evidence — add `relevant` documents to [these cases|this case] "
    "so failures can be attributed; until then, start with the prompt.",
}


def _sentence(kind: str, n: int, total: int) -> str:
    if total == 1:
        who, pick = "The one failure", 1
    elif n == total:
        who, pick = f"All {total} failures", 0
    else:
        who, pick = f"{n} of {total} failures", 0 if n != 1 else 1
    text = re.sub(r"\[([^|\]]*)\|([^\]]*)\]", lambda m: m.group(1 + pick), _SENTENCES[kind])
    return text.format(who=who)


_SHORT = {
    "retrieval-miss": "retrieval miss",
    "context-ignored": "context ignored",
    "format": "format",
    "infra": "infra",
    "other": "other",
}


def advice(
    counts: Mapping[str, int], *, unretrieved: int = 0, grounded: bool | None = None, scorer_errors: int = 0
) -> str:
    """One paragraph that leads with the lever most failures point at.

    `unretrieved`: how many of the `other` failures had `relevant` documents but no retrieval
    step; when that is most of them, the advice says to turn retrieval on rather than to label.
    `grounded`: whether the variant's prompt asks for retrieval ({context}); when it does not,
    "build the index" would be wrong advice, so the advice says to compare a grounded variant.
    """
    fails = {k: int(counts.get(k, 0)) for k in _LEAD_ORDER if counts.get(k, 0)}
    judge_errors = int(counts.get("judge-error", 0)) - scorer_errors  # both are undecided cases
    total = sum(fails.values())
    parts: list[str] = []
    if total:
        lead = max(_LEAD_ORDER, key=lambda k: (fails.get(k, 0), -_LEAD_ORDER.index(k)))
        key = lead
        if lead == "other" and unretrieved * 2 > fails["other"]:
            key = "other-ungrounded" if grounded is False else "other-unretrieved"
        parts.append(_sentence(key, fails[lead], total))
        rest = [
            f"{fails[k]} {_SHORT[k]}{'es' if k == 'retrieval-miss' and fails[k] != 1 else ''}"
            for k in _LEAD_ORDER
            if k != lead and k in fails
        ]
        if rest:
            parts.append("Also: " + ", ".join(rest) + ".")
    if judge_errors:
        parts.append(
            f"{judge_errors} case{'s' if judge_errors != 1 else ''} had judge errors (the judge's reply "
            "could not be read); judge errors count neither as passes nor as failures — use a stronger judge "
            "model or a simpler rubric."
        )
    if scorer_errors > 0:
        parts.append(
            f"{scorer_errors} case{'s' if scorer_errors != 1 else ''} had scorer errors (a python check raised, "
            "timed out, ran out of memory or returned the wrong type; `eval show` has the line); they count "
            "neither as passes nor as failures — fix the scorer and run again (answers come from the cache)."
        )
    return " ".join(parts) if parts else "No failures."


def count_kinds(kinds: Sequence[str | None]) -> dict[str, int]:
    """Counts per failure kind (all kinds present, zeros included, in FAILURE_KINDS order)."""
    out = {k: 0 for k in FAILURE_KINDS}
    for k in kinds:
        if k:
            out[k] = out.get(k, 0) + 1
    return out
