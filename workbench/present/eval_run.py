"""`eval run`'s terminal text: the unindexed-label warning, the stop message with the command that
resumes, and the finished run (JSON or text: summary, failures, diff, gate). Model and user text
goes through `terminal_safe` and Rich `Text`, never markup.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from workbench.core.evals.run_plan import Stop, Verdict
from workbench.present.gate import gate_json
from workbench.present.terminal import console, plain

if TYPE_CHECKING:
    from workbench.core.store import Store


def print_all(out: Console, *groups: list[Any]) -> None:
    for group in groups:
        for line in group:
            out.print(line)


def warn_unindexed(unknown: list[str]) -> None:
    if unknown:
        print(
            f"warning: {len(unknown)} `relevant` label(s) name no indexed document (paths are "
            f"relative to the corpus folder): {', '.join(unknown[:5])}"
            + (" …" if len(unknown) > 5 else "")
            + "; retrieval metrics count them as never "
            "retrieved",
            file=sys.stderr,
        )


def warn_incomplete_index(note: str | None) -> None:
    """A partial index (a first ingest stopped part-way) makes retrieval misses that are not the
    variant's: said before the run (the run row records it too, and `eval diff` warns)."""
    if note:
        print(f"warning: {note}; this run records it, and a diff against it will say so", file=sys.stderr)


def resume_command(project_root: Path, evalset: str | None, choice: dict[str, str | None], run_id: int | None) -> str:
    """The command that continues a cancelled run, ready to paste: with `-p DIR` when the project
    is not the current folder, and the flags that chose the variant (a resume with another
    variant is refused). CHOICE: --variant/--prompt/--model as given."""
    try:
        here: Path | None = Path.cwd().resolve()
    except OSError:  # the current folder was removed meanwhile
        here = None
    words = ["workbench"]
    if project_root != here:
        words += ["-p", str(project_root)]
    words += ["eval", "run", *([evalset] if evalset else [])]
    for flag, value in choice.items():
        if value:
            words += [f"--{flag}", value]
    return shlex.join([*words, "--resume", str(run_id)])


def print_stop(stop: Stop, resume: str) -> None:
    if stop.run_id is None:  # before the run's row existed
        print(f"{stop.how} before the run started: nothing stored", file=sys.stderr)
    else:
        print(
            f"{stop.how}: {stop.done} finished case(s) kept in run {stop.run_id}; continue with `{resume}`",
            file=sys.stderr,
        )


def run_notes(outcome: Any, verdict: Verdict) -> list[Any]:
    """Under a finished run's summary: which model answered when it was not the one asked for
    (`answered: model embedded @b179c9523d0e (fell back from ollama:llama3.2, unreachable)`),
    and, on a set's first run, why no resolution is printed yet."""
    from workbench.core.evals.answered import model_words
    from workbench.present.evals import text

    summary = outcome.summary
    answered = summary.get("answered_by") or []
    out = []
    if any(group.get("fell_back_from") for group in answered):
        out.append(text(f"answered: {model_words(None, None, answered)}", "yellow"))
    if outcome.status == "done" and not summary.get("resolution") and verdict.diff is None:
        out.append(
            text(
                "resolution: measured from the flips between two runs of the set, so it shows from "
                "the next run on (or with --baseline)",
                "dim",
            )
        )
    return out


def print_run(outcome: Any, verdict: Verdict, evalset: Any, *, as_json: bool) -> None:
    diff, gate, gated = verdict.diff, verdict.gate, verdict.gated
    if as_json:
        print(
            json.dumps(
                {
                    "run_id": outcome.run_id,
                    "status": outcome.status,
                    "skipped": outcome.skipped,
                    "summary": outcome.summary,
                    "diff": diff.to_dict(only="changed") if diff else None,
                    "gate": gate_json(gate) if gated else None,
                },
                ensure_ascii=False,
            )
        )
        return
    from workbench.core.evals.case_texts import evalset_texts
    from workbench.present import evals as present

    out = console()
    out.print(
        present.text(
            f"run e{outcome.run_id}: {outcome.status}"
            + (f" ({outcome.skipped} case(s) kept from before the resume)" if outcome.skipped else "")
        )
    )
    print_all(
        out,
        present.summary_texts(outcome.summary),
        run_notes(outcome, verdict),
        present.failure_texts(outcome.results, limit=15),
    )
    if diff is not None:
        out.print()
        print_all(
            out, present.diff_texts(diff, only="changed", limit=15, texts=evalset_texts(evalset), plain=plain(out))
        )
    if gated:
        out.print()
        print_all(out, present.gate_texts(gate))


def print_diff(store: Store, diff: Any, rows: Sequence[Mapping[str, Any]], *, only: str | None, as_json: bool) -> None:
    """`eval diff`: JSON, or the diff with each case's question and answers (ROWS: the two runs)."""
    if as_json:
        print(json.dumps(diff.to_dict(only=only), ensure_ascii=False))
        return
    from workbench.core.evals.case_texts import case_texts
    from workbench.present.evals import diff_texts

    out = console()
    print_all(out, diff_texts(diff, only=only, texts=case_texts(store, rows), plain=plain(out)))


def print_show(
    row: Mapping[str, Any],
    results: list[Any],
    summary: dict[str, Any],
    *,
    as_json: bool,
    markdown: bool,
    everything: bool,
) -> None:
    """`eval show`: the stored run as JSON, a Markdown report, or its summary and (failing) cases."""
    if as_json:
        print(
            json.dumps(
                {
                    "run": {k: v for k, v in row.items() if k != "summary"},
                    "summary": summary,
                    "results": [{**r.to_dict(), "output": r.output, "status": r.status} for r in results],
                },
                ensure_ascii=False,
                default=str,
            )
        )
    elif markdown:
        from workbench.core.evals import runstore
        from workbench.present.eval_export import markdown_report

        sys.stdout.write(markdown_report(summary, runstore.run_info(row)))
    else:
        from workbench.present.evals import show_texts

        print_all(console(), show_texts(row, results, summary, everything=everything))
