"""One list of everything stored — generations, retrievals, retrieval evals, retrieval tunes,
eval runs, fine-tune jobs.

The CLI's `workbench runs` and the TUI's Runs tab both read through here, so they show the same
rows with the same ids: a bare number is a generation, `r12` a retrieval trace, `re12` a
retrieval eval, `rt12` a retrieval tune, `e12` an eval run, `f12` a fine-tune job. Variants show as the TUI names them
("base" or their workbench.yaml name) with the start of their hash; the rows keep the raw id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.core.run_ids import PREFIX as _PREFIX
from workbench.core.run_ids import parse_run_id  # noqa: F401 (re-exported: callers read ids here)

if TYPE_CHECKING:  # the store module imports sqlite_utils (+numpy); only callers need it loaded
    from workbench.core.records import EvalRun
    from workbench.core.store import Store

RUN_KINDS = ("generation", "retrieval", "retrieval-eval", "retrieval-tune", "eval", "finetune")
_TABLE = {
    "generation": "generations",
    "retrieval": "retrievals",
    "retrieval-eval": "retrieval_evals",
    "retrieval-tune": "retrieval_tunes",
    "eval": "eval_runs",
    "finetune": "finetune_jobs",
}
_JSON_FIELDS = {
    "generation": ("inputs", "messages", "options", "attempt_log", "warnings", "sources", "model_identity"),
    "retrieval": ("settings", "results"),
    "retrieval-eval": ("settings", "metrics", "cases"),
    "retrieval-tune": ("settings", "result"),
    "eval": ("config", "summary"),
    "finetune": ("config", "guard_report", "loss_curve", "export"),
}


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) and text else None
    except json.JSONDecodeError:
        return None


def _decoded(row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    return _json(value) if isinstance(value, str) else value


def _summarise(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A listing row. A generation's or retrieval's summary is its question; a retrieval eval,
    eval run or fine-tune job carries `facts` that present/runs.py `listing_row` words."""
    from workbench.core.variants import variant_label

    base = {
        "id": f"{_PREFIX[kind]}{row['id']}",
        "kind": kind,
        "created_at": row["created_at"] or "",
        "status": row.get("status"),
    }
    if kind == "generation":
        question = ""
        try:
            inputs = json.loads(row.get("inputs") or "{}")
            question = inputs.get("question") or next(iter(inputs.values()), "")
        except (json.JSONDecodeError, AttributeError):
            pass
        total = row.get("total_ms")
        base.update(
            model=row.get("model_used") or row.get("model_requested"),
            variant=variant_label(row.get("variant_name"), row.get("variant_id")),
            variant_id=row.get("variant_id"),
            prompt_tokens=row.get("prompt_tokens"),
            completion_tokens=row.get("completion_tokens"),
            total_ms=total or None,
            summary=str(question),
            source=row.get("source"),
        )
    elif kind == "retrieval":
        base.update(
            status="error" if row.get("error") else "ok",
            model=row.get("mode"),
            latency_ms=row.get("latency_ms") or 0,
            summary=row.get("query") or "",
        )
    elif kind == "retrieval-eval":
        settings = _decoded(row, "settings") or {}
        facts = {
            "evalset": row.get("evalset"),
            "k": settings.get("k"),
            "n_cases": row.get("n_cases"),
            "metrics": _decoded(row, "metrics") or {},
        }
        base.update(status="ok", model=settings.get("embedding_model"), summary=None, facts=facts)
    elif kind == "retrieval-tune":
        settings = _decoded(row, "settings") or {}
        result = _decoded(row, "result") or {}
        rows = result.get("rows") or []
        current = next((r for r in rows if r.get("config") == result.get("current")), None)
        facts = {
            "evalset": row.get("evalset"),
            "n_cases": result.get("n_cases"),
            "configurations": len(rows),
            "current": current,
            "winner": result.get("winner"),
            "applied_eval_id": row.get("applied_eval_id"),
        }
        base.update(model=settings.get("embedding_model"), summary=None, facts=facts)
    elif kind == "eval":
        summary: dict[str, Any] = {}
        try:
            summary = json.loads(row.get("summary") or "{}") or {}
        except json.JSONDecodeError:
            pass
        facts = {k: row.get(k) for k in ("evalset_name", "total_cases", "repeat")}
        base.update(
            model=variant_label(row.get("variant_name"), row.get("variant_id")),
            variant_id=row.get("variant_id"),
            summary=None,
            facts={**facts, "config": _decoded(row, "config"), "summary": summary},
        )
    else:
        from workbench.core.store import decode

        base.update(model=row.get("base_model"), summary=None, facts=decode(row, *_JSON_FIELDS["finetune"]))
    return base


def list_runs(
    store: Store,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
    search: str | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Newest first across kinds; `search` matches the columns a row's summary and model come
    from (_SEARCHED), case-insensitively, in SQL. Each table is read with LIMIT offset+limit,
    searched or not, so a page costs the same with 100 or 100,000 runs."""
    rows: list[dict[str, Any]] = []
    for k in [kind] if kind else RUN_KINDS:
        changed = _weights_changed(store) if k == "eval" else {}
        found = _rows(store, k, offset + limit, search) if search else _rows(store, k, offset + limit)
        for row in found:
            item = _summarise(k, row)
            if row["id"] in changed:
                item["facts"]["weights_changed"] = changed[row["id"]]
            if status and item["status"] != status:
                continue
            rows.append(item)
    rows.sort(key=lambda r: r["created_at"], reverse=True)
    return rows[offset : offset + limit]


def count_runs(store: Store, *, kind: str | None = None) -> int:
    """How many runs are stored (of one kind, or all): the "N more" a page leaves out."""
    total = 0
    with store.lock:
        for k in [kind] if kind else RUN_KINDS:
            try:
                total += store.conn.execute(f"SELECT count(*) FROM {_TABLE[k]}").fetchone()[0]
            except sqlite3.OperationalError:  # a table an older runs.db does not have yet
                continue
    return total


def _weights_changed(store: Store) -> dict[int, str]:
    """Eval run id -> "the model's weights changed since e3 (digest a1b2 → c3d4)", for each run
    whose model (same spec, same eval set) has another digest than in the run before it. Runs
    with no digest (older ones, or the server was down) are skipped, never called a change."""
    from workbench.core.llm.base import short_digest

    sql = (
        "SELECT id, evalset_name, json_extract(config, '$.variant.model'), "
        "json_extract(config, '$.model_digest') FROM eval_runs "
        "WHERE json_valid(config) AND json_extract(config, '$.model_digest') IS NOT NULL ORDER BY id"
    )
    with store.lock:
        found = store.conn.execute(sql).fetchall()
    last: dict[tuple[Any, ...], tuple[int, str]] = {}
    out = {}
    for run_id, evalset, model, digest in found:
        before = last.get((evalset, model))
        if before is not None and before[1] != digest:
            out[run_id] = (
                f"the model's weights changed since e{before[0]} (digest "
                f"{short_digest(before[1])} → {short_digest(digest)})"
            )
        last[(evalset, model)] = (run_id, digest)
    return out


# The columns each kind's listed summary and model are made from (_summarise): what the Runs
# tab's search box matches. A generation's question lives in its `inputs` JSON.
_SEARCHED = {
    "generation": ("inputs", "model_used", "model_requested"),
    "retrieval": ("query", "mode"),
    "retrieval-eval": ("evalset", "settings"),
    "retrieval-tune": ("evalset", "settings"),
    "eval": ("evalset_name", "variant_name", "variant_id"),
    "finetune": ("base_model", "signal", "dataset_path", "config"),
}


def _search_where(kind: str, search: str | None) -> tuple[str | None, list[str]]:
    """`col LIKE ? OR ...` for a search (LIKE's own % and _ escaped), or no WHERE at all."""
    if not search:
        return None, []
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    columns = _SEARCHED[kind]
    return " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns), [pattern] * len(columns)


def _rows(store: Store, kind: str, limit: int | None, search: str | None = None) -> list[dict[str, Any]]:
    """A table's newest rows (matching `search`, see _SEARCHED); a retrieval eval's per-case
    detail (the bulk of it) stays on disk, only its count is read."""
    where, args = _search_where(kind, search)
    if kind != "retrieval-eval":
        return store.rows(_TABLE[kind], where, args, order_by="id desc", limit=limit)
    sql = (
        "SELECT id, created_at, evalset, evalset_hash, settings, index_version, metrics, "
        "CASE WHEN json_valid(cases) THEN json_array_length(cases) END AS n_cases "
        "FROM retrieval_evals"
        + (f" WHERE {where}" if where else "")
        + " ORDER BY id DESC"
        + (" LIMIT ?" if limit is not None else "")
    )
    with store.lock:
        cursor = store.conn.execute(sql, args + ([limit] if limit is not None else []))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def load_run(store: Store, run_id: str) -> tuple[str, dict[str, Any] | None]:
    from workbench.core.store import decode

    parsed = parse_run_id(run_id)
    if parsed is None:
        return "generation", None
    kind, number = parsed
    return kind, decode(store.get(_TABLE[kind], number), *_JSON_FIELDS[kind])


def eval_summary(row: Mapping[str, Any], results: list[Any]) -> dict[str, Any] | None:
    """The run's stored summary, or (a killed run stores none) one recomputed from its results."""
    stored = row.get("summary")
    if isinstance(stored, dict):
        return stored
    if not results:
        return None
    from workbench.core.evals.summary import summarize

    return summarize(results, expected_results=(row.get("total_cases") or 0) * (row.get("repeat") or 1))


def load_eval_run(store: Store, run_id: int) -> tuple[EvalRun, list[Any], dict[str, Any]]:
    """An eval run's row, results and summary (recomputed when the run stored none), as
    `eval show` and `runs show eN` read it."""
    from workbench.core.evals import runstore
    from workbench.core.evals.summary import summarize

    row = runstore.get_run(store, run_id)
    results = runstore.load_results(store, run_id)
    summary = (
        row["summary"]
        if isinstance(row.get("summary"), dict)
        else summarize(results, expected_results=(row.get("total_cases") or 0) * (row.get("repeat") or 1))
    )
    return row, results, summary
