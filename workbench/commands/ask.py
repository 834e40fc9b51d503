"""`workbench ask "QUESTION"`: one streamed, stored, metered answer."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from workbench.core.citations import source_line
from workbench.core.errors import NoModelAnswered, WorkbenchError
from workbench.core.llm.base import Notice, Thinking, Token
from workbench.core.safetext import terminal_safe
from workbench.present.generation import cli_stats_line


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="ask a question; streams the answer and stores the run",
                       description="Ask a question with a project prompt. Tokens stream to "
                       "stdout; a stats line goes to stderr. Exit codes: 0 ok, 1 answer "
                       "incomplete, 2 bad config or input, 3 no model could answer, 130 Ctrl-C, "
                       "141 the reader closed stdout (`| head`), 143 SIGTERM (the last two also "
                       "store the partial answer as `interrupted`).")
    p.add_argument("question", help="the question (fills {question} in the prompt template)")
    p.add_argument("--prompt", help="prompt name (a file in prompts/)")
    p.add_argument("--variant", help="a named variant from workbench.yaml")
    p.add_argument("--model", help="ollama:NAME or embedded (overrides the configured model)")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                   help="a template variable (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(func=run)


def parse_vars(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise WorkbenchError(f"--var expects KEY=VALUE, got {pair!r}", field="--var")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def run(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.pipeline import run_generation
    from workbench.core.variants import resolve_variant

    inputs = {"question": args.question, **parse_vars(args.var)}
    variant = resolve_variant(project, args.variant, prompt=args.prompt, model=args.model)
    if not args.question.strip():
        raise WorkbenchError("the question is empty", field="question")
    stream_out = not args.json
    # Two "unfinished line" states: stdout's (a pipe must end with a newline) and the screen's,
    # where answer (stdout) and notices/thinking (stderr) interleave.
    out_mid_line = screen_mid_line = thinking = False

    def on_event(event: Any) -> None:
        nonlocal out_mid_line, screen_mid_line, thinking
        if isinstance(event, Token) and stream_out:
            text = terminal_safe(event.text)
            if thinking and text:  # the answer starts below the thinking, not on its line
                if screen_mid_line:
                    sys.stderr.write("\n")
                thinking = screen_mid_line = False
            sys.stdout.write(text)
            sys.stdout.flush()
            if text:
                out_mid_line = screen_mid_line = not text.endswith("\n")
        elif isinstance(event, Thinking) and stream_out:
            text = terminal_safe(event.text)
            if not thinking and text:
                sys.stderr.write(("\n" if screen_mid_line else "") + "[thinking] ")
                thinking = True
            sys.stderr.write(text)
            sys.stderr.flush()
            if text:
                screen_mid_line = not text.endswith("\n")
        elif isinstance(event, Notice):
            if event.level == "error" and event.text.startswith("no model could answer"):
                return  # said once, as the command's error, below
            prefix = "\n" if screen_mid_line else ""
            screen_mid_line = thinking = False
            print(f"{prefix}[{event.level}] {terminal_safe(event.text)}", file=sys.stderr)

    record = asyncio.run(run_generation(project, variant, inputs, source="cli", on_event=on_event))
    result = record.result
    if stream_out:
        if screen_mid_line and not out_mid_line:
            sys.stderr.write("\n")  # thinking that never turned into an answer
        if out_mid_line or not result.output:
            sys.stdout.write("\n")
        sys.stdout.flush()
        for warning in result.warnings:
            print(f"[warning] {terminal_safe(warning)}", file=sys.stderr)
        for source in cited_sources(record):  # what [1], [2] in the answer point at
            print(terminal_safe(source_line(source)), file=sys.stderr)
        print(cli_stats_line(record), file=sys.stderr)
    else:
        print(json.dumps(record_json(record), ensure_ascii=False))
    if result.no_model_answered:
        raise NoModelAnswered(result.error or "no model could answer")
    return 0 if result.status in ("ok", "truncated") else 1


def record_json(record: Any) -> dict[str, Any]:
    r = record.result
    return {
        "generation_id": record.id, "status": r.status, "output": r.output,
        "error": r.error, "model_requested": r.model_requested, "model": r.model_used,
        "fallback_used": r.fallback_used,
        "attempts": [a.as_dict() for a in r.attempts],
        "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
        "ttft_ms": r.ttft_ms, "total_ms": r.total_ms, "tokens_per_s": r.tokens_per_s,
        "cost": r.cost, "warnings": r.warnings, "variant": record.variant.id,
        "retrieval": record.grounding.status,
        "sources": cited_sources(record),
    }


def cited_sources(record: Any) -> list[dict[str, Any]]:
    """The retrieved sources, each marked as cited by the answer or not (as the row stores them)."""
    from workbench.core.pipeline import cited_sources as mark

    return mark(record.grounding.sources, record.result.output)
