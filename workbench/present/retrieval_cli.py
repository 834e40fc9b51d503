"""The retrieval commands' work between parsing and exit code (`retrieve`, `retrieval
eval|diff|status`): results to stdout, notes to stderr, so `--json | jq` stays clean. The text is
present/retrieval.py's; the Markdown reports present/retrieval_markdown.py's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe
from workbench.present import retrieval as show
from workbench.present.retrieval_markdown import eval_markdown

if TYPE_CHECKING:
    from workbench.core.project import Project

ALL_MODES = ("dense", "fts", "hybrid")


def _stdout() -> Console:
    return Console(highlight=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _warn_about_index(project: Project, settings: Any) -> None:
    """On stderr: the index was chunked with other settings, or an ingest did not finish; what
    `retrieve` and `retrieval eval` scored came from that index, not from the settings."""
    from workbench.core.retrieval.operations import index_warnings

    for warning in index_warnings(project, settings):
        print(f"warning: {warning}", file=sys.stderr)


def retrieve(
    project: Project,
    query: str,
    *,
    k: int | None,
    mode: str | None,
    path_glob: str | None,
    gold: list[str],
    as_json: bool,
    markdown: bool,
) -> int:
    """`workbench retrieve`: search (offering a re-index when the index was built with another
    embedding model), print the ranked chunks, say which trace stored it."""
    from workbench.core.interrupts import interrupt_exit_code
    from workbench.core.retrieval import operations as ops
    from workbench.core.retrieval.search import gold_ranks
    from workbench.core.retrieval.traces import recorded_trace, trace_markdown
    from workbench.present.retrieval_ingest import with_reindex_offer

    settings = project.config.retrieval
    if k is not None and k < 1:
        raise WorkbenchError("--k must be at least 1", field="--k")
    if not query.strip():
        raise WorkbenchError("the query is empty: give the question or keywords to search for", field="QUERY")
    one_mode = None if mode in (None, "all") else mode

    def search() -> tuple[Any, int | None]:
        return ops.checked_retrieve(project, settings, query, mode=one_mode, k=k, path_glob=path_glob, gold=gold)

    found = with_reindex_offer(project, settings, search)
    if found is None:  # the re-index was stopped: 130 Ctrl-C, 143 SIGTERM (core/interrupts.py)
        return interrupt_exit_code()
    result, trace_id = found
    _warn_about_index(project, settings)
    ranks = gold_ranks(result, gold) if gold else None
    if as_json:
        data = result.to_dict()
        data["trace_id"] = trace_id
        if gold:
            data["gold"], data["gold_ranks"] = gold, ranks
        print(json.dumps(data, ensure_ascii=False, indent=2))
    elif markdown:  # the stored trace's report: the same as `runs show rID --markdown`
        assert trace_id is not None  # retrieve() records the trace unless told not to
        print(terminal_safe(trace_markdown(recorded_trace(project.store, trace_id))))
    else:
        modes = ALL_MODES if mode == "all" else (result.mode,)
        show.print_results(_stdout(), result, query, modes, gold, ranks)
        _stderr().print(show.trace_line(trace_id, result))
    return 0


def evaluate(
    project: Project,
    evalset: str | None,
    *,
    k: int | None,
    modes: Sequence[str],
    against: str | None,
    cases: str,
    as_json: bool,
    markdown: bool,
) -> None:
    """`retrieval eval`: score and store, then print the metrics with their deltas."""
    from workbench.core.retrieval.operations import eval_and_store

    stored = eval_and_store(project, evalset, k=k, modes=tuple(modes), against=against)
    _warn_about_index(project, project.config.retrieval)  # stored with the eval too (ev.stale_index)
    ev, eval_id, comparison = stored.ev, stored.eval_id, stored.comparison
    delta, before_id = stored.deltas, stored.before_id
    if as_json:
        d = ev.to_dict()
        d["eval_id"], d["previous_eval_id"], d["deltas"] = eval_id, before_id, delta
        d["comparison"] = comparison.to_dict() if comparison else None
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return
    if markdown:
        print(terminal_safe(eval_markdown(ev, delta, eval_id, before_id, comparison.notes() if comparison else ())))
        return
    out = _stdout()
    out.print(show.eval_header(ev))
    show.print_eval(out, ev, delta, cases=cases)
    if comparison:
        show.print_comparison_notes(out, comparison)
    _stderr().print(show.stored_line(eval_id, before_id))


def diff(project: Project, a_ref: str, b_ref: str, *, as_json: bool, markdown: bool) -> None:
    """`retrieval diff`: eval B's metrics with deltas against A, what changed, cases that moved."""
    from workbench.core.retrieval.compare import compare_evals, load_eval
    from workbench.core.retrieval.traces import eval_from_row

    a, b = load_eval(project.store, a_ref), load_eval(project.store, b_ref)
    comparison = compare_evals(a, b)
    if as_json:
        print(json.dumps(comparison.to_dict(), ensure_ascii=False, indent=2))
        return
    ev = eval_from_row(b)
    if markdown:
        print(terminal_safe(eval_markdown(ev, comparison.deltas, b["id"], a["id"], comparison.notes())))
        return
    show.print_diff(_stdout(), a["id"], b["id"], ev, comparison)


def status(project: Project, *, as_json: bool) -> int:
    """`retrieval status`: one line on what the index holds; exit 2 when it cannot serve."""
    from workbench.core.retrieval.operations import index_status

    meta, problem = index_status(project)
    if as_json:
        data = {
            "ok": problem is None,
            "problem": problem,
            "meta": meta,
            "configured": project.config.retrieval.to_dict(),
        }
        print(json.dumps(data, ensure_ascii=False, indent=2))
    elif problem:
        _stdout().print(
            Text(terminal_safe(problem), style="red"), soft_wrap=True
        )  # a path cut at the width would not paste
    else:
        _stdout().print(show.status_line(meta), soft_wrap=True)  # one line, as scripts read it; the terminal wraps it
    return 0 if problem is None else 2
