"""Retrieval metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from workbench.core.retrieval.metrics import (
    case_metrics,
    hit_at_k,
    mean_metrics,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    units,
)

# chunk ranking: a, a, b, c, b, d, e  ->  documents a, b, c, d, e (first occurrence)
CHUNKS = [
    ("a.md#0", "a.md"),
    ("a.md#3", "a.md"),
    ("b.md#1", "b.md"),
    ("c.md#0", "c.md"),
    ("b.md#0", "b.md"),
    ("d.md#2", "d.md"),
    ("e.md#0", "e.md"),
]


def test_documents_deduplicated_by_first_occurrence():
    assert units(CHUNKS, ["c.md"]) == ["a.md", "b.md", "c.md", "d.md", "e.md"]
    # a labelled chunk: the case is ranked by chunks, so a.md#3 is 2nd and b.md#0 is its own 5th
    assert units(CHUNKS, ["a.md#3"]) == [c for c, _ in CHUNKS]
    # ... and a document label beside it still counts once, at its best chunk
    assert units(CHUNKS, ["b.md", "d.md#2"]) == ["a.md#0", "a.md#3", "b.md", "c.md#0", "d.md#2", "e.md#0"]
    # "./" prefixes in labels are normalised
    assert units(CHUNKS, ["./b.md"])[1] == "b.md"


def test_hand_computed_values():
    ranking = ["a.md", "b.md", "c.md", "d.md", "e.md"]
    rel = ["b.md", "d.md", "z.md"]  # z.md never retrieved
    assert hit_at_k(ranking, rel, 1) == 0.0
    assert hit_at_k(ranking, rel, 2) == 1.0
    assert recall_at_k(ranking, rel, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranking, rel, 5) == pytest.approx(2 / 3)
    assert precision_at_k(ranking, rel, 2) == pytest.approx(1 / 2)
    assert precision_at_k(ranking, rel, 5) == pytest.approx(2 / 5)
    assert mrr_at_k(ranking, rel, 10) == pytest.approx(1 / 2)
    assert mrr_at_k(ranking, ["e.md"], 4) == 0.0  # beyond the cutoff
    # DCG = 1/log2(3) + 1/log2(5); IDCG (3 relevant) = 1 + 1/log2(3) + 1/log2(4)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 0.5
    assert ndcg_at_k(ranking, rel, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(ranking, ["a.md"], 10) == 1.0
    assert ndcg_at_k(ranking, [], 10) == 0.0


def test_case_metrics_from_chunks_and_chunk_hit():
    m = case_metrics(CHUNKS, ["c.md"], 3)
    # documents a, b, c: c is third -> hit@3, MRR 1/3, nDCG 1/log2(4) = 0.5
    assert m["hit@k"] == 1.0 and m["recall@k"] == 1.0
    assert m["precision@k"] == pytest.approx(1 / 3)
    assert m["mrr@10"] == pytest.approx(1 / 3)
    assert m["ndcg@10"] == pytest.approx(0.5)
    # but the first 3 CHUNKS (a, a, b) do not contain c: a k=3 prompt would miss it
    assert m["chunk_hit@k"] == 0.0


def test_a_chunk_label_is_scored_at_the_chunks_rank_not_lifted_by_its_documents_other_chunks():
    # e.md#0 is the 7th chunk; merged into documents it would be 5th
    m = case_metrics(CHUNKS, ["e.md#0"], 5)
    assert m["hit@k"] == 0.0 and m["chunk_hit@k"] == 0.0
    assert m["mrr@10"] == pytest.approx(1 / 7)
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(8))


def test_mean_is_macro_average():
    a = case_metrics(CHUNKS, ["a.md"], 1)
    b = case_metrics(CHUNKS, ["zz.md"], 1)
    mean = mean_metrics([a, b])
    assert mean["hit@k"] == 0.5 and mean["mrr@10"] == 0.5 and mean["ndcg@10"] == 0.5
