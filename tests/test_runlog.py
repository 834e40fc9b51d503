"""One list of every kind of run, as `workbench runs` and the Runs tab show it."""

from __future__ import annotations

import json

from workbench.core.runlog import list_runs, load_run, parse_run_id
from workbench.core.store import Store
from workbench.present.runs import listing_row


def test_every_kind_listed_newest_first_with_its_id_prefix(tmp_path):
    with Store(tmp_path / "runs.db") as store:
        gen = store.start_generation(
            {"source": "cli", "inputs": {"question": "What is WAL?"}, "model_requested": "embedded"}
        )
        store.update_generation(
            gen,
            {"status": "ok", "model_used": "embedded", "prompt_tokens": 12, "completion_tokens": 30, "total_ms": 1500},
        )
        store.insert(
            "retrievals",
            {
                "created_at": "2099-01-01T00:00:01",
                "query": "partial index",
                "mode": "hybrid",
                "k": 5,
                "latency_ms": 12.0,
            },
        )
        store.insert(
            "eval_runs",
            {
                "created_at": "2099-01-01T00:00:02",
                "evalset_name": "sqlite_qa",
                "status": "done",
                "variant_name": "k8",
                "summary": json.dumps({"pass_rate": 0.625}),
            },
        )
        store.insert(
            "finetune_jobs",
            {
                "created_at": "2099-01-01T00:00:03",
                "status": "done",
                "base_model": "embedded",
                "signal": "format",
                "override_reason": "demo",
                "loss_curve": json.dumps([{"step": 1, "loss": 5.0}, {"step": 6, "loss": 1.25}]),
                "config": json.dumps({"total_steps": 6}),
            },
        )
        rows = list_runs(store)
        assert [r["id"] for r in rows] == ["f1", "e1", "r1", str(gen)]
        by_id = {r["id"]: listing_row(r) for r in rows}  # the words both front ends show
        assert by_id["e1"]["summary"] == "sqlite_qa: 62% pass" and by_id["e1"]["model"] == "k8"
        assert "loss 5.000 -> 1.250" in by_id["f1"]["summary"] and "OVERRIDE: demo" in by_id["f1"]["summary"]
        assert by_id["r1"]["summary"] == "partial index" and rows[2]["latency_ms"] == 12.0
        assert rows[3]["prompt_tokens"] == 12 and by_id[str(gen)]["summary"] == "What is WAL?"
        listed = {r["id"]: listing_row(r) for r in rows}  # the cells both front ends show
        assert listed["r1"]["time"] == "12ms" and listed[str(gen)]["time"] == "1.5s"
        assert listed[str(gen)]["tokens"] == "12+30" and listed["e1"]["tokens"] == listed["e1"]["time"] == ""
        assert [r["id"] for r in list_runs(store, kind="eval")] == ["e1"]
        assert [r["id"] for r in list_runs(store, search="wal")] == [str(gen)]
        kind, row = load_run(store, "f1")
        assert kind == "finetune" and row["loss_curve"][-1]["loss"] == 1.25
        assert load_run(store, "x9") == ("generation", None)
    assert parse_run_id("r3") == ("retrieval", 3) and parse_run_id("12") == ("generation", 12)


def test_an_eval_run_that_stopped_early_says_how_much_of_the_set_it_covers():
    from workbench.present.evals import eval_coverage

    assert eval_coverage({"total_cases": 84, "repeat": 1}, {"missing": 79}) == "5/84"
    assert eval_coverage({"total_cases": 10, "repeat": 2}, {"missing": 5}) == "15/20"
    assert eval_coverage({"total_cases": 84}, {"missing": 0}) is None  # complete
    assert eval_coverage({"total_cases": 84}, None) is None  # still running: no summary yet
