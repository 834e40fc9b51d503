"""Retrieval traces and retrieval-eval runs in the project's SQLite store.

Details: docs/NOTES.md, section core/retrieval/traces.py.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from workbench.core.retrieval.search import Hit, SearchResult, gold_ranks, result_markdown

if TYPE_CHECKING:
    from workbench.core.store import Store


def _now() -> str:
    from workbench.core.store import now_iso

    return now_iso()


def record_search(store: Store, result: SearchResult, *, source: str = "cli", gold: list[str] | None = None) -> int:
    """Store one search as a trace; returns its id. `gold` (the relevant documents or chunk ids
    the user named) is kept with it, with their ranks, so the trace's report shows them later."""
    data = result.to_dict()
    settings = data.pop("settings")
    if gold:
        data["gold"] = list(gold)
        data["gold_ranks"] = gold_ranks(result, list(gold))
    return store.insert(
        "retrievals",
        {
            "created_at": _now(),
            "query": result.query,
            "mode": result.mode,
            "k": result.k,
            "settings": settings,
            "index_version": str(result.index_version),
            "results": data,
            "latency_ms": round(result.latency_ms, 2),
            "source": source,
            "error": None,
        },
    )


def record_failure(store: Store, query: str, settings: dict[str, Any], error: str, *, source: str = "ask") -> int:
    """Store a retrieval that could not run (index unavailable...), so the reason is on record."""
    return store.insert(
        "retrievals",
        {
            "created_at": _now(),
            "query": query,
            "mode": settings.get("mode"),
            "k": settings.get("k"),
            "settings": settings,
            "index_version": None,
            "results": None,
            "latency_ms": None,
            "source": source,
            "error": error,
        },
    )


def get_trace(store: Store, trace_id: int) -> dict[str, Any] | None:
    """A stored trace with its JSON columns parsed; `results` holds the search data."""
    row = store.get("retrievals", trace_id)
    return None if row is None else _parsed(row, "settings", "results")


def recorded_trace(store: Store, trace_id: int) -> dict[str, Any]:
    """get_trace for a trace that must exist (one just recorded)."""
    return _parsed(store.get_row("retrievals", trace_id, "retrieval trace"), "settings", "results")


def _parsed(row: dict[str, Any], *fields: str) -> dict[str, Any]:
    out = dict(row)
    for name in fields:
        if isinstance(out.get(name), str) and out[name]:
            out[name] = json.loads(out[name])
    return out


def list_traces(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """Newest traces first (without the bulky results)."""
    rows = store.rows("retrievals", order_by="id desc", limit=limit)
    return [{k: v for k, v in r.items() if k != "results"} for r in rows]


def trace_data(trace: dict[str, Any]) -> dict[str, Any]:
    """The SearchResult.to_dict()-shaped data of a stored trace (for reports)."""
    data = dict(trace.get("results") or {})
    data.setdefault("query", trace.get("query"))
    data.setdefault("mode", trace.get("mode"))
    data.setdefault("k", trace.get("k"))
    data["settings"] = trace.get("settings") or {}
    data.setdefault("latency_ms", trace.get("latency_ms") or 0.0)
    data.setdefault("index_version", trace.get("index_version"))
    return data


def trace_result(trace: dict[str, Any]) -> SearchResult:
    """The SearchResult a stored trace row was recorded from, as far as the trace keeps it: the
    hits, and as candidates the chunks of every method's top k (not the deeper ones), so
    `runs show rID` prints the hits as `retrieve` did. A trace that did not run has none."""
    data = trace_data(trace)
    empty = {"chunk_id": "", "path": "", "heading_path": "", "line_start": 0, "line_end": 0, "text": ""}
    version = data.get("index_version")
    return SearchResult(
        query=data.get("query") or "",
        mode=data.get("mode") or "hybrid",
        k=int(data.get("k") or 0),
        hits=[_build(Hit, {**empty, **h}) for h in data.get("hits") or []],
        candidates=[_build(Hit, {**empty, **c}) for c in (data.get("chunks") or {}).values()],
        latency_ms=float(data.get("latency_ms") or 0.0),
        timings_ms=dict(data.get("timings_ms") or {}),
        index_version=int(str(version)) if str(version).isdigit() else 0,
        settings=data["settings"],
        path_glob=data.get("path_glob"),
        index_build=data.get("index_build"),
    )


def trace_markdown(trace: dict[str, Any], gold: list[str] | None = None) -> str:
    """The self-contained Markdown report of a stored trace row (as get_trace returns it, or as
    runlog.load_run decodes it): what `workbench runs show rID --markdown` and `retrieve
    --markdown` print. `gold` defaults to the gold stored with the trace (`retrieve --gold`)."""
    title = f"Retrieval trace r{trace.get('id')}"
    if trace.get("error"):
        return f"# {title}\n\n**Query:** {trace.get('query')}\n\nRetrieval did not run: {trace['error']}\n"
    return result_markdown(trace_data(trace), gold=gold, title=title)


# --- retrieval evals ------------------------------------------------------------------------------


def record_eval(store: Store, ev: Any) -> int:
    """Store a RetrievalEval (evaluate.py); returns its id."""
    d = ev.to_dict()
    settings = {**ev.settings, "k": ev.k, "modes": ev.modes, "index_build": ev.index_build}
    if ev.stale_index:  # kept with the settings it contradicts: compare.py words it
        settings["stale_index"] = ev.stale_index
    return store.insert(
        "retrieval_evals",
        {
            "created_at": _now(),
            "evalset": ev.evalset,
            "evalset_hash": ev.evalset_hash,
            "settings": settings,
            "index_version": str(ev.index_version),
            "metrics": ev.metrics,
            "cases": d["cases"],
        },
    )


def record_tune(store: Store, res: Any, *, evalset: str, evalset_hash: str, settings: dict[str, Any]) -> int:
    """Store a `retrieval tune` sweep (core/retrieval/tune.py TuneResult), finished or stopped
    early; returns its id (`rtN`). `settings`: the retrieval settings it started from."""
    return store.insert(
        "retrieval_tunes",
        {
            "created_at": _now(),
            "status": "cancelled" if res.cancelled else "done",
            "evalset": evalset,
            "evalset_hash": evalset_hash,
            "settings": settings,
            "result": res.to_dict(),
        },
    )


def mark_tune_applied(store: Store, tune_id: int, eval_id: int) -> None:
    """The sweep's winner was applied; `eval_id` is the retrieval eval that scored it."""
    store.update("retrieval_tunes", tune_id, {"applied_eval_id": eval_id})


def get_eval(store: Store, eval_id: int) -> dict[str, Any] | None:
    row = store.get("retrieval_evals", eval_id)
    return None if row is None else _parsed(row, "settings", "metrics", "cases")


def recorded_eval(store: Store, eval_id: int) -> dict[str, Any]:
    """get_eval for an eval that must exist (one just recorded)."""
    return _parsed(store.get_row("retrieval_evals", eval_id, "retrieval eval"), "settings", "metrics", "cases")


def previous_eval(store: Store, evalset: str, before_id: int | None = None) -> dict[str, Any] | None:
    """The newest stored eval of the same eval set (before `before_id`), for deltas."""
    if before_id is None:
        rows = store.rows("retrieval_evals", "evalset = ?", [evalset], order_by="id desc", limit=1)
    else:
        rows = store.rows(
            "retrieval_evals", "evalset = ? AND id < ?", [evalset, before_id], order_by="id desc", limit=1
        )
    return get_eval(store, rows[0]["id"]) if rows else None


def list_evals(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    rows = store.rows("retrieval_evals", order_by="id desc", limit=limit)
    out = []
    for r in rows:
        r = {k: v for k, v in r.items() if k != "cases"}
        for name in ("settings", "metrics"):
            if isinstance(r.get(name), str) and r[name]:
                r[name] = json.loads(r[name])
        out.append(r)
    return out


def _build(cls: type, data: dict[str, Any]) -> Any:
    """A dataclass from its asdict() form, ignoring keys it does not have (derived ones such as
    WhyNot's `summary`, or fields a newer version added)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def _whynot_from_dict(data: dict[str, Any]) -> Any:
    from workbench.core.retrieval.whynot import BoundaryReport, ChunkRef, ModeReport, WhyNot

    modes = {}
    for mode, rep in (data.get("modes") or {}).items():
        rep = dict(rep)
        rep["gold"] = _build(ChunkRef, rep["gold"]) if rep.get("gold") else None
        rep["outranked_by"] = [_build(ChunkRef, c) for c in rep.get("outranked_by") or []]
        modes[mode] = _build(ModeReport, rep)
    boundary = dict(data["boundary"]) if data.get("boundary") else None
    if boundary is not None and boundary.get("chunk_ids"):
        boundary["chunk_ids"] = tuple(boundary["chunk_ids"])
    return _build(WhyNot, {**data, "modes": modes, "boundary": _build(BoundaryReport, boundary) if boundary else None})


def eval_from_row(row: dict[str, Any]) -> Any:
    """The RetrievalEval a stored row (get_eval's, or runlog.load_run's) was recorded from, so a
    stored eval prints and exports the way it did when it ran. What the table does not keep (run
    time, unlabelled case ids, the eval set's path) comes back empty."""
    from workbench.core.retrieval.evaluate import CaseResult, RetrievalEval

    settings = dict(row.get("settings") or {})
    metrics = row.get("metrics") or {}
    cases = []
    for c in row.get("cases") or []:
        case = _build(CaseResult, {"question": "", "relevant": [], "metrics": {}, "gold_rank": {}, "top_docs": {}, **c})
        case.whynot = _whynot_from_dict(c["whynot"]) if c.get("whynot") else None
        cases.append(case)
    version = row.get("index_version")
    return RetrievalEval(
        evalset=row.get("evalset") or "",
        evalset_path="",
        evalset_hash=row.get("evalset_hash") or "",
        k=settings.get("k") or 0,
        modes=list(settings.get("modes") or metrics),
        metrics=metrics,
        cases=cases,
        settings=settings,
        index_version=int(version) if isinstance(version, str) and version.isdigit() else version,
        index_build=settings.get("index_build"),
        stale_index=settings.get("stale_index"),
    )


def stored_eval_comparison(store: Store, row: dict[str, Any]) -> Any:
    """compare.EvalComparison of this stored eval against the eval of the same set stored just
    before it (what `retrieval eval` compared with when it ran), or None when there is none."""
    from workbench.core.retrieval.compare import compare_evals

    if store is None:
        return None
    prev = previous_eval(store, row.get("evalset") or "", before_id=row["id"])
    return compare_evals(prev, row) if prev else None


def stored_eval_deltas(store: Store, row: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
    """(deltas, previous id) against the eval of the same set stored just before this one, as
    `retrieval eval` printed them when it ran; (None, None) when there is none. At another k
    only the metrics that do not depend on k get deltas."""
    comparison = stored_eval_comparison(store, row)
    return (comparison.deltas, comparison.before_id) if comparison else (None, None)
