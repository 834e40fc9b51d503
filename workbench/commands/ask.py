"""`workbench ask "QUESTION"`: one streamed, stored, metered answer."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from workbench.core.errors import NoModelAnswered, WorkbenchError
from workbench.present.answer_stream import AnswerStream

if TYPE_CHECKING:
    from workbench.core.project import Project


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ask",
        help="ask a question; streams the answer and stores the run",
        description="Ask a question with a project prompt. Tokens stream to "
        "stdout; a stats line goes to stderr. Exit codes: 0 ok, 1 answer "
        "incomplete, 2 bad config or input, 3 no model could answer, 130 Ctrl-C, "
        "141 the reader closed stdout (`| head`), 143 SIGTERM (the last two also "
        "store the partial answer as `interrupted`).",
    )
    p.add_argument("question", help="the question (fills {question} in the prompt template)")
    p.add_argument("--prompt", help="prompt name (a file in prompts/)")
    p.add_argument("--variant", help="a named variant from workbench.yaml")
    p.add_argument("--model", help="ollama:NAME or embedded (overrides the configured model)")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE", help="a template variable (repeatable)")
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


def run(args: argparse.Namespace, project: Project) -> int:
    from workbench.core.pipeline import run_generation
    from workbench.core.variants import resolve_variant

    inputs = {"question": args.question, **parse_vars(args.var)}
    variant = resolve_variant(project, args.variant, prompt=args.prompt, model=args.model)
    if not args.question.strip():
        raise WorkbenchError("the question is empty", field="question")
    stream = AnswerStream(stream_out=not args.json)
    record = asyncio.run(run_generation(project, variant, inputs, source="cli", on_event=stream))
    stream.finish(record)
    result = record.result
    if result.no_model_answered:
        raise NoModelAnswered(result.error or "no model could answer")
    return 0 if result.status in ("ok", "truncated") else 1
