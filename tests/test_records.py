"""The typed records (core/records.py) say what the store really holds: each lists exactly the
columns of its table in a runs.db the app made (an eval run, an answer, a fine-tune job), and
the rows the readers return fit the declared types, None only where a column may be None.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from fixtures_evals import CAPITALS_PAIR
from fixtures_project import write_project
from test_runs_cli import wb

from workbench.core.evals import runstore
from workbench.core.finetune.jobs import create_job, get_job
from workbench.core.project import Project
from workbench.core.records import EvalResultRow, EvalRun, FinetuneJob, GenerationRow

RECORDS = {
    "generations": GenerationRow,
    "eval_runs": EvalRun,
    "eval_results": EvalResultRow,
    "finetune_jobs": FinetuneJob,
}


def misfits(row: Any, record: Any) -> list[str]:
    """The keys of `row` whose values do not fit `record`'s declared types."""
    out = []
    for key, declared in typing.get_type_hints(record).items():
        if declared is Any:
            continue
        allowed = typing.get_args(declared) if isinstance(declared, types.UnionType) else (declared,)
        if not isinstance(row[key], allowed):
            out.append(f"{key}={row[key]!r} is not {declared}")
    return out


def test_each_record_is_its_tables_columns_and_the_rows_read_back_fit_it(ollama_standin, tmp_path):
    ollama_standin.configure(reply=["Paris."])
    root = write_project(tmp_path / "p", host=ollama_standin.url, extra="evals:\n  dir: evals\n")
    (root / "evals").mkdir()
    (root / "evals" / "capitals.yaml").write_text(CAPITALS_PAIR)
    assert wb(root, "eval", "run") == 0
    assert wb(root, "ask", "Capital of France") == 0

    project = Project.open(root)
    store = project.store
    job_id = create_job(
        store, base_model="smollm2", signal="format", config={"r": 8}, guard_report={}, override_reason=None
    )
    for table, record in RECORDS.items():
        columns = {r[1] for r in store.conn.execute(f"PRAGMA table_info({table})")}
        assert record.__required_keys__ | record.__optional_keys__ == columns, table

    run = runstore.get_run(store, 1)
    assert run["status"] == "done" and isinstance(run["config"], dict)
    assert [misfits(r, EvalRun) for r in [run, *runstore.list_runs(store)]] == [[], []]
    results = store.rows("eval_results")
    assert len(results) == 2 and [misfits(r, EvalResultRow) for r in results] == [[], []]
    answers = store.rows("generations")
    assert len(answers) == 3 and all(not misfits(r, GenerationRow) for r in answers)
    cached = store.find_cached_generation(answers[0]["cache_key"])
    assert cached is not None and cached["output"] == "Paris." and not misfits(cached, GenerationRow)
    job = get_job(store, job_id)
    assert job["config"] == {"r": 8} and not misfits(job, FinetuneJob)
    project.close()
