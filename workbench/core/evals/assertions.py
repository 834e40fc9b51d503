"""Scorers: one function per assertion type, each turning (assertion, outcome) into a result.

Three outcomes are kept apart on purpose, because merging them is how eval tools mislead:
- `passed=True/False`: the check ran and decided;
- `passed=None, error_kind="judge-error"`: a judge model could not be read (non-JSON, provider
  error). That is *not* a failure of the answer and never a score of 0; reports count it apart;
- a generation that never completed (timeout, model error, interrupted) fails every check with a
  detail that says so; attribution later files it under `infra`.

Text checks (equals, contains, ...) are plain Python, a regex runs with a time limit (matching.py,
so a user's pattern can never hang a run); `similar` needs an `embed(texts)` callable
(the local embedding model by default, loaded lazily); `llm-judge` needs a `Judge` callable, so
tests and the runner decide which model grades.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from workbench.core.citations import cited_numbers  # noqa: F401 (also re-exported)
from workbench.core.evals.evalset import TEXT_TYPES, Assertion, Case
from workbench.core.evals.jsonschema_lite import validate as validate_schema
from workbench.core.evals.matching import PatternTimeout, search
from workbench.core.message_numbers import decimal, ms

if TYPE_CHECKING:
    from workbench.core.llm.base import ChatRequest

# Generation statuses whose output is complete enough to score ("truncated" hit num_predict:
# the text is real, and max-tokens / content checks should judge it).
SCOREABLE_STATUSES = ("ok", "truncated")

# Which assertion bases check *content* and which check *form*; attribution relies on this.
# A regex usually checks what the answer says ('64.?bit', not-regex '^yes'), so it is content;
# `format: true` on a regex marks one that checks shape instead ('^Answer:').
FORMAT_TYPES = ("json-schema", "max-tokens")
BUDGET_TYPES = ("max-latency-ms",)
CONTENT_TYPES = (
    *TEXT_TYPES,
    "similar",
    "llm-judge",
    "cites",
    "python",
)

Embed = Callable[[list[str]], Sequence[Sequence[float]]]


@dataclass(frozen=True)
class Source:
    """A numbered source shown to the model: `[n]` in the answer refers to it."""

    n: int
    path: str
    chunk_id: str | None = None


@dataclass
class GenerationOutcome:
    """What the scorers look at: one generation's text and facts, independent of the store."""

    output: str
    status: str = "ok"  # ok | truncated | error | timeout | interrupted | incomplete
    latency_ms: float | None = None
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    cost: float | None = None
    sources: tuple[Source, ...] = ()
    # Document paths (or chunk ids) the retriever returned, best first. None: no retrieval step
    # ran (so "relevant document not retrieved" cannot be concluded).
    retrieved: tuple[str, ...] | None = None
    error: str | None = None
    generation_id: int | None = None
    cached: bool = False

    @property
    def complete(self) -> bool:
        return self.status in SCOREABLE_STATUSES


@dataclass
class AssertionResult:
    type: str
    name: str
    passed: bool | None
    score: float | None = None
    detail: str = ""
    error_kind: str | None = None  # None | "judge-error" | "scorer-error" (python_scorer.py)
    weight: float = 1.0
    raw: str | None = None  # the judge's raw reply, kept for judge errors
    shape: bool = False  # a `format: true` regex: it checks form, not content

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["raw"] is None:
            del d["raw"]
        if not d["shape"]:
            del d["shape"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AssertionResult:
        return cls(
            type=d.get("type", ""),
            name=d.get("name", ""),
            passed=d.get("passed"),
            score=d.get("score"),
            detail=d.get("detail", ""),
            error_kind=d.get("error_kind"),
            raw=d.get("raw"),
            weight=d.get("weight", 1.0),
            shape=bool(d.get("shape", False)),
        )

    @property
    def is_form(self) -> bool:
        """Checks the answer's shape (JSON schema, length, a `format: true` regex)."""
        return self.shape or self.base in FORMAT_TYPES

    @property
    def base(self) -> str:
        return self.type[4:] if self.type.startswith("not-") else self.type


# --------------------------------------------------------------------------- helpers


def _result(a: Assertion, passed: bool | None, score: float | None, detail: str, **kw: Any) -> AssertionResult:
    if a.negated and passed is not None:
        passed = not passed
        score = None if score is None else (1.0 - score if a.base != "similar" else score)
        detail = f"negated: {detail}"
    return AssertionResult(a.type, a.label, passed, score, detail, weight=a.weight, shape=a.format, **kw)


def _clip(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def norm_path(p: str) -> str:
    p = p.replace("\\", "/").strip()
    while p.startswith("./"):
        p = p[2:]
    return p


def doc_matches(relevant: str, path: str | None, chunk_id: str | None = None) -> bool:
    """Does a retrieved/cited document count as the gold `relevant` entry?

    `relevant` is a path relative to the corpus root or a chunk id (EVALSET_FORMAT.md). A path
    matches when equal or when one is a `/`-suffix of the other (absolute vs relative paths).
    """
    r = norm_path(relevant)
    if chunk_id and r == chunk_id:
        return True
    if not path:
        return False
    p = norm_path(path)
    return p == r or p.endswith("/" + r) or r.endswith("/" + p)


def gold_rank(relevant: Sequence[str], retrieved: Sequence[str] | None) -> int | None:
    """1-based rank of the first relevant document in the retrieved list; None if absent."""
    if not relevant or not retrieved:
        return None
    for i, doc in enumerate(retrieved, 1):
        if any(doc_matches(r, doc, doc) for r in relevant):
            return i
    return None


_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", re.S)


def parse_json_output(text: str) -> Any:
    """JSON from model output, tolerating one surrounding ```json fence. Raises ValueError."""
    t = text.strip()
    m = _FENCE.match(t)
    if m:
        t = m.group(1).strip()
    return json.loads(t)


# --------------------------------------------------------------------------- text checks


def check_equals(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    """Whole output equals the value, ignoring surrounding whitespace."""
    ok = out.output.strip() == str(a.value).strip()
    return _result(a, ok, float(ok), "output equals the value" if ok else f"output is {_clip(out.output)!r}")


def check_contains(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    ok = a.value in out.output
    return _result(a, ok, float(ok), f"{'found' if ok else 'did not find'} {a.value!r}")


def check_icontains(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    ok = a.value.casefold() in out.output.casefold()
    return _result(a, ok, float(ok), f"{'found' if ok else 'did not find'} {a.value!r} (any case)")


def check_contains_any(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    found = [v for v in a.value if v in out.output]
    ok = bool(found)
    return _result(a, ok, float(ok), f"found {found[0]!r}" if ok else f"found none of {list(a.value)!r}")


def check_contains_all(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    missing = [v for v in a.value if v not in out.output]
    ok = not missing
    score = 1 - len(missing) / len(a.value)
    return _result(a, ok, score, "found all" if ok else f"missing {missing!r}")


def check_regex(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    """A user pattern, run with a time limit (matching.py): past it, the check fails with the
    reason whether negated or not (a not-regex that never finished proves nothing)."""
    try:
        m = search(a.value, out.output)
    except PatternTimeout as exc:
        return AssertionResult(a.type, a.label, False, 0.0, str(exc), weight=a.weight, shape=a.format)
    return _result(
        a, m is not None, float(m is not None), f"matched {_clip(m.group(0))!r}" if m else f"no match for /{a.value}/"
    )


def check_json_schema(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    try:
        data = parse_json_output(out.output)
    except ValueError as exc:
        return _result(a, False, 0.0, f"output is not JSON ({exc})")
    errors = validate_schema(data, a.value)
    if errors:
        return _result(
            a, False, 0.0, "; ".join(errors[:3]) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
        )
    return _result(a, True, 1.0, "JSON matches the schema")


def check_max_latency_ms(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    if out.latency_ms is None:
        return _result(a, False, 0.0, "latency was not recorded")
    ok = out.latency_ms <= a.value
    return _result(a, ok, float(ok), f"{ms(out.latency_ms)} {'<=' if ok else '>'} {ms(a.value)}")


def check_max_tokens(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    n, how = out.completion_tokens, ""
    if n is None:
        n, how = math.ceil(len(out.output) / 4), " (estimated: the model reported no count)"
    ok = n <= a.value
    return _result(a, ok, float(ok), f"{n} tokens {'<=' if ok else '>'} {a.value}{how}")


def check_cites(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    """The answer cites [n] for a source that is a relevant document.

    With no `relevant` documents on the case, any citation that maps to a shown source counts.
    """
    cited = cited_numbers(out.output)
    if not cited:
        return _result(a, False, 0.0, "no [n] citation in the answer")
    by_n = {s.n: s for s in out.sources}
    dangling = [n for n in cited if n not in by_n]
    valid = [by_n[n] for n in cited if n in by_n]
    relevant = case.relevant if case else ()
    note = f"; [{', '.join(map(str, dangling))}] cite nothing shown" if dangling else ""
    if not relevant:
        ok = bool(valid)
        return _result(a, ok, float(ok), (f"cites {valid[0].path}" if ok else "citations map to no source") + note)
    hits = [s for s in valid if any(doc_matches(r, s.path, s.chunk_id) for r in relevant)]
    if hits:
        return _result(a, True, 1.0, f"[{hits[0].n}] cites relevant {hits[0].path}{note}")
    shown = ", ".join(f"[{s.n}] {s.path}" for s in valid) or "nothing"
    return _result(a, False, 0.0, f"cites {shown}, none relevant ({', '.join(relevant)}){note}")


# --------------------------------------------------------------------------- similar


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    dot = sum(float(x) * float(y) for x, y in zip(u, v, strict=False))
    nu = math.sqrt(sum(float(x) ** 2 for x in u))
    nv = math.sqrt(sum(float(y) ** 2 for y in v))
    return 0.0 if nu == 0 or nv == 0 else dot / (nu * nv)


_default_embed: Embed | None = None


def default_embed() -> Embed:
    """The project's local embedding model (bundled all-MiniLM-L6-v2), loaded once, on first use."""
    global _default_embed
    if _default_embed is None:
        from workbench.core.retrieval.embedder import get_embedder  # lazy: pulls in torch

        embedder = get_embedder()

        def embed(texts: list[str]) -> Sequence[Sequence[float]]:
            vectors: list[list[float]] = embedder.encode(list(texts)).tolist()
            return vectors

        _default_embed = embed
    return _default_embed


def check_similar(
    a: Assertion, out: GenerationOutcome, case: Case | None = None, *, embed: Embed | None = None
) -> AssertionResult:
    reference = a.value if a.value is not None else (case.expected if case else None)
    if reference is None:  # the loader refuses this; kept for direct callers
        return _result(a, False, 0.0, "nothing to compare with (no value, no expected)")
    if not out.output.strip():
        return _result(a, False, 0.0, "empty output")
    vecs = (embed or default_embed())([out.output, reference])
    sim = cosine(vecs[0], vecs[1])
    threshold = a.threshold if a.threshold is not None else 0.75
    ok = sim >= threshold
    return _result(a, ok, sim, f"cosine {decimal(sim, 3)} {'>=' if ok else '<'} {threshold}")


# --------------------------------------------------------------------------- llm-judge

# The judge receives a ChatRequest and the model spec the assertion asked for (None: default
# judge) and returns the raw reply text. Provider errors propagate as exceptions.
Judge = Callable[[Any, "str | None"], Awaitable[str]]

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "pass": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["reason", "pass"],
}

JUDGE_SYSTEM = (
    "You are a strict grader. Decide whether the ANSWER satisfies the RUBRIC. Use the REFERENCE "
    "only as a guide to what is correct. Reply with JSON only: "
    '{"reason": "<one sentence>", "pass": true or false, "score": <0 to 1>}.'
)


def judge_request(a: Assertion, out: GenerationOutcome, case: Case | None) -> ChatRequest:
    """The ChatRequest a judge model gets: rubric, question, reference, answer; JSON-schema format."""
    from workbench.core.llm.base import ChatRequest

    question = ""
    if case is not None:
        question = str(case.inputs.get("question", "")) or json.dumps(case.inputs, ensure_ascii=False)
    parts = [
        f"QUESTION:\n{question}" if question else "",
        f"REFERENCE:\n{case.expected}" if case is not None and case.expected else "",
        f"RUBRIC:\n{a.rubric}",
        f"ANSWER:\n{out.output}",
    ]
    return ChatRequest(
        messages=[
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": "\n\n".join(p for p in parts if p)},
        ],
        options={"temperature": 0.0, "seed": 0},
        format=JUDGE_SCHEMA,
    )


def parse_judgement(raw: str, threshold: float) -> tuple[bool, float, str]:
    """(passed, score, reason) from a judge reply. Raises ValueError when it cannot be read."""
    data = parse_json_output(raw)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    reason = data.get("reason")
    reason = reason if isinstance(reason, str) else ""
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        score = None
    verdict = data.get("pass")
    if isinstance(verdict, bool):
        return verdict, float(score) if score is not None else float(verdict), reason
    if score is not None:
        return score >= threshold, float(score), reason
    raise ValueError("the reply has neither a boolean `pass` nor a `score` between 0 and 1")


async def check_llm_judge(
    a: Assertion, out: GenerationOutcome, case: Case | None = None, *, judge: Judge | None = None
) -> AssertionResult:
    if judge is None:
        return AssertionResult(
            a.type, a.label, None, None, "no judge model configured", error_kind="judge-error", weight=a.weight
        )
    request = judge_request(a, out, case)
    try:
        raw = await judge(request, a.model)
    except Exception as exc:  # provider errors of any kind: reported, never scored as 0
        return AssertionResult(
            a.type, a.label, None, None, f"judge failed: {exc}", error_kind="judge-error", weight=a.weight, raw=None
        )
    try:
        passed, score, reason = parse_judgement(raw, a.threshold if a.threshold is not None else 0.5)
    except ValueError as exc:
        return AssertionResult(
            a.type,
            a.label,
            None,
            None,
            f"judge reply unreadable: {exc}",
            error_kind="judge-error",
            weight=a.weight,
            raw=raw,
        )
    return AssertionResult(
        a.type, a.label, passed, score, reason or ("pass" if passed else "fail"), weight=a.weight, raw=raw
    )


def provider_judge(provider_for: Callable[[str | None], Any]) -> Judge:
    """A Judge that streams the request through `provider_for(model_spec)` and joins the tokens."""
    from workbench.core.llm.base import Token

    async def judge(request: Any, model: str | None) -> str:
        provider = provider_for(model)
        parts: list[str] = []
        async for event in provider.stream(request):
            if isinstance(event, Token):
                parts.append(event.text)
        return "".join(parts)

    return judge


# --------------------------------------------------------------------------- dispatch

SYNC_CHECKS: dict[str, Callable[..., AssertionResult]] = {
    "equals": check_equals,
    "contains": check_contains,
    "icontains": check_icontains,
    "contains-any": check_contains_any,
    "contains-all": check_contains_all,
    "regex": check_regex,
    "json-schema": check_json_schema,
    "max-latency-ms": check_max_latency_ms,
    "max-tokens": check_max_tokens,
    "cites": check_cites,
}


async def check(
    a: Assertion,
    out: GenerationOutcome,
    case: Case | None = None,
    *,
    embed: Embed | None = None,
    judge: Judge | None = None,
) -> AssertionResult:
    """Run one assertion. An incomplete generation fails every check (attributed to infra later)."""
    if not out.complete:
        why = f"no complete output: generation {out.status}" + (f" ({_clip(out.error, 80)})" if out.error else "")
        return AssertionResult(a.type, a.label, False, 0.0, why, weight=a.weight)
    if a.base == "similar":
        return check_similar(a, out, case, embed=embed)
    if a.base == "llm-judge":
        return await check_llm_judge(a, out, case, judge=judge)
    if a.base == "python":  # a project's scorer, in a worker process with limits
        from workbench.core.evals.python_scorer import check_python

        return await check_python(a, out, case)
    return SYNC_CHECKS[a.base](a, out, case)


async def run_assertions(
    case: Case, out: GenerationOutcome, *, embed: Embed | None = None, judge: Judge | None = None
) -> list[AssertionResult]:
    """Every check of a case, yielding to the event loop between them: a cancel (Ctrl-C,
    SIGTERM) then waits for at most one check, not for all of a case's slow regexes."""
    results = []
    for a in case.assertions:
        results.append(await check(a, out, case, embed=embed, judge=judge))
        await asyncio.sleep(0)
    return results


def verdict(results: Sequence[AssertionResult]) -> str:
    """A case's outcome: pass | fail | judge-error | unscored.

    Any decided failure makes the case fail (a judge error elsewhere does not hide it); judge
    errors with no failure make it `judge-error`, which is neither a pass nor a fail.
    """
    if not results:
        return "unscored"
    if any(r.passed is False for r in results):
        return "fail"
    if any(r.passed is None for r in results):
        return "judge-error"
    return "pass"
