"""The fine-tune guard: is there evidence that a LoRA fine-tune is the lever to pull now?

Prompt, retrieval and plumbing come first; `workbench finetune check` reads the run store and
refuses until it shows a measured ceiling. The six rules are listed in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.evals.diff import case_fingerprints
from workbench.core.evals.lookup import find_evalset
from workbench.core.evals.stats import cases_for_ceiling, discordance, gain_bounds, points, resolution, resolution_words
from workbench.core.finetune.settings import SIGNALS, FinetuneSettings
from workbench.core.llm.resilience import format_cost
from workbench.core.store import as_dict
from workbench.core.variants import variant_label

REQUIRED = "required"
WARNING = "warning"

# Advice priority when several rules fail: what invalidates the others comes first.
_PRIORITY = ("base model", "eval set", "retrieval", "variants", "plateau", "signal")


@dataclass
class Rule:
    """One guard rule with its evidence."""

    name: str
    passed: bool
    summary: str  # one line with the numbers
    next_step: str | None = None  # what to do when it does not pass
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str = REQUIRED  # required | warning (a warning never blocks training)
    # The same next step in the TUI's words (tab, key, picker) where it differs from the CLI's;
    # None: next_step reads the same in both. Kept in core so the wording is tested headless.
    tui_step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GuardReport:
    rules: list[Rule]
    advice: str
    signal: str | None = None
    evalset: str | None = None
    evalset_path: str | None = None
    best_run_id: int | None = None
    tui_advice: str | None = None  # the advice in the TUI's words (None: `advice` reads the same)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules if r.severity == REQUIRED)

    @property
    def warnings(self) -> list[Rule]:
        return [r for r in self.rules if r.severity == WARNING and not r.passed]

    @property
    def resolution(self) -> str | None:
        """What the eval set can resolve, from the plateau rule's comparisons (None: none yet)."""
        for r in self.rules:
            if r.name == "plateau":
                return r.evidence.get("resolution_words")
        return None

    @property
    def lead_resolution(self) -> str | None:
        """The resolution line `finetune check` leads with when the plateau rule blocks (a
        verdict on a ceiling means little without what the set can resolve); None when the
        guard passes, the plateau holds, or the advice already says it."""
        if self.passed or self.resolution is None or "resolves ±" in self.advice:
            return None
        plateau = next((r for r in self.rules if r.name == "plateau"), None)
        return None if plateau is None or plateau.passed else f"Resolution: {self.resolution}"

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "advice": self.advice, "signal": self.signal,
                "evalset": self.evalset, "evalset_path": self.evalset_path,
                "best_run_id": self.best_run_id, "tui_advice": self.tui_advice,
                "resolution": self.resolution, "rules": [r.to_dict() for r in self.rules]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardReport:
        return cls([Rule(**r) for r in d.get("rules", [])], d.get("advice", ""), d.get("signal"),
                   d.get("evalset"), d.get("evalset_path"), d.get("best_run_id"), d.get("tui_advice"))

    def lines(self) -> list[str]:
        """Plain text (no markup: variant names and case ids are user text)."""
        out = [line for line in (self.lead_resolution,) if line] + [self.advice, ""]
        for r in self.rules:
            mark = "PASS" if r.passed else ("WARN" if r.severity == WARNING else "FAIL")
            out.append(f"[{mark}] {r.name}: {r.summary}")
            if not r.passed and r.next_step:
                out.append(f"       next: {r.next_step}")
        return out


# --------------------------------------------------------------------------- evidence loading


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


def variant_runs(store: Any, evalset_name: str, *, full_size: int | None = None,
                 current: Any = None) -> list[VariantRun]:
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
    latest: dict[str, dict[str, Any]] = {}
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


def whole_set(row: dict[str, Any], full_size: int, current: Any = None) -> bool:
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

    @property
    def words(self) -> str:
        if self.reason == "subset":
            return f"{self.label} covers only {self.selected} of {self.full} cases (--limit/--tag/--case)"
        if self.reason == "earlier set":
            return f"{self.label} ran an earlier version of the set ({self.selected} cases; it has {self.full} now)"
        if self.reason == "running":
            return f"{self.label} has not finished ({self.cases} of {self.full} cases so far)"
        return f"{self.label} was {self.reason} after {self.cases} of {self.full} cases"

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "reason": self.reason, "cases": self.cases,
                "selected": self.selected, "of": self.full, "resume": self.resume}


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


def _resume_args(project: Any, evalset: Any, row: dict[str, Any]) -> str | None:
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
    """Seconds of wall-clock time per case, read from the stored runs."""

    seconds_per_case: float
    runs: list[int]

    def run_words(self, cases: int, *, say_cases: bool = True) -> str:
        of = f" of {cases} cases" if say_cases else ""
        return (f"a full run{of} takes {duration_words(cases * self.seconds_per_case)} "
                f"({self.seconds_per_case:.1f} s a case in {', '.join(f'e{r}' for r in self.runs)})")


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


def duration_words(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


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


def _spec(row: dict[str, Any]) -> dict[str, Any]:
    config = row.get("config")
    spec = config.get("variant") if isinstance(config, dict) else None
    return spec if isinstance(spec, dict) else {}


def compare(a: VariantRun, b: VariantRun) -> Any:
    """Paired statistics of run b against run a on the cases both decided (None if none)."""
    from workbench.core.evals.diff import diff_runs

    return diff_runs(a.results, b.results).stats


# --------------------------------------------------------------------------- the rules


def check(project: Any, signal: str | None = None, *, evalset: str | None = None) -> GuardReport:
    """Evaluate every rule against the project's stored evidence."""
    settings: FinetuneSettings = project.config.finetune
    if signal is not None and signal not in SIGNALS:
        raise WorkbenchError(f"unknown signal {signal!r}: use one of {', '.join(SIGNALS)}", field="signal")
    rules: list[Rule] = []
    path = resolve_evalset_path(project, evalset)
    if path is None:
        folder = project.config.evals.dir
        rules.append(Rule("eval set", False, f"no eval set in {folder}/",
                          f"write an eval set ({folder}/NAME.yaml) with at least {settings.min_cases} "
                          "cases, about 20% of them `split: heldout`, then evaluate prompt variants on it"))
        for name in ("variants", "plateau", "retrieval", "signal"):
            rules.append(Rule(name, False, "needs an eval set first"))
        return _report(rules + _rule_base(project), signal, None, None, None, settings)

    from workbench.core.evals.evalset import load_evalset

    es = load_evalset(path)
    rules.append(_rule_evalset(es, settings))
    runs = variant_runs(project.store, es.name, full_size=len(es.cases), current=es)
    best = max((r for r in runs if r.pass_rate is not None), key=lambda r: (r.pass_rate, -r.run_id),
               default=None)
    ctx = Context(es.name, len(es.cases), uncounted_runs(project, es, runs),
                  eval_pace(project.store, es.name), untried_variants(project, runs),
                  eval_run_command(project, path))
    rules.append(_rule_variants(runs, settings, ctx))
    rules.append(_rule_plateau(runs, settings, ctx))
    rules.append(_rule_retrieval(best, settings, latest_retrieval_eval(project, es.name), ctx))
    rules.append(_rule_signal(signal, runs, best, settings))
    rules.append(_rule_knowledge(project, es, settings))
    rules += _rule_base(project)
    return _report(rules, signal, es.name, str(path), best.run_id if best else None, settings)


def _rule_base(project: Any) -> list[Rule]:
    """A failing `base model` rule when the configured base leads nowhere (see base_problem);
    nothing when it works, so the usual checklist stays as it is."""
    from workbench.core.finetune.base import base_problem

    problem = base_problem(project)
    if problem is None:
        return []
    return [Rule("base model", False, problem.message, "set finetune.base_model to embedded or to a "
                 "local llama or gemma2 folder", {"error": str(problem), "advice": str(problem)})]


def _report(rules: list[Rule], signal: str | None, name: str | None, path: str | None,
            best_id: int | None, settings: FinetuneSettings) -> GuardReport:
    failing = {r.name: r for r in rules if not r.passed and r.severity == REQUIRED}
    tui_advice = None
    if not failing:
        advice = (f"The evidence supports a LoRA fine-tune for the {signal} signal: "
                  "run `workbench finetune train`.")
        warn = [r for r in rules if r.severity == WARNING and not r.passed]
        if warn:
            advice += " But read the warning: " + warn[0].summary
    else:
        lead = next(failing[n] for n in _PRIORITY if n in failing)
        lead_text = lead.evidence.get("advice") or lead.next_step or lead.summary
        tui_text = lead.evidence.get("tui_advice") or lead.tui_step or lead_text
        others = [n for n in _PRIORITY if n in failing and n != lead.name]
        also = f" (also missing: {', '.join(others)})" if others else ""
        advice = f"Not yet: {lead_text}{also}"
        if tui_text != lead_text:
            tui_advice = f"Not yet: {tui_text}{also}"
    return GuardReport(rules, advice, signal, name, path, best_id, tui_advice)


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
        problems.append("mark about 20% of the cases `split: heldout` so the adapter is judged on "
                        "cases it never trained on")
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
            words += (f", {runs_needed} runs "
                      f"{duration_words(runs_needed * self.cases * self.pace.seconds_per_case)}")
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
            cli.append(f"{u.label} can be resumed instead of started again "
                       f"(`{self.run_cmd} {u.resume}`: {left})")
            tui.append(f"{u.label} can be resumed instead of started again "
                       f"(Evals tab, F3: select e{u.run_id}, ctrl+e: {left})")
        return cli, tui


def _rule_variants(runs: list[VariantRun], s: FinetuneSettings, ctx: Context) -> Rule:
    levers = {r.lever_key for r in runs}
    ev = {"variants": len(runs), "distinct_prompt_retrieval": len(levers), "min_variants": s.min_variants,
          "runs": [r.run_id for r in runs], "uncounted": [u.to_dict() for u in ctx.uncounted],
          "seconds_per_case": ctx.pace.seconds_per_case if ctx.pace else None,
          "untried_variants": ctx.untried}
    listed = ", ".join(r.label for r in runs)
    if ctx.uncounted:
        listed = (f"{listed}; not counted: " if listed else "none counted; ") + ctx.uncounted_words()
    summary = (f"{len(levers)} distinct prompt/retrieval variant(s) evaluated on {ctx.evalset} "
               f"(runs: {listed or 'none'}); need {s.min_variants}")
    if len(levers) >= s.min_variants:
        return Rule("variants", True, summary, None, ev)
    missing = s.min_variants - len(levers)
    untried = ", ".join(ctx.untried)
    named = f"; workbench.yaml defines {untried}" if untried else ""
    in_picker = f" Variant picker: {untried}" if untried else " Variant picker"
    new_one = "; a new one: edit the prompt in the Prompt tab (F1) and save it with ctrl+s"
    if not runs:
        cli = [f"evaluate the current settings on all {ctx.cases} cases (`{ctx.run_cmd}`), then "
               f"{s.min_variants - 1} variants that change the prompt or retrieval "
               f"(`{ctx.run_cmd} --variant NAME`{named})"]
        tui = [f"evaluate the current settings on all {ctx.cases} cases (Evals tab, F3: set {ctx.evalset}, "
               f"Variant base, ctrl+r), then {s.min_variants - 1} variants that change the prompt or "
               f"retrieval (pick them in the Evals tab's{in_picker}{new_one})"]
    else:
        cli = [f"evaluate {missing} more variant(s) that change the prompt or retrieval "
               f"(`{ctx.run_cmd} --variant NAME`{named}): a model-only change does not count"]
        tui = [f"evaluate {missing} more variant(s) that change the prompt or retrieval (Evals tab, F3: "
               f"choose one in the{in_picker}, then ctrl+r{new_one}): a model-only change does not count"]
    resume_cli, resume_tui = ctx.resume_steps()
    time = ctx.pace_words(missing)
    return Rule("variants", False, summary, "; ".join(cli + resume_cli + [time]), ev,
                tui_step="; ".join(tui + resume_tui + [time]))


HISTORY_POINTER = "; see it: `workbench eval history`"  # the pass rate per run with its CI, plotted

PLATEAU_RULE = ("A plateau needs evidence of a ceiling: for each of the last variants, the {conf} "
                 "upper bound of its paired gain over the best is below {gain} points. A set too small "
                 "to show that cannot tell, and the guard says how many cases would.")


def _rule_plateau(runs: list[VariantRun], s: FinetuneSettings, ctx: Context | None = None) -> Rule:
    """Walk the variants in the order they were evaluated; each is compared with the best so far.

    "Did not beat the best beyond noise" is absence of evidence: the smaller the set, the easier
    it passes. So the plateau is an equivalence judgement instead: it holds when every variant of
    the window has a one-sided upper bound (stats.gain_bounds) of its gain below `min_gain`.
    """
    scored = [r for r in runs if r.pass_rate is not None]
    if len(scored) < 2:
        return Rule("plateau", False, f"{len(scored)} scored run(s): a plateau needs a history",
                    f"evaluate at least {s.plateau_window + 1} variants to see whether the pass rate "
                    "still moves", {"history": []})
    best = scored[0]
    history = []
    for r in scored[1:]:
        history.append(_plateau_step(best, r, s))
        if (r.pass_rate or 0.0) > (best.pass_rate or 0.0):  # scored: neither is None
            best = r
    last = history[-s.plateau_window:]
    enough = len(history) >= s.plateau_window
    judged = [h for h in last if "gain_high" in h]
    widest = max(judged, key=lambda h: h["resolution"], default=None)
    gain, conf = points(s.min_gain), f"{1 - s.significance:.0%}"
    ev: dict[str, Any] = {"best_run": best.run_id, "best_pass_rate": best.pass_rate, "history": history,
                          "window": s.plateau_window, "min_gain": s.min_gain,
                          "rule": PLATEAU_RULE.format(conf=conf, gain=gain)}
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
        each = ", ".join(f"{h['label']} vs e{h['vs']} {_signed(h['gain'])} points (at most "
                         f"{_signed(h['gain_high'])})" for h in last)
        summary = (f"{head}; the last {len(last)} variant(s) gain less than {gain} points on the best "
                   f"({conf} upper bounds): {each}; {ev['resolution_words']}{HISTORY_POINTER}")
        return Rule("plateau", True, summary, None, ev)
    moved = [h for h in last if h["real"]]
    if moved:
        ev["verdict"] = "still improving"
        h = moved[-1]
        summary = (f"{head}; {h['label']} still moved the bar: {_signed(h['gain'])} points on e{h['vs']} "
                   f"(at least {_signed(h['gain_low'])}, {conf} lower bound); {ev['resolution_words']}"
                   f"{HISTORY_POINTER}")
        step = ("prompting and retrieval are still improving the score: keep iterating on variants "
                f"until the last ones gain less than {gain} points on the best")
        return Rule("plateau", False, summary, step, ev)
    ev["verdict"] = "cannot tell"
    open_ = [h for h in last if not h["below_min_gain"]]
    worst = max(open_, key=lambda h: h.get("gain_high", 1.0))
    if "gain_high" not in worst:  # no case decided in both runs
        summary = f"{head}; cannot tell: {worst['label']} vs e{worst['vs']}: {worst['words']}"
        return Rule("plateau", False, summary, "re-run the variants on the same cases", ev)
    resolves = points(worst["resolution"])
    summary = (f"{head}; cannot tell: {worst['label']} vs e{worst['vs']} {_signed(worst['gain'])} points, "
               f"could be up to {_signed(worst['gain_high'])} ({conf} upper bound), above the {gain}-point "
               "minimum gain; "
               f"{resolution_words(worst['n'], worst['flips'], worst['resolution'])}{HISTORY_POINTER}")
    needed = cases_for_ceiling(worst["flip_share"], worst["gain"], s.min_gain, s.significance)
    ev["cases_needed"] = needed
    if needed is not None:
        step = (f"cannot tell: the eval set resolves ±{resolves} points; to show a ceiling at {gain} points you "
                f"need about {needed} cases (or repeats of the noisy ones)")
    else:
        step = (f"cannot tell: the eval set resolves ±{resolves} points, and {worst['label']} gained "
                f"{_signed(worst['gain'])}, more than {gain}: add cases (or repeats of the noisy ones) to "
                "see whether that gain is real")
    return Rule("plateau", False, summary, step, ev)


def _plateau_step(best: VariantRun, r: VariantRun, s: FinetuneSettings) -> dict[str, Any]:
    """Run r against the best before it: the paired gain, its one-sided bounds at
    `significance`, and the set's resolution at this pair's flip rate."""
    st = compare(best, r)
    h: dict[str, Any] = {"run": r.run_id, "label": r.label, "pass_rate": r.pass_rate, "vs": best.run_id,
                         "p": st.p_value if st else None,
                         "words": st.words if st else "no cases in common",
                         "real": False, "below_min_gain": False}
    if st is None:
        return h
    low, high = gain_bounds(st.fixes, st.regressions, st.n, s.significance)
    flip_share = discordance(st.fixes, st.regressions, st.n)
    h.update(n=st.n, flips=st.fixes + st.regressions, gain=st.delta, gain_low=low, gain_high=high,
             flip_share=flip_share, resolution=resolution(st.n, flip_share, s.significance),
             real=low > 0, below_min_gain=high < s.min_gain)
    return h


def _signed(share: float) -> str:
    """A gain in points with its sign and one decimal: +1.2, -0.6."""
    return f"{share * 100:+.1f}"


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


def _rule_retrieval(best: VariantRun | None, s: FinetuneSettings, reval: dict[str, Any] | None = None,
                    ctx: Context | None = None) -> Rule:
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
    ev = {"run": best.run_id, "failures": failed_total, "retrieval_misses": misses, "miss_share": share,
          "recall_at_k": recall, "k": k, "max_miss_share": s.max_retrieval_miss_share,
          "min_recall": s.min_recall, "recall_source": source}
    parts = [f"in {best.label}, {misses} of {failed_total} failures are retrieval misses ({share:.0%}, "
             f"limit {s.max_retrieval_miss_share:.0%})"]
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
        ev["advice"] = _count_sentence(misses, failed_total) + " fix retrieval (chunking, k, hybrid " \
            "search) before touching the weights."
    else:
        ev["advice"] = (f"recall@{k} is {recall:.0%}: the answer is often not in the context — fix "
                        "retrieval (chunking, k, hybrid search) before touching the weights.")
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
        return Rule("retrieval", False, f"no finished eval run{where} to read failures from", step,
                    tui_step=tui)
    n = len(ctx.uncounted)
    summary = (f"no complete eval run of {ctx.evalset} to read failures from "
               f"({n} run{'s' if n > 1 else ''} not counted: see variants)")
    first = ctx.resumable(1)
    resume = f", or `{ctx.run_cmd} {first[0].resume}` to finish e{first[0].run_id}" if first else ""
    tui_resume = f"; or select e{first[0].run_id}, ctrl+e to finish it" if first else ""
    ev = {"uncounted": [u.to_dict() for u in ctx.uncounted]}
    # Short: as the lead advice it must fit the TUI's advice band (4 lines at 80 columns).
    step = (f"run all {ctx.cases} cases once (`{ctx.run_cmd}` without --limit/--tag/--case{resume}): "
            f"only complete runs of the whole set count. {ctx.pace_words(short=True)}")
    tui = (f"run all {ctx.cases} cases once (Evals tab, F3: ctrl+r{tui_resume}): only complete runs of "
           f"the whole set count. {ctx.pace_words(short=True)}")
    return Rule("retrieval", False, summary, step, ev, tui_step=tui)


def _count_sentence(n: int, total: int) -> str:
    if total == 1:
        return "The one failure is a retrieval miss:"
    if n == total:
        return f"All {total} failures are retrieval misses:"
    verb = "is a retrieval miss" if n == 1 else "are retrieval misses"
    return f"{n} of {total} failures {verb}:"


def signal_evidence(runs: list[VariantRun], best: VariantRun | None) -> dict[str, Any]:
    """Numbers for all three signals, so the report can show which one the runs support."""
    # case -> [(verdict, failure_kind)] across variants (first repeat)
    per_case: dict[str, list[tuple[str, str | None]]] = {}
    for r in runs:
        for res in r.results:
            if res.repeat_index == 0:
                per_case.setdefault(res.case_id, []).append((res.verdict, res.failure_kind))
    multi = [cid for cid, outs in per_case.items() if len(outs) >= 2]
    fmt = sorted(cid for cid in multi
                 if all(v == "fail" and k == "format" for v, k in per_case[cid]))
    best_kind = {}
    if best is not None:
        best_kind = {res.case_id: res.failure_kind for res in best.results if res.repeat_index == 0}
    cap = sorted(cid for cid in multi
                 if all(v == "fail" for v, _ in per_case[cid]) and best_kind.get(cid) == "context-ignored")
    cost: dict[str, Any] = {}
    if best is not None:
        prompt = sum(r.prompt_tokens or 0 for r in best.results)
        completion = sum(r.completion_tokens or 0 for r in best.results)
        n = len(best.results) or 1
        costs = [r.cost for r in best.results if r.cost is not None]
        cost = {"run": best.run_id, "prompt_tokens": prompt, "completion_tokens": completion,
                "prompt_share": prompt / (prompt + completion) if prompt + completion else None,
                "prompt_tokens_per_request": prompt / n,
                "cost_per_request": sum(costs) / len(costs) if costs else None}
    return {"variants_compared": len(runs), "format_persistent": fmt, "capability_persistent": cap,
            "prompt_cost": cost}


def _rule_signal(signal: str | None, runs: list[VariantRun], best: VariantRun | None,
                 s: FinetuneSettings) -> Rule:
    ev = signal_evidence(runs, best)
    pc = ev["prompt_cost"]
    share = pc.get("prompt_share")
    shown = (f"format failures persisting across all {len(runs)} variants: {len(ev['format_persistent'])}; "
             f"capability failures (context present, failing in every variant): "
             f"{len(ev['capability_persistent'])}; prompt tokens "
             + (f"{share:.0%} of all tokens, {pc['prompt_tokens_per_request']:.0f} per request"
                + (f", cost {format_cost(pc['cost_per_request'])} per request" if pc.get("cost_per_request") else "")
                if share is not None else "unknown"))
    ev["signal"] = signal
    if signal is None:
        return Rule("signal", False, "no signal named. Evidence: " + shown,
                    "name why a fine-tune is needed: --signal format | capability | prompt-cost", ev,
                    tui_step="name why a fine-tune is needed: choose format, capability or prompt-cost "
                             "in Signal above")
    if len(runs) < 2 and signal != "prompt-cost":
        return Rule("signal", False, f"{signal}: persistence needs at least 2 variants. " + shown,
                    "evaluate more variants so persistent failures can be told from prompt problems", ev)
    if signal == "format":
        n = len(ev["format_persistent"])
        ok = n >= s.min_signal_cases
        summary = (f"format: {n} case(s) fail on format in every variant (need {s.min_signal_cases})"
                   + (f": {', '.join(ev['format_persistent'][:8])}" if n else ""))
        step = None if ok else ("the runs do not show format failures that survive prompt changes; try "
                                "structured output (format: json schema) or a clearer format instruction")
    elif signal == "capability":
        n = len(ev["capability_persistent"])
        ok = n >= s.min_signal_cases
        summary = (f"capability: {n} case(s) fail with the right context present in every variant "
                   f"(need {s.min_signal_cases})"
                   + (f": {', '.join(ev['capability_persistent'][:8])}" if n else ""))
        step = None if ok else ("no persistent failures with context present: the prompt or retrieval "
                                "still explains the failures")
    else:
        ok = share is not None and share >= s.min_prompt_share
        summary = ("prompt-cost: " + (f"prompt tokens are {share:.0%} of all tokens "
                                      f"({pc['prompt_tokens_per_request']:.0f} per request"
                                      + (f", cost {format_cost(pc['cost_per_request'])} per request" if pc.get("cost_per_request") else "")
                                      + f"); need {s.min_prompt_share:.0%}" if share is not None
                                      else "no token counts stored"))
        step = None if ok else ("prompts are not the bulk of the cost; a fine-tune will not save much — "
                                "trim few-shot examples or context first")
    return Rule("signal", ok, summary, step, ev)


# --------------------------------------------------------------------------- knowledge injection
#
# Cheap on purpose (no model, no index): a target "restates the corpus" when it is a real
# statement (at least MIN_CONTENT_WORDS content words) and most of its content words
# (>= RESTATE_CONTAINMENT) occur together in one passage of the corpus (a window of three
# paragraphs, about a retrieval chunk). Short format targets such as `{"answer": "X"}` or a bare
# number are never counted: their point is the shape, not the fact inside.

_WORD = re.compile(r"[a-z0-9_]+")
_STOP = frozenset(
    "the and for that this with are was were from into not but can you your its has have had will "
    "would should could which what when where who how than then them they their there these those "
    "also only just more most some such very each other any all may might must shall about over "
    "under between does did done been being use used using one two like make makes made".split())
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
            passages.append(content_words(" ".join(paras[i:i + PASSAGE_PARAGRAPHS])))
    postings: dict[str, list[int]] = {}
    for pid, words in enumerate(passages):
        for w in words:
            postings.setdefault(w, []).append(pid)
    return CorpusPassages(passages, postings, docs)


def restates_corpus(text: str, corpus: CorpusPassages) -> tuple[bool, float]:
    share, n = corpus.containment(text)
    return (n >= MIN_CONTENT_WORDS and share >= RESTATE_CONTAINMENT), share


def knowledge_rule(targets: list[tuple[str, str]], corpus: CorpusPassages, s: FinetuneSettings) -> Rule:
    """The knowledge-injection warning for (id, target text) pairs."""
    if not targets:
        return Rule("knowledge", True, "no training targets to compare with the corpus", severity=WARNING)
    if not corpus.passages:
        return Rule("knowledge", True, "no corpus documents to compare training targets with",
                    severity=WARNING, evidence={"documents": 0})
    restating = [tid for tid, text in targets if restates_corpus(text, corpus)[0]]
    share = len(restating) / len(targets)
    ev = {"targets": len(targets), "restating": len(restating), "share": share,
          "documents": corpus.documents, "threshold": s.knowledge_overlap_warn, "examples": restating[:8]}
    summary = (f"{len(restating)} of {len(targets)} training targets ({share:.0%}) mostly restate a "
               f"passage of the corpus ({corpus.documents} documents)")
    if share >= s.knowledge_overlap_warn:
        return Rule("knowledge", False, summary + ": facts belong in retrieval; a fine-tune teaches "
                    "behaviour (format, style), not knowledge",
                    "train on targets that show the behaviour you want, and let retrieval supply the facts",
                    ev, severity=WARNING)
    return Rule("knowledge", True, summary, None, ev, severity=WARNING)


def _rule_knowledge(project: Any, es: Any, s: FinetuneSettings) -> Rule:
    targets = [(c.id, c.expected) for c in es.cases if c.split != "heldout" and c.expected]
    if not targets:
        return knowledge_rule([], CorpusPassages([], {}, 0), s)
    return knowledge_rule(targets, corpus_passages(project), s)
