"""Close the loop: the same eval set, held-out cases included, on the adapter variant.

A fine-tune is only called an improvement when the paired statistics of the evals diff say so
(exact McNemar p below finetune.significance and a positive delta) against the best variant that
was *not* fine-tuned. The held-out cases are also compared on their own, because those are the
cases the adapter never saw: a gain only on train cases is memorisation, not behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.finetune import jobs
from workbench.core.records import FinetuneJob

if TYPE_CHECKING:
    from workbench.core.project import Project


@dataclass
class AdapterEval:
    job_id: int
    run_id: int
    baseline_run_id: int | None
    diff: Any  # RunDiff or None
    improvement: bool
    verdict: str  # improvement | no significant change | regression | no baseline
    words: str
    summary: dict[str, Any]
    heldout: dict[str, Any] | None = None  # paired stats on the held-out cases alone
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "baseline_run_id": self.baseline_run_id,
            "improvement": self.improvement,
            "verdict": self.verdict,
            "words": self.words,
            "pass_rate": self.summary.get("pass_rate"),
            "stats": self.diff.stats.to_dict() if self.diff is not None and self.diff.stats else None,
            "heldout": self.heldout,
            "notes": self.notes,
        }


def adapter_variant(project: Project, job: FinetuneJob) -> Any:
    """The variant the adapter is judged as: the training variant's prompt, the embedded model,
    and the adapter folder."""
    from workbench.core.variants import resolve_variant

    config = job.get("config") or {}
    adapter_path = job.get("adapter_path")
    if job.get("status") != "done" or not adapter_path:
        raise WorkbenchError(jobs.unfinished_words(project, job))
    if not Path(adapter_path).is_dir():
        raise WorkbenchError("the job's adapter folder is missing", path=adapter_path)
    base = config.get("base") or {}
    if base.get("spec", job.get("base_model")) != "embedded":
        raise WorkbenchError(
            f"job f{job['id']} was trained on the local model {base.get('folder')}; the workbench can only "
            "run adapters on the embedded model. Export it (`workbench finetune export`) and evaluate the "
            "Ollama model with `workbench eval run --model ollama:NAME` instead"
        )
    return resolve_variant(project, config.get("variant"), model="embedded", adapter=adapter_path)


def best_baseline(
    project: Project, evalset_name: str, exclude: int | None = None, full_size: int | None = None
) -> int | None:
    """The best finished run of a non-fine-tuned variant on this eval set: the runs the guard
    counts as evidence (with `full_size`, whole-set runs only: a `--limit 5` run at 100% is no
    baseline for the adapter's run of every case)."""
    from workbench.core.finetune.guard import variant_runs

    runs = [
        r
        for r in variant_runs(project.store, evalset_name, full_size=full_size)
        if r.pass_rate is not None and r.run_id != exclude
    ]
    if not runs:
        return None
    return max(runs, key=lambda r: (r.pass_rate, -r.run_id)).run_id


def judge_diff(project: Project, job_id: int, run_id: int, baseline_id: int | None, evalset: Any) -> AdapterEval:
    """Diff the adapter's run against the baseline and decide, by the statistics only."""
    from workbench.core.evals import runstore
    from workbench.core.evals.diff import diff_runs
    from workbench.core.evals.stats import compare_paired
    from workbench.core.evals.summary import summarize

    store = project.store
    sig = project.config.finetune.significance
    results = runstore.load_results(store, run_id)
    summary = summarize(results)
    if baseline_id is None:
        return AdapterEval(
            job_id,
            run_id,
            None,
            None,
            False,
            "no baseline",
            "no finished run of a non-fine-tuned variant to compare with",
            summary,
        )
    base_results = runstore.load_results(store, baseline_id)
    diff = diff_runs(
        base_results,
        results,
        a=runstore.run_info(runstore.get_run(store, baseline_id)),
        b=runstore.run_info(runstore.get_run(store, run_id)),
    )
    st = diff.stats
    if st is None:
        verdict, words, improvement = "no significant change", "no decided case in common", False
    else:
        improvement = st.p_value < sig and st.delta > 0
        regression = st.p_value < sig and st.delta < 0
        verdict = "improvement" if improvement else "regression" if regression else "no significant change"
        words = st.words
    heldout_ids = {c.id for c in evalset.cases if c.split == "heldout"}
    heldout = None
    if heldout_ids:
        pairs = [
            (x.before == "pass", x.after == "pass")
            for x in diff.cases
            if x.case_id in heldout_ids and x.before in ("pass", "fail") and x.after in ("pass", "fail")
        ]
        if pairs:
            hs = compare_paired([p[0] for p in pairs], [p[1] for p in pairs])
            heldout = hs.to_dict()
    notes = []
    if heldout and st is not None and improvement and heldout["delta"] <= 0:
        notes.append(
            "the gain is on train cases only; on the held-out cases the adapter is not better "
            "(memorised answers, not learned behaviour)"
        )
    return AdapterEval(job_id, run_id, baseline_id, diff, improvement, verdict, words, summary, heldout, notes)


async def evaluate_job(
    project: Project,
    job_id: int,
    *,
    baseline: int | None = None,
    concurrency: int = 1,
    on_progress: Callable[[Any], Any] | None = None,
    runner_kwargs: dict[str, Any] | None = None,
) -> AdapterEval:
    """Run the job's eval set on the adapter variant, diff against the best baseline, store it."""
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.runner import EvalRunner

    store = project.store
    job = jobs.get_job(store, job_id)
    variant = adapter_variant(project, job)
    config = job.get("config") or {}
    path = config.get("evalset_path")
    if not path:
        from workbench.core.finetune.guard import resolve_evalset_path

        found = resolve_evalset_path(project)
        if found is None:
            raise WorkbenchError("no eval set to evaluate the adapter on")
        path = str(found)
    evalset = load_evalset(path)
    on_progress = jobs.mark_runs(store, {"job": job_id, "role": "adapter"}, on_progress)
    runner = EvalRunner(
        project, evalset, variant, concurrency=concurrency, on_progress=on_progress, **(runner_kwargs or {})
    )
    outcome = await runner.run()
    if outcome.status != "done":
        raise WorkbenchError(
            f"the adapter's eval run e{outcome.run_id} was {outcome.status}; "
            f"resume it with `workbench eval run --resume {outcome.run_id}`"
        )
    baseline_id = (
        baseline
        if baseline is not None
        else best_baseline(project, evalset.name, exclude=outcome.run_id, full_size=len(evalset.cases))
    )
    result = judge_diff(project, job_id, outcome.run_id, baseline_id, evalset)
    config["eval"] = result.as_dict()
    jobs.update_job(store, job_id, {"eval_run_id": outcome.run_id, "config": config})
    return result
