"""Two runs, case by case: what flipped, what the output change looks like, and is it real?

Cases are matched by id. A pass->fail is a regression, fail->pass a fix; a move to or from a
judge error (or an unscored case) is `changed`, never counted as either, because a judge that
could not answer says nothing about the model. The statistics (stats.compare_paired) run on the
cases decided in both runs only.

Everything is returned as data (the word diff is a list of (op, text) segments), so the CLI,
the TUI and the Markdown report each style it their own way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.core.evals.results import CaseResult, CaseSummary, fold_repeats, percentile
from workbench.core.evals.stats import PairedComparison, compare_paired

if TYPE_CHECKING:
    from workbench.core.evals.assertions import AssertionResult

CHANGE_KINDS = ("regression", "fix", "changed", "unchanged", "added", "removed")
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level diff as segments: ("equal"|"delete"|"insert", text). Joining the equal+delete
    segments gives `before`; equal+insert gives `after`."""
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    segments: list[tuple[str, str]] = []

    def add(op: str, toks: Sequence[str]) -> None:
        text = "".join(toks)
        if not text:
            return
        if segments and segments[-1][0] == op:
            segments[-1] = (op, segments[-1][1] + text)
        else:
            segments.append((op, text))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            add("equal", a[i1:i2])
        else:
            add("delete", a[i1:i2])
            add("insert", b[j1:j2])
    return segments


@dataclass
class AssertionFlip:
    name: str
    type: str
    before: bool | None
    after: bool | None
    detail_before: str = ""
    detail_after: str = ""


@dataclass
class CaseDiff:
    case_id: str
    change: str  # regression | fix | changed | unchanged | added | removed
    before: str | None  # verdict in run A (None: absent)
    after: str | None
    output_before: str = ""
    output_after: str = ""
    output_changed: bool = False
    words: list[tuple[str, str]] = field(default_factory=list)
    assertion_flips: list[AssertionFlip] = field(default_factory=list)
    gold_rank_before: int | None = None
    gold_rank_after: int | None = None
    latency_delta_ms: float | None = None
    tokens_delta: int | None = None
    cost_delta: float | None = None
    failure_kind_after: str | None = None
    flaky_before: bool = False
    flaky_after: bool = False
    checks_changed: bool = False  # its inputs or checks differ between the runs' set versions

    @property
    def retrieval_changed(self) -> bool:
        """The gold document's rank moved (None: not retrieved). A retrieval change is a real
        change even when the answer and verdict held: it is what a k or chunking edit does."""
        return self.before is not None and self.after is not None and self.gold_rank_before != self.gold_rank_after

    @property
    def label(self) -> str:
        """What the case table calls the change: `regression`, `fix`, `verdict` (to or from a
        judge error or an unscored case), `answer` (same verdict, new output), `retrieval`
        (same verdict and output, the gold document's rank moved), `same`, `added`, `removed`,
        `checks` (its inputs or checks changed between the runs: never a regression or fix)."""
        if self.checks_changed:
            return "checks"
        if self.change == "changed":
            return "verdict"
        if self.change == "unchanged":
            return "answer" if self.output_changed else "retrieval" if self.retrieval_changed else "same"
        return self.change

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["words"] = [list(w) for w in self.words]
        return d


@dataclass
class RunInfo:
    """What the diff needs to know about a run besides its results."""

    id: int | None = None
    evalset_name: str | None = None
    evalset_hash: str | None = None
    variant_id: str | None = None
    variant_name: str | None = None
    index_version: int | None = None  # the retrieval index's table version (None: no retrieval)
    index_build: str | None = None  # the index's build id: versions restart after a re-index
    model_digest: str | None = None  # the weights that answered (None: unknown, an older run)
    identity: str | None = None  # run_identity(): everything that decides the answers, one line
    case_hashes: dict[str, str] | None = None  # case_fingerprints() of the set it ran (None: older run)
    index_incomplete: str | None = None  # "index incomplete: 36/45 files" when it ran on a partial index

    @property
    def label(self) -> str:
        """`e3 (base, e6cf543b)`: the run's id as every list prints it, the variant as the TUI
        names it, plus its hash."""
        from workbench.core.variants import variant_label

        who = variant_label(self.variant_name, self.variant_id, hash_chars=0)
        short = (self.variant_id or "")[:8]
        inner = ", ".join(part for part in (who, short) if part)
        if self.id is None:
            return variant_label(self.variant_name, self.variant_id) or "?"
        return f"e{self.id} ({inner})" if inner else f"e{self.id}"


@dataclass
class RunDiff:
    a: RunInfo
    b: RunInfo
    cases: list[CaseDiff]
    stats: PairedComparison | None
    warnings: list[str] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in CHANGE_KINDS}
        for c in self.cases:
            out[c.change] += 1
        return out

    @property
    def regressions(self) -> list[CaseDiff]:
        return [c for c in self.cases if c.change == "regression"]

    @property
    def fixes(self) -> list[CaseDiff]:
        return [c for c in self.cases if c.change == "fix"]

    @property
    def counts_text(self) -> str:
        """`4 cases · 2 changed (1 regression, 0 fixes, 1 answer only) · 2 unchanged`: in the
        words of the filters (`--only regressions|fixes|changed`, the TUI's r / f / c), so
        `changed` here counts exactly the cases `changed` lists."""

        def n(count: int, one: str, many: str) -> str:
            return f"{count} {one if count == 1 else many}"

        changed = self.only("changed")
        labels = [c.label for c in changed]
        parts = [n(labels.count("regression"), "regression", "regressions"), n(labels.count("fix"), "fix", "fixes")]
        for label, words in (
            ("verdict", "other verdict"),
            ("checks", "checks changed"),
            ("answer", "answer only"),
            ("retrieval", "retrieval only"),
            ("added", "added"),
            ("removed", "removed"),
        ):
            if labels.count(label):
                parts.append(f"{labels.count(label)} {words}")
        return (
            f"{n(len(self.cases), 'case', 'cases')} · {len(changed)} changed "
            f"({', '.join(parts)}) · {len(self.cases) - len(changed)} unchanged"
        )

    @property
    def heading(self) -> str:
        """`e1 (base, 47df8347) → e2 (k8, 1a2b3c4d): 2 cases · …`: A then B, as given."""
        return f"{self.a.label} → {self.b.label}: {self.counts_text}"

    def only(self, which: str | None) -> list[CaseDiff]:
        """Filter for `--only regressions|fixes|changed` (None: all cases)."""
        if which in (None, "all"):
            return list(self.cases)
        if which == "regressions":
            return self.regressions
        if which == "fixes":
            return self.fixes
        if which == "changed":
            return [c for c in self.cases if c.label != "same"]
        raise ValueError(f"unknown filter {which!r} (regressions, fixes, changed)")

    def to_dict(self, only: str | None = None) -> dict[str, Any]:
        return {
            # the per-case fingerprints stay in the store: one line per case would drown the JSON
            "a": {k: v for k, v in asdict(self.a).items() if k != "case_hashes"},
            "b": {k: v for k, v in asdict(self.b).items() if k != "case_hashes"},
            "counts": self.counts,
            "stats": self.stats.to_dict() if self.stats else None,
            "warnings": self.warnings,
            "totals": self.totals,
            "cases": [c.to_dict() for c in self.only(only)],
        }


def _short_hash(value: Any) -> str:
    import hashlib
    import json

    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def run_identity(
    spec: dict[str, Any] | None,
    *,
    evalset_hash: str | None,
    index_build: str | None,
    model_digest: str | None,
    answered: list[dict[str, Any]] | None = None,
) -> str:
    """`prompt qa #1a2b3c4d · retrieval hybrid k=5 #5e6f7a8b · index build 9c0d1e2f · model
    ollama:llama3.2 @a1b2c3d4e5f6 · eval set 0123456789`: what decides a run's answers, on one
    line, so two runs that should be comparable can be checked at a glance. The hashes are of
    the prompt's template/system/examples and of every retrieval setting. The model is the one
    that answered (`answered`, answered.py), with the one it fell back from."""
    from workbench.core.evals.answered import model_words

    spec = spec or {}
    prompt = {k: spec.get(k) for k in ("template", "system", "examples")}
    parts = [f"prompt {spec.get('prompt') or '?'} #{_short_hash(prompt)}"]
    retrieval = spec.get("retrieval")
    if isinstance(retrieval, dict):
        parts.append(f"retrieval {retrieval.get('mode', '?')} k={retrieval.get('k', '?')} #{_short_hash(retrieval)}")
        parts.append(f"index build {(index_build or 'none')[:8]}")
    else:
        parts.append("no retrieval")
    parts.append(
        model_words(spec.get("model"), model_digest, answered)
        + (f" adapter {spec['adapter']}" if spec.get("adapter") else "")
    )
    parts.append(f"eval set {(evalset_hash or '?')[:10]}")
    return " · ".join(parts)


def case_fingerprint(case: Any) -> str:
    """What decides a case's verdict (inputs, expected answer, relevant documents, each check
    with its scorer file's hash), hashed: equal fingerprints mean two versions of a set ask and
    score this case alike. Its line, tags, split, description and `source` do not count."""
    import hashlib
    import json

    checks = [{k: v for k, v in asdict(a).items() if k != "line"} for a in case.assertions]
    blob = json.dumps(
        {"inputs": case.inputs, "expected": case.expected, "relevant": list(case.relevant), "assert": checks},
        sort_keys=True,
        ensure_ascii=False,
        default=repr,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def case_fingerprints(evalset: Any) -> dict[str, str]:
    """case id -> case_fingerprint, stored with every run so a later diff or the fine-tune guard
    can tell a set that only gained cases (a promote) from one whose cases changed."""
    return {c.id: case_fingerprint(c) for c in evalset.cases}


def changed_cases(a: dict[str, str] | None, b: dict[str, str] | None) -> list[str] | None:
    """Ids in both fingerprint maps whose fingerprints differ; None when either run predates
    fingerprints (then nothing can be said case by case)."""
    if a is None or b is None:
        return None
    return [cid for cid, h in a.items() if cid in b and b[cid] != h]


def _cases(n: int) -> str:
    return f"{n} case{'' if n == 1 else 's'}"


def _basis(cases: list[CaseDiff], a: RunInfo, b: RunInfo, new_version: bool) -> str | None:
    """`compared on the 83 cases both runs have (1 case added since e3)`: what the statistics
    rest on when the runs do not hold the same cases (None when they do). "added/removed since"
    only when the set's version changed and B is the later run; else "only in eN"."""
    only_b = sum(1 for c in cases if c.change == "added")
    only_a = sum(1 for c in cases if c.change == "removed")
    if not (only_b or only_a):
        return None
    later = new_version and (a.id is None or b.id is None or b.id > a.id)
    shared = [c for c in cases if c.before is not None and c.after is not None]
    same = sum(1 for c in shared if not c.checks_changed)
    name_a, name_b = (f"e{r.id}" if r.id is not None else r.label for r in (a, b))
    parts = []
    if only_b:
        parts.append(f"{_cases(only_b)} added since {name_a}" if later else f"{_cases(only_b)} only in {name_b}")
    if only_a:
        parts.append(f"{_cases(only_a)} removed since {name_a}" if later else f"{_cases(only_a)} only in {name_a}")
    both = "the case both runs have" if same == 1 else f"the {same} cases both runs have"
    if same != len(shared):
        both += " with the same checks"
    return f"compared on {both} ({', '.join(parts)})"


def _classify(before: str | None, after: str | None) -> str:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    if before == "pass" and after == "fail":
        return "regression"
    if before == "fail" and after == "pass":
        return "fix"
    return "unchanged" if before == after else "changed"


def _flips(a: CaseResult, b: CaseResult) -> list[AssertionFlip]:
    """Assertions whose outcome moved, matched by (name, occurrence) so repeated types line up."""

    def keyed(results: Sequence[AssertionResult]) -> dict[tuple[str, int], AssertionResult]:
        seen: dict[str, int] = {}
        out: dict[tuple[str, int], AssertionResult] = {}
        for r in results:
            k = f"{r.type}|{r.name}"
            seen[k] = seen.get(k, 0) + 1
            out[(k, seen[k])] = r
        return out

    ka, kb = keyed(a.assertions), keyed(b.assertions)
    flips = []
    for key in list(ka) + [k for k in kb if k not in ka]:
        ra, rb = ka.get(key), kb.get(key)
        pa = ra.passed if ra else None
        pb = rb.passed if rb else None
        if ra is None or rb is None or pa != pb:
            ref = rb or ra
            assert ref is not None  # the key came from one of the two
            flips.append(
                AssertionFlip(
                    ref.name, ref.type, pa, pb, ra.detail if ra else "(absent)", rb.detail if rb else "(absent)"
                )
            )
    return flips


def _delta(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else y - x


def _sum(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) if vals else None


def diff_runs(
    a_results: Sequence[CaseResult],
    b_results: Sequence[CaseResult],
    *,
    a: RunInfo | None = None,
    b: RunInfo | None = None,
    seed: int = 0,
) -> RunDiff:
    """Compare run B (after) with run A (before)."""
    a, b = a or RunInfo(), b or RunInfo()
    fa, fb = fold_repeats(a_results), fold_repeats(b_results)
    ids = list(fa) + [cid for cid in fb if cid not in fa]
    cases: list[CaseDiff] = []
    paired_a: list[bool] = []
    paired_b: list[bool] = []
    changed_ids = changed_cases(a.case_hashes, b.case_hashes)
    altered = set(changed_ids or ())
    for cid in ids:
        sa: CaseSummary | None = fa.get(cid)
        sb: CaseSummary | None = fb.get(cid)
        d = CaseDiff(
            cid,
            _classify(sa.verdict if sa else None, sb.verdict if sb else None),
            sa.verdict if sa else None,
            sb.verdict if sb else None,
        )
        if sa:
            d.output_before, d.gold_rank_before, d.flaky_before = sa.first.output, sa.first.gold_rank, sa.flaky
        if sb:
            d.output_after, d.gold_rank_after, d.flaky_after = sb.first.output, sb.first.gold_rank, sb.flaky
            d.failure_kind_after = sb.first.failure_kind
        if sa and sb:
            ra, rb = sa.first, sb.first
            d.output_changed = ra.output != rb.output
            if d.output_changed:
                d.words = word_diff(ra.output, rb.output)
            d.assertion_flips = _flips(ra, rb)
            d.latency_delta_ms = _delta(ra.latency_ms, rb.latency_ms)
            if ra.completion_tokens is not None and rb.completion_tokens is not None:
                d.tokens_delta = rb.completion_tokens - ra.completion_tokens
            d.cost_delta = _delta(ra.cost, rb.cost)
            d.checks_changed = cid in altered
            if d.checks_changed and d.change in ("regression", "fix"):
                d.change = "changed"  # a flip under other checks says nothing about the variant
            if sa.passed is not None and sb.passed is not None and not d.checks_changed:
                paired_a.append(sa.passed)
                paired_b.append(sb.passed)
        cases.append(d)

    warnings = []
    new_version = bool(a.evalset_hash and b.evalset_hash and a.evalset_hash != b.evalset_hash)
    if new_version and changed_ids is None:
        warnings.append(
            f"the runs used different versions of the eval set ({(a.evalset_hash or '?')[:10]} vs "
            f"{(b.evalset_hash or '?')[:10]}): cases are matched by id, and a case whose checks changed "
            "may flip for that reason alone"
        )
    elif changed_ids:
        shown = ", ".join(changed_ids[:5]) + (f" and {len(changed_ids) - 5} more" if len(changed_ids) > 5 else "")
        warnings.append(
            f"the runs used different versions of the eval set ({(a.evalset_hash or '?')[:10]} vs "
            f"{(b.evalset_hash or '?')[:10]}): {_cases(len(changed_ids))} changed inputs or checks "
            f"({shown}): shown, but left out of the statistics"
        )
    if a.index_version is not None and b.index_version is not None and a.index_version != b.index_version:
        warnings.append(
            f"the index changed between the runs: version {a.index_version} vs {b.index_version} (an "
            "ingest in between): retrieval and answers may differ for that reason, not the variant's"
        )
    elif a.index_build and b.index_build and a.index_build != b.index_build:
        warnings.append(
            "the index was rebuilt between the runs (ingest --reindex): retrieval and answers may "
            "differ for that reason, not the variant's"
        )
    for run in (a, b):
        if run.index_incomplete:
            warnings.append(
                f"e{run.id} ran on an incomplete index ({run.index_incomplete}): its retrieval misses "
                "may be files that were not indexed yet, not the variant's"
            )
    if a.model_digest and b.model_digest and a.model_digest != b.model_digest:
        # Only when both are known: an older run without a digest proves nothing either way.
        from workbench.core.llm.base import short_digest

        warnings.append(
            f"the model's weights changed between the runs (digest {short_digest(a.model_digest)} "
            f"→ {short_digest(b.model_digest)}): a re-pull or re-export, so answers may differ "
            "for that reason, not the variant's"
        )
    if a.evalset_name and b.evalset_name and a.evalset_name != b.evalset_name:
        warnings.append(f"the runs used different eval sets ({a.evalset_name} vs {b.evalset_name})")
    basis = _basis(cases, a, b, new_version)
    if basis:
        warnings.append(basis)

    stats = compare_paired(paired_a, paired_b, seed=seed) if paired_a else None
    totals = {}
    for name, results in (("a", a_results), ("b", b_results)):
        totals[name] = {
            "latency_p50_ms": percentile([r.latency_ms for r in results], 50),
            "latency_p95_ms": percentile([r.latency_ms for r in results], 95),
            "completion_tokens": _sum(r.completion_tokens for r in results),
            "cost": _sum(r.cost for r in results),
        }
    totals["delta"] = {k: _delta(totals["a"][k], totals["b"][k]) for k in totals["a"]}
    return RunDiff(a, b, cases, stats, warnings, totals)
