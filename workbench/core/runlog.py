"""One list of everything stored — generations, retrievals, retrieval evals, eval runs,
fine-tune jobs.

The CLI's `workbench runs` and the TUI's Runs tab both read through here, so they show the same
rows with the same ids: a bare number is a generation, `r12` a retrieval trace, `re12` a
retrieval eval, `e12` an eval run, `f12` a fine-tune job. Variants show as the TUI names them
("base" or their workbench.yaml name) with the start of their hash; the rows keep the raw id.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from workbench.core.run_ids import PREFIX as _PREFIX
from workbench.core.run_ids import parse_run_id  # noqa: F401 (re-exported: callers read ids here)

if TYPE_CHECKING:  # the store module imports sqlite_utils (+numpy); only callers need it loaded
    from workbench.core.store import Store

MODE_NAMES = {"dense": "dense", "fts": "full-text", "hybrid": "hybrid"}
RUN_KINDS = ("generation", "retrieval", "retrieval-eval", "eval", "finetune")
_TABLE = {"generation": "generations", "retrieval": "retrievals", "retrieval-eval": "retrieval_evals",
          "eval": "eval_runs", "finetune": "finetune_jobs"}
_JSON_FIELDS = {
    "generation": ("inputs", "messages", "options", "attempt_log", "warnings", "sources", "model_identity"),
    "retrieval": ("settings", "results"),
    "retrieval-eval": ("settings", "metrics", "cases"),
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


def retrieval_eval_line(row: dict[str, Any]) -> str:
    """`tiny: hybrid nDCG .80 recall@5 .83 · dense .71/.80 · full-text .65/.67 · 3 cases`: the two
    numbers a retrieval eval is judged by (nDCG@10, recall@k), per mode, the best mode (by nDCG,
    as `retrieval eval` picks it) first and labelled, so it survives a narrow column."""
    settings, metrics = _decoded(row, "settings") or {}, _decoded(row, "metrics") or {}
    k, cases = settings.get("k"), row.get("n_cases")
    tail = [f"{cases} case{'s' if cases != 1 else ''}"] if cases is not None else []
    modes = {mode: m for mode, m in metrics.items() if isinstance(m, dict)}
    if not modes:
        return " · ".join([f"{row.get('evalset') or '?'}: no metrics", *tail])

    def num(m: dict[str, Any], name: str) -> str:
        return f"{m.get(name, 0.0):.2f}".removeprefix("0")

    best = max(modes, key=lambda mode: (modes[mode].get("ndcg@10", 0.0), modes[mode].get("mrr@10", 0.0)))
    parts = [f"{MODE_NAMES.get(best, best)} nDCG {num(modes[best], 'ndcg@10')} "
             f"recall@{k if k is not None else 'k'} {num(modes[best], 'recall@k')}"]
    parts += [f"{MODE_NAMES.get(mode, mode)} {num(m, 'ndcg@10')}/{num(m, 'recall@k')}"
              for mode, m in modes.items() if mode != best]
    return f"{row.get('evalset') or '?'}: " + " · ".join(parts + tail)


def eval_coverage(row: dict[str, Any], summary: dict | None) -> str | None:
    """How much of the eval set a run's pass rate covers, when not all of it: '5/84' when it
    stored fewer results than planned (cancelled, interrupted), 'subset 10/93' when `--limit`,
    `--tag` or `--case` ran part of the file, '5/10 of a subset of 93' for both; else None.
    A pass rate over 5 cases must not read like one over the whole set."""
    planned = (row.get("total_cases") or 0) * (row.get("repeat") or 1)
    missing = (summary or {}).get("missing") or 0
    config = _decoded(row, "config")
    selection = (config if isinstance(config, dict) else {}).get("selection") or {}
    stopped = f"{max(planned - missing, 0)}/{planned}" if planned and missing > 0 else None
    if selection.get("of"):
        return (f"{stopped} of a subset of {selection['of']}" if stopped
                else f"subset {row.get('total_cases') or 0}/{selection['of']}")
    return stopped


def _summarise(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    from workbench.core.variants import variant_label

    base = {"id": f"{_PREFIX[kind]}{row['id']}", "kind": kind, "created_at": row["created_at"] or "",
            "status": row.get("status")}
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
            variant_id=row.get("variant_id"), prompt_tokens=row.get("prompt_tokens"),
            completion_tokens=row.get("completion_tokens"), total_ms=total or None,
            summary=str(question), source=row.get("source"),
        )
    elif kind == "retrieval":
        base.update(status="error" if row.get("error") else "ok", model=row.get("mode"),
                    latency_ms=row.get("latency_ms") or 0,
                    summary=row.get("query") or "")
    elif kind == "retrieval-eval":
        settings = _decoded(row, "settings") or {}
        base.update(status="ok", model=settings.get("embedding_model"),
                    summary=retrieval_eval_line(row))
    elif kind == "eval":
        summary = {}
        try:
            summary = json.loads(row.get("summary") or "{}") or {}
        except json.JSONDecodeError:
            pass
        rate = summary.get("pass_rate")
        coverage = eval_coverage(row, summary)
        base.update(model=variant_label(row.get("variant_name"), row.get("variant_id")),
                    variant_id=row.get("variant_id"),
                    summary=f"{row.get('evalset_name')}: "
                    + (f"{rate:.0%} pass" if isinstance(rate, (int, float)) else "no summary")
                    + (f" ({coverage} cases)" if coverage else ""))
    else:
        from workbench.core.finetune.jobs import job_summary
        from workbench.core.store import decode

        line = job_summary(decode(row, *_JSON_FIELDS["finetune"]))
        base.update(model=row.get("base_model"),
                    summary=line.split(", ", 1)[1] if ", " in line else "")
    return base


def list_runs(store: Store, *, kind: str | None = None, status: str | None = None,
              limit: int = 50, search: str | None = None) -> list[dict[str, Any]]:
    """Newest first across kinds; `search` matches the summary text case-insensitively."""
    rows: list[dict[str, Any]] = []
    for k in ([kind] if kind else RUN_KINDS):
        changed = _weights_changed(store) if k == "eval" else {}
        for row in _rows(store, k, limit if not search else None):
            item = _summarise(k, row)
            if row["id"] in changed:
                item["summary"] += f" · {changed[row['id']]}"
            if status and item["status"] != status:
                continue
            if search and search.lower() not in (item.get("summary") or "").lower() \
                    and search.lower() not in (item.get("model") or "").lower():
                continue
            rows.append(item)
    rows.sort(key=lambda r: r["created_at"], reverse=True)
    return rows[:limit]


def _weights_changed(store: Store) -> dict[int, str]:
    """Eval run id -> "the model's weights changed since e3 (digest a1b2 → c3d4)", for each run
    whose model (same spec, same eval set) has another digest than in the run before it. Runs
    with no digest (older ones, or the server was down) are skipped, never called a change."""
    from workbench.core.llm.base import short_digest

    sql = ("SELECT id, evalset_name, json_extract(config, '$.variant.model'), "
           "json_extract(config, '$.model_digest') FROM eval_runs "
           "WHERE json_valid(config) AND json_extract(config, '$.model_digest') IS NOT NULL ORDER BY id")
    with store.lock:
        found = store.conn.execute(sql).fetchall()
    last: dict[tuple[Any, ...], tuple[int, str]] = {}
    out = {}
    for run_id, evalset, model, digest in found:
        before = last.get((evalset, model))
        if before is not None and before[1] != digest:
            out[run_id] = (f"the model's weights changed since e{before[0]} (digest "
                           f"{short_digest(before[1])} → {short_digest(digest)})")
        last[(evalset, model)] = (run_id, digest)
    return out


def _rows(store: Store, kind: str, limit: int | None) -> list[dict[str, Any]]:
    """A table's newest rows; a retrieval eval's per-case detail (the bulk of it) stays on disk,
    only its count is read."""
    if kind != "retrieval-eval":
        return store.rows(_TABLE[kind], order_by="id desc", limit=limit)
    sql = ("SELECT id, created_at, evalset, evalset_hash, settings, index_version, metrics, "
           "CASE WHEN json_valid(cases) THEN json_array_length(cases) END AS n_cases "
           "FROM retrieval_evals ORDER BY id DESC" + (" LIMIT ?" if limit is not None else ""))
    with store.lock:
        cursor = store.conn.execute(sql, [limit] if limit is not None else [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def load_run(store: Store, run_id: str) -> tuple[str, dict[str, Any] | None]:
    from workbench.core.store import decode

    parsed = parse_run_id(run_id)
    if parsed is None:
        return "generation", None
    kind, number = parsed
    return kind, decode(store.get(_TABLE[kind], number), *_JSON_FIELDS[kind])


def run_markdown(project: Project, kind: str, row: dict[str, Any]) -> str:
    """A self-contained Markdown report of one run, to paste into a PR or a chat."""
    if kind == "retrieval":
        from workbench.core.retrieval.traces import trace_markdown

        return trace_markdown(row)
    if kind == "retrieval-eval":
        from workbench.core.retrieval.traces import stored_eval_markdown

        return stored_eval_markdown(project.store if project is not None else None, row)
    if kind == "eval":
        return eval_markdown(project.store if project is not None else None, row)
    if kind == "generation":
        return generation_markdown(row)
    lines = [f"### {kind} {_PREFIX[kind]}{row['id']} ({row.get('created_at', '')})", ""]
    lines += ["```json", json.dumps(row, indent=2, ensure_ascii=False, default=str), "```"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- generation


def _timing(row: dict[str, Any]) -> str:
    """`TTFT 120 ms; total 1500 ms`, or `no token arrived; total 2300 ms`: only what was
    measured (an interrupted call has no first token, and 0 ms would be a false reading)."""
    ttft, total = row.get("ttft_ms"), row.get("total_ms")
    parts = []
    if ttft is not None:
        parts.append(f"TTFT {ttft:.0f} ms")
    elif not row.get("output") and row.get("status") != "ok":
        parts.append("no token arrived")
    if total is not None:
        parts.append(f"total {total:.0f} ms")
    return "; ".join(parts)


def generation_markdown(row: dict[str, Any]) -> str:
    """A generation as a person reads it: what is not known is left out or said plainly."""
    from workbench.core.markdown import fence
    from workbench.core.variants import variant_label

    used, requested = row.get("model_used"), row.get("model_requested")
    if used:
        model = f"`{used}`" + (f" (requested `{requested}`)" if requested and requested != used else "")
    else:
        model = "none answered" + (f" (requested `{requested}`)" if requested else "")
    variant = variant_label(row.get("variant_name"), row.get("variant_id"), hash_chars=12)
    lines = [
        f"### generation {row['id']} ({row.get('created_at', '')})", "",
        f"- model: {model}",
        f"- variant: {variant or 'unknown'}"
        + (f", prompt `{row.get('prompt_name')}`" if row.get("prompt_name") else ""),
        f"- status: **{row.get('status')}**" + (f" — {row.get('error')}" if row.get("error") else ""),
    ]
    if row.get("prompt_tokens") is not None or row.get("completion_tokens") is not None:
        lines.append(f"- tokens: {row.get('prompt_tokens') if row.get('prompt_tokens') is not None else '?'} in"
                     f" / {row.get('completion_tokens') if row.get('completion_tokens') is not None else '?'} out")
    if _timing(row):
        lines.append(f"- timing: {_timing(row)}")
    lines += ["", "**Prompt**", ""]
    for message in row.get("messages") or []:
        lines += [f"_{message.get('role')}_:", fence(message.get("content", ""))]
    if not row.get("messages"):
        lines.append("(not stored)")
    lines += ["", "**Output**", "", fence(row["output"]) if row.get("output") else "(none)"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- eval

VERDICT_MARK = {"pass": "✓", "fail": "✗", "judge-error": "?", "unscored": "·"}
CASES_SHOWN = 40  # per-case verdicts in a run's report; `eval show eN --all` lists every one


def eval_summary(row: dict[str, Any], results: list[Any]) -> dict[str, Any] | None:
    """The run's stored summary, or (a killed run stores none) one recomputed from its results."""
    if isinstance(row.get("summary"), dict):
        return row["summary"]
    if not results:
        return None
    from workbench.core.evals.summary import summarize

    return summarize(results, expected_results=(row.get("total_cases") or 0) * (row.get("repeat") or 1))


def eval_summary_body(summary: dict[str, Any], *, failing: bool = True) -> list[str]:
    """The summary's lines without the advice (shown on its own, first): the CLI's wording
    (`summary_body`) plus per-tag rates as percentages and the failures counted by lever;
    `failing` adds the failing cases' ids (a report that lists every case leaves them out)."""
    from workbench.core.evals.summary import summary_body

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    lines = summary_body(summary)
    tags = summary.get("per_tag") or {}
    if tags:
        lines = [ln for ln in lines if not ln.startswith("by tag: ")]
        lines.insert(1, "by tag: " + ", ".join(
            f"{t} {pct(v.get('rate'))} ({v['passed']}/{v['total']})" for t, v in tags.items()))
    failures = {k: v for k, v in (summary.get("failures") or {}).items() if v}
    if failures:
        lines.append("failures by lever: " + ", ".join(f"{k} {v}" for k, v in failures.items()))
        cases = summary.get("failing_cases") or {}
        if cases and failing:
            shown = list(cases.items())[:8]
            more = f" … +{len(cases) - 8}" if len(cases) > 8 else ""
            lines.append("failing: " + ", ".join(f"{c} ({k})" for c, k in shown) + more)
    return lines


def eval_case_lines(results: list[Any], *, limit: int = CASES_SHOWN) -> tuple[list[str], int]:
    """`✗ fail japan · other · icontains: did not find 'tokyo'` per case, failures first, with
    the answer of each case that did not pass; returns (lines, cases left out)."""
    from workbench.core.evals.results import fold_repeats

    order = {"fail": 0, "judge-error": 1, "unscored": 2, "pass": 3}
    folded = sorted(fold_repeats(results).values(), key=lambda s: order.get(s.verdict, 4))
    lines = []
    for s in folded[:limit]:
        r = s.evidence
        parts = [f"{VERDICT_MARK.get(s.verdict, ' ')} {s.verdict} {s.case_id}"]
        if s.verdict != "pass":
            if r.failure_kind:
                parts.append(r.failure_kind)
            why = "; ".join(f"{a.name}: {a.detail}" for a in r.assertions if a.passed is not True)
            if why or r.error:
                parts.append((why or r.error or "")[:200])
        if s.flaky:
            parts.append(f"flaky: {s.passes} pass / {s.fails} fail")
        answer = " ".join((r.output or "").split())
        lines.append(" · ".join(parts))
        if answer and s.verdict != "pass":
            lines.append(f"  answer: {answer[:160]}{'…' if len(answer) > 160 else ''}")
    return lines, max(0, len(folded) - limit)


def eval_markdown(store: Store, row: dict[str, Any], *, limit: int = CASES_SHOWN) -> str:
    """An eval run as `workbench eval show` reads it: the advice first, pass rate with its 95%
    interval, checks, tags, failures by lever, then each case's verdict (failures first)."""
    from workbench.core.evals import runstore
    from workbench.core.markdown import md_cell
    from workbench.core.variants import variant_label

    results = runstore.load_results(store, row["id"]) if store is not None else []
    summary = eval_summary(row, results)
    variant = variant_label(row.get("variant_name"), row.get("variant_id"))
    title = f"eval e{row['id']} · {row.get('evalset_name') or '?'} · {variant or '?'} · {row.get('status')}"
    facts = [(row.get("created_at") or "")[:19].replace("T", " ")]
    if row.get("evalset_path"):
        facts.append(PurePath(row["evalset_path"]).name
                     + (f" (version {row['evalset_hash'][:10]})" if row.get("evalset_hash") else ""))
    if row.get("variant_id"):
        facts.append(f"variant id {row['variant_id']}")
    out = [f"### {md_cell(title)}", "", md_cell(" · ".join(f for f in facts if f)), ""]
    if not summary:
        out.append("No results stored for this run." if row.get("status") != "running"
                   else "Running: the summary is written when the run ends.")
        return "\n".join(out) + "\n"
    if summary.get("advice"):
        out += [f"> **{md_cell(summary['advice'])}**", ""]
    out += [f"- {md_cell(line)}" for line in eval_summary_body(summary, failing=False)]
    lines, left = eval_case_lines(results, limit=limit)
    if lines:
        out += ["", "#### Cases (failures first)", ""]
        out += [("  - " if line.startswith("  ") else "- ") + md_cell(line.strip()) for line in lines]
        if left:
            out.append(f"- … and {left} more: `workbench eval show e{row['id']} --all`")
    return "\n".join(out) + "\n"
