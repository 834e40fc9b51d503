"""The eval runner against the real Ollama stand-in: scoring, storage, cache, resume, cancel."""

from __future__ import annotations

import asyncio
import json

import pytest
from fixtures_evals import CAPITALS as EVALS

from workbench.core.evals import runstore
from workbench.core.evals.evalset import load_evalset
from workbench.core.evals.runner import EvalRunner
from workbench.core.variants import resolve_variant

ANSWERS = {"France": "Paris.", "Italy": "Rome, of course.", "Japan": "Kyoto.", "Peru": "Lima"}


def answer(body):
    """The scripted model: answers by the country in the last message."""
    text = body["messages"][-1]["content"]
    if body.get("format"):  # a judge request
        return "I think this answer is fine."
    for country, reply in ANSWERS.items():
        if country in text:
            return [reply]
    return ["I don't know."]


@pytest.fixture
def setup(tmp_path, ollama_standin, project_factory):
    ollama_standin.configure(reply=answer)
    project = project_factory(host=ollama_standin.url, retries="count: 0\n  backoff_s: 0.01")
    path = tmp_path / "capitals.yaml"
    path.write_text(EVALS)
    return project, path, ollama_standin


def chats(standin):
    return len(standin.requests_to("/api/chat"))


async def test_run_scores_stores_and_summarizes(setup):
    project, path, standin = setup
    seen = []
    runner = EvalRunner(
        project,
        load_evalset(path),
        resolve_variant(project),
        concurrency=2,
        on_progress=lambda p: seen.append((p.done, p.total, p.passed, p.failed)),
    )
    out = await runner.run()
    assert out.status == "done" and chats(standin) == 4
    s = out.summary
    assert (s["passed"], s["failed"], s["total"]) == (3, 1, 4)
    assert s["pass_rate"] == 0.75 and s["ci"][0] < 0.75 < s["ci"][1]
    assert s["per_tag"] == {
        "eu": {"passed": 1, "total": 1, "rate": 1.0},
        "geo": {"passed": 3, "total": 4, "rate": 0.75},
    }
    assert s["per_assertion"]["icontains"] == {
        "type": "icontains",
        "passed": 2,
        "failed": 1,
        "errors": 0,
        "rate": 2 / 3,
    }
    assert s["failing_cases"] == {"japan": "other"} and s["cache_hits"] == 0
    assert s["latency_ms"]["p50"] > 0 and s["tokens"]["completion"] == 4
    assert seen[0] == (0, 4, 0, 0) and seen[-1] == (4, 4, 3, 1)
    # stored: the run row, one result per case, each pointing at an eval generation
    row = runstore.get_run(project.store, out.run_id)
    assert row["status"] == "done" and row["evalset_hash"] == load_evalset(path).content_hash
    assert row["summary"]["pass_rate"] == 0.75
    results = {r.case_id: r for r in runstore.load_results(project.store, out.run_id)}
    assert set(results) == {"france", "italy", "japan", "peru"}
    assert results["japan"].output == "Kyoto." and results["japan"].verdict == "fail"
    gen = project.store.get("generations", results["france"].generation_id)
    assert gen["source"] == "eval" and gen["output"] == "Paris."


async def test_unchanged_rerun_comes_from_cache_and_a_one_case_change_costs_one_call(setup):
    project, path, standin = setup
    variant = resolve_variant(project)
    first = await EvalRunner(project, load_evalset(path), variant).run()
    again = await EvalRunner(project, load_evalset(path), variant).run()
    assert chats(standin) == 4
    assert again.summary["cache_hits"] == 4 and again.summary["passed"] == first.summary["passed"]
    assert again.run_id != first.run_id
    # change one case's question: only that case calls the model
    path.write_text(EVALS.replace("Capital of Peru", "Capital city of Peru"))
    third = await EvalRunner(project, load_evalset(path), variant).run()
    assert chats(standin) == 5 and third.summary["cache_hits"] == 3
    # --no-cache calls the model for every case
    await EvalRunner(project, load_evalset(path), variant, use_cache=False).run()
    assert chats(standin) == 9


async def test_cache_key_covers_options_and_system_prompt(setup):
    project, path, standin = setup
    evalset = load_evalset(path)
    await EvalRunner(project, evalset, resolve_variant(project)).run()
    assert chats(standin) == 4
    await EvalRunner(project, evalset, resolve_variant(project, options={"temperature": 0.7})).run()
    assert chats(standin) == 8  # different options: nothing reused
    await EvalRunner(project, evalset, resolve_variant(project, system="Be brief.")).run()
    assert chats(standin) == 12  # different messages: nothing reused
    out = await EvalRunner(project, evalset, resolve_variant(project, options={"temperature": 0.7})).run()
    assert chats(standin) == 12 and out.summary["cache_hits"] == 4


async def test_errors_are_never_cached_and_attributed_to_infra(setup):
    project, path, standin = setup
    standin.configure(fail_status=500)
    out = await EvalRunner(project, load_evalset(path), resolve_variant(project)).run()
    assert out.summary["failures"]["infra"] == 4
    assert out.summary["advice"].startswith("All 4 failures are infrastructure")
    r = out.results[0]
    assert r.status == "error" and r.assertions[0].passed is False
    standin.configure(fail_status=None)
    out = await EvalRunner(project, load_evalset(path), resolve_variant(project)).run()
    assert out.summary["cache_hits"] == 0 and out.summary["passed"] == 3


async def test_cancel_keeps_finished_cases_and_resume_does_only_the_rest(setup):
    project, path, standin = setup
    evalset, variant = load_evalset(path), resolve_variant(project)

    def stop_after_two(p):
        if p.done == 2:
            runner.cancel()

    runner = EvalRunner(project, evalset, variant, concurrency=1, on_progress=stop_after_two)
    out = await runner.run()
    assert out.status == "cancelled" and len(out.results) == 2
    assert runstore.get_run(project.store, out.run_id)["status"] == "cancelled"
    asked_before = chats(standin)
    resumed = await EvalRunner(project, evalset, variant, use_cache=False).run(resume=out.run_id)
    assert resumed.run_id == out.run_id and resumed.status == "done"
    assert chats(standin) - asked_before == 2  # only the two unfinished cases
    ids = [r.case_id for r in resumed.results]
    assert sorted(ids) == ["france", "italy", "japan", "peru"] and len(ids) == 4  # no duplicates
    assert resumed.summary["passed"] == 3


async def test_resume_refuses_a_changed_eval_set_or_variant(setup):
    from workbench.core.errors import WorkbenchError

    project, path, standin = setup
    evalset, variant = load_evalset(path), resolve_variant(project)
    runner = EvalRunner(
        project, evalset, variant, concurrency=1, on_progress=lambda p: runner.cancel() if p.done == 1 else None
    )
    out = await runner.run()
    path.write_text(EVALS + "  - id: extra\n    inputs: {question: Capital of Chile}\n")
    with pytest.raises(WorkbenchError, match="eval set changed since e"):
        await EvalRunner(project, load_evalset(path), variant).run(resume=out.run_id)
    path.write_text(EVALS)
    with pytest.raises(WorkbenchError, match="but the settings now give"):
        await EvalRunner(project, evalset, resolve_variant(project, system="x")).run(resume=out.run_id)


async def test_repeats_bypass_the_cache_and_flaky_cases_are_named(setup):
    project, path, standin = setup
    calls = {"n": 0}

    def wobbly(body):
        if "Peru" in body["messages"][-1]["content"]:
            calls["n"] += 1
            return ["Lima"] if calls["n"] % 2 else ["Cusco"]
        return answer(body)

    standin.configure(reply=wobbly)
    out = await EvalRunner(project, load_evalset(path), resolve_variant(project), repeat=3, concurrency=1).run()
    assert chats(standin) == 12 and len(out.results) == 12
    assert out.summary["flaky"] == ["peru"]
    assert out.summary["cases"] == 4 and out.summary["results"] == 12


async def test_unreadable_judge_replies_are_judge_errors_not_failures(tmp_path, setup):
    project, _, standin = setup
    path = tmp_path / "judged.yaml"
    path.write_text(
        "cases:\n  - id: fr\n    inputs: {question: Capital of France}\n    assert:\n"
        "      - {type: llm-judge, rubric: Names Paris., model: 'ollama:llama3.2'}\n"
        "  - id: pe\n    inputs: {question: Capital of Peru}\n    assert:\n"
        "      - {type: contains, value: Lima}\n"
    )
    out = await EvalRunner(project, load_evalset(path), resolve_variant(project)).run()
    s = out.summary
    assert (s["passed"], s["failed"], s["judge_errors"]) == (1, 0, 1)
    assert s["pass_rate"] == 1.0 and s["failures"]["judge-error"] == 1
    judged = next(r for r in out.results if r.case_id == "fr")
    a = judged.assertions[0]
    assert a.passed is None and a.error_kind == "judge-error" and a.raw == "I think this answer is fine."
    judge_req = [r for r in standin.requests_to("/api/chat") if r.body.get("format")][0]
    assert judge_req.body["format"]["required"] == ["reason", "pass"]
    # a judge that answers in JSON grades normally
    standin.configure(reply=lambda b: '{"reason": "names Paris", "pass": true}' if b.get("format") else answer(b))
    out = await EvalRunner(project, load_evalset(path), resolve_variant(project)).run()
    assert out.summary["passed"] == 2 and out.summary["judge_errors"] == 0


async def test_stored_results_round_trip(setup):
    project, path, standin = setup
    out = await EvalRunner(project, load_evalset(path), resolve_variant(project)).run()
    rows = project.store.rows("eval_results", "run_id = ?", [out.run_id])
    assert len(rows) == 4 and all(json.loads(r["assertions"]) for r in rows)
    japan = next(r for r in rows if r["case_id"] == "japan")
    assert japan["passed"] == 0 and japan["failure_kind"] == "other" and japan["judge_error"] == 0
    assert runstore.resolve_run_ref(project.store, "last") == out.run_id
    assert runstore.resolve_run_ref(project.store, f"e{out.run_id}") == out.run_id


@pytest.mark.slow
async def test_grounded_run_attributes_retrieval_misses_with_a_real_index(tmp_path, ollama_standin, project_factory):
    """Real retrieval (bundled embedding model, LanceDB) feeding attribution and retrieval metrics."""
    import asyncio

    from workbench.core.retrieval.service import ingest_project

    project = project_factory(
        host=ollama_standin.url,
        retries="count: 0\n  backoff_s: 0.01",
        extra="retrieval:\n  corpus: [docs]\n  k: 1\n  mode: dense\n",
    )
    docs = project.root / "docs"
    docs.mkdir()
    (docs / "autoinc.md").write_text(
        "# AUTOINCREMENT\n\nThe AUTOINCREMENT keyword prevents the reuse of ROWIDs from previously deleted rows.\n"
    )
    (docs / "wal.md").write_text(
        "# Write-ahead log\n\nPRAGMA journal_mode=WAL enables write-ahead logging, so readers do not block writers.\n"
    )
    (project.root / "prompts" / "grounded.yaml").write_text(
        'template: "Sources:\\n{context}\\n\\nQuestion: {question}"\n'
    )
    await asyncio.to_thread(ingest_project, project, project.config.retrieval)
    # The model repeats nothing useful: every content check fails, so attribution decides the kind.
    ollama_standin.configure(reply=["I", " am", " not", " sure", "."])
    path = tmp_path / "g.yaml"
    path.write_text("""\
cases:
  - id: found
    inputs: {question: 'How do I stop SQLite from reusing ROWIDs of deleted rows?'}
    relevant: [autoinc.md]
    assert:
      - {type: icontains, value: autoincrement}
  - id: missed
    inputs: {question: 'How do I stop SQLite from reusing ROWIDs of deleted rows?'}
    relevant: [wal.md]
    assert:
      - {type: icontains, value: wal}
""")
    out = await EvalRunner(project, load_evalset(path), resolve_variant(project, prompt="grounded")).run()
    kinds = {r.case_id: r.failure_kind for r in out.results}
    assert kinds == {"found": "context-ignored", "missed": "retrieval-miss"}
    s = out.summary
    assert s["retrieval"]["hit_rate"] == 0.5 and s["retrieval"]["misses"] == ["missed"]
    assert s["advice"].startswith("1 of 2 failures")
    found = next(r for r in out.results if r.case_id == "found")
    assert found.gold_rank == 1 and found.chunks[0][1] == "autoinc.md"
    sent = ollama_standin.requests_to("/api/chat")[0].body["messages"][-1]["content"]
    assert "[1] autoinc.md" in sent


async def test_an_ungrounded_variant_is_not_told_to_build_the_index(tmp_path, ollama_standin, project_factory):
    """Cases name gold documents, but the variant's prompt has no {context}: it skips retrieval
    on purpose, so the advice points at a grounded variant, not at a missing index."""
    project = project_factory(host=ollama_standin.url, retries="count: 0\n  backoff_s: 0.01")
    ollama_standin.configure(reply=["I", " am", " not", " sure", "."])
    path = tmp_path / "u.yaml"
    path.write_text("""\
cases:
  - id: one
    inputs: {question: 'How do I stop SQLite from reusing ROWIDs?'}
    relevant: [autoinc.md]
    assert:
      - {type: icontains, value: autoincrement}
""")
    variant = resolve_variant(project)
    assert not variant.prompt.grounded
    out = await EvalRunner(project, load_evalset(path), variant).run()
    assert out.results[0].failure_kind == "other"
    advice = out.summary["advice"]
    assert advice.startswith("The one failure has gold documents, but this variant's prompt has no {context}"), advice
    assert "build the index" not in advice


async def test_cases_still_waiting_when_an_eval_is_cancelled_name_no_model(setup):
    project, path, standin = setup
    standin.configure(first_byte_delay_s=30)  # every case waits for its first byte
    runner = EvalRunner(project, load_evalset(path), resolve_variant(project), concurrency=2)
    task = asyncio.ensure_future(runner.run())
    for _ in range(200):
        if chats(standin) >= 2:
            break
        await asyncio.sleep(0.05)
    runner.cancel()
    out = await task
    assert out.status == "cancelled"
    with project.store.lock:
        rows = project.store.conn.execute(
            "SELECT status, model_requested, model_used, error FROM generations"
        ).fetchall()
    assert rows and all(r[0] == "interrupted" and r[1] is None and r[2] is None for r in rows)
    assert all(r[3].startswith("not started: the eval was cancelled before ollama:llama3.2") for r in rows)
