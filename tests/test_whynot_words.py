"""The words of the why-not pane's "outranked by" count and of the counts in retrieval's tune cost
line and `retrieval diff` header: each says the number a user actually reads below it, and one of
a thing reads singular."""

from __future__ import annotations

from rich.console import Console

from workbench.core.retrieval.whynot import ChunkRef, ModeReport, WhyNot
from workbench.present.retrieval import render_whynot, tune_cost_line


def _ref(i: int) -> ChunkRef:
    return ChunkRef(f"cats.md#{i}", "cats.md", "Cats", i, i + 1, 0.5, i + 1, 1.0, i + 1, 0.01, i + 1)


def _report(chunk_rank: int | None, stored: int) -> WhyNot:
    gold = _ref(99) if chunk_rank else None
    mode = ModeReport("dense", 1, 100, chunk_rank, chunk_rank, gold, True, [_ref(i) for i in range(stored)])
    return WhyNot("do cats sleep?", ["dogs.md"], 1, {"dense": mode})


def _outranked_lines(report: WhyNot) -> list[str]:
    lines = render_whynot(report, {}).plain.splitlines()
    start = next(i for i, line in enumerate(lines) if "outranked by" in line)
    return [lines[start]] + [line for line in lines[start + 1 :] if line.startswith("   ")]


def test_a_gold_chunk_ranked_12th_says_5_of_its_11_outrankers_are_listed():
    lines = _outranked_lines(_report(12, 10))  # the report keeps the first 10 of the 11 above
    assert lines[0].strip() == "outranked by (5 of 11 shown):"
    assert len(lines) == 6


def test_a_gold_chunk_ranked_4th_lists_all_3_above_it():
    lines = _outranked_lines(_report(4, 3))
    assert lines[0].strip() == "outranked by (3 shown):"
    assert len(lines) == 4


def test_a_gold_chunk_beyond_the_search_depth_says_how_many_of_the_kept_are_listed():
    lines = _outranked_lines(_report(None, 10))
    assert lines[0].strip() == "outranked by (5 of 10 shown):"
    assert len(lines) == 6


def test_the_tune_cost_line_reads_singular_for_one_case_and_one_chunking():
    line = tune_cost_line(8, 1, 1, 0, 40, 0.0).plain
    assert "1 chunking, 1 labelled case;" in line
    assert "2 chunkings, 3 labelled cases;" in tune_cost_line(8, 2, 3, 0, 40, 0.0).plain


def test_retrieval_diff_header_reads_singular_for_one_case():
    from types import SimpleNamespace

    from workbench.present.retrieval import print_diff

    out = Console(width=160, record=True, color_system=None)
    # a one-case eval with no modes: the header is what this checks, the metrics table stays empty
    ev = SimpleNamespace(evalset="tiny", cases=[object()], k=1, modes=(), best_mode=None)
    comparison = SimpleNamespace(deltas=None, moved=[], warnings=[], changes=[], before_id=1)
    print_diff(out, 1, 2, ev, comparison)  # type: ignore[arg-type]
    assert "Retrieval eval re2 vs re1: tiny, 1 labelled case, k=1; Δ = re2 - re1" in out.export_text()
