"""Every assertion type, a passing and a failing example each, plus judge errors kept apart."""

from __future__ import annotations

import json

import pytest

from workbench.core.evals.assertions import (
    GenerationOutcome,
    Source,
    check,
    cited_numbers,
    doc_matches,
    gold_rank,
    run_assertions,
    verdict,
)
from workbench.core.evals.evalset import parse_evalset


def case_with(assertion_yaml: str, *, expected: str | None = None, relevant: str | None = None):
    extra = ""
    if expected:
        extra += f"    expected: {json.dumps(expected)}\n"
    if relevant:
        extra += f"    relevant: {relevant}\n"
    text = (
        "cases:\n  - id: c\n    inputs: {question: 'How do I stop ROWID reuse?'}\n"
        + extra
        + "    assert:\n"
        + "".join("      " + line + "\n" for line in assertion_yaml.strip().splitlines())
    )
    return parse_evalset(text, "t.yaml").cases[0]


async def one(assertion_yaml: str, output: str, **kw):
    outcome_kw = {
        k: kw.pop(k) for k in list(kw) if k in ("latency_ms", "completion_tokens", "sources", "status", "error")
    }
    embed = kw.pop("embed", None)
    judge = kw.pop("judge", None)
    case = case_with(assertion_yaml, **kw)
    out = GenerationOutcome(output=output, **outcome_kw)
    return await check(case.assertions[0], out, case, embed=embed, judge=judge)


ANSWER = "Declare the column INTEGER PRIMARY KEY AUTOINCREMENT; then SQLite never reuses a ROWID [2]."

TEXT_CASES = [
    # (assertion yaml, passes on ANSWER)
    ("- {type: equals, value: 'Declare the column'}", False),
    ("- {type: contains, value: AUTOINCREMENT}", True),
    ("- {type: contains, value: autoincrement}", False),
    ("- {type: icontains, value: autoincrement}", True),
    ("- {type: icontains, value: WITHOUT ROWID}", False),
    ("- {type: contains-any, value: [rowid, ROWID]}", True),
    ("- {type: contains-any, value: [rowid, oid]}", False),
    ("- {type: contains-all, value: [INTEGER, ROWID]}", True),
    ("- {type: contains-all, value: [INTEGER, VACUUM]}", False),
    ("- {type: regex, value: '(?i)auto\\w+'}", True),
    ("- {type: regex, value: '^SQLite'}", False),
    ('- {type: not-contains, value: "I don\'t know"}', True),
    ("- {type: not-contains, value: ROWID}", False),
    ("- {type: not-icontains, value: rowid}", False),
    ("- {type: not-contains-any, value: [sorry, cannot]}", True),
    ("- {type: not-contains-all, value: [INTEGER, ROWID]}", False),
    ("- {type: not-regex, value: '(?i)as an ai'}", True),
    ("- {type: not-equals, value: 'x'}", True),
]


@pytest.mark.parametrize("yaml_text,passes", TEXT_CASES)
async def test_text_checks(yaml_text, passes):
    r = await one(yaml_text, ANSWER)
    assert r.passed is passes, r.detail
    assert r.score == (1.0 if passes else 0.0) or r.type.endswith("contains-all")
    assert r.error_kind is None


async def test_equals_ignores_surrounding_whitespace_only():
    assert (await one("- {type: equals, value: Paris}", "  Paris\n")).passed is True
    r = await one("- {type: equals, value: Paris}", "Paris.")
    assert r.passed is False and "'Paris.'" in r.detail


async def test_contains_all_reports_what_is_missing():
    r = await one("- {type: contains-all, value: [INTEGER, VACUUM, WAL]}", ANSWER)
    assert r.passed is False and "['VACUUM', 'WAL']" in r.detail and r.score == pytest.approx(1 / 3)


SCHEMA = "- type: json-schema\n  value: {type: object, required: [answer], properties: {answer: {type: string}, n: {type: integer, minimum: 1}}, additionalProperties: false}"


async def test_json_schema_pass_plain_and_fenced():
    assert (await one(SCHEMA, '{"answer": "yes", "n": 2}')).passed is True
    fenced = '```json\n{"answer": "yes"}\n```'
    assert (await one(SCHEMA, fenced)).passed is True


async def test_json_schema_failures_say_why():
    r = await one(SCHEMA, "Sure! Here it is: {}")
    assert r.passed is False and "not JSON" in r.detail
    r = await one(SCHEMA, '{"n": 0, "extra": 1}')
    assert r.passed is False
    assert "missing required property 'answer'" in r.detail
    assert "$.n: 0 is below the minimum 1" in r.detail
    r = await one(SCHEMA, '{"answer": 3}')
    assert "$.answer: expected string, got integer" in r.detail
    assert (await one("- {type: not-json-schema, value: {type: object}}", "plain text")).passed is True


async def test_max_latency_and_tokens():
    assert (await one("- {type: max-latency-ms, value: 500}", "x", latency_ms=120.0)).passed is True
    r = await one("- {type: max-latency-ms, value: 500}", "x", latency_ms=900.0)
    assert r.passed is False and "900 ms > 500 ms" in r.detail
    assert (await one("- {type: max-tokens, value: 10}", "x", completion_tokens=10)).passed is True
    r = await one("- {type: max-tokens, value: 10}", "x", completion_tokens=11)
    assert r.passed is False and "11 tokens > 10" in r.detail
    r = await one("- {type: max-tokens, value: 2}", "a" * 40)  # no count reported
    assert r.passed is False and "estimated" in r.detail


SOURCES = (Source(1, "docs/lang_vacuum.md", "vac#0"), Source(2, "docs/autoinc.md", "autoinc#3"))


async def test_cites_relevant_source():
    r = await one("- type: cites", ANSWER, relevant="[autoinc.md]", sources=SOURCES)
    assert r.passed is True and "[2] cites relevant docs/autoinc.md" in r.detail


async def test_cites_failures():
    r = await one("- type: cites", "No citation here.", relevant="[autoinc.md]", sources=SOURCES)
    assert r.passed is False and "no [n] citation" in r.detail
    r = await one("- type: cites", "See [1] and [7].", relevant="[autoinc.md]", sources=SOURCES)
    assert r.passed is False and "none relevant" in r.detail and "[7] cite nothing shown" in r.detail
    # no relevant documents on the case: any citation of a shown source counts
    assert (await one("- type: cites", "See [1].", sources=SOURCES)).passed is True
    assert (await one("- type: not-cites", "See [1].", sources=SOURCES)).passed is False


def test_citation_and_path_helpers():
    assert cited_numbers("a [1] b [2, 3][1] c [4; 5] [x]") == [1, 2, 3, 4, 5]
    assert doc_matches("autoinc.md", "/abs/corpus/autoinc.md")
    assert doc_matches("./docs/a.md", "docs/a.md")
    assert not doc_matches("inc.md", "autoinc.md")
    assert doc_matches("autoinc#3", "other.md", "autoinc#3")
    assert gold_rank(["b.md"], ["a.md", "x/b.md", "c.md"]) == 2
    assert gold_rank(["z.md"], ["a.md"]) is None


def bag_of_words(texts):
    """A deterministic stand-in embedding: word counts over a fixed vocabulary."""
    vocab = sorted({w for t in texts for w in t.lower().split()})
    return [[t.lower().split().count(w) for w in vocab] for t in texts]


async def test_similar_with_injected_embedding():
    r = await one(
        "- {type: similar, threshold: 0.7}",
        "use integer primary key autoincrement",
        expected="integer primary key autoincrement",
        embed=bag_of_words,
    )
    assert r.passed is True and r.score == pytest.approx(4 / (5**0.5 * 2))
    r = await one(
        "- {type: similar, value: totally different words, threshold: 0.7}", "use autoincrement", embed=bag_of_words
    )
    assert r.passed is False and r.score == 0.0 and "cosine 0.000 < 0.7" in r.detail
    r = await one(
        "- {type: not-similar, value: vacuum the database, threshold: 0.5}", "use autoincrement", embed=bag_of_words
    )
    assert r.passed is True


@pytest.mark.slow
async def test_similar_with_the_real_embedding_model():
    """The bundled all-MiniLM-L6-v2: a paraphrase is similar, an unrelated answer is not."""
    from workbench.core.evals.assertions import default_embed

    expected = "Declare the column as INTEGER PRIMARY KEY AUTOINCREMENT so deleted row ids are never reused."
    yes = await one("- {type: similar, threshold: 0.6}", ANSWER, expected=expected, embed=default_embed())
    no = await one(
        "- {type: similar, threshold: 0.6}", "Paris is the capital of France.", expected=expected, embed=default_embed()
    )
    assert yes.passed is True and no.passed is False
    assert yes.score > no.score + 0.3


def judge_returning(text):
    calls = []

    async def judge(request, model):
        calls.append((request, model))
        if isinstance(text, Exception):
            raise text
        return text

    judge.calls = calls
    return judge


JUDGE = "- {type: llm-judge, rubric: Says AUTOINCREMENT prevents ROWID reuse., model: 'ollama:judge'}"


async def test_llm_judge_pass_and_fail_with_structured_output():
    j = judge_returning('{"reason": "It says so.", "pass": true, "score": 0.9}')
    r = await one(JUDGE, ANSWER, judge=j, expected="Use AUTOINCREMENT.")
    assert r.passed is True and r.score == 0.9 and r.detail == "It says so."
    request, model = j.calls[0]
    assert model == "ollama:judge"
    assert request.format["required"] == ["reason", "pass"]  # the JSON schema goes to the model
    prompt = request.messages[-1]["content"]
    assert "RUBRIC:\nSays AUTOINCREMENT" in prompt and "REFERENCE:\nUse AUTOINCREMENT." in prompt
    assert "ANSWER:\n" + ANSWER in prompt
    r = await one(JUDGE, ANSWER, judge=judge_returning('{"reason": "No.", "pass": false}'))
    assert r.passed is False and r.score == 0.0 and r.error_kind is None
    # score only: compared with the threshold (0.5 by default)
    r = await one(JUDGE, ANSWER, judge=judge_returning('```json\n{"reason": "meh", "score": 0.3}\n```'))
    assert r.passed is False and r.score == 0.3


@pytest.mark.parametrize("reply", ["I think it passes.", '{"reason": "ok"}', '{"pass": "yes"}', "[1, 2]", ""])
async def test_unreadable_judge_reply_is_a_judge_error_never_a_zero(reply):
    r = await one(JUDGE, ANSWER, judge=judge_returning(reply))
    assert r.passed is None and r.score is None and r.error_kind == "judge-error"
    assert r.raw == reply and "unreadable" in r.detail


async def test_judge_provider_error_is_a_judge_error():
    r = await one(JUDGE, ANSWER, judge=judge_returning(ConnectionError("refused")))
    assert r.passed is None and r.error_kind == "judge-error" and "refused" in r.detail


async def test_incomplete_generation_fails_every_check_and_calls_no_judge():
    j = judge_returning('{"reason": "x", "pass": true}')
    r = await one(JUDGE, "partial ans", judge=j, status="timeout", error="no token for 30 s")
    assert r.passed is False and "generation timeout (no token for 30 s)" in r.detail
    assert j.calls == []


async def test_verdict_keeps_judge_errors_apart():
    case = case_with("- {type: contains, value: ROWID}\n" + JUDGE)
    out = GenerationOutcome(output=ANSWER)
    results = await run_assertions(case, out, judge=judge_returning("not json"))
    assert [r.passed for r in results] == [True, None]
    assert verdict(results) == "judge-error"
    results = await run_assertions(case, GenerationOutcome(output="nothing"), judge=judge_returning("not json"))
    assert verdict(results) == "fail"
    assert verdict([]) == "unscored"
