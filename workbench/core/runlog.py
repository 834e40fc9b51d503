"""One list of everything stored — generations, retrievals, eval runs, fine-tune jobs.

The CLI's `workbench runs` and the TUI's Runs tab both read through here, so they show the same
rows with the same ids: a bare number is a generation, `r12` a retrieval trace, `e12` an eval
run, `f12` a fine-tune job.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the store module imports sqlite_utils (+numpy); only callers need it loaded
    from workbench.core.store import Store

RUN_KINDS = ("generation", "retrieval", "eval", "finetune")
_PREFIX = {"generation": "", "retrieval": "r", "eval": "e", "finetune": "f"}
_TABLE = {"generation": "generations", "retrieval": "retrievals", "eval": "eval_runs",
          "finetune": "finetune_jobs"}
_JSON_FIELDS = {
    "generation": ("inputs", "messages", "options", "attempt_log", "warnings", "sources"),
    "retrieval": ("settings", "results"),
    "eval": ("config", "summary"),
    "finetune": ("config", "guard_report", "loss_curve", "export"),
}


def _tokens(row: dict) -> str:
    p, c = row.get("prompt_tokens"), row.get("completion_tokens")
    return "" if p is None and c is None else f"{p if p is not None else '?'}+{c if c is not None else '?'}"


def _summarise(kind: str, row: dict) -> dict[str, Any]:
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
            variant=row.get("variant_name") or row.get("variant_id"),
            tokens=_tokens(row), time=f"{total / 1000:.1f}s" if total else "",
            summary=str(question), source=row.get("source"),
        )
    elif kind == "retrieval":
        base.update(status="error" if row.get("error") else "ok", model=row.get("mode"),
                    tokens="", time=f"{(row.get('latency_ms') or 0):.0f}ms",
                    summary=row.get("query") or "")
    elif kind == "eval":
        summary = {}
        try:
            summary = json.loads(row.get("summary") or "{}") or {}
        except json.JSONDecodeError:
            pass
        rate = summary.get("pass_rate")
        base.update(model=row.get("variant_name") or row.get("variant_id"), tokens="", time="",
                    summary=f"{row.get('evalset_name')}: "
                    + (f"{rate:.0%} pass" if isinstance(rate, (int, float)) else "no summary"))
    else:
        from workbench.core.finetune.jobs import job_summary
        from workbench.core.store import decode

        line = job_summary(decode(row, *_JSON_FIELDS["finetune"]))
        base.update(model=row.get("base_model"), tokens="", time="",
                    summary=line.split(", ", 1)[1] if ", " in line else "")
    return base


def list_runs(store: Store, *, kind: str | None = None, status: str | None = None,
              limit: int = 50, search: str | None = None) -> list[dict[str, Any]]:
    """Newest first across kinds; `search` matches the summary text case-insensitively."""
    rows: list[dict[str, Any]] = []
    for k in ([kind] if kind else RUN_KINDS):
        for row in store.rows(_TABLE[k], order_by="id desc", limit=limit if not search else None):
            item = _summarise(k, row)
            if status and item["status"] != status:
                continue
            if search and search.lower() not in (item.get("summary") or "").lower() \
                    and search.lower() not in (item.get("model") or "").lower():
                continue
            rows.append(item)
    rows.sort(key=lambda r: r["created_at"], reverse=True)
    return rows[:limit]


def parse_run_id(run_id: str) -> tuple[str, int] | None:
    """`12` -> ("generation", 12); `r3` -> ("retrieval", 3); None when malformed."""
    text = run_id.strip().lower()
    for kind, prefix in _PREFIX.items():
        if prefix and text.startswith(prefix) and text[1:].isdigit():
            return kind, int(text[1:])
    return ("generation", int(text)) if text.isdigit() else None


def load_run(store: Store, run_id: str) -> tuple[str, dict[str, Any] | None]:
    from workbench.core.store import decode

    parsed = parse_run_id(run_id)
    if parsed is None:
        return "generation", None
    kind, number = parsed
    return kind, decode(store.get(_TABLE[kind], number), *_JSON_FIELDS[kind])


def run_markdown(project: Any, kind: str, row: dict[str, Any]) -> str:
    """A self-contained Markdown report of one run, to paste into a PR or a chat."""
    if kind == "retrieval":
        from workbench.core.retrieval.traces import trace_markdown

        return trace_markdown(row)
    lines = [f"### {kind} {_PREFIX[kind]}{row['id']} ({row.get('created_at', '')})", ""]
    if kind == "generation":
        lines += [
            f"- model: `{row.get('model_used')}` (requested `{row.get('model_requested')}`)",
            f"- status: **{row.get('status')}**" + (f" — {row.get('error')}" if row.get("error") else ""),
            f"- tokens: {_tokens(row)}; TTFT {row.get('ttft_ms') or 0:.0f} ms; "
            f"total {row.get('total_ms') or 0:.0f} ms",
            "", "**Prompt**", "",
        ]
        for message in row.get("messages") or []:
            lines += [f"_{message.get('role')}_:", "```", message.get("content", ""), "```"]
        lines += ["", "**Output**", "", "```", row.get("output") or "", "```"]
    else:
        lines += ["```json", json.dumps(row, indent=2, ensure_ascii=False, default=str), "```"]
    return "\n".join(lines)
