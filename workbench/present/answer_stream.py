"""`workbench ask`'s terminal stream: answer tokens to stdout, thinking and notices to stderr,
each starting on its own line where the two interleave on a screen; then the closing lines
(warnings, cited sources, stats) or one JSON object. Model text goes through `terminal_safe`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from workbench.core.citations import source_line
from workbench.core.llm.base import Notice, Thinking, Token
from workbench.core.safetext import terminal_safe
from workbench.present.generation import cli_stats_line


class AnswerStream:
    """Call with each generation event. Two "unfinished line" states: stdout's (a pipe must end
    with a newline) and the screen's, where answer (stdout) and notices/thinking (stderr) interleave."""

    def __init__(self, stream_out: bool) -> None:
        self.stream_out = stream_out
        self.out_mid_line = self.screen_mid_line = self.thinking = False

    def __call__(self, event: Any) -> None:
        if isinstance(event, Token) and self.stream_out:
            text = terminal_safe(event.text)
            if self.thinking and text:  # the answer starts below the thinking, not on its line
                if self.screen_mid_line:
                    sys.stderr.write("\n")
                self.thinking = self.screen_mid_line = False
            sys.stdout.write(text)
            sys.stdout.flush()
            if text:
                self.out_mid_line = self.screen_mid_line = not text.endswith("\n")
        elif isinstance(event, Thinking) and self.stream_out:
            text = terminal_safe(event.text)
            if not self.thinking and text:
                sys.stderr.write(("\n" if self.screen_mid_line else "") + "[thinking] ")
                self.thinking = True
            sys.stderr.write(text)
            sys.stderr.flush()
            if text:
                self.screen_mid_line = not text.endswith("\n")
        elif isinstance(event, Notice):
            if event.level == "error" and event.text.startswith("no model could answer"):
                return  # said once, as the command's error
            prefix = "\n" if self.screen_mid_line else ""
            self.screen_mid_line = self.thinking = False
            print(f"{prefix}[{event.level}] {terminal_safe(event.text)}", file=sys.stderr)

    def finish(self, record: Any) -> None:
        """End the stream's lines and print warnings, cited sources and stats (or the JSON)."""
        result = record.result
        if not self.stream_out:
            print(json.dumps(record_json(record), ensure_ascii=False))
            return
        if self.screen_mid_line and not self.out_mid_line:
            sys.stderr.write("\n")  # thinking that never turned into an answer
        if self.out_mid_line or not result.output:
            sys.stdout.write("\n")
        sys.stdout.flush()
        for warning in result.warnings:
            print(f"[warning] {terminal_safe(warning)}", file=sys.stderr)
        for source in cited_sources(record):  # what [1], [2] in the answer point at
            print(terminal_safe(source_line(source)), file=sys.stderr)
        print(cli_stats_line(record), file=sys.stderr)


def record_json(record: Any) -> dict[str, Any]:
    r = record.result
    return {
        "generation_id": record.id,
        "status": r.status,
        "output": r.output,
        "error": r.error,
        "model_requested": r.model_requested,
        "model": r.model_used,
        "fallback_used": r.fallback_used,
        "attempts": [a.as_dict() for a in r.attempts],
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "ttft_ms": r.ttft_ms,
        "total_ms": r.total_ms,
        "tokens_per_s": r.tokens_per_s,
        "cost": r.cost,
        "warnings": r.warnings,
        "variant": record.variant.id,
        "retrieval": record.grounding.status,
        "sources": cited_sources(record),
    }


def cited_sources(record: Any) -> list[dict[str, Any]]:
    """The retrieved sources, each marked as cited by the answer or not (as the row stores them)."""
    from workbench.core.pipeline import cited_sources as mark

    return list(mark(record.grounding.sources, record.result.output))
