"""Stored runs as text: the `workbench runs` listing (CLI table and Runs tab cells) and a
generation's `runs show` detail. `core/runlog.py` gives the rows with raw numbers; the words
and number formats are made here, once, for both front ends.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.table import Table
from rich.text import Text

from workbench.core.citations import source_line
from workbench.core.records import FinetuneJob
from workbench.core.safetext import terminal_safe
from workbench.present.evals import eval_coverage
from workbench.present.finetune_jobs import job_summary
from workbench.present.numbers import format_cost, ms, pct, plural, score, seconds, short_ms, signed_score, tokens

if TYPE_CHECKING:
    from workbench.core.store import Store

MODE_NAMES = {"dense": "dense", "fts": "full-text", "hybrid": "hybrid"}
_RAW = ("prompt_tokens", "completion_tokens", "total_ms", "latency_ms")


def listing_row(row: dict[str, Any]) -> dict[str, Any]:
    """A `list_runs` row with its `tokens` and `time` cells as text (`12+30`, `1.5s`, `12ms`) and
    the summary of a retrieval eval, eval run or job worded from its `facts`; the raw numbers are
    dropped, so `runs --json` keeps the keys it always printed."""
    out = {k: v for k, v in row.items() if k not in _RAW and k != "facts"}
    if "facts" in row:
        out["summary"] = listing_summary(row["kind"], row["facts"])
    out["tokens"] = tokens(row.get("prompt_tokens"), row.get("completion_tokens"))
    if row.get("total_ms"):
        out["time"] = seconds(row["total_ms"])
    elif "latency_ms" in row:
        out["time"] = short_ms(row["latency_ms"] or 0)
    else:
        out["time"] = ""
    return out


def listing_summary(kind: str, facts: dict[str, Any]) -> str:
    """The summary cell of a retrieval eval, an eval run (pass rate, how much of the set it
    covers, a weights change) or a fine-tune job (its summary without the id and status)."""
    if kind == "retrieval-eval":
        return retrieval_eval_line(facts)
    if kind == "retrieval-tune":
        return retrieval_tune_line(facts)
    if kind == "finetune":
        line = job_summary(cast("FinetuneJob", facts))  # the listing's facts of a job are its decoded row
        return line.split(", ", 1)[1] if ", " in line else ""
    rate, coverage = facts["summary"].get("pass_rate"), eval_coverage(facts, facts["summary"])
    line = (
        f"{facts.get('evalset_name')}: "
        + (f"{pct(rate)} pass" if isinstance(rate, (int, float)) else "no summary")
        + (f" ({coverage} cases)" if coverage else "")
    )
    return line + (f" · {facts['weights_changed']}" if facts.get("weights_changed") else "")


def retrieval_tune_line(facts: dict[str, Any]) -> str:
    """`tiny: winner hybrid chunk=200/40 ... nDCG .92 (+.021, real) vs current .90 · applied: re5 ·
    36 configurations, 83 cases`, or that no configuration was really better than the current."""
    cur, win = facts.get("current"), facts.get("winner")
    name = f"{facts.get('evalset') or '?'}: "
    tail = [f"{plural(facts.get('configurations') or 0, 'configuration')}, {plural(facts.get('n_cases') or 0, 'case')}"]
    if facts.get("applied_eval_id"):
        tail.insert(0, f"applied: re{facts['applied_eval_id']}")
    if cur is None:
        return name + " · ".join(["stopped before the current settings were scored", *tail])
    now = score(cur["metrics"].get("ndcg@10", 0.0), 2, bare=True)
    if win is None or win.get("config") == cur.get("config"):
        return name + " · ".join([f"no configuration really better than the current (nDCG {now})", *tail])
    delta = signed_score(win["ndcg_delta"][0])
    best = f"winner {win['label']} nDCG {score(win['metrics'].get('ndcg@10', 0.0), 2, bare=True)} ({delta}, real)"
    return name + " · ".join([f"{best} vs current {now}", *tail])


def retrieval_eval_line(facts: dict[str, Any]) -> str:
    """`tiny: hybrid nDCG .80 recall@5 .83 · dense .71/.80 · full-text .65/.67 · 3 cases`: the two
    numbers a retrieval eval is judged by (nDCG@10, recall@k), per mode, the best mode (by nDCG,
    as `retrieval eval` picks it) first and labelled, so it survives a narrow column."""
    k, cases = facts.get("k"), facts.get("n_cases")
    tail = [f"{cases} case{'s' if cases != 1 else ''}"] if cases is not None else []
    modes = {mode: m for mode, m in facts["metrics"].items() if isinstance(m, dict)}
    if not modes:
        return " · ".join([f"{facts.get('evalset') or '?'}: no metrics", *tail])

    def num(m: dict[str, Any], name: str) -> str:
        return score(m.get(name, 0.0), 2, bare=True)

    best = max(modes, key=lambda mode: (modes[mode].get("ndcg@10", 0.0), modes[mode].get("mrr@10", 0.0)))
    parts = [
        f"{MODE_NAMES.get(best, best)} nDCG {num(modes[best], 'ndcg@10')} "
        f"recall@{k if k is not None else 'k'} {num(modes[best], 'recall@k')}"
    ]
    parts += [
        f"{MODE_NAMES.get(mode, mode)} {num(m, 'ndcg@10')}/{num(m, 'recall@k')}"
        for mode, m in modes.items()
        if mode != best
    ]
    return f"{facts.get('evalset') or '?'}: " + " · ".join(parts + tail)


def status_style(status: str | None) -> str:
    return {
        "ok": "green",
        "done": "green",
        "running": "cyan",
        "interrupted": "yellow",
        "truncated": "yellow",
        "incomplete": "yellow",
    }.get(status or "", "red")


def when(created_at: str | None) -> str:
    """`MM-DD HH:MM` (UTC) from a stored stamp: the listing's column in the CLI and the TUI."""
    return (created_at or "").replace("T", " ")[5:16]


def runs_table(rows: list[dict[str, Any]], width: int) -> Table:
    """The CLI listing: one line per run at any width; ids never shrink, the summary takes the rest."""
    table = Table(box=None, pad_edge=False)
    narrow = width < 110
    columns = (
        ["id", "when", "status", "model / variant", "summary"]
        if narrow
        else ["id", "when", "kind", "status", "model / variant", "tokens", "time", "summary"]
    )
    # The id and kind columns are as wide as the longest shown (`re12`, `retrieval-eval`).
    widths = {
        "id": max([5, *(len(r["id"]) for r in rows)]),
        "when": 11,
        "kind": max([10, *(len(r["kind"]) for r in rows)]),
        "status": 11,
        "model / variant": 16,
        "tokens": 9,
        "time": 7,
    }
    fixed = sum(widths[c] for c in columns if c != "summary") + 2 * (len(columns) - 1)
    widths["summary"] = max(width - fixed, 12)
    for column in columns:
        table.add_column(column, overflow="ellipsis", no_wrap=True, width=widths[column])
    for row in rows:
        cells: dict[str, Any] = {
            "id": row["id"],
            "when": when(row["created_at"]),
            "kind": row["kind"],
            "status": Text(row["status"] or "", style=status_style(row["status"])),
            "model / variant": Text(terminal_safe(row.get("model") or "")),
            "tokens": row.get("tokens") or "",
            "time": row.get("time") or "",
            "summary": Text(terminal_safe(row.get("summary") or "").replace("\n", " ")),
        }
        table.add_row(*(cells[c] for c in columns))
    return table


# ------------------------------------------------------------------------- generation detail

SHOWN_FIELDS = (
    "id",
    "created_at",
    "source",
    "status",
    "error",
    "variant",
    "prompt_name",
    "model_requested",
    "model_used",
    "model_digest",
    "fallback_used",
    "attempts",
    "ttft_ms",
    "total_ms",
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_s",
    "cost",
    "retrieval_status",
    "retrieval_id",
)


def field_text(name: str, value: Any) -> str | None:
    """A stored value as a person reads it: '8742 ms', 'no', '17.5' (`--json` keeps the raw row)."""
    if value in (None, ""):
        return None
    if name in ("ttft_ms", "total_ms") and isinstance(value, (int, float)):
        return ms(value)
    if name == "fallback_used":
        return "yes" if value else "no"
    if name == "tokens_per_s" and isinstance(value, (int, float)):
        return f"{value:.1f}"
    if name == "cost" and isinstance(value, (int, float)):
        return format_cost(value)
    if name == "retrieval_id":
        return f"r{value}  (workbench runs show r{value})"
    return str(value)


def digest_text(row: dict[str, Any]) -> str | None:
    """'b179c9523d0e (Q4_1 + int8 dynamic, adapter 9f8e7d6c5b4a)': the weights that answered;
    None for a row stored before digests were recorded (or when no model answered)."""
    from workbench.core.llm.base import short_digest

    if not row.get("model_digest"):
        return None
    found = row.get("model_identity")
    ident: dict[str, Any] = found if isinstance(found, dict) else {}
    extra = [
        ident.get("quantization") or "",
        f"adapter {short_digest(ident['adapter_digest'])}" if ident.get("adapter_digest") else "",
    ]
    extra = [e for e in extra if e]
    return str(short_digest(row["model_digest"])).split("+")[0] + (f" ({', '.join(extra)})" if extra else "")


def attempt_line(a: Any) -> str:
    """'ollama:llama3.2 try 1: connect (5 ms) Ollama at … is not reachable'."""
    if not isinstance(a, dict):
        return str(a)
    line = f"{a.get('model')} try {a.get('attempt')}: {a.get('outcome')}"
    if a.get("elapsed_ms") is not None:
        line += f" ({ms(a['elapsed_ms'])})"
    cut = a.get("partial_output")  # a host pool restarted this try elsewhere (core/llm/hosts.py)
    if cut:
        line += f" cut after {len(cut)} characters: {cut[:60]!r}"
    return line + (f" {a['message']}" if a.get("message") else "")


def generation_detail(row: dict[str, Any]) -> str:
    """`runs show N`: the stored fields, attempts, warnings, sources, messages and output, every
    piece of model or user text made terminal-safe."""
    from workbench.core.variants import variant_label

    row = {
        **row,
        "variant": variant_label(
            row.get("variant_name"), row.get("variant_id"), hash_chars=len(row.get("variant_id") or "")
        ),
        "model_digest": digest_text(row),
    }
    out: list[str] = []
    for name in SHOWN_FIELDS:
        value = field_text(name, row.get(name))
        if value not in (None, ""):
            out.append(f"{name:>18}: {terminal_safe(value)}\n")
    for name, lines in (
        ("attempt_log", [attempt_line(a) for a in row.get("attempt_log") or []]),
        ("warnings", [str(w) for w in row.get("warnings") or []]),
        ("sources", [source_line(s) for s in row.get("sources") or []]),
    ):
        for i, line in enumerate(lines):
            out.append((f"{name:>18}: " if i == 0 else " " * 20) + f"{terminal_safe(line)}\n")
    out.append("\n--- messages ---\n")
    for message in row.get("messages") or []:
        out.append(f"[{message.get('role')}]\n{terminal_safe(message.get('content', ''))}\n\n")
    if not row.get("messages"):
        out.append("(not stored)\n\n")
    if row.get("thinking"):
        out.append(f"--- thinking ---\n{terminal_safe(row['thinking'])}\n\n")
    out.append(f"--- output ---\n{terminal_safe(row.get('output') or '(none)')}\n")
    return "".join(out)


# ------------------------------------------------------------------------- one run as Markdown


def run_markdown(store: Store | None, kind: str, row: dict[str, Any]) -> str:
    """A self-contained Markdown report of one run, to paste into a PR or a chat
    (`runs show ID --markdown` and the Runs tab's detail)."""
    from workbench.core.run_ids import PREFIX

    if kind == "retrieval":
        from workbench.core.retrieval.traces import trace_markdown

        return trace_markdown(row)
    if kind == "retrieval-eval":
        from workbench.present.retrieval_markdown import stored_eval_markdown

        return stored_eval_markdown(store, row)  # type: ignore[arg-type]
    if kind == "retrieval-tune":
        from workbench.present.retrieval_markdown import tune_markdown

        return tune_markdown(row)
    if kind == "eval":
        from workbench.present.eval_report import eval_markdown

        return eval_markdown(store, row)
    if kind == "generation":
        from workbench.present.generation import generation_markdown

        return generation_markdown(row)
    lines = [f"### {kind} {PREFIX[kind]}{row['id']} ({row.get('created_at', '')})", ""]
    lines += ["```json", json.dumps(row, indent=2, ensure_ascii=False, default=str), "```"]
    return "\n".join(lines)


# ------------------------------------------------------------------------- one run in the terminal


def tune_header(row: dict[str, Any]) -> str:
    """`retrieval tune rt2 on tiny (2026-12-06T06:04:09), from hybrid chunk=200/40 ...; winner
    applied, scored as re5`."""
    from workbench.core.retrieval.tune import TuneConfig

    result = row.get("result") or {}
    start = TuneConfig(**result["current"]).label() if result.get("current") else "?"
    applied = row.get("applied_eval_id")
    return f"retrieval tune rt{row['id']} on {row.get('evalset')} ({row.get('created_at')}), from {start}" + (
        f"; winner applied, scored as re{applied}" if applied else ""
    )


TRACE_TEXT_CHARS = 300  # the start of each hit's text in `runs show rN`; --markdown has it whole


def print_trace(out: Console, row: dict[str, Any]) -> None:
    """`runs show rN`: the query, how it was searched (mode, k, latency, settings), then the hits
    as `retrieve` printed them (rank, path, heading, every method's score, the start of the
    text) and the other methods' top k. Query and documents are untrusted: Text, never markup."""
    from workbench.core.retrieval.traces import trace_result
    from workbench.present.retrieval import MODE_LABEL, highlighted, hit_header, scores_line

    def line(text: str, style: str = "") -> None:
        out.print(Text(terminal_safe(text), style=style))

    stamp = (row.get("created_at") or "")[:19].replace("T", " ")
    line(f"retrieval trace r{row['id']} · {stamp}" + (f" · from {row['source']}" if row.get("source") else ""), "bold")
    line(f"query: {row.get('query') or ''}")
    if row.get("error"):
        line(f"did not run: {row['error']}", "yellow")
        return
    result = trace_result(row)
    s = result.settings
    line(
        f"{MODE_LABEL.get(result.mode, result.mode)}, k={result.k}, {ms(result.latency_ms)}, "
        f"index version {result.index_version}" + (f", path filter {result.path_glob}" if result.path_glob else "")
    )
    line(
        f"embedding {s.get('embedding_model')}, chunk_tokens={s.get('chunk_tokens')}, "
        f"overlap={s.get('overlap_tokens')}, rrf_k={s.get('rrf_k')}, "
        f"weights dense={s.get('dense_weight')} fts={s.get('fts_weight')}",
        "dim",
    )
    data = row.get("results") or {}
    gold = [str(g) for g in data.get("gold") or []]
    if gold:
        ranks = data.get("gold_ranks") or {}
        found = " · ".join(
            f"{MODE_LABEL.get(m, m)} {f'#{r}' if r else 'not in the candidates'}" for m, r in ranks.items()
        )
        line(f"gold {', '.join(gold)}" + (f": {found}" if found else ""))
    out.print()
    if not result.hits:
        line("no results", "yellow")
    for rank, h in enumerate(result.hits, 1):
        out.print(hit_header(rank, h, gold))
        out.print(scores_line(h))
        out.print(highlighted(h.text, result.query, TRACE_TEXT_CHARS))
        out.print()
    for mode, label in MODE_LABEL.items():
        if mode != result.mode and result.top(mode):
            line(f"{label} top {result.k}: " + ", ".join(h.chunk_id for h in result.top(mode)), "dim")
    line(f"every chunk in full, as Markdown: workbench runs show r{row['id']} --markdown", "dim")


def print_run(store: Store, kind: str, row: dict[str, Any]) -> None:
    """`runs show ID`: each kind as its own command prints it (`eval show`, `finetune show`,
    `retrieval eval` with every case, `retrieve` for a trace), a generation in full, anything
    else as its JSON row."""
    import sys

    from rich.console import Console

    from workbench.present.terminal import console, print_lines

    if kind == "retrieval-eval":
        from workbench.core.retrieval.traces import eval_from_row, stored_eval_deltas
        from workbench.present.retrieval import print_eval, stored_eval_header

        ev = eval_from_row(row)
        delta, prev_id = stored_eval_deltas(store, row)
        out = Console(highlight=False)
        out.print(stored_eval_header(row, ev, prev_id))
        print_eval(out, ev, delta, cases="all")
    elif kind == "retrieval-tune":  # the table `retrieval tune` printed, from the stored sweep
        from workbench.core.retrieval.tune import TuneResult
        from workbench.present.retrieval import print_tune
        from workbench.present.terminal import table_console

        out = table_console()
        out.print(Text(tune_header(row), style="bold"))
        print_tune(out, TuneResult.from_dict(row["result"]))
    elif kind == "eval":  # read as `workbench eval show` prints it: one wording for a run
        from workbench.core.runlog import load_eval_run
        from workbench.present.evals import show_texts

        print_lines(console(), show_texts(*load_eval_run(store, row["id"])))
    elif kind == "finetune":  # read as `workbench finetune show` prints it
        from workbench.core.finetune.jobs import get_job
        from workbench.present.finetune_jobs import job_lines

        print_lines(console(), [terminal_safe(line) for line in job_lines(get_job(store, row["id"]))])
    elif kind == "retrieval":  # as `retrieve` printed it; --json keeps the stored row
        print_trace(Console(highlight=False), row)
    elif kind != "generation":
        print(json.dumps(row, ensure_ascii=False, indent=2, default=str))
    else:
        sys.stdout.write(generation_detail(row))


def print_listing(store: Store, *, kind: str | None, status: str | None, limit: int, page: int, as_json: bool) -> None:
    """`workbench runs`: one page of the listing (JSON lines with `as_json`), then how many more."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.runlog import count_runs, list_runs

    if limit < 1 or page < 1:
        raise WorkbenchError("--limit and --page must be at least 1", field="--limit" if limit < 1 else "--page")
    offset = (page - 1) * limit
    rows = [listing_row(r) for r in list_runs(store, kind=kind, status=status, limit=limit, offset=offset)]
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    console = Console(highlight=False)
    if not rows:
        console.print('No runs stored yet. Try: workbench ask "your question"')
        return
    console.print(runs_table(rows, console.width))
    if status is None:  # a status filter is applied per page, so a total would mislead
        more = count_runs(store, kind=kind) - offset - len(rows)
        if more > 0:
            console.print(f"{more:,} more: --page {page + 1} (--limit N rows per page)", markup=False)


def show_run(store: Store, run_id: str, *, as_json: bool, markdown: bool) -> None:
    """`workbench runs show ID`: Markdown to paste, the stored row as JSON, or the text."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.runlog import load_run

    kind, row = load_run(store, run_id)
    if row is None:
        raise WorkbenchError(f"no run with id {run_id!r} (see `workbench runs`)")
    if markdown:
        # Markdown is meant to be pasted, but it is printed to a terminal first: model output
        # in it must not reach the terminal as escape sequences.
        print(terminal_safe(run_markdown(store, kind, row)))
    elif as_json:
        print(json.dumps(row, ensure_ascii=False, indent=2, default=str))
    else:
        print_run(store, kind, row)
