"""What the fine-tune guard reads: the stored eval runs of a set per variant (through runstore),
the runs it cannot count, the pace of an eval run, the latest retrieval eval, and the corpus
passages a training target might only restate."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.evals.diff import case_fingerprints
from workbench.core.evals.lookup import find_evalset
from workbench.core.store import as_dict
from workbench.core.variants import variant_label

if TYPE_CHECKING:
    from workbench.core.records import EvalRun


def resolve_evalset_path(project: Any, name: str | None = None) -> Path | None:
    """The eval set the guard reads: `name`, finetune.evalset, else what `eval run` picks.
    None when there is no eval set at all (the first rule then says how to write one)."""
    wanted = name or project.config.finetune.evalset
    return find_evalset(project, wanted, field="finetune.evalset" if wanted and not name else None)


def eval_run_command(project: Any, path: Path) -> str:
    """`workbench eval run`, naming the eval set when it is not the one `eval run` picks with
    no argument (evals.default_set, else the first file): `finetune check --evalset format`
    must not send the user to run sqlite_qa."""
    folder = project.root / project.config.evals.dir
    try:
        picked = find_evalset(project)
    except WorkbenchError:  # evals.default_set names no file: `eval run` alone would fail
        picked = None
    if picked is not None and picked.resolve() == Path(path).resolve():
        return "workbench eval run"
    target = Path(path).resolve()
    if target.parent == folder.resolve():
        name = target.stem
    else:
        try:
            name = str(target.relative_to(project.root.resolve()))
        except ValueError:
            name = str(target)
    return f"workbench eval run {shlex.quote(name)}"


@dataclass
class VariantRun:
    """The latest finished eval run of one (non-fine-tuned) variant on the eval set."""

    run_id: int
    variant_id: str
    label: str
    pass_rate: float | None
    summary: dict[str, Any]
    spec: dict[str, Any]
    results: list[Any] = field(default_factory=list)

    @property
    def lever_key(self) -> str:
        return lever_key(self.spec)


def lever_key(spec: dict[str, Any]) -> str:
    """What a prompt/retrieval variant changes (the model alone does not count as one)."""
    keys = ("prompt", "template", "system", "examples", "retrieval")
    return json.dumps({k: spec.get(k) for k in keys}, sort_keys=True, default=str)


def variant_runs(
    store: Any, evalset_name: str, *, full_size: int | None = None, current: Any = None
) -> list[VariantRun]:
    """One run per variant (its latest `done` run), oldest first; the runs of fine-tune jobs
    (the adapter's, an exported model's check) excluded: they measure a fine-tune, they are
    not evidence for one.

    With `full_size` (the eval set's case count), runs of a subset (`eval run --limit/--tag`)
    are left out: a quick 5-case check is not evidence of a ceiling. With `current` (the eval
    set as it is now), a whole run of an earlier version counts too when the set only gained
    cases since (see `whole_set`).
    """
    from workbench.core.evals import runstore
    from workbench.core.finetune.jobs import is_job_run, job_run_ids

    job_runs = job_run_ids(store)
    latest: dict[str, EvalRun] = {}
    for row in runstore.list_runs(store, limit=100_000, evalset=evalset_name):
        if row.get("status") != "done":
            continue
        if full_size is not None and not whole_set(row, full_size, current):
            continue
        if is_job_run(row, job_runs):
            continue
        vid = row.get("variant_id") or ""
        if vid not in latest or row["id"] > latest[vid]["id"]:
            latest[vid] = row
    out = []
    for row in sorted(latest.values(), key=lambda r: r["id"]):
        summary = as_dict(row.get("summary"))
        spec = _spec(row)
        name = row.get("variant_name")
        label = f"e{row['id']} {variant_label(name, row.get('variant_id'), hash_chars=0 if name else 8)}"
        results = runstore.load_results(store, row["id"])
        rate = summary.get("pass_rate")
        if rate is None and results:
            from workbench.core.evals.summary import summarize

            summary = summarize(results)
            rate = summary.get("pass_rate")
        out.append(VariantRun(row["id"], row.get("variant_id") or "", label, rate, summary, spec, results))
    return out


def whole_set(row: Mapping[str, Any], full_size: int, current: Any = None) -> bool:
    """The run was started on every case of the set: no `--limit/--tag/--case` selection
    recorded, and no fewer cases than the set has now (older runs recorded no selection).

    The rule for earlier versions (`current`: the EvalSet now): a run of the whole set of
    another version (of this version, fewer cases means a subset) still counts when cases were
    only ADDED since: every case it ran is still in the set with the same fingerprint (inputs,
    expected, relevant, checks; diff.case_fingerprint). Comparisons pair runs on the case ids
    both hold, all unchanged, so a promote no longer drops every earlier run. A case changed or
    removed since, or a run stored before fingerprints existed: it does not count."""
    from workbench.core.evals import runstore

    if runstore.selection_of(row) is not None:
        return False
    if (row.get("total_cases") or 0) >= full_size:
        return True
    ran = as_dict(row.get("config")).get("case_hashes")
    if current is None or row.get("evalset_hash") == current.content_hash or not isinstance(ran, dict) or not ran:
        return False
    now = case_fingerprints(current)
    return all(now.get(cid) == h for cid, h in ran.items())


@dataclass
class UncountedRun:
    """A stored run on the eval set that the rules leave out, and why, so the guard can say so:
    a user who ran `eval run --limit 10` and sees "runs: none" thinks the run was lost."""

    run_id: int
    label: str
    reason: str  # subset | earlier set | cancelled | interrupted | running | <another status>
    cases: int  # distinct cases the run holds results for
    selected: int  # cases the run was started on (fewer than the set: a subset)
    full: int  # cases in the eval set now
    resume: str | None = None  # `eval run` arguments that would finish it (then so would ctrl+e)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "reason": self.reason,
            "cases": self.cases,
            "selected": self.selected,
            "of": self.full,
            "resume": self.resume,
        }


def uncounted_runs(project: Any, evalset: Any, counted: list[VariantRun]) -> list[UncountedRun]:
    """Runs on the eval set that are not evidence (a subset, or not finished), newest first.

    Only for variants with no counted run (a quick check of a variant already measured is not
    news), one per variant and reason. Fine-tuned runs are left out: they are the adapter's
    evaluation, never evidence for the guard.
    """
    from workbench.core.evals import runstore
    from workbench.core.finetune.jobs import is_job_run, job_run_ids

    store = project.store
    full = len(evalset.cases)
    measured = {r.variant_id for r in counted}
    job_runs = job_run_ids(store)
    seen: set[tuple[str, str]] = set()
    out: list[UncountedRun] = []
    rows = runstore.list_runs(store, limit=100_000, evalset=evalset.name)
    for row in sorted(rows, key=lambda r: -r["id"]):
        vid = row.get("variant_id") or ""
        if vid in measured or is_job_run(row, job_runs):
            continue
        selected = row.get("total_cases") or 0
        status = row.get("status") or "?"
        whole = whole_set(row, full, evalset)
        if status == "done" and whole:
            continue  # counted (an older run of a variant whose newest run is counted)
        if not whole:  # the runner keeps the file's hash for a subset: a new hash is a new file
            same_file = row.get("evalset_hash") == evalset.content_hash
            reason = "subset" if same_file or runstore.selection_of(row) else "earlier set"
        else:
            reason = status
        kind = reason if reason in ("subset", "earlier set") else "unfinished"  # one of each per variant
        if (vid, kind) in seen:
            continue
        seen.add((vid, kind))
        cases = runstore.case_count(store, row["id"])
        name = row.get("variant_name")
        label = f"e{row['id']} {variant_label(name, vid, hash_chars=0 if name else 8)}"
        run = UncountedRun(row["id"], label, reason, cases, selected, full)
        if reason in ("cancelled", "interrupted"):
            run.resume = _resume_args(project, evalset, row)
        out.append(run)
    return out


def _resume_args(project: Any, evalset: Any, row: Mapping[str, Any]) -> str | None:
    """The `eval run` arguments that resume the run (the Evals tab's ctrl+e resumes it too), when
    the eval set and the variant's settings are unchanged since it started; else the runner
    refuses, so None."""
    from workbench.core.variants import resolve_variant

    if row.get("evalset_hash") != evalset.content_hash:
        return None
    name = row.get("variant_name")
    try:
        if name and name in project.config.variants:
            variant, flag = resolve_variant(project, name), f" --variant {name}"
        elif name and name in project.prompts:
            variant, flag = resolve_variant(project, None, prompt=name), f" --prompt {name}"
        else:
            variant, flag = resolve_variant(project), ""
    except WorkbenchError:
        return None
    if variant.id != row.get("variant_id"):
        return None
    return f"--resume e{row['id']}{flag}"


@dataclass
class Pace:
    """Seconds of wall-clock time per case, read from the stored runs (present/finetune_guard.py
    words it)."""

    seconds_per_case: float
    runs: list[int]


PACE_SAMPLES = 20


PACE_RUNS = 10


def eval_pace(store: Any, evalset_name: str) -> Pace | None:
    """Wall-clock seconds per case of the newest runs on the eval set.

    Each uncached case was in flight from (finished - latency) to finished; the union of those
    intervals is the time the run was busy, whatever its concurrency (the embedded model
    generates one at a time, a server queues), and without the pauses between a cancel and a
    resume. Busy time / cases is the pace. Cached answers cost nothing and are left out, and so
    are runs of another model than the newest timed run. None when no run has a timed case.
    """
    from workbench.core.evals import runstore

    busy, cases, used, model = 0.0, 0, [], None
    rows = sorted(runstore.list_runs(store, limit=100_000, evalset=evalset_name), key=lambda r: -r["id"])
    for row in rows[:PACE_RUNS]:
        spec = _spec(row)
        if model is not None and spec.get("model") != model:
            continue
        timed = runstore.case_timings(store, row["id"])
        spans = []
        for finished, latency in timed:
            end = _timestamp(finished)
            if end is not None and latency is not None and latency > 0:
                spans.append((end - latency / 1000, end))
        if not spans:
            continue
        busy += _union_length(spans)
        cases += len(spans)
        used.append(row["id"])
        model = spec.get("model")
        if cases >= PACE_SAMPLES:
            break
    if not cases:
        return None
    return Pace(busy / cases, used)


def _timestamp(text: Any) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def _union_length(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def untried_variants(project: Any, counted: list[VariantRun]) -> list[str]:
    """workbench.yaml variants that would add a new prompt/retrieval setting to the evidence
    (model-only variants and ones already measured left out), so the next step can name them."""
    from workbench.core.variants import resolve_variant

    try:
        taken = {r.lever_key for r in counted} | {lever_key(resolve_variant(project).spec())}
    except WorkbenchError:
        return []
    names = []
    for name in project.config.variants:
        try:
            key = lever_key(resolve_variant(project, name).spec())
        except WorkbenchError:
            continue
        if key not in taken:
            taken.add(key)
            names.append(name)
    return names


def _spec(row: Mapping[str, Any]) -> dict[str, Any]:
    config = row.get("config")
    spec = config.get("variant") if isinstance(config, dict) else None
    return spec if isinstance(spec, dict) else {}


def compare(a: VariantRun, b: VariantRun) -> Any:
    """Paired statistics of run b against run a on the cases both decided (None if none)."""
    from workbench.core.evals.diff import diff_runs

    return diff_runs(a.results, b.results).stats


def latest_retrieval_eval(project: Any, evalset_name: str) -> dict[str, Any] | None:
    """recall@k of the newest `workbench retrieval eval` on this eval set, in the configured mode."""
    rows = project.store.rows("retrieval_evals", "evalset = ?", [evalset_name], limit=1)
    if not rows:
        return None
    try:
        metrics = json.loads(rows[0].get("metrics") or "{}")
        settings = json.loads(rows[0].get("settings") or "{}")
    except (TypeError, json.JSONDecodeError):
        return None
    mode = project.config.retrieval.mode
    if mode not in metrics:
        mode = next(iter(metrics), None)
    if mode is None or "recall@k" not in metrics[mode]:
        return None
    return {"id": rows[0]["id"], "mode": mode, "k": settings.get("k"), "recall": metrics[mode]["recall@k"]}


def signal_evidence(runs: list[VariantRun], best: VariantRun | None) -> dict[str, Any]:
    """Numbers for all three signals, so the report can show which one the runs support."""
    # case -> [(verdict, failure_kind)] across variants (first repeat)
    per_case: dict[str, list[tuple[str, str | None]]] = {}
    for r in runs:
        for res in r.results:
            if res.repeat_index == 0:
                per_case.setdefault(res.case_id, []).append((res.verdict, res.failure_kind))
    multi = [cid for cid, outs in per_case.items() if len(outs) >= 2]
    fmt = sorted(cid for cid in multi if all(v == "fail" and k == "format" for v, k in per_case[cid]))
    best_kind = {}
    if best is not None:
        best_kind = {res.case_id: res.failure_kind for res in best.results if res.repeat_index == 0}
    cap = sorted(
        cid for cid in multi if all(v == "fail" for v, _ in per_case[cid]) and best_kind.get(cid) == "context-ignored"
    )
    cost: dict[str, Any] = {}
    if best is not None:
        prompt = sum(r.prompt_tokens or 0 for r in best.results)
        completion = sum(r.completion_tokens or 0 for r in best.results)
        n = len(best.results) or 1
        costs = [r.cost for r in best.results if r.cost is not None]
        cost = {
            "run": best.run_id,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "prompt_share": prompt / (prompt + completion) if prompt + completion else None,
            "prompt_tokens_per_request": prompt / n,
            "cost_per_request": sum(costs) / len(costs) if costs else None,
        }
    return {"variants_compared": len(runs), "format_persistent": fmt, "capability_persistent": cap, "prompt_cost": cost}


_WORD = re.compile(r"[a-z0-9_]+")


_STOP = frozenset(
    "the and for that this with are was were from into not but can you your its has have had will "
    "would should could which what when where who how than then them they their there these those "
    "also only just more most some such very each other any all may might must shall about over "
    "under between does did done been being use used using one two like make makes made".split()
)


MIN_CONTENT_WORDS = 6


RESTATE_CONTAINMENT = 0.6


PASSAGE_PARAGRAPHS = 3


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in _STOP}


@dataclass
class CorpusPassages:
    """Content-word sets of corpus passages, with an inverted index for fast containment."""

    passages: list[set[str]]
    postings: dict[str, list[int]]
    documents: int

    def containment(self, text: str) -> tuple[float, int]:
        """(best share of the text's content words found in one passage, number of words)."""
        words = content_words(text)
        if not words:
            return 0.0, 0
        hits: dict[int, int] = {}
        for w in words:
            for pid in self.postings.get(w, ()):
                hits[pid] = hits.get(pid, 0) + 1
        return (max(hits.values()) / len(words) if hits else 0.0), len(words)


def corpus_passages(project: Any) -> CorpusPassages:
    """Read the configured corpus folders (the same files retrieval indexes)."""
    from workbench.core.retrieval.documents import discover, read_document

    roots = [project.root / c for c in project.config.retrieval.corpus]
    files, _ = discover(roots)
    limit = int(project.config.retrieval.max_file_mb * 1e6)
    passages: list[set[str]] = []
    docs = 0
    for f in files:
        doc = read_document(f, limit)
        if not hasattr(doc, "text"):
            continue
        docs += 1
        paras = [p for p in re.split(r"\n\s*\n", doc.text) if p.strip()]
        for i in range(len(paras)):
            passages.append(content_words(" ".join(paras[i : i + PASSAGE_PARAGRAPHS])))
    postings: dict[str, list[int]] = {}
    for pid, words in enumerate(passages):
        for w in words:
            postings.setdefault(w, []).append(pid)
    return CorpusPassages(passages, postings, docs)


def restates_corpus(text: str, corpus: CorpusPassages) -> tuple[bool, float]:
    share, n = corpus.containment(text)
    return (n >= MIN_CONTENT_WORDS and share >= RESTATE_CONTAINMENT), share
