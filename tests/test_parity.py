"""One fact, one wording: each present/ domain's record rendered the CLI's way and the TUI's way
carries the same numbers (pass rate and CI, how much of a set a run covers, a job's steps, loss
and dropped export, a host's state). Records live in a real runs.db; the TUI side is the cells
its tabs put in their tables, without starting the app."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from workbench.core.evals import runstore
from workbench.core.finetune import jobs
from workbench.core.llm.hosts import HostStat
from workbench.core.runlog import list_runs
from workbench.core.store import Store


def rendered(renderable: object, width: int = 200) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, highlight=False, color_system=None).print(renderable)
    return buf.getvalue()


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs.db") as s:
        s.insert(
            "eval_runs",
            {
                "created_at": "2099-01-01T00:00:02",
                "evalset_name": "sqlite_qa",
                "status": "cancelled",
                "variant_name": "k8",
                "total_cases": 8,
                "repeat": 1,
                "config": json.dumps({"selection": {"how": "--limit 8", "of": 93}}),
                "summary": json.dumps({"pass_rate": 0.625, "ci": [0.31, 0.86], "missing": 3, "cases": 5}),
            },
        )
        s.insert(
            "finetune_jobs",
            {
                "created_at": "2099-01-01T00:00:03",
                "status": "done",
                "base_model": "embedded",
                "override_reason": "demo",
                "loss_curve": json.dumps([{"step": 1, "loss": 5.0}, {"step": 6, "loss": 1.25}]),
                "config": json.dumps({"total_steps": 6}),
                "export": json.dumps(
                    [
                        {
                            "name": "quack",
                            "created": True,
                            "eval": {"drop": True, "pass_rate": 0.0, "adapter_pass_rate": 1.0},
                        }
                    ]
                ),
            },
        )
        s.insert(
            "retrieval_evals",
            {
                "created_at": "2099-01-01T00:00:04",
                "evalset": "tiny",
                "settings": json.dumps({"k": 5, "embedding_model": "bge-small"}),
                "metrics": json.dumps(
                    {"hybrid": {"ndcg@10": 0.8, "recall@k": 0.83}, "dense": {"ndcg@10": 0.71, "recall@k": 0.8}}
                ),
                "cases": json.dumps([{}, {}, {}]),
            },
        )
        yield s


def test_runs_listing_reads_the_same_in_the_cli_table_and_the_runs_tab(store):
    from workbench.present.runs import listing_row, runs_table
    from workbench.tui.tabs.runs import COLUMNS, _cell

    rows = [listing_row(r) for r in list_runs(store)]
    cli = rendered(runs_table(rows, 400), width=400)
    tui = {row["id"]: " | ".join(_cell(key, row.get(key)).plain for _, key, _ in COLUMNS) for row in rows}
    facts = {
        "e1": ["62% pass", "(5/8 of a subset of 93 cases)"],
        "f1": ["step 6/6", "loss 5.000 -> 1.250", "OVERRIDE: demo", "DROP 0% vs the adapter's 100%"],
        "re1": ["hybrid nDCG .80 recall@5 .83", "dense .71/.80", "3 cases"],
    }
    for run_id, words in facts.items():
        for fact in words:
            assert fact in cli, (run_id, fact)
            assert fact in tui[run_id], (run_id, fact)


def test_an_eval_run_reads_the_same_in_eval_runs_and_the_evals_tab(store):
    from workbench.present.evals import runs_table
    from workbench.tui.widgets.text import run_cells

    row = runstore.list_runs(store)[0]
    cli = rendered(runs_table([row], 200))
    tui = " | ".join(c.plain for c in run_cells(row))
    # The same numbers; the notation follows the column (CLI: its own CI column, `31%–86%`;
    # the tab's one narrow cell: `62% [31–86]`), both from present/numbers.py.
    assert "62%" in cli and "31%–86%" in cli and "62% [31–86]" in tui
    assert "k8" in cli and "k8" in tui
    assert "5/93" in cli and "5/8 of a subset of 93" in tui  # cases that ran, of the 93 in the file


def test_a_job_reads_the_same_in_finetune_jobs_and_the_jobs_table(store):
    from workbench.present.finetune import job_list_lines
    from workbench.tui.widgets.text import job_cells

    job = jobs.get_job(store, 1)
    cli = "\n".join(job_list_lines([job]))
    tui = " | ".join(c.plain for c in job_cells(job))
    assert "step 6/6" in cli and "6/6" in tui
    assert "1.250" in cli and "1.250" in tui  # the last loss, at one precision
    assert "DROP" in cli and "DROP quack" in tui  # a dropped export never reads as a good one
    assert "OVERRIDE: demo" in cli and "⚑" in tui


def test_a_host_reads_the_same_in_the_cli_progress_and_the_evals_tab():
    from workbench.present.progress import host_brief, host_line

    host = HostStat("http://gpu1:11434/v1", "down", 0, 4, 12, 3, 900, 40.6)
    cli, tui = host_brief(host), host_line(host)
    assert cli == "gpu1:11434 down 41 tok/s" and tui.startswith("gpu1:11434 down ")
    assert tui.endswith("40.6 tok/s")
