"""Failure attribution rules and the advice line built from their counts."""

from __future__ import annotations

from workbench.core.evals.assertions import GenerationOutcome, Source, run_assertions
from workbench.core.evals.attribution import advice, attribute, count_kinds
from workbench.core.evals.evalset import parse_evalset

SET = """\
cases:
  - id: content
    inputs: {question: q}
    relevant: [autoinc.md]
    assert:
      - {type: icontains, value: autoincrement}
  - id: shaped
    inputs: {question: q}
    relevant: [autoinc.md]
    assert:
      - {type: icontains, value: autoincrement}
      - {type: json-schema, value: {type: object, required: [answer]}}
  - id: regex-only
    inputs: {question: q}
    relevant: [autoinc.md]
    assert:
      - {type: regex, value: "(?i)autoincrement"}
  - id: shape-regex
    inputs: {question: q}
    relevant: [autoinc.md]
    assert:
      - {type: icontains, value: autoincrement}
      - {type: regex, value: "^Answer:", format: true}
  - id: no-gold
    inputs: {question: q}
    assert:
      - {type: icontains, value: autoincrement}
  - id: judged
    inputs: {question: q}
    assert:
      - {type: icontains, value: autoincrement}
      - {type: llm-judge, rubric: r}
  - id: slow
    inputs: {question: q}
    assert:
      - {type: icontains, value: autoincrement}
      - {type: max-latency-ms, value: 100}
"""
CASES = {c.id: c for c in parse_evalset(SET, "a.yaml").cases}
GOLD = ("docs/autoinc.md", "docs/vacuum.md")
MISS = ("docs/vacuum.md", "docs/wal.md")


async def judge_unreadable(request, model):
    return "I would say it passes"


async def kind(case_id, output, *, retrieved=GOLD, status="ok", latency_ms=10.0):
    case = CASES[case_id]
    out = GenerationOutcome(
        output=output,
        status=status,
        retrieved=retrieved,
        latency_ms=latency_ms,
        sources=tuple(Source(i, p) for i, p in enumerate(retrieved or (), 1)),
    )
    results = await run_assertions(case, out, judge=judge_unreadable)
    return attribute(case, out, results)


async def test_passing_case_has_no_kind():
    assert await kind("content", "Use AUTOINCREMENT.") is None


async def test_retrieval_miss_vs_context_ignored():
    assert await kind("content", "No idea.", retrieved=MISS) == "retrieval-miss"
    assert await kind("content", "No idea.", retrieved=()) == "retrieval-miss"  # retrieval ran, found nothing
    assert await kind("content", "No idea.", retrieved=GOLD) == "context-ignored"
    assert await kind("content", "No idea.", retrieved=None) == "other"  # no retrieval step at all
    assert await kind("no-gold", "No idea.") == "other"


async def test_format_when_content_passed():
    assert await kind("shaped", "autoincrement, as prose", retrieved=MISS) == "format"
    assert await kind("shaped", '{"answer": "autoincrement"}') is None
    # both content and form failed: the content lever wins
    assert await kind("shaped", "no idea", retrieved=MISS) == "retrieval-miss"
    # a plain regex checks what the answer says ('64.?bit', not-regex '^yes'): content, not form
    assert await kind("regex-only", "no idea", retrieved=MISS) == "retrieval-miss"
    assert await kind("regex-only", "no idea", retrieved=GOLD) == "context-ignored"
    # a regex marked `format: true` checks shape: content right, shape wrong is a format failure
    assert await kind("shape-regex", "autoincrement, without the prefix", retrieved=MISS) == "format"
    assert await kind("shape-regex", "Answer: autoincrement") is None


async def test_infra():
    assert await kind("content", "Use AUTOINCR", status="timeout") == "infra"
    assert await kind("content", "", status="error") == "infra"
    assert await kind("slow", "autoincrement", latency_ms=500.0) == "infra"  # only the budget failed
    assert await kind("slow", "nope", latency_ms=500.0, retrieved=None) == "other"


async def test_judge_error_only_when_nothing_else_failed():
    assert await kind("judged", "autoincrement") == "judge-error"
    assert await kind("judged", "nope", retrieved=None) == "other"


def test_advice_leads_with_the_biggest_lever():
    counts = count_kinds(["retrieval-miss"] * 7 + ["format"] * 2 + ["infra"])
    assert advice(counts) == (
        "7 of 10 failures are retrieval misses — fix retrieval (chunking, k, hybrid search) before "
        "touching the prompt or the weights. Also: 1 infra, 2 format."
    )
    a = advice({"context-ignored": 3})
    assert a.startswith("All 3 failures had a relevant document in context and still failed")
    assert "capability limit" in a and "do not move these cases" in a
    assert advice({"format": 3, "infra": 1}).endswith("Also: 1 infra.")
    assert advice({"retrieval-miss": 1, "format": 1, "other": 1}).startswith("1 of 3 failures is a retrieval miss")
    assert advice({"format": 2, "infra": 2}).startswith("2 of 4 failures are infrastructure")  # tie: infra first
    a = advice({"other": 1, "judge-error": 2})
    assert a.startswith("The one failure has no retrieval evidence — add `relevant` documents to this case")
    assert "2 cases had judge errors" in a and "neither as passes nor as failures" in a
    assert advice({}) == "No failures."
    a = advice({"other": 5}, unretrieved=4)
    assert a.startswith("All 5 failures have gold documents but no retrieval ran") and "{context}" in a
    # a variant whose prompt has no {context} skips retrieval on purpose: no "build the index"
    a = advice({"other": 5}, unretrieved=5, grounded=False)
    assert (
        a.startswith("All 5 failures have gold documents, but this variant's prompt has no {context}")
        and "run a grounded variant" in a
        and "index" not in a
    )
    assert count_kinds(["format", None, "format"])["format"] == 2
