"""`workbench runs`: every stored run, newest first; `workbench runs show ID` prints one in full.

IDs: a bare number is a generation; `r12` a retrieval trace, `re12` a retrieval eval, `e12` an
eval run, `f12` a fine-tune job (the same prefixes the list prints). An eval run is shown as
`workbench eval show` shows it, a fine-tune job as `workbench finetune show`; `--json` prints
the stored row for machines. Variants show as the TUI
names them: "base" or their workbench.yaml name, then the start of their content hash.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from workbench.core.errors import WorkbenchError
from workbench.core.runlog import RUN_KINDS, list_runs, load_run
from workbench.core.citations import source_line
from workbench.core.safetext import terminal_safe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list stored runs (generations, retrievals, retrieval evals, evals, fine-tunes)")
    p.add_argument("--limit", type=int, default=20, help="how many rows (default 20)")
    p.add_argument("--kind", choices=RUN_KINDS, help="only this kind of run")
    p.add_argument("--status", help="only runs with this status (e.g. interrupted)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=run_list, read_only=True)  # never creates runs.db (cli.py)
    runs_sub = p.add_subparsers(dest="runs_command", metavar="show")
    show = runs_sub.add_parser("show", help="print one run in full")
    show.add_argument("id", help="generation id, or r<ID> / re<ID> / e<ID> / f<ID>")
    show.add_argument("--json", action="store_true")
    show.add_argument("--markdown", action="store_true", help="a report to paste into a PR or chat")
    show.set_defaults(func=run_show, read_only=True)


def run_list(args: argparse.Namespace, project: Any) -> int:
    rows = list_runs(project.store, kind=args.kind, status=args.status, limit=args.limit)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    console = Console(highlight=False)
    if not rows:
        console.print("No runs stored yet. Try: workbench ask \"your question\"")
        return 0
    table = Table(box=None, pad_edge=False)
    # One line per run at any width: ids never shrink, the summary takes what is left.
    narrow = console.width < 110
    columns = ["id", "when", "status", "model / variant", "summary"] if narrow else \
        ["id", "when", "kind", "status", "model / variant", "tokens", "time", "summary"]
    # The id and kind columns are as wide as the longest shown (`re12`, `retrieval-eval`).
    widths = {"id": max([5, *(len(r["id"]) for r in rows)]), "when": 11,
              "kind": max([10, *(len(r["kind"]) for r in rows)]), "status": 11,
              "model / variant": 16, "tokens": 9, "time": 7}
    fixed = sum(widths[c] for c in columns if c != "summary") + 2 * (len(columns) - 1)
    widths["summary"] = max(console.width - fixed, 12)
    for column in columns:
        table.add_column(column, overflow="ellipsis", no_wrap=True, width=widths[column])
    for row in rows:
        cells = {
            "id": row["id"], "when": row["created_at"][5:16].replace("T", " "), "kind": row["kind"],
            "status": Text(row["status"] or "", style=_status_style(row["status"])),
            "model / variant": Text(terminal_safe(row.get("model") or "")),
            "tokens": row.get("tokens") or "", "time": row.get("time") or "",
            "summary": Text(terminal_safe(row.get("summary") or "").replace("\n", " ")),
        }
        table.add_row(*(cells[c] for c in columns))
    console.print(table)
    return 0


def _status_style(status: str | None) -> str:
    return {"ok": "green", "done": "green", "running": "cyan", "interrupted": "yellow",
            "truncated": "yellow", "incomplete": "yellow"}.get(status or "", "red")


def run_show(args: argparse.Namespace, project: Any) -> int:
    kind, row = load_run(project.store, args.id)
    if row is None:
        raise WorkbenchError(f"no run with id {args.id!r} (see `workbench runs`)")
    if args.markdown:
        from workbench.core.runlog import run_markdown

        # Markdown is meant to be pasted, but it is printed to a terminal first: model output
        # in it must not reach the terminal as escape sequences.
        print(terminal_safe(run_markdown(project, kind, row)))
        return 0
    if args.json:
        print(json.dumps(row, ensure_ascii=False, indent=2, default=str))
        return 0
    if kind == "retrieval-eval":
        return _show_retrieval_eval(project, row)
    if kind == "eval":  # read as `workbench eval show` prints it: one wording for a run
        from workbench.commands.evals import show_cmd

        return show_cmd(argparse.Namespace(run=f"e{row['id']}", all=False, json=False,
                                           markdown=False), project)
    if kind == "finetune":  # read as `workbench finetune show` prints it
        from workbench.commands.finetune import show_cmd as finetune_show

        return finetune_show(argparse.Namespace(job=f"f{row['id']}", json=False), project)
    if kind != "generation":
        print(json.dumps(row, ensure_ascii=False, indent=2, default=str))
        return 0
    out = sys.stdout
    from workbench.core.variants import variant_label

    row = {**row, "variant": variant_label(row.get("variant_name"), row.get("variant_id"),
                                           hash_chars=len(row.get("variant_id") or "")),
           "model_digest": _digest_text(row)}
    fields = ("id", "created_at", "source", "status", "error", "variant", "prompt_name",
              "model_requested", "model_used", "model_digest", "fallback_used", "attempts", "ttft_ms",
              "total_ms", "prompt_tokens", "completion_tokens", "tokens_per_s", "cost",
              "retrieval_status", "retrieval_id")
    for name in fields:
        value = _field_text(name, row.get(name))
        if value not in (None, ""):
            out.write(f"{name:>18}: {terminal_safe(value)}\n")
    for name, lines in (("attempt_log", [_attempt_line(a) for a in row.get("attempt_log") or []]),
                        ("warnings", [str(w) for w in row.get("warnings") or []]),
                        ("sources", [source_line(s) for s in row.get("sources") or []])):
        for i, line in enumerate(lines):
            out.write(f"{name:>18}: " if i == 0 else " " * 20)
            out.write(f"{terminal_safe(line)}\n")
    out.write("\n--- messages ---\n")
    for message in row.get("messages") or []:
        out.write(f"[{message.get('role')}]\n{terminal_safe(message.get('content', ''))}\n\n")
    if not row.get("messages"):
        out.write("(not stored)\n\n")
    if row.get("thinking"):
        out.write(f"--- thinking ---\n{terminal_safe(row['thinking'])}\n\n")
    out.write(f"--- output ---\n{terminal_safe(row.get('output') or '(none)')}\n")
    return 0


def _field_text(name: str, value: Any) -> str | None:
    """A stored value as a person reads it: '8742 ms', 'no', '17.5' (`--json` keeps the raw row)."""
    if value in (None, ""):
        return None
    if name in ("ttft_ms", "total_ms") and isinstance(value, (int, float)):
        return f"{value:.0f} ms"
    if name == "fallback_used":
        return "yes" if value else "no"
    if name == "tokens_per_s" and isinstance(value, (int, float)):
        return f"{value:.1f}"
    if name == "cost" and isinstance(value, (int, float)):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"
    if name == "retrieval_id":
        return f"r{value}  (workbench runs show r{value})"

    return str(value)


def _digest_text(row: dict[str, Any]) -> str | None:
    """'b179c9523d0e (Q4_1 + int8 dynamic, adapter 9f8e7d6c5b4a)': the weights that answered;
    None for a row stored before digests were recorded (or when no model answered)."""
    from workbench.core.llm.base import short_digest

    if not row.get("model_digest"):
        return None
    ident = row.get("model_identity") if isinstance(row.get("model_identity"), dict) else {}
    extra = [ident.get("quantization") or "",
             f"adapter {short_digest(ident['adapter_digest'])}" if ident.get("adapter_digest") else ""]
    extra = [e for e in extra if e]
    return short_digest(row["model_digest"]).split("+")[0] + (f" ({', '.join(extra)})" if extra else "")


def _attempt_line(a: Any) -> str:
    """'ollama:llama3.2 try 1: connect (5 ms) Ollama at … is not reachable'."""
    if not isinstance(a, dict):
        return str(a)
    line = f"{a.get('model')} try {a.get('attempt')}: {a.get('outcome')}"
    if a.get("elapsed_ms") is not None:
        line += f" ({a['elapsed_ms']:.0f} ms)"
    cut = a.get("partial_output")  # a host pool restarted this try elsewhere (llm/hosts.py)
    if cut:
        line += f" cut after {len(cut)} characters: {cut[:60]!r}"
    return line + (f" {a['message']}" if a.get("message") else "")


def _show_retrieval_eval(project: Any, row: dict[str, Any]) -> int:
    """A stored retrieval eval as `retrieval eval` printed it, every case included."""
    from workbench.commands.retrieval import print_eval
    from workbench.core.retrieval.traces import eval_from_row, stored_eval_deltas

    ev = eval_from_row(row)
    delta, prev_id = stored_eval_deltas(project.store, row)
    settings = row.get("settings") or {}
    out = Console(highlight=False)
    out.print(Text(terminal_safe(
        f"retrieval eval re{row['id']} of {ev.evalset}: {len(ev.cases)} labelled cases, k={ev.k}; "
        f"{(row.get('created_at') or '')[:19].replace('T', ' ')}; index version {ev.index_version}; "
        f"embedding {settings.get('embedding_model')}, chunk_tokens={settings.get('chunk_tokens')}"
        + (f"; deltas vs re{prev_id}" if prev_id else "")), style="bold"))
    print_eval(out, ev, delta, cases="all")
    return 0
