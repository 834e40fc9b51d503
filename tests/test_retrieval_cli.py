"""The retrieval commands as a user runs them, and `ask`'s grounding with and without an index."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from fixtures_retrieval import write_grounded_project

from workbench.cli import main


@pytest.fixture
def project_dir(retrieval_project: Path) -> Path:
    return retrieval_project


def test_ingest_then_nothing_changed(project_dir: Path, capsys):
    (project_dir / "docs" / "latin1.txt").write_bytes(b"caf\xe9")
    assert main(["--project", str(project_dir), "ingest"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "skipped latin1.txt: not UTF-8" in out
    assert "Ingested: 5 added, 0 updated, 0 removed, 0 unchanged, 1 skipped" in out
    assert "Index: 5 documents" in out
    assert main(["--project", str(project_dir), "ingest"]) == 0
    assert "Nothing changed: 5 documents unchanged" in " ".join(capsys.readouterr().out.split())
    assert main(["--project", str(project_dir), "ingest", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nothing_changed"] and report["unchanged"] == 5


def test_ingesting_one_file_keeps_the_other_documents(project_dir: Path, capsys):
    p = ["--project", str(project_dir)]
    assert main([*p, "ingest"]) == 0
    (project_dir / "docs" / "notes.txt").write_text("Parrots can imitate human speech.\n", encoding="utf-8")
    capsys.readouterr()
    assert main([*p, "ingest", str(project_dir / "docs" / "notes.txt")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Ingested: 1 added, 0 updated, 0 removed, 0 unchanged, 0 skipped" in out
    assert "Index: 6 documents" in out
    (project_dir / "docs" / "notes.txt").unlink()
    assert main([*p, "ingest", str(project_dir / "docs" / "dogs.md")]) == 0
    assert "Nothing changed: 1 documents unchanged" in " ".join(capsys.readouterr().out.split())
    assert main([*p, "ingest", str(project_dir / "docs"), "--prune"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "0 added, 0 updated, 1 removed, 5 unchanged" in out and "Index: 5 documents" in out


def test_ingest_help_says_what_paths_and_prune_do(capsys):
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "every other indexed document stays" in text and "--prune" in text
    # --reindex builds beside the old index (26f38ea), so the help no longer says "drop"
    assert "rebuild the whole index from the PATHs" in text
    assert "built beside the old index, which serves until the new one is complete" in text


def test_retrieve_shows_every_method_and_stores_a_trace(project_dir: Path, capsys):
    assert main(["--project", str(project_dir), "ingest"]) == 0
    capsys.readouterr()
    assert main(["--project", str(project_dir), "retrieve", "cats sleep hours", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    top = data["hits"][0]
    assert top["path"] == "cats.md" and top["heading_path"] == "Cats > Sleeping"
    assert {"dense_rank", "dense_score", "fts_rank", "fts_score", "fused_score", "hybrid_rank", "rank"} <= set(top)
    assert len(data["hits"]) == 2 and data["trace_id"] >= 1
    assert (
        main(["--project", str(project_dir), "retrieve", "cats sleep hours", "--mode", "all", "--gold", "cats.md"]) == 0
    )
    captured = capsys.readouterr()
    text = captured.out
    assert "── dense ──" in text and "── full-text ──" in text and "── hybrid ──" in text
    assert "cats.md:7-8" in text and "gold" in text and "dense 0." in text
    assert "[trace r2]" in captured.err
    assert main(["--project", str(project_dir), "retrieve", "--gold", "dogs.md", "cats sleep", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# Retrieval trace r3\n")  # the id as `runs show` takes it
    assert "- gold document rank: dense " in md and "_No gold chunk in the top 2 under" in md
    # the gold is stored with the trace: the report from the store shows it as retrieve did
    assert main(["--project", str(project_dir), "runs", "show", "r3", "--markdown"]) == 0
    assert capsys.readouterr().out == md
    assert main(["--project", str(project_dir), "runs", "show", "r2", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# Retrieval trace r2") and "## hybrid" in md and "cats.md#1" in md
    assert "- gold: `cats.md`" in md and "- gold document rank: dense 1, fts 1, hybrid 1" in md
    assert main(["--project", str(project_dir), "retrieve", "cats sleep", "--json", "--gold", "dogs.md#0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gold"] == ["dogs.md#0"] and data["gold_ranks"]["dense"] > 1


def test_an_empty_query_is_bad_input(project_dir: Path, capsys):
    assert main(["--project", str(project_dir), "ingest"]) == 0
    capsys.readouterr()
    for query in ("", "   "):
        assert main(["--project", str(project_dir), "retrieve", query]) == 2
        assert "error: the query is empty" in capsys.readouterr().err
    assert main(["--project", str(project_dir), "runs"]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("r")]  # no trace


def test_retrieve_warns_when_the_chunking_settings_changed_since_the_ingest(project_dir: Path, capsys):
    assert main(["--project", str(project_dir), "ingest"]) == 0
    assert main(["--project", str(project_dir), "retrieve", "cats sleep hours"]) == 0
    assert "warning" not in capsys.readouterr().err
    config = project_dir / "workbench.yaml"
    config.write_text(config.read_text().replace("chunk_tokens: 60", "chunk_tokens: 80"))
    assert main(["--project", str(project_dir), "retrieve", "cats sleep hours"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: the index was chunked with other settings (chunk_tokens 60 → 80" in err
    assert "run `workbench ingest`" in err
    assert main(["--project", str(project_dir), "ingest"]) == 0
    capsys.readouterr()
    assert main(["--project", str(project_dir), "retrieve", "cats sleep hours"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_document_text_is_never_markup_or_terminal_control(project_dir: Path, capsys):
    (project_dir / "docs" / "evil.md").write_text(
        "# Evil\n\n[bold red]markup[/bold red] and \x1b[31mescape\x1b[0m cats\n", encoding="utf-8"
    )
    assert main(["--project", str(project_dir), "ingest"]) == 0
    capsys.readouterr()
    assert main(["--project", str(project_dir), "retrieve", "markup escape", "--mode", "fts", "--k", "1"]) == 0
    out = capsys.readouterr().out
    assert "[bold red]markup[/bold red]" in out
    assert "\x1b[31m" not in out and "\\x1b[31m" in out


def test_retrieval_eval_prints_metrics_stores_and_explains_misses(project_dir: Path, capsys):
    assert main(["--project", str(project_dir), "ingest"]) == 0
    capsys.readouterr()
    assert main(["--project", str(project_dir), "retrieval", "eval", "tiny", "--k", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # undo the console's line wrapping
    assert "3 labelled cases, k=1" in out and "1 unlabelled case skipped" in out
    for header in ("hit@1", "recall@1", "precision@1", "mrr@10", "ndcg@10", "chunk_hit@1"):
        assert header in out
    assert "wolves-miss: gold chunk ranked" in out and "cut at k=1" in out and "outranked by cats.md#" in out
    assert main(["--project", str(project_dir), "retrieval", "eval", "tiny", "--k", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["previous_eval_id"] == 1 and data["eval_id"] == 2
    assert data["deltas"]["dense"]["ndcg@10"] == 0.0  # same index, same settings
    cases = {c["case_id"]: c for c in data["cases"]}
    assert cases["cat-sleep"]["gold_rank"]["dense"] == 1 and cases["cat-sleep"]["whynot"] is None
    assert cases["wolves-miss"]["metrics"]["hybrid"]["hit@k"] == 0.0
    assert cases["wolves-miss"]["whynot"]["modes"]["dense"]["cut_at_k"] is True
    assert data["metrics"]["dense"]["hit@k"] == pytest.approx(2 / 3)


def test_the_metrics_table_with_deltas_fits_80_columns(project_dir: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["--project", str(project_dir), "ingest"]) == 0
    assert main(["--project", str(project_dir), "retrieval", "eval", "tiny", "--k", "1", "--cases", "none"]) == 0
    evalset = project_dir / "evals" / "tiny.yaml"  # the miss becomes a hit: every mode moves
    evalset.write_text(evalset.read_text().replace("relevant: [dogs.md]", "relevant: [cats.md]"))
    capsys.readouterr()
    assert main(["--project", str(project_dir), "retrieval", "eval", "tiny", "--k", "1", "--cases", "none"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("mode "))
    assert lines[header].split() == ["mode", "hit@1", "recall@1", "precision@1", "mrr@10", "ndcg@10", "chunk_hit@1"]
    table = lines[header : header + 7]
    assert [line.split()[0] for line in table[1:]] == ["dense", "Δ", "full-text", "Δ", "hybrid", "Δ"]
    assert table[2].split()[1] == "+0.333"  # hit@1 of dense
    assert all(len(line) <= 80 and "…" not in line for line in lines)


def test_two_chosen_retrieval_evals_compare_and_a_changed_eval_set_is_flagged(project_dir: Path, capsys):
    p = ["--project", str(project_dir)]
    evalset = project_dir / "evals" / "tiny.yaml"
    assert main([*p, "ingest"]) == 0
    assert main([*p, "retrieval", "eval", "tiny", "--k", "1", "--json"]) == 0  # re1
    # only a comment: the file's hash changes, its labelled cases do not
    evalset.write_text("# labels reviewed\n" + evalset.read_text())
    assert main([*p, "retrieval", "eval", "tiny", "--k", "1"]) == 0  # re2
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: the eval set tiny changed between re1 and re2, but not its labelled cases" in out
    # re-label one case and add one: deltas against re2 now mix a label change in
    text = evalset.read_text().replace("relevant: [dogs.md]", "relevant: [cats.md]")
    evalset.write_text(
        text + '  - id: dough\n    inputs:\n      question: "Let the dough rise"\n    relevant: [page.html]\n'
    )
    assert main([*p, "retrieval", "eval", "tiny", "--k", "1"]) == 0  # re3
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "warning: the eval set tiny changed between re2 and re3: cases 1 added (dough), 1 re-labelled (wolves-miss)"
    ) in out
    # any two evals, chosen
    assert main([*p, "retrieval", "diff", "re1", "re3"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Retrieval eval re3 vs re1: tiny, 4 labelled cases, k=1; Δ = re3 - re1" in out
    assert "warning: the eval set tiny changed between re1 and re3" in out
    assert "cases whose gold rank moved (re1 → re3)" in out and "wolves-miss" in out
    assert main([*p, "retrieval", "diff", "re1", "re3", "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["before"] == 1 and diff["after"] == 3 and diff["deltas"]["dense"]["hit@k"] > 0
    moved = {m["case_id"]: m for m in diff["moved"]}
    assert set(moved) == {"wolves-miss"} and moved["wolves-miss"]["ranks"]["dense"][1] == 1
    assert main([*p, "retrieval", "diff", "re1", "re2", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# Retrieval eval re2: tiny") and "but not its labelled cases" in md
    # --against picks the baseline; another k leaves only the k-free metrics comparable
    assert main([*p, "retrieval", "eval", "tiny", "--k", "2", "--against", "re1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["previous_eval_id"] == 1 and set(data["deltas"]["dense"]) == {"mrr@10", "ndcg@10"}
    assert any(w.startswith("k differs (re1 k=1, re4 k=2)") for w in data["comparison"]["warnings"])
    for bad, said in ((["re1", "re99"], "no retrieval eval re99"), (["x", "re1"], "is not a retrieval eval id")):
        assert main([*p, "retrieval", "diff", *bad]) == 2
        assert said in capsys.readouterr().err
    assert main([*p, "retrieval", "eval", "tiny", "--against", "re99"]) == 2


def _pretend_built_with_another_model(project_dir: Path) -> None:
    meta_path = project_dir / ".workbench" / "index" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["embedding_model"] = "models/old-model"
    meta_path.write_text(json.dumps(meta))


def test_a_model_mismatch_without_a_terminal_is_the_message_and_exit_2(project_dir: Path, capsys):
    p = ["--project", str(project_dir)]
    assert main([*p, "ingest"]) == 0
    _pretend_built_with_another_model(project_dir)
    capsys.readouterr()
    for command in (["retrieve", "cats"], ["ingest"]):
        assert main([*p, *command]) == 2  # pytest's stdin is no terminal: nothing is asked
        err = " ".join(capsys.readouterr().err.split())
        assert "built with embedding model 'models/old-model'" in err and "run `workbench ingest --reindex`" in err
        assert "Re-index now" not in err


def test_the_reindex_offer_asks_once_and_takes_only_yes():
    from workbench.core.retrieval.index import IndexMismatch
    from workbench.present.retrieval_ingest import offer_reindex

    problem = IndexMismatch("the retrieval index was built with embedding model 'a'")
    asked: list[str] = []

    def answer(reply):
        def ask(question: str) -> str:
            asked.append(question)
            if isinstance(reply, BaseException):
                raise reply
            return reply

        return ask

    assert offer_reindex(problem, "all-MiniLM-L6-v2", ask=answer("y"), is_interactive=True)
    assert asked == ["Re-index now with all-MiniLM-L6-v2? This rebuilds the index from retrieval.corpus. [y/N] "]
    assert offer_reindex(problem, "m", ask=answer(" YES "), is_interactive=True)
    for reply in ("", "n", "no", "whatever", EOFError(), KeyboardInterrupt()):
        assert not offer_reindex(problem, "m", ask=answer(reply), is_interactive=True)
    asked.clear()
    assert not offer_reindex(problem, "m", ask=answer("y"), is_interactive=False)
    assert asked == []


def test_accepting_the_offer_reindexes_and_then_searches(project_dir: Path, capsys, monkeypatch):
    from workbench.core.retrieval.index import Index
    from workbench.present import retrieval_ingest

    p = ["--project", str(project_dir)]
    assert main([*p, "ingest"]) == 0
    _pretend_built_with_another_model(project_dir)
    monkeypatch.setattr(retrieval_ingest, "interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    capsys.readouterr()
    assert main([*p, "retrieve", "cats sleep hours", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["hits"][0]["path"] == "cats.md"  # stdout stays the results
    err = " ".join(captured.err.split())
    assert "Re-index now with all-MiniLM-L6-v2?" in err and "Reindexed: 5 added" in err
    assert Index.open(project_dir / ".workbench").meta["embedding_model"] == "all-MiniLM-L6-v2"
    # `ingest FILE`: the corpus is rebuilt, then the file is added as asked
    _pretend_built_with_another_model(project_dir)
    notes = project_dir / "elsewhere" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("Parrots can imitate human speech.\n", encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert main([*p, "ingest", str(notes)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Reindexed: 5 added" in out and "Ingested: 1 added" in out and "Index: 6 documents" in out


def test_ask_grounding_uses_the_index_and_degrades_without_it(project_dir: Path, capsys):
    from workbench.core.pipeline import ground
    from workbench.core.project import Project
    from workbench.core.variants import resolve_variant

    assert main(["--project", str(project_dir), "ingest"]) == 0
    project = Project.open(project_dir)
    try:
        variant = resolve_variant(project, prompt="grounded")
        g = ground(project, variant, "How many hours a day do cats sleep?")
        assert g.status == "used" and g.trace_id is not None
        assert g.sources[0].chunk_id == "cats.md#1" and g.sources[0].n == 1
        assert "[1] cats.md" in g.context_text
        shutil.rmtree(project.data_dir / "index")
        g = ground(project, variant, "How many hours a day do cats sleep?")
        assert g.status.startswith("unavailable: no retrieval index at") and not g.sources
    finally:
        project.close()
    assert main(["--project", str(project_dir), "retrieve", "cats"]) == 2
    assert "run `workbench ingest` first" in capsys.readouterr().err


def test_the_same_question_against_the_same_index_reuses_its_trace(project_dir: Path, capsys):
    from workbench.core.pipeline import ground
    from workbench.core.project import Project
    from workbench.core.variants import resolve_variant

    assert main(["--project", str(project_dir), "ingest"]) == 0
    project = Project.open(project_dir)
    try:
        variant = resolve_variant(project, prompt="grounded")
        first = ground(project, variant, "How many hours a day do cats sleep?")
        again = ground(project, variant, "How many hours a day do cats sleep?")
        assert again.trace_id == first.trace_id
        assert [s.chunk_id for s in again.sources] == [s.chunk_id for s in first.sources]
        assert [s.text for s in again.sources] == [s.text for s in first.sources]
        assert len(project.store.rows("retrievals")) == 1
        wider = resolve_variant(project, prompt="grounded", retrieval={"k": 3})
        assert ground(project, wider, "How many hours a day do cats sleep?").trace_id != first.trace_id
        (project_dir / "docs" / "cats.md").write_text("# Cats\n\nCats nap a lot.\n", encoding="utf-8")
        assert main(["--project", str(project_dir), "ingest"]) == 0
        fresh = ground(project, variant, "How many hours a day do cats sleep?")
        assert fresh.trace_id not in (first.trace_id, None)  # a new index version searches again
    finally:
        project.close()


def test_a_rebuilt_index_is_searched_again_even_at_the_same_table_version(project_dir: Path, capsys):
    """`ingest --reindex` starts the table's versions again: a trace of the old build must not be
    reused, or the prompt would carry text that is no longer in the document."""
    from workbench.core.pipeline import ground
    from workbench.core.project import Project
    from workbench.core.retrieval.index import Index
    from workbench.core.variants import resolve_variant

    question = "How many hours a day do cats sleep?"
    assert main(["--project", str(project_dir), "ingest"]) == 0
    project = Project.open(project_dir)
    try:
        variant = resolve_variant(project, prompt="grounded")
        before = ground(project, variant, question)
        assert "twelve and sixteen hours" in before.context_text
        version, build = Index.open(project.data_dir).version, Index.open(project.data_dir).build_id
        cats = project_dir / "docs" / "cats.md"
        cats.write_text(cats.read_text().replace("twelve and sixteen", "fourteen and eighteen"), encoding="utf-8")
        assert main(["--project", str(project_dir), "ingest", "--reindex"]) == 0
        rebuilt = Index.open(project.data_dir)
        assert rebuilt.version == version and rebuilt.build_id != build  # the case the version misses
        after = ground(project, variant, question)
        assert after.trace_id != before.trace_id
        assert "fourteen and eighteen hours" in after.context_text
        assert "twelve and sixteen" not in after.context_text
        # and the new build's trace is reused as before
        assert ground(project, variant, question).trace_id == after.trace_id
    finally:
        project.close()


async def test_the_stored_sources_say_which_ones_the_answer_cited(tmp_path: Path, embedder, ollama_standin):
    from workbench.core.pipeline import run_generation
    from workbench.core.project import Project
    from workbench.core.store import decode
    from workbench.core.variants import resolve_variant

    root = write_grounded_project(tmp_path / "proj", host=ollama_standin.url)
    assert main(["--project", str(root), "ingest"]) == 0
    ollama_standin.configure(reply=["Twelve to sixteen hours", " [1]."])
    project = Project.open(root)
    notices: list = []
    try:
        record = await run_generation(
            project,
            resolve_variant(project, prompt="grounded"),
            {"question": "How many hours a day do cats sleep?"},
            on_event=notices.append,
        )
        row = decode(project.store.get("generations", record.id), "sources")
    finally:
        project.close()
    # the embedding model was already loaded (the fixture): no "loading" notice to wait through
    assert not [n for n in notices if "loading the embedding model" in str(getattr(n, "text", ""))]
    assert [(s["n"], s["cited"]) for s in row["sources"]] == [(1, True), (2, False)]
    assert row["sources"][0]["chunk_id"] == "cats.md#1"


def test_grounding_says_when_it_must_first_load_the_embedding_model(project_dir: Path, monkeypatch):
    """Seconds of silence before the first token otherwise: the notice comes before the wait."""
    from workbench.core import pipeline
    from workbench.core.project import Project
    from workbench.core.retrieval import embedder as embedder_module
    from workbench.core.variants import resolve_variant

    project = Project.open(project_dir)
    try:
        variant = resolve_variant(project, prompt="grounded")
        assert not pipeline._embedder_cold(project, variant)  # no index yet: nothing to load
        assert main(["--project", str(project_dir), "ingest"]) == 0
        assert not pipeline._embedder_cold(project, variant)  # loaded by the ingest
        monkeypatch.setattr(embedder_module, "_CACHE", {})  # as in a fresh process
        assert pipeline._embedder_cold(project, variant)
    finally:
        project.close()
