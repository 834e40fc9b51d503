"""Eval runs in the project store: `eval_runs` (one row per run) and `eval_results` (one row per
finished case and repeat), through the lead's `Store` helpers.

A result row is written the moment its case finishes and never rewritten, so the set of rows
*is* the resume state: a killed run resumes by skipping exactly those (case, repeat) pairs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from workbench.core.errors import WorkbenchError
from workbench.core.evals.diff import RunInfo, case_fingerprints, run_identity
from workbench.core.evals.results import CaseResult
from workbench.core.records import EvalRun
from workbench.core.run_ids import parse_kind_id
from workbench.core.store import RUNNING, as_dict, decode, now_iso

if TYPE_CHECKING:
    from workbench.core.store import Store


def create_run(
    store: Store, *, evalset: Any, variant_id: str, variant_name: str | None, repeat: int, config: dict[str, Any]
) -> int:
    return store.insert(
        "eval_runs",
        {
            "created_at": now_iso(),
            "evalset_name": evalset.name,
            "evalset_path": str(evalset.path),
            "evalset_hash": evalset.content_hash,
            "variant_id": variant_id,
            "variant_name": variant_name,
            "status": RUNNING,
            "repeat": repeat,
            "total_cases": len(evalset.cases),
            # Per-case fingerprints: a later diff or the guard tells a set that only gained cases (a
            # promote) from one whose cases changed (diff.case_fingerprints).
            "config": {**config, "case_hashes": case_fingerprints(evalset)},
            "pid": os.getpid(),
        },
    )


def get_run(store: Store, run_id: int) -> EvalRun:
    row = decode(store.get("eval_runs", run_id), "config", "summary")
    if row is None:
        raise WorkbenchError(f"no eval run {run_id} (see `workbench eval runs`)")
    return cast(EvalRun, row)


def mark_running(store: Store, run_id: int) -> None:
    store.update("eval_runs", run_id, {"status": RUNNING, "pid": os.getpid(), "finished_at": None})


def finish_run(store: Store, run_id: int, status: str, summary: dict[str, Any]) -> None:
    store.update("eval_runs", run_id, {"status": status, "finished_at": now_iso(), "summary": summary})


def finished_keys(store: Store, run_id: int) -> set[tuple[str, int]]:
    with store.lock:
        rows = store.conn.execute(
            "SELECT case_id, repeat_index FROM eval_results WHERE run_id = ?", (run_id,)
        ).fetchall()
    return {(c, r) for c, r in rows}


def write_result(store: Store, run_id: int, result: CaseResult) -> int:
    return store.insert("eval_results", {**result.to_row(), "run_id": run_id, "created_at": now_iso()})


def load_results(store: Store, run_id: int) -> list[CaseResult]:
    """A run's results joined with their generations (output, tokens, cost, status)."""
    with store.lock:
        cur = store.conn.execute(
            "SELECT r.*, g.output AS g_output, g.status AS g_status, g.error AS g_error, "
            "g.prompt_tokens AS g_prompt_tokens, g.completion_tokens AS g_completion_tokens, "
            "g.cost AS g_cost, g.total_ms AS g_total_ms "
            "FROM eval_results r LEFT JOIN generations g ON g.id = r.generation_id "
            "WHERE r.run_id = ? ORDER BY r.id",
            (run_id,),
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
    out = []
    for row in rows:
        gen = {k[2:]: row.pop(k) for k in list(row) if k.startswith("g_")}
        out.append(CaseResult.from_row(row, gen if row.get("generation_id") is not None else None))
    return out


def run_info(row: Mapping[str, Any]) -> RunInfo:
    config = as_dict(row.get("config"))
    identity = run_identity(
        config.get("variant"),
        evalset_hash=row.get("evalset_hash"),
        index_build=config.get("index_build"),
        model_digest=config.get("model_digest"),
        answered=as_dict(row.get("summary")).get("answered_by"),
    )
    return RunInfo(
        row["id"],
        row.get("evalset_name"),
        row.get("evalset_hash"),
        row.get("variant_id"),
        row.get("variant_name"),
        config.get("index_version"),
        config.get("index_build"),
        config.get("model_digest"),
        identity,
        config.get("case_hashes") if isinstance(config.get("case_hashes"), dict) else None,
        index_incomplete=config.get("index_incomplete") or None,
    )


def list_runs(store: Store, *, limit: int = 20, evalset: str | None = None) -> list[EvalRun]:
    where, args = (None, [])
    if evalset:
        where, args = "evalset_name = ?", [evalset]
    return [cast(EvalRun, decode(r, "config", "summary")) for r in store.rows("eval_runs", where, args, limit=limit)]


def evalset_names(store: Store) -> list[str]:
    """The eval sets that have runs, by name (what `eval runs --set` accepts)."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT DISTINCT evalset_name FROM eval_runs WHERE evalset_name IS NOT NULL ORDER BY evalset_name"
        ).fetchall()
    return [name for (name,) in rows]


def selection_of(row: Mapping[str, Any]) -> str | None:
    """How a run narrowed its set (`--limit 2`, `--tag smoke`), or None for the whole set."""
    config = as_dict(row.get("config"))
    selection = config.get("selection") if isinstance(config.get("selection"), dict) else None
    return selection.get("how") if selection else None


def resolve_run_ref(
    store: Store,
    ref: str,
    *,
    evalset: str | None = None,
    exclude: int | None = None,
    selection: str | None = None,
    evalset_hash: str | None = None,
) -> int:
    """`12`, `e12`, `last` (newest finished run) or `best` (highest pass rate) -> run id.

    `last`/`best` consider finished runs (`done`) of the same eval set with the same selection
    (`selection`: how the run being gated narrowed the set, None for the whole set), never the
    run `exclude` (the one being gated), so a gate never compares a run with itself, and a
    `--limit 2` run at 100% is never the `best` a full run is gated against. Among those, runs of
    the same eval-set version (`evalset_hash`) are preferred: their cases and checks match.
    """
    text = str(ref).strip()
    if text in ("last", "best"):
        finished = [
            r for r in list_runs(store, limit=10_000, evalset=evalset) if r["status"] == "done" and r["id"] != exclude
        ]
        candidates = [r for r in finished if selection_of(r) == selection]
        if not candidates:
            raise WorkbenchError(_no_baseline(text, evalset, selection, finished))
        same_version = [r for r in candidates if evalset_hash and r.get("evalset_hash") == evalset_hash]
        candidates = same_version or candidates
        if text == "last":
            return int(max(candidates, key=lambda r: r["id"])["id"])

        def rate(r: EvalRun) -> tuple[float, int]:
            pass_rate = as_dict(r.get("summary")).get("pass_rate")
            return (pass_rate if pass_rate is not None else -1, r["id"])

        return int(max(candidates, key=rate)["id"])
    run_id = parse_kind_id(
        text, "eval", noun="an eval run", accepts="a number, e<N>, last or best", listing="workbench eval runs"
    )
    get_run(store, run_id)
    return run_id


def case_count(store: Store, run_id: int) -> int:
    """How many distinct cases a run stored results for (a cancelled run: the ones it finished)."""
    with store.lock:
        row = store.conn.execute(
            "SELECT COUNT(DISTINCT case_id) FROM eval_results WHERE run_id = ?", (run_id,)
        ).fetchone()
    return int(row[0])


def case_timings(store: Store, run_id: int) -> list[tuple[str | None, float | None]]:
    """(finished at, latency in ms) of each case a run called the model for (cache hits left out):
    the case's own latency, else its generation's total time."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT r.created_at, COALESCE(r.latency_ms, g.total_ms) FROM eval_results r LEFT JOIN "
            "generations g ON g.id = r.generation_id WHERE r.run_id = ? AND r.cached = 0",
            (run_id,),
        ).fetchall()
    return [(finished, latency) for finished, latency in rows]


def _no_baseline(ref: str, evalset: str | None, selection: str | None, finished: list[EvalRun]) -> str:
    """Why no run qualifies as `best`/`last`, and what would make one."""
    of_set = f" of eval set '{evalset}'" if evalset else ""
    what = f"run with the same selection ({selection})" if selection else "run of the whole set"
    message = f"no finished {what}{of_set} to use as `{ref}`"
    others = sorted({selection_of(r) or "the whole set" for r in finished})
    if others:
        message += f" (finished runs{of_set} cover: {', '.join(others)})"
    if evalset:
        how = f" {selection}" if selection else ""
        message += f"; run `workbench eval run {evalset}{how}` once without a baseline, or name a run id"
    return message
