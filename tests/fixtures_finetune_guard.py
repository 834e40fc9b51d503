"""Stored eval runs the way a new user leaves them, for the guard tests (CLI and TUI): a
`--limit` run, a cancelled run of the whole set, and real timing (latency and finish times) so
the guard's pace estimate reads what the runner would have stored. Plain helpers, no pytest
fixtures (so not in conftest's pytest_plugins).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

from fixtures_finetune import add_eval_run, variant_spec

from workbench.core.evals.evalset import load_evalset
from workbench.core.variants import variant_label


def qa(project):
    return load_evalset(project.root / "evals" / "sqlite_qa.yaml")


def set_timing(
    project,
    run_id: int,
    latency_ms: float,
    every_s: float | None = None,
    *,
    pause_after: int | None = None,
    pause_s: float = 0.0,
) -> None:
    """Give a run's cases real timing: each took `latency_ms` and one finished every `every_s`
    seconds (latency / every = the cases in flight); optionally a pause (cancel, later resume)."""
    every = latency_ms / 1000 if every_s is None else every_s
    t = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    with project.store.lock:
        ids = [
            i
            for (i,) in project.store.conn.execute(
                "SELECT id FROM eval_results WHERE run_id = ? ORDER BY id", (run_id,)
            )
        ]
        for n, rid in enumerate(ids):
            t += timedelta(seconds=every if n else latency_ms / 1000)
            if pause_after is not None and n == pause_after:
                t += timedelta(seconds=pause_s)
            project.store.conn.execute(
                "UPDATE eval_results SET latency_ms = ?, created_at = ? WHERE id = ?",
                (latency_ms, t.isoformat(timespec="milliseconds"), rid),
            )
        project.store.conn.commit()


def subset_run(project, n: int, *, name=None, spec=None, latency_ms: float = 7200.0) -> int:
    """`workbench eval run --limit n`: a finished run of the first n cases."""
    es = qa(project)
    run_id = add_eval_run(project, dataclasses.replace(es, cases=es.cases[:n]), name, spec or variant_spec(), {})
    set_timing(project, run_id, latency_ms)
    return run_id


def cancelled_run(project, done: int, *, name=None, spec=None, status="cancelled") -> int:
    """A run of the whole set stopped after `done` cases (Esc in the Evals tab)."""
    es = qa(project)
    run_id = add_eval_run(project, dataclasses.replace(es, cases=es.cases[:done]), name, spec or variant_spec(), {})
    project.store.update("eval_runs", run_id, {"status": status, "total_cases": len(es.cases)})
    set_timing(project, run_id, 7200.0)
    return run_id


def label(project, run_id: int) -> str:
    """How the CLI and TUI name a run: `e2 base (463f080a)`, `e4 k8`."""
    row = project.store.get("eval_runs", run_id)
    name = row["variant_name"]
    return f"e{run_id} {variant_label(name, row['variant_id'], hash_chars=0 if name else 8)}"
