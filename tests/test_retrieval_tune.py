"""Issue 13: the document vector in dense ranking, bootstrap CIs, `retrieval tune`, the
benchmark sets' man-page reader. Real index and embedding model where a search is involved."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.core.retrieval.bootstrap import is_real, paired_delta_ci, ratio_ci
from workbench.core.retrieval.search import fuse
from workbench.core.retrieval.settings import RetrievalSettings
from workbench.core.retrieval.tune_project import set_retrieval_keys

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def _row(cid: str, path: str, cos: float) -> dict:
    return {"chunk_id": cid, "path": path, "_distance": 1.0 - cos, "text": cid}


def test_a_long_document_with_one_lucky_chunk_no_longer_outranks_the_document_about_the_question():
    # long.md's third chunk edges out short.md's only chunk, but long.md as a whole is about
    # something else: with the document vector, short.md ranks first under dense and hybrid
    rows = [
        _row("long.md#3", "long.md", 0.62),
        _row("short.md#0", "short.md", 0.60),
        _row("long.md#1", "long.md", 0.40),
    ]
    sims = {"long.md": 0.20, "short.md": 0.58}
    plain = fuse(rows, [], RetrievalSettings(doc_weight=0.0))
    assert [h.path for h in sorted(plain, key=lambda h: h.dense_rank)][0] == "long.md"
    hits = fuse(rows, [], RetrievalSettings(doc_weight=0.5), doc_sims=sims)
    by_dense = sorted(hits, key=lambda h: h.dense_rank)
    assert [h.chunk_id for h in by_dense] == ["short.md#0", "long.md#3", "long.md#1"]
    assert by_dense[0].dense_score == pytest.approx(0.60) and by_dense[0].doc_score == pytest.approx(0.58)
    assert min(hits, key=lambda h: h.hybrid_rank).chunk_id == "short.md#0"


def test_document_vectors_are_the_mean_of_each_documents_chunk_vectors(retrieval_project: Path, capsys):
    from workbench.core.project import Project
    from workbench.core.retrieval.search import doc_vectors
    from workbench.core.retrieval.service import open_index

    assert main(["--project", str(retrieval_project), "ingest"]) == 0
    project = Project.open(retrieval_project)
    index = open_index(project, project.config.retrieval)
    rows_of, mat = doc_vectors(index)
    tbl = index.table.search().select(["path", "vector"]).limit(None).to_arrow().to_pydict()
    for path in set(tbl["path"]):
        vs = np.asarray([v for p, v in zip(tbl["path"], tbl["vector"], strict=True) if p == path], dtype=np.float32)
        want = vs.mean(axis=0) / np.linalg.norm(vs.mean(axis=0))
        assert np.allclose(mat[rows_of[path]], want, atol=1e-5)
    assert doc_vectors(index)[1] is mat  # cached for the same index contents


def test_paired_bootstrap_says_a_consistent_gain_is_real_and_a_coin_flip_is_not():
    old = [0.5] * 60
    new = [0.6] * 55 + [0.5] * 5
    d, lo, hi = paired_delta_ci(new, old, seed=1)
    assert d == pytest.approx(0.0917, abs=1e-3) and is_real(lo, hi)
    noisy = [0.6 if i % 2 else 0.4 for i in range(60)]
    d, lo, hi = paired_delta_ci(noisy, old, seed=1)
    assert not is_real(lo, hi) and lo < 0 < hi
    r, lo, hi = ratio_ci(new, old, seed=1)
    assert r == pytest.approx(sum(new) / sum(old)) and lo <= r <= hi


def test_apply_edits_only_the_retrieval_keys_and_keeps_every_comment(tmp_path: Path):
    text = (
        "# my project\nmodel: ollama:qwen  # the small one\nretrieval:\n  # where the docs are\n"
        "  corpus: [docs]\n  fts_weight: 0.5  # tried 1.0, worse\n  k: 2\n"
    )
    out = set_retrieval_keys(
        tmp_path / "workbench.yaml", text, {"fts_weight": 0.25, "doc_weight": 0.5, "mode": "dense"}
    )
    assert out.splitlines() == [
        "# my project",
        "model: ollama:qwen  # the small one",
        "retrieval:",
        "  doc_weight: 0.5",
        '  mode: "dense"',
        "  # where the docs are",
        "  corpus: [docs]",
        "  fts_weight: 0.25  # tried 1.0, worse",
        "  k: 2",
    ]
    appended = set_retrieval_keys(tmp_path / "w.yaml", "model: x\n", {"rrf_k": 10})
    assert appended == "model: x\n\nretrieval:\n  rrf_k: 10\n"


def test_tune_says_the_cost_first_and_its_current_row_is_what_retrieval_eval_reports(retrieval_project: Path, capsys):
    assert main(["--project", str(retrieval_project), "ingest"]) == 0
    capsys.readouterr()
    assert main(["--project", str(retrieval_project), "retrieval", "tune", "tiny", "--json"]) == 0
    cap = capsys.readouterr()
    assert "re-index cost:" in cap.err and "texts to embed (chunks, document windows, questions;" in cap.err
    res = json.loads(cap.out)
    current = next(r for r in res["rows"] if r["config"] == res["current"])
    assert len(res["rows"]) > 20 and res["n_cases"] == 3
    assert all(not r["real"] for r in res["rows"])  # 3 cases cannot show a real difference
    assert main(["--project", str(retrieval_project), "retrieval", "eval", "tiny", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    mode = res["current"]["mode"]
    assert current["metrics"]["ndcg@10"] == pytest.approx(ev["metrics"][mode]["ndcg@10"])
    assert current["metrics"]["mrr@10"] == pytest.approx(ev["metrics"][mode]["mrr@10"])
    # the second run embeds nothing: every chunking's texts are cached
    assert main(["--project", str(retrieval_project), "retrieval", "tune", "tiny", "--json"]) == 0
    assert "0 of" in capsys.readouterr().err


def test_the_man_page_reader_drops_the_name_line_from_the_gold_page():
    from retrieval_sets import roff_to_markdown

    src = (
        ".TH LS 1\n.SH NAME\nls \\- list directory contents\n.SH DESCRIPTION\n"
        "List information about the \\fBFILE\\fRs.\n.TP\n\\fB\\-a\\fR, \\fB\\-\\-all\\fR\ndo not ignore entries\n"
    )
    names, desc, body = roff_to_markdown(src)
    assert (names, desc) == ("ls", "list directory contents")
    assert "list directory contents" not in body
    assert body.splitlines()[0] == "## Description" and "-a, --all" in body and "FILEs" in body


def test_the_held_out_docstring_set_caps_each_module_and_hides_each_question_from_its_gold():
    from retrieval_sets import LIB_MODULES, MAX_PER_MODULE, _py_set

    items = _py_set(LIB_MODULES, MAX_PER_MODULE)
    assert len(items) >= 250  # enough documents for a set (DOCS_PER_SET is 300)
    per: dict[str, int] = {}
    for qual, question, doc in items:
        module = next(m for m in LIB_MODULES if qual.startswith(m + "."))
        per[module] = per.get(module, 0) + 1
        assert doc.startswith(f"# {qual}\n") and question not in doc
    assert max(per.values()) <= MAX_PER_MODULE  # huggingface_hub.hf_api alone has ~330
    assert len(per) >= 15


@pytest.mark.parametrize("same_chunking", [True, False])
def test_apply_updates_the_index_only_as_far_as_the_winner_needs_and_reproduces_its_score(
    retrieval_project: Path, capsys, monkeypatch, same_chunking: bool
):
    # Only the choice is forced (3 cases never make a difference real); writing, indexing and
    # scoring are real. A winner with the same chunking changes how the index is searched, so
    # nothing is embedded again; one with another chunking is re-chunked from the tune's cache.
    from workbench.core.retrieval.tune import TuneResult

    chosen = []

    def forced(self: TuneResult):
        same = (self.current.chunk_tokens, self.current.overlap_tokens)
        chosen.append(
            next(
                r
                for r in self.rows
                if r.config.mode == "dense"
                and ((r.config.chunk_tokens, r.config.overlap_tokens) == same) == same_chunking
            )
        )
        return chosen[-1]

    monkeypatch.setattr(TuneResult, "winner", property(forced))
    project = ["--project", str(retrieval_project)]
    assert main([*project, "ingest"]) == 0
    capsys.readouterr()
    assert main([*project, "retrieval", "tune", "tiny", "--apply"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    winner = chosen[-1]
    assert '+ mode: "dense"' in out, out
    if same_chunking:
        assert "index unchanged (same chunking)" in out, out
    else:
        assert f"+ chunk_tokens: {winner.config.chunk_tokens}" in out, out
        assert "chunked again" in out and "chunks, 0 texts embedded" in out, out
    m = winner.metrics
    assert f"dense nDCG@10 {m['ndcg@10']:.3f}, MRR@10 {m['mrr@10']:.3f}" in out, out
    # the stored sweep names the retrieval eval that scored its applied winner
    assert main([*project, "runs", "--kind", "retrieval-tune", "--json"]) == 0
    assert "applied: re1" in json.loads(capsys.readouterr().out)["summary"]


def test_a_tune_is_stored_as_a_run_and_shown_again_with_what_was_applied(retrieval_project: Path, capsys):
    project = ["--project", str(retrieval_project)]
    assert main([*project, "ingest"]) == 0
    capsys.readouterr()
    assert main([*project, "retrieval", "tune", "tiny"]) == 0
    cap = capsys.readouterr()
    assert "stored as rt1" in cap.err
    printed = cap.out
    assert main([*project, "runs", "--kind", "retrieval-tune", "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == "rt1" and row["status"] == "done"
    # 3 cases never make a difference real, so the listing says so instead of naming a winner
    assert row["summary"].startswith("tiny: no configuration really better than the current (nDCG ")
    assert row["summary"].endswith("38 configurations, 3 cases"), row["summary"]
    # `runs show` prints the table the sweep printed, under a header naming where it started
    assert main([*project, "runs", "show", "rt1"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("retrieval tune rt1 on tiny (")
    table = lambda text: [line for line in text.splitlines() if line.startswith(("│", "┃"))]  # noqa: E731
    assert table(shown) == table(printed)
    # off a terminal each configuration is one line (Rich's 80 columns wrapped each into four)
    assert sum("chunk=" in line for line in table(printed)) == 38
    assert main([*project, "runs", "show", "rt1", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "| configuration | nDCG@10 | recall@2 | MRR@10 |" in md and md.count("| current |") == 1


def test_ctrl_c_in_a_tune_keeps_what_finished_exits_130_and_the_rerun_embeds_only_the_rest(
    retrieval_project: Path, capsys, monkeypatch
):
    import os
    import signal

    from workbench.core.retrieval.tune_project import TunePlan

    real_run = TunePlan.run

    def run_then_ctrl_c(self, project, **kwargs):  # a real SIGINT once the second chunking is indexed
        say = kwargs["progress"]

        def progress(what: str, done: int, total: int) -> None:
            say(what, done, total)
            if what.startswith("scoring") and "250/50" in what and done == 1:
                os.kill(os.getpid(), signal.SIGINT)

        return real_run(self, project, **{**kwargs, "progress": progress})

    project = ["--project", str(retrieval_project)]
    assert main([*project, "ingest"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(TunePlan, "run", run_then_ctrl_c)
    assert main([*project, "retrieval", "tune", "tiny"]) == 130
    cap = capsys.readouterr()
    err = " ".join(cap.err.split())
    assert "stopping; finished configurations are kept" in err
    assert "stopped: 18 of 38 configurations scored (stored as rt1)" in err  # the first chunking's
    assert "run `workbench retrieval tune` again to finish" in err
    assert "(stopped early)" in cap.out and cap.out.count("chunk=60/10") == 18 and "chunk=250/50" not in cap.out
    assert main([*project, "runs", "--kind", "retrieval-tune", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelled"
    monkeypatch.setattr(TunePlan, "run", real_run)
    assert main([*project, "retrieval", "tune", "tiny", "--json"]) == 0
    # the two chunkings indexed before the stop are not embedded again: what is left to embed
    # is the third index's (heading context off), and the cost said first is what it embeds
    again = capsys.readouterr()
    left = int(re.search(r"re-index cost: (\d+) of", " ".join(again.err.split())).group(1))
    first = int(re.search(r"re-index cost: (\d+) of", " ".join(cap.err.split())).group(1))
    assert 0 < left < first
    assert json.loads(again.out)["embedded"] == left


def test_heading_context_off_embeds_the_body_alone_and_switching_it_rechunks(retrieval_project: Path, capsys):
    from workbench.core.retrieval.index import Index

    project = ["--project", str(retrieval_project)]
    assert main([*project, "ingest"]) == 0
    index_dir = retrieval_project / ".workbench"
    with_heading = Index.open(index_dir).table.to_arrow().to_pylist()
    assert all(r["search_text"] == f"{r['heading_path']}\n\n{r['text']}" for r in with_heading if r["heading_path"])
    config = retrieval_project / "workbench.yaml"
    config.write_text(set_retrieval_keys(config, config.read_text(), {"heading_context": False}))
    assert "heading_context: false" in config.read_text()
    capsys.readouterr()
    assert main([*project, "ingest"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "re-chunked" in out or "chunking settings changed" in out, out
    rows = Index.open(index_dir).table.to_arrow().to_pylist()
    assert {r["chunk_id"] for r in rows} == {r["chunk_id"] for r in with_heading}
    assert all(r["search_text"] == r["text"] and "with_heading" not in r for r in rows)
    assert any(r["heading_path"] for r in rows)  # still kept, for display
    # switching it back on leaves the index stale until the next ingest, and search says so
    from workbench.core.retrieval.index import chunking_drift
    from workbench.core.retrieval.settings import RetrievalSettings

    meta = Index.open(index_dir).meta
    off = RetrievalSettings(chunk_tokens=60, overlap_tokens=10, heading_context=False)
    assert chunking_drift(meta, off) is None
    drift = chunking_drift(meta, RetrievalSettings(chunk_tokens=60, overlap_tokens=10))
    assert drift is not None and "heading_context False → True" in drift


def test_a_label_the_corpus_does_not_hold_is_named_instead_of_scoring_zero_silently(retrieval_project: Path, capsys):
    evals = retrieval_project / "evals"
    text = (evals / "tiny.yaml").read_text(encoding="utf-8")
    case = '  - id: typo\n    inputs:\n      question: "How long do cats sleep?"\n    relevant: [cat.md]\n'
    (evals / "tiny.yaml").write_text(text + case, encoding="utf-8")
    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    capsys.readouterr()
    assert main([*p, "retrieval", "tune", "tiny", "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert notes == [
        "1 labelled document is not in the corpus (cat.md): 1 case can only score 0 here, in every "
        "configuration; fix the `relevant:` labels or ingest the documents"
    ]


def test_a_mistyped_corpus_folder_stops_the_tune_at_its_workbench_yaml_line(retrieval_project: Path, capsys):
    config = retrieval_project / "workbench.yaml"
    config.write_text(config.read_text().replace("corpus: [docs]", "corpus: [doc]"))
    line = next(i for i, row in enumerate(config.read_text().splitlines(), 1) if "corpus: [doc]" in row)
    assert main(["--project", str(retrieval_project), "retrieval", "tune", "tiny"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"workbench.yaml:{line}: retrieval.corpus: folder not found: doc (did you mean docs?)" in err, err
    assert "re-index cost" not in err  # refused before a cost is counted for a corpus that is not there
