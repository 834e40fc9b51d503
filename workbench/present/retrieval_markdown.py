"""Markdown reports of a retrieval eval (`retrieval eval --markdown`, `retrieval diff --markdown`,
`runs show reN --markdown`) and of one case's why-not: a file format to paste into a pull
request or chat, with its scores and deltas formatted by present/numbers.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.core.retrieval.metrics import METRIC_NAMES
from workbench.present.numbers import plural, score, signed_score
from workbench.present.retrieval import stale_eval_note

if TYPE_CHECKING:
    from workbench.core.retrieval.evaluate import RetrievalEval
    from workbench.core.retrieval.whynot import ChunkRef, WhyNot
    from workbench.core.store import Store


def _scores(c: ChunkRef, *, ranks: str = "({})") -> tuple[str, str, str]:
    """A chunk's dense, full-text and fused scores, each with its rank."""
    return (
        f"{score(c.dense_score)} {ranks.format(c.dense_rank or '-')}",
        f"{score(c.fts_score, 2)} {ranks.format(c.fts_rank or '-')}",
        f"{score(c.fused_score, 4)} {ranks.format(c.hybrid_rank or '-')}",
    )


def whynot_markdown(report: WhyNot) -> str:
    """One case's why-not: per mode where its gold chunk ranked and what outranked it, then
    whether the reference answer straddles a chunk boundary."""
    lines = [f"## Why not retrieved{f': `{report.case_id}`' if report.case_id else ''}", ""]
    lines.append(f"**Question:** {report.query}")
    lines.append("")
    lines.append(f"**Relevant:** {', '.join(f'`{r}`' for r in report.relevant)}  ")
    lines.append(f"**Summary:** {report.summary()}")
    lines.append("")
    for m in report.modes.values():
        lines.append(f"### {m.mode}: {m.sentence()}" + (f" — cut at k={m.k}" if m.cut_at_k else ""))
        lines.append("")
        if m.gold:
            g = m.gold
            dense, fts, fused = _scores(g, ranks="(rank {})")
            lines.append(
                f"Best gold chunk `{g.chunk_id}` ({g.heading_path or g.path}, lines {g.line_start}-{g.line_end}): "
                f"dense {dense}, full-text {fts}, fused {fused}"
            )
            lines.append("")
        if m.outranked_by:
            lines.append("| rank | chunk | heading | dense | fts | fused |")
            lines.append("|---:|---|---|---|---|---|")
            for i, c in enumerate(m.outranked_by):
                heading = c.heading_path.replace("|", "/")
                lines.append(f"| {i + 1} | `{c.chunk_id}` | {heading} | " + " | ".join(_scores(c)) + " |")
            lines.append("")
    b = report.boundary
    if b is not None:
        if b.split and b.chunk_ids:
            lines.append(
                f"**Chunk boundary:** the reference answer straddles `{b.chunk_ids[0]}` | `{b.chunk_ids[1]}`: "
                f"{b.words_across_boundary} consecutive answer words across the boundary, at most "
                f"{b.words_in_one_chunk} inside one chunk."
            )
        else:
            lines.append(
                f"**Chunk boundary:** no split found (longest answer run inside one chunk: "
                f"{b.words_in_one_chunk} words)."
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def eval_markdown(
    ev: RetrievalEval,
    delta: dict[str, Any] | None,
    eval_id: int | None,
    previous_id: int | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The report `retrieval eval --markdown` and `runs show reN --markdown` print: metrics per
    mode (with deltas against the previous eval of the set, or the one compared with, and
    `notes`: what the comparison warns about), then a why-not per missed case."""
    names = [n.replace("@k", f"@{ev.k}") for n in METRIC_NAMES]
    lines = [
        f"# Retrieval eval{f' re{eval_id}' if eval_id else ''}: {ev.evalset}",
        "",
        f"{len(ev.cases)} labelled cases, k={ev.k}, index version {ev.index_version}, "
        f"embedding `{ev.settings.get('embedding_model')}`, chunk_tokens={ev.settings.get('chunk_tokens')}",
        "",
    ]
    stale = stale_eval_note(ev)
    if stale:
        lines += [f"**Warning:** {stale}.", ""]
    lines += [
        "| mode | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    moved = False
    for m in ev.modes:
        cells = []
        for n in METRIC_NAMES:
            cell = score(ev.metrics[m][n])
            if delta and m in delta and abs(delta[m].get(n, 0.0)) >= 0.0005:
                cell += f" ({signed_score(delta[m][n])})"
                moved = True
            cells.append(cell)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    if moved and previous_id:
        lines += ["", f"Deltas in brackets are against retrieval eval re{previous_id}."]
    if previous_id and notes:
        lines += [""] + [f"- {n}" for n in notes]
    lines.append("")
    for c in ev.cases:
        if c.whynot is not None:
            lines.append(whynot_markdown(c.whynot))
    return "\n".join(lines).rstrip() + "\n"


def stored_eval_markdown(store: Store, row: dict[str, Any]) -> str:
    """`workbench runs show reN --markdown`: the report `retrieval eval --markdown` printed."""
    from workbench.core.retrieval.traces import eval_from_row, stored_eval_comparison

    comparison = stored_eval_comparison(store, row)
    return eval_markdown(
        eval_from_row(row),
        comparison.deltas if comparison else None,
        row.get("id"),
        comparison.before_id if comparison else None,
        comparison.notes() if comparison else (),
    )


def tune_markdown(row: dict[str, Any]) -> str:
    """A stored `retrieval tune` sweep (`runs show rtN --markdown`): every configuration with its
    nDCG@10, recall@k, MRR@10 and paired-bootstrap delta against the settings it started from."""
    from workbench.core.retrieval.tune import TuneResult
    from workbench.present.retrieval import tune_cells, tune_columns
    from workbench.present.runs import tune_header

    res = TuneResult.from_dict(row["result"])
    lines = [f"### {tune_header(row)}", ""]
    stopped = " (stopped early)" if res.cancelled else ""
    lines.append(f"{plural(res.n_cases, 'labelled case')}, k={res.k}{stopped}.")
    columns = tune_columns(res.k)
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in res.rows:  # the cells the terminal table shows, the winner in bold
        *cells, mark = (cell.strip() for cell in tune_cells(res, r))
        lines.append("| " + " | ".join([*cells, f"**{mark}**" if mark == "winner" else mark]) + " |")
    lines += ["", "\\* the interval excludes 0: a real difference on these cases, not noise of the sample."]
    return "\n".join(lines) + "\n"
