"""`finetune eval`: the adapter is only called an improvement when the paired statistics say so,
and the held-out cases are judged on their own."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil

import pytest
from fixtures_finetune import add_eval_run, variant_spec

from workbench.cli import main
from workbench.core.evals import runstore
from workbench.core.evals.evalset import load_evalset
from workbench.core.finetune import jobs
from workbench.core.finetune.evaluate import best_baseline, judge_diff


def qa(project):
    return load_evalset(project.root / "evals" / "sqlite_qa.yaml")


def fails(cases, n, *, split=None):
    chosen = [c.id for c in cases if split is None or (c.split == "heldout") == (split == "heldout")][:n]
    return {cid: ("fail", "context-ignored") for cid in chosen}


def setup_runs(project):
    es = qa(project)
    base = add_eval_run(project, es, None, variant_spec(), fails(es.cases, 30))
    best = add_eval_run(project, es, "k8", variant_spec(k=8), fails(es.cases, 20))
    return es, base, best


def job_for(project):
    return jobs.create_job(
        project.store, base_model="embedded", signal="format", config={}, guard_report={}, override_reason=None
    )


def test_real_improvement_is_called_one(sample_project):
    project = sample_project
    es, _, best = setup_runs(project)
    adapter = add_eval_run(
        project, es, None, variant_spec(k=8, model="embedded", adapter="/x/adapter"), fails(es.cases, 6)
    )
    assert best_baseline(project, es.name, exclude=adapter) == best  # adapter runs are never the baseline
    result = judge_diff(project, job_for(project), adapter, best, es)
    assert result.improvement and result.verdict == "improvement"
    st = result.diff.stats
    assert (st.fixes, st.regressions) == (14, 0) and st.p_value < 0.001
    assert result.words.startswith("+14 cases, p<0.001: a real improvement")


def test_a_small_gain_is_not_called_an_improvement(sample_project):
    project = sample_project
    es, _, best = setup_runs(project)
    adapter = add_eval_run(
        project, es, None, variant_spec(k=8, model="embedded", adapter="/x/adapter"), fails(es.cases, 17)
    )
    result = judge_diff(project, job_for(project), adapter, best, es)
    assert not result.improvement and result.verdict == "no significant change"
    assert "could be noise" in result.words


def test_gain_only_on_train_cases_is_called_out(sample_project):
    project = sample_project
    es = qa(project)
    heldout = [c.id for c in es.cases if c.split == "heldout"][:4]
    before = {**fails(es.cases, 16, split="train"), **{cid: ("fail", "context-ignored") for cid in heldout}}
    best = add_eval_run(project, es, "k8", variant_spec(k=8), before)
    after = {cid: ("fail", "context-ignored") for cid in heldout}
    adapter = add_eval_run(project, es, None, variant_spec(k=8, model="embedded", adapter="/x/a"), after)
    result = judge_diff(project, job_for(project), adapter, best, es)
    assert result.improvement  # 16 train cases fixed
    assert result.heldout["n"] == sum(1 for c in es.cases if c.split == "heldout")
    assert result.heldout["fixes"] == 0 and result.heldout["delta"] == 0
    assert any("train cases only" in n for n in result.notes)


@pytest.mark.skipif(
    importlib.util.find_spec("workbench.core.llm.embedded") is None, reason="the embedded provider has not landed yet"
)
def test_finetune_eval_end_to_end_on_the_embedded_model(project_factory, tiny_adapter, capsys):
    project = project_factory(model="llama3.2", fallback=[], extra="evals:\n  default_set: q.yaml\n")
    (project.root / "evals").mkdir()
    (project.root / "evals" / "q.yaml").write_text(
        "name: q\ncases:\n"
        '  - id: sky\n    inputs: {question: "Colour of the sky, one word?"}\n    expected: Blue.\n'
        "    assert: [{type: icontains, value: blue}]\n"
        '  - id: snow\n    inputs: {question: "Colour of snow, one word?"}\n    split: heldout\n'
        "    expected: White.\n    assert: [{type: icontains, value: white}]\n"
    )
    es = load_evalset(project.root / "evals" / "q.yaml")
    baseline = add_eval_run(
        project, es, "embedded", variant_spec("plain", model="embedded"), {"sky": ("fail", "format")}, retrieve=False
    )
    # `eval run --limit 1` of another variant, at 100%: not a baseline for a run of every case.
    subset = add_eval_run(
        project,
        dataclasses.replace(es, cases=es.cases[:1]),
        None,
        variant_spec("plain", model="embedded", system="Terse."),
        {},
        retrieve=False,
    )
    project.store.update(
        "eval_runs",
        subset,
        {
            "config": {
                "variant": variant_spec("plain", model="embedded", system="Terse."),
                "selection": {"how": "--limit 1", "of": 2, "cases": ["sky"]},
            }
        },
    )
    job_id = job_for(project)
    folder = jobs.job_dir(project, job_id) / "adapter"
    shutil.copytree(tiny_adapter, folder)
    jobs.update_job(
        project.store,
        job_id,
        {
            "status": "done",
            "adapter_path": str(folder),
            "config": {
                "base": {"spec": "embedded", "model_type": "llama"},
                "evalset_path": str(es.path),
                "variant": None,
            },
        },
    )
    code = main(["--project", str(project.root), "finetune", "eval", str(job_id)])
    out = capsys.readouterr().out
    job = jobs.get_job(project.store, job_id)
    assert job["eval_run_id"] and job["config"]["eval"]["baseline_run_id"] == baseline
    # The adapter's run is marked as the job's (never evidence for the guard).
    assert runstore.get_run(project.store, job["eval_run_id"])["config"]["finetune"] == {
        "job": job_id,
        "role": "adapter",
    }
    assert code == 1
    assert "verdict: not an improvement" in out or "verdict: a regression" in out


def test_an_unfinished_job_gets_a_next_step_that_works(sample_project, capsys):
    """A job that failed before its first checkpoint cannot be resumed (`train --resume` would
    refuse): `finetune eval` says why it failed and to start a new job; a cancelled job is
    told to resume."""
    project = sample_project
    failed = job_for(project)
    jobs.update_job(project.store, failed, {"status": "failed", "error": "no training examples"})
    assert main(["--project", str(project.root), "finetune", "eval", str(failed)]) == 2
    err = capsys.readouterr().err
    assert f"job f{failed} failed (no training examples): fix the cause and start a new job" in err
    assert "--resume" not in err

    cancelled = job_for(project)
    jobs.update_job(project.store, cancelled, {"status": "cancelled"})
    assert main(["--project", str(project.root), "finetune", "eval", str(cancelled)]) == 2
    assert f"`workbench finetune train --resume {cancelled}`" in capsys.readouterr().err
