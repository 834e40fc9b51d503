"""Search modes, why-not reports and stored traces, on a real index of a tiny corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.core.retrieval.index import Index, glob_to_regex, path_matches
from workbench.core.retrieval.ingest import ingest
from workbench.core.retrieval.search import highlight_spans, result_markdown, search
from workbench.core.retrieval.settings import RetrievalSettings
from workbench.core.retrieval.whynot import boundary_check, why_not
from workbench.present.retrieval_markdown import whynot_markdown


def test_every_hit_carries_each_methods_rank_and_score(built_index, embedder):
    index, settings, _ = built_index
    res = search("How many hours a day do cats sleep?", index, settings, mode="hybrid", k=3, embedder=embedder)
    assert [h.rank for h in res.hits] == [1, 2, 3]
    top = res.hits[0]
    assert top.chunk_id == "cats.md#1" and top.heading_path == "Cats > Sleeping"
    assert (top.line_start, top.line_end) == (7, 8)
    assert top.dense_rank == 1 and top.fts_rank == 1 and top.hybrid_rank == 1
    assert 0 < top.dense_score <= 1 and top.fts_score > 0
    # RRF: dense_weight/(rrf_k + 1) + fts_weight/(rrf_k + 1)
    assert top.fused_score == pytest.approx((settings.dense_weight + settings.fts_weight) / (settings.rrf_k + 1))
    assert res.latency_ms > 0 and set(res.timings_ms) == {"embed", "dense", "fts", "fuse"}
    # a chunk the full-text index does not match still shows its dense rank, and no fts rank
    only_dense = [h for h in res.candidates if h.fts_rank is None]
    assert only_dense and all(h.dense_rank is not None for h in only_dense)
    # each mode orders by its own rank
    for mode in ("dense", "fts"):
        r = search("How many hours a day do cats sleep?", index, settings, mode=mode, k=3, embedder=embedder)
        ranks = [h.rank_in(mode) for h in r.hits]
        assert ranks == sorted(ranks) and ranks[0] == 1


def test_fts_finds_exact_keyword_and_html_text(built_index, embedder):
    index, settings, _ = built_index
    res = search("AUTOINCREMENT", index, settings, mode="fts", k=1, embedder=embedder)
    assert res.hits[0].path == "sqlite.md"
    res = search("knead dough", index, settings, mode="fts", k=1, embedder=embedder)
    assert res.hits[0].path == "page.html" and res.hits[0].heading_path == "Bread baking"
    # script contents of the HTML page were not indexed
    assert not search("scriptword", index, settings, mode="fts", embedder=embedder).hits
    # odd query syntax is text, not an error
    assert search('rowid:"x AND (', index, settings, mode="fts", embedder=embedder).query


def test_path_glob_filter(built_index, embedder):
    index, settings, _ = built_index
    res = search("installer", index, settings, mode="dense", k=10, path_glob="guide/*", embedder=embedder)
    assert res.hits and {h.path for h in res.hits} == {"guide/install.rst"}
    assert glob_to_regex("lang_*.md") == r"^lang_.*\.md$"
    assert path_matches("a/b.md", "*.md") and not path_matches("a/b.rst", "*.md")


def test_highlight_spans():
    text = "Cats sleep; a sleeping cat wakes. The CATS table."
    spans = highlight_spans(text, "Do cats sleep?")
    # case-insensitive, with a crude stem: "sleeping" ~ "sleep", "cat" ~ "cats"; "table" is no term
    assert [text[a:b] for a, b in spans] == ["Cats", "sleep", "sleeping", "cat", "CATS"]
    assert highlight_spans("anything", "the of") == []
    text = "Reuse is off: a reused rowid, reuses, reusing."
    assert [text[a:b] for a, b in highlight_spans(text, "rowid reuse")] == [
        "Reuse",
        "reused",
        "rowid",
        "reuses",
        "reusing",
    ]
    assert [text[a:b] for a, b in highlight_spans(text, "reused")][:2] == ["Reuse", "reused"]


def test_why_not_reports_gold_ranked_below_k(built_index, embedder):
    index, settings, _ = built_index
    # dogs.md mentions cats in passing; cats.md is about them
    rep = why_not("Do cats sleep all day?", ["dogs.md"], index, settings, k=1, embedder=embedder)
    for mode in ("dense", "fts", "hybrid"):
        m = rep.modes[mode]
        assert m.cut_at_k and m.chunk_rank is not None and m.chunk_rank > 1
        assert m.gold.path == "dogs.md"
        assert len(m.outranked_by) == m.chunk_rank - 1
        assert any(c.path == "cats.md" for c in m.outranked_by)
    assert "cut at k=1" in rep.summary() and f"ranked {rep.modes['dense'].chunk_rank} under dense" in rep.summary()
    md = whynot_markdown(rep)
    assert "`dogs.md`" in md and "cats.md#" in md
    ok = why_not("Do cats sleep all day?", ["cats.md"], index, settings, k=1, embedder=embedder)
    assert not ok.modes["dense"].cut_at_k and ok.modes["dense"].chunk_rank == 1
    missing = why_not("cats", ["nothere.md"], index, settings, k=1, embedder=embedder)
    assert missing.missing == ["nothere.md"] and "not in the index" in missing.summary()


def test_a_chunk_label_is_ranked_among_chunks_in_metrics_case_table_and_why_not(built_index, embedder):
    """The audit: a labelled chunk ranked 21 scored hit@4 = 1 because the other chunks of its
    document were merged into one entry. Here cats.md#1 is the 5th chunk for a dogs question."""
    from types import SimpleNamespace

    from workbench.core.retrieval.evaluate import evaluate

    index, settings, _ = built_index
    question = "Do dogs need walks?"
    res = search(question, index, settings, embedder=embedder, depth=50)
    dense = [h.chunk_id for h in res.ranking("dense")]
    assert dense.index("cats.md#1") + 1 == 5 and dense[:2] == ["dogs.md#1", "dogs.md#0"]
    case = SimpleNamespace(id="chunk-label", inputs={"question": question}, relevant=["cats.md#1"], expected=None)
    rotten = SimpleNamespace(
        id="rotten", inputs={"question": question}, relevant=["cats.md#9", "dogs.md"], expected=None
    )
    ev = evaluate([case, rotten], index, settings, k=3, embedder=embedder)
    c = ev.cases[0]
    assert c.metrics["dense"]["hit@k"] == 0.0 and c.metrics["dense"]["mrr@10"] == pytest.approx(1 / 5)
    assert c.gold_rank["dense"] == 5 == c.whynot.modes["dense"].chunk_rank
    assert "ranked 5 under dense" in c.whynot.summary()
    assert c.top_docs["dense"] == ["dogs.md#1", "dogs.md#0", "cats.md#2"]
    assert ev.cases[1].missing == ["cats.md#9"]


def test_boundary_split_detected(tmp_path: Path, embedder):
    sentence = (
        "the checkpoint operation copies every committed page from the write ahead log "
        "back into the main database file and then resets the log so it can be reused"
    )
    text = "# WAL\n\n" + "Filler words about nothing. " * 6 + sentence.capitalize() + ". " + "More filler here. " * 6
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "wal.md").write_text(text, encoding="utf-8")
    settings = RetrievalSettings(chunk_tokens=30, overlap_tokens=0)
    ingest([tmp_path / "docs"], tmp_path / "data", settings, embedder=embedder)
    index = Index.open(tmp_path / "data")
    b = boundary_check(sentence, ["wal.md"], index)
    assert b.split and b.path == "wal.md"
    assert b.words_across_boundary >= b.words_in_one_chunk + 3
    a, c = b.chunk_ids
    assert int(a.split("#")[1]) + 1 == int(c.split("#")[1])
    assert not boundary_check("a paraphrase that appears nowhere in the text at all", ["wal.md"], index).split


def test_traces_stored_and_rendered(built_index, embedder, tmp_path: Path):
    from workbench.core.retrieval.traces import get_trace, list_traces, record_failure, record_search, trace_markdown
    from workbench.core.store import Store

    index, settings, _ = built_index
    res = search("AUTOINCREMENT rowid reuse", index, settings, k=2, embedder=embedder)
    with Store(tmp_path / "runs.db") as store:
        tid = record_search(store, res, source="cli")
        trace = get_trace(store, tid)
        assert trace["query"] == "AUTOINCREMENT rowid reuse" and trace["mode"] == "hybrid" and trace["k"] == 2
        assert trace["settings"]["chunk_tokens"] == 60
        assert trace["index_version"] == str(index.version)
        stored_hits = trace["results"]["hits"]
        assert [h["chunk_id"] for h in stored_hits] == [h.chunk_id for h in res.hits]
        assert {"dense_rank", "fts_rank", "hybrid_rank", "fused_score"} <= set(stored_hits[0])
        assert set(trace["results"]["top"]) == {"dense", "fts", "hybrid"}
        md = trace_markdown(trace, gold=["sqlite.md"])
        assert md.startswith(f"# Retrieval trace r{tid}") and "**gold**" in md and "## fts" in md
        assert res.hits[0].text.split()[0] in md
        fid = record_failure(store, "q", settings.to_dict(), "no retrieval index")
        assert "did not run: no retrieval index" in trace_markdown(get_trace(store, fid))
        assert [t["id"] for t in list_traces(store)] == [fid, tid]


def test_markdown_fences_survive_backticks_in_documents():
    data = {
        "query": "q",
        "mode": "dense",
        "k": 1,
        "settings": {},
        "top": {"dense": ["a#0"]},
        "chunks": {
            "a#0": {
                "chunk_id": "a#0",
                "path": "a",
                "text": "```\ncode\n```",
                "line_start": 1,
                "line_end": 3,
                "heading_path": "H | x",
            }
        },
    }
    md = result_markdown(data)
    assert "````text\n```\ncode\n```\n````" in md and "H \\| x" in md
