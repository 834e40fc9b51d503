"""The fine-tune guard on the sample project: refuses without evidence and says what to do first;
passes once the stored runs show a plateau, healthy retrieval and the named signal."""

from __future__ import annotations

import json

import pytest
from fixtures_finetune import add_eval_run, build_plateau, failing, variant_spec

from workbench.cli import main
from workbench.core.evals.evalset import load_evalset
from workbench.core.finetune import guard
from workbench.present.finetune_guard import worded


def check(project, signal=None, **kwargs):
    """The guard's report with its words, as `finetune check` prints it."""
    return worded(guard.check(project, signal, **kwargs))


def qa(project):
    return load_evalset(project.root / "evals" / "sqlite_qa.yaml")


def test_fresh_sample_project_is_refused_with_what_to_do_first(sample_project, capsys):
    project = sample_project
    es = qa(project)
    kinds = ["retrieval-miss"] * 7 + ["context-ignored"] * 3
    add_eval_run(project, es, None, variant_spec(), failing(es.cases, kinds))
    add_eval_run(project, es, "k8", variant_spec(k=8), failing(es.cases, kinds))

    report = check(project, "format")
    assert not report.passed
    assert report.advice.startswith("Not yet: 7 of 10 failures are retrieval misses: fix retrieval")
    retrieval = report.rule("retrieval")
    assert not retrieval.passed and retrieval.evidence["miss_share"] == pytest.approx(0.7)
    variants = report.rule("variants")
    assert not variants.passed and variants.evidence["distinct_prompt_retrieval"] == 2
    assert "1 more variant" in variants.next_step
    assert report.rule("eval set").passed  # 83 cases, 17 held out

    code = main(["--project", str(project.root), "finetune", "check", "--signal", "format"])
    out = capsys.readouterr().out
    assert code == 1
    # The plateau blocks too, so the check leads with what the set can resolve (nothing flipped
    # between e1 and e2: Agresti-Min's halves still leave a resolution of 3 points on 83 cases)
    assert out.splitlines()[0] == (
        "Resolution: the set resolves ±3 points (0 of 83 cases flipped; a smaller change usually passes as noise)"
    )
    assert out.splitlines()[1].startswith("Not yet: 7 of 10 failures are retrieval misses")
    assert "[FAIL] variants: 2 distinct prompt/retrieval variant(s)" in out


def test_no_runs_at_all_says_run_the_eval_set(sample_project):
    report = check(sample_project)
    assert not report.passed
    assert "workbench eval run" in report.advice
    assert report.rule("signal").next_step.startswith("name why a fine-tune is needed")


def test_passes_once_the_evidence_exists(sample_project, capsys):
    project = sample_project
    build_plateau(project)
    report = check(project, "format")
    failed = {r.name: r.summary for r in report.rules if not r.passed and r.severity == "required"}
    assert report.passed, failed
    plateau = report.rule("plateau")
    assert plateau.evidence["best_pass_rate"] == pytest.approx(71 / 83)
    assert [h["real"] for h in plateau.evidence["history"]] == [True, False, False]
    # A ceiling shown by the bounds, with the set's resolution (83 cases, 1 flipped per variant)
    assert plateau.evidence["verdict"] == "ceiling"
    assert (
        "gain less than 5 points on the best (95% upper bounds): e3 terse vs e2 -1.2 points (at most "
        "+1.6), e4 cite-first vs e2 +1.2 points (at most +3.9)"
    ) in plateau.summary
    assert "the set resolves ±4 points (1 of 83 cases flipped" in plateau.summary
    assert report.resolution.startswith("the set resolves ±4 points")
    assert report.rule("signal").evidence["format_persistent"] == sorted(c.id for c in qa(project).cases[:3])
    retrieval = report.rule("retrieval")
    assert retrieval.evidence["retrieval_misses"] == 1 and retrieval.evidence["recall_at_k"] > 0.9
    # The sample's targets are facts from the docs: warned, never blocking.
    knowledge = report.rule("knowledge")
    assert knowledge.severity == "warning" and not knowledge.passed
    assert "facts belong in retrieval" in knowledge.summary

    code = main(["--project", str(project.root), "finetune", "check", "--signal", "format", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["passed"] is True and data["signal"] == "format"


def test_signal_must_be_named_and_shown_by_the_runs(sample_project):
    project = sample_project
    build_plateau(project)
    assert not check(project).passed  # no signal named
    assert "--signal format | capability | prompt-cost" in check(project).rule("signal").next_step
    capability = check(project, "capability")
    assert capability.rule("signal").passed  # 8 context-ignored cases fail in every variant
    cost = check(project, "prompt-cost").rule("signal")
    assert cost.passed and cost.evidence["prompt_cost"]["prompt_share"] == pytest.approx(600 / 660)


def test_a_variant_that_still_moves_the_bar_is_not_a_plateau(sample_project):
    project = sample_project
    build_plateau(project, last_jump=True)
    report = check(project, "format")
    plateau = report.rule("plateau")
    assert not plateau.passed and plateau.evidence["verdict"] == "still improving"
    assert "e5 v5 still moved the bar: +10.8 points on e4 (at least +4.8, 95% lower bound)" in plateau.summary
    assert "the set resolves ±" in plateau.summary
    assert report.advice.startswith("Not yet: prompting and retrieval are still improving the score")


def test_train_refuses_without_evidence_or_override(sample_project, capsys):
    code = main(["--project", str(sample_project.root), "finetune", "train", "--signal", "format"])
    err = capsys.readouterr().err
    assert code == 1
    assert "refused" in err and "--override" in err
    assert sample_project.store.rows("finetune_jobs") == []


def test_low_recall_in_a_retrieval_eval_blocks(sample_project):
    project = sample_project
    build_plateau(project)
    project.store.insert(
        "retrieval_evals",
        {
            "created_at": "2026-11-25T10:00:00",
            "evalset": "sqlite-docs-qa",
            "evalset_hash": "x",
            "settings": {"k": 4, "modes": ["hybrid", "dense"]},
            "index_version": "3",
            "metrics": {"dense": {"recall@k": 0.95}, "hybrid": {"recall@k": 0.62, "hit@k": 0.7}},
            "cases": [],
        },
    )
    report = check(project, "format")
    rule = report.rule("retrieval")
    assert not rule.passed and rule.evidence["recall_at_k"] == 0.62
    assert "recall@4 62% in retrieval eval re1 (hybrid)" in rule.summary
    assert report.advice.startswith("Not yet: recall@4 is 62%: the answer is often not in the context")


def test_runs_of_a_subset_are_not_evidence(sample_project):
    """`eval run --limit 5` is a quick check, not a measured ceiling: the plateau rule skips it."""
    import dataclasses

    project = sample_project
    build_plateau(project)
    full = check(project, "format").rule("plateau").evidence["best_pass_rate"]
    subset = dataclasses.replace(qa(project), cases=qa(project).cases[:5])
    add_eval_run(project, subset, "quick", variant_spec(system="Be quick."), {})
    report = check(project, "format")
    assert report.rule("plateau").evidence["best_pass_rate"] == pytest.approx(full)  # not 100%
    assert "quick" not in json.dumps(report.rule("plateau").evidence["history"])


@pytest.mark.parametrize("key, value", [("min_recall", 90), ("max_retrieval_miss_share", 20)])
def test_a_share_written_as_a_percentage_is_a_config_error_with_its_line(tmp_path, capsys, key, value):
    """`min_recall: 90` would make the rule impossible to pass (recall is at most 1): refused
    at load, pointing at the line, instead of a guard that can never open."""
    from fixtures_project import write_project

    root = write_project(tmp_path / "p", extra=f"finetune:\n  min_cases: 30\n  {key}: {value}\n")
    line = root.joinpath("workbench.yaml").read_text().splitlines().index(f"  {key}: {value}") + 1
    code = main(["--project", str(root), "finetune", "check"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"workbench.yaml:{line}" in err
    assert f"finetune.{key} must be at most 1, got {value}" in err


def test_checking_another_set_names_it_in_every_next_step(sample_project, capsys):
    """`check --evalset format` is about the format set: `workbench eval run` alone would run the
    default set (sqlite_qa), so every command it suggests names the set."""
    code = main(["--project", str(sample_project.root), "finetune", "check", "--evalset", "format"])
    out = capsys.readouterr().out
    assert code == 1
    steps = [line for line in out.splitlines() if "workbench eval run" in line]
    assert steps and all("workbench eval run format" in line for line in steps), steps
    assert "`workbench eval run format --variant NAME`" in out


def test_a_base_that_leads_nowhere_is_refused_before_training(tmp_path, capsys):
    """A local qwen2 folder: the workbench runs adapters only on the embedded model and Ollama
    converts adapters only for llama/gemma2 bases, so a job on it could never be evaluated.
    `check` says so first, and `train` refuses (even with --override) before any job or work,
    pointing at the setting. A local llama folder is fine (export, then eval the Ollama model)."""
    from fixtures_project import write_project

    (tmp_path / "qwen").mkdir()
    (tmp_path / "qwen" / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    root = write_project(tmp_path / "p", extra=f"finetune:\n  min_cases: 1\n  base_model: {tmp_path / 'qwen'}\n")
    line = root.joinpath("workbench.yaml").read_text().splitlines().index(f"  base_model: {tmp_path / 'qwen'}") + 1

    assert main(["--project", str(root), "finetune", "check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Not yet: ") and f"workbench.yaml:{line}: finetune.base_model" in out.splitlines()[0]
    assert f"[FAIL] base model: finetune.base_model {tmp_path / 'qwen'} is a 'qwen2' model" in out

    code = main(["--project", str(root), "finetune", "train", "--override", "try it"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"workbench.yaml:{line}: finetune.base_model {tmp_path / 'qwen'} is a 'qwen2' model" in err
    assert "could not be evaluated here" in err and "base_model: embedded" in err
    from workbench.core.project import Project

    project = Project.open(root)
    assert project.store.rows("finetune_jobs") == []  # nothing was started
    project.close()

    (tmp_path / "qwen" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    main(["--project", str(root), "finetune", "check"])
    assert "base model" not in capsys.readouterr().out
