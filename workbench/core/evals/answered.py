"""Which models answered an eval run's cases: read from the run's stored generations, because
the model the variant asks for is not always the one that answers (Ollama down, the embedded
fallback answers instead, or a fallback for some cases only).

`answered_by` is stored in the run's summary when it finishes; `model_words` turns it into the
`model …` part of the run's identity line (`eval show`, the Evals tab) and `answered_cell`
into the `eval runs` model column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.core.store import Store

# a failed try's kind (core/llm/base.py ErrorKind) -> why the run fell back, in a word or two
WHY = {
    "connect": "unreachable",
    "skipped": "unreachable",
    "timeout": "timed out",
    "not_found": "not found",
    "busy": "busy",
    "server": "server error",
    "auth": "not authorized",
    "unavailable": "unavailable",
}


def _why(attempt_log: Any, requested: str | None) -> str | None:
    """Why the requested model did not answer: its first failed try's kind, in words."""
    try:
        tries = json.loads(attempt_log) if isinstance(attempt_log, str) else attempt_log
    except ValueError:
        return None
    for t in tries if isinstance(tries, list) else []:
        if isinstance(t, dict) and t.get("model") == requested and t.get("outcome") != "ok":
            outcome = str(t.get("outcome"))
            return WHY.get(outcome, outcome.replace("_", " "))
    return None


def answered_by(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The models that answered run `run_id`'s cases, most cases first: `{"model", "digest",
    "cases", "fell_back_from", "why"}` each (`fell_back_from`/`why` only for a fallback's
    answers). A case served from the cache counts for the model whose stored answer it reused;
    a case no model answered counts for none."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT g.model_used, g.model_digest, g.model_requested, g.fallback_used, g.attempt_log "
            "FROM eval_results r JOIN generations g ON g.id = r.generation_id "
            "WHERE r.run_id = ? AND g.model_used IS NOT NULL ORDER BY r.id",
            (run_id,),
        ).fetchall()
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    for used, digest, requested, fell_back, log in rows:
        group = groups.setdefault((used, digest), {"model": used, "digest": digest, "cases": 0})
        group["cases"] += 1
        if fell_back and requested and "fell_back_from" not in group:
            group["fell_back_from"] = requested
            group["why"] = _why(log, requested)
    return sorted(groups.values(), key=lambda g: -int(g["cases"]))


def _cases(n: int) -> str:
    return f"{n} case{'' if n == 1 else 's'}"


def model_words(requested: str | None, digest: str | None, answered: Sequence[dict[str, Any]] | None) -> str:
    """`model ollama:llama3.2 @a1b2c3d4e5f6`; `model embedded @b179c9523d0e (fell back from
    ollama:llama3.2, unreachable)` when the fallback answered every case; `models
    ollama:llama3.2 @a1b2c3d4e5f6 (1 case), embedded @b179c9523d0e (3 cases, fell back from
    ollama:llama3.2, unreachable)` for a mix. Without `answered` (a run from before it was
    recorded, or one still running): the requested model and its digest at the start."""
    from workbench.core.llm.base import short_digest

    if not answered:
        return f"model {requested or '?'} @{short_digest(digest)}"

    def one(group: dict[str, Any], count: bool) -> str:
        notes = [_cases(int(group.get("cases") or 0))] if count else []
        if group.get("fell_back_from"):
            notes.append(
                f"fell back from {group['fell_back_from']}" + (f", {group['why']}" if group.get("why") else "")
            )
        return f"{group.get('model')} @{short_digest(group.get('digest'))}" + (
            f" ({', '.join(notes)})" if notes else ""
        )

    if len(answered) == 1:
        return f"model {one(answered[0], count=False)}"
    return "models " + ", ".join(one(g, count=True) for g in answered)


def answered_cell(requested: str | None, answered: Sequence[dict[str, Any]] | None) -> str:
    """The `eval runs` model column: the model that answered (`embedded`), `embedded (fallback)`
    when it was not the one asked for, `2 models` for a mix; the requested model for a run that
    did not record it."""
    if not answered:
        return requested or ""
    if len(answered) > 1:
        return f"{len(answered)} models"
    model = str(answered[0].get("model") or "")
    return f"{model} (fallback)" if answered[0].get("fell_back_from") else model
