"""`retrieval.embedding_model: ollama:NAME`: ingest and search through Ollama's /api/embed (the
stand-in, real LanceDB), the model's digest recorded in the index and checked against the
server's on every use, and the failures a user meets said in their words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_retrieval import write_grounded_project
from ollama_standin import _Handler as StandinHandler

from workbench.cli import main

MODEL = "ollama:nomic-embed-text"


def _project(tmp_path: Path, host: str, model: str = MODEL) -> Path:
    root = write_grounded_project(tmp_path / "proj", host=host)
    cfg = root / "workbench.yaml"
    cfg.write_text(cfg.read_text().replace("retrieval:\n", f"retrieval:\n  embedding_model: {model}\n"))
    return root


@pytest.fixture
def standin(ollama_standin):
    ollama_standin.configure(models=["llama3.2", "nomic-embed-text"], embedding_dims=256)
    return ollama_standin


def _meta(root: Path) -> dict:
    return json.loads((root / ".workbench" / "index" / "meta.json").read_text())


def _line_of_setting(root: Path) -> int:
    lines = (root / "workbench.yaml").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if "embedding_model:" in text)


def _listed_digest(standin) -> str:
    return standin._digest_of("nomic-embed-text")


def test_ingest_and_search_through_ollama_record_the_digest(tmp_path: Path, standin, capsys):
    root = _project(tmp_path, standin.url)
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Ingested: 5 added" in out and MODEL in out
    meta = _meta(root)
    assert meta["embedding_model"] == MODEL and meta["embedding_digest"] == _listed_digest(standin)
    assert meta["dimension"] == 256
    assert meta["chunking"]["tokenizer"] == "words*1.3"  # Ollama has no tokenize endpoint
    # batched: one request per retrieval.batch_size texts (after the one-text width probe)
    embeds = standin.requests_to("/api/embed")
    assert embeds[0].body["input"] == ["dimension"]
    batches = [r.body["input"] for r in embeds[1:]]
    assert all(isinstance(b, list) and 0 < len(b) <= 32 for b in batches)
    # the chunks, and each document's first window (doc_vector): all 5 have 2+ chunks here
    assert sum(len(b) for b in batches) == meta["chunks"] + meta["docs"]
    assert all(r.body["model"] == "nomic-embed-text" and r.body["truncate"] is True for r in embeds)

    assert main([*p, "retrieve", "how many hours do cats sleep", "--json", "--mode", "dense"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["path"] == "cats.md"
    assert standin.requests_to("/api/embed")[-1].body["input"] == ["how many hours do cats sleep"]
    # nothing changed: the second ingest embeds nothing (one /api/tags look at the digest)
    n = len(standin.requests_to("/api/embed"))
    assert main([*p, "ingest"]) == 0
    assert "Nothing changed" in capsys.readouterr().out
    assert len(standin.requests_to("/api/embed")) == n


def test_a_repulled_model_makes_the_index_refuse_until_reingested(tmp_path: Path, standin, capsys):
    root = _project(tmp_path, standin.url)
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    old = _meta(root)["embedding_digest"]
    new = standin.remake("nomic-embed-text")  # `ollama pull` fetched other weights
    capsys.readouterr()
    for command in (["retrieve", "cats sleep"], ["ingest"]):
        assert main([*p, *command]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"built with {MODEL} at digest {old[:12]}" in err and f"now has {new[:12]}" in err
        assert "re-ingest with `workbench ingest --reindex`" in err
    assert _meta(root)["embedding_digest"] == old  # the refused ingest wrote nothing
    assert main([*p, "ingest", "--reindex"]) == 0
    assert _meta(root)["embedding_digest"] == new
    capsys.readouterr()
    assert main([*p, "retrieve", "how many hours do cats sleep", "--json", "--mode", "dense"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["path"] == "cats.md"


def test_switching_between_minilm_and_ollama_is_refused_by_name(tmp_path: Path, standin, capsys):
    root = _project(tmp_path, standin.url)
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    cfg = root / "workbench.yaml"
    cfg.write_text(cfg.read_text().replace(f"  embedding_model: {MODEL}\n", ""))
    capsys.readouterr()
    assert main([*p, "retrieve", "cats"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"built with embedding model '{MODEL}'" in err and "'all-MiniLM-L6-v2'" in err


def test_server_down_names_the_host(tmp_path: Path, ollama_nothing_listening, capsys):
    root = _project(tmp_path, ollama_nothing_listening)
    assert main(["--project", str(root), "ingest"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    said = f"retrieval.embedding_model: {MODEL}: Ollama at {ollama_nothing_listening} is not reachable"
    assert f"workbench.yaml:{_line_of_setting(root)}: {said} (connection refused)" in err
    assert "start Ollama (`ollama serve`) and `ollama pull nomic-embed-text`" in err


def test_a_missing_or_chat_model_says_what_to_do(tmp_path: Path, standin, capsys):
    root = _project(tmp_path, standin.url, "ollama:mxbai-embed-large")
    assert main(["--project", str(root), "ingest"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "workbench.yaml:" in err and "retrieval.embedding_model:" in err
    assert f"the Ollama server at {standin.url} has no model 'mxbai-embed-large'" in err
    assert "`ollama pull mxbai-embed-large`" in err

    root = _project(tmp_path / "chat", standin.url, "ollama:llama3.2")
    assert main(["--project", str(root), "ingest"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"llama3.2 on the Ollama server at {standin.url} is not an embedding model" in err
    assert "This server does not support embeddings" in err


def test_ingest_progress_counts_each_batch(tmp_path: Path, standin):
    from workbench.core.retrieval.ingest import ingest
    from workbench.core.retrieval.settings import RetrievalSettings

    root = _project(tmp_path, standin.url)
    settings = RetrievalSettings(corpus=["docs"], embedding_model=MODEL, batch_size=2, chunk_tokens=60)
    seen = []
    report = ingest([root / "docs"], root / ".workbench", settings, root=root, progress=seen.append)
    embedding = [e for e in seen if e.phase == "embedding"]
    assert [e.chunks_done for e in embedding] == list(range(2, report.chunks_embedded, 2)) + [report.chunks_embedded]
    assert all(e.chunks_total == report.chunks_embedded for e in embedding) and seen[-1].phase == "done"
    assert all(len(r.body["input"]) <= 2 for r in standin.requests_to("/api/embed"))


def test_a_documents_window_is_the_models_context_from_api_show(tmp_path: Path, standin):
    """The document vector embeds a document's start up to the model's context (/api/show's
    model_info `<arch>.context_length`), not the 256 tokens assumed for a model that does not say."""
    standin.configure(embed_context=400)  # stand-in tokens are words; ingest estimates 1.3 per word
    root = _project(tmp_path, standin.url)
    words = [f"mouse{i}" for i in range(1200)]
    (root / "docs" / "mice.md").write_text("# Mice\n\n" + " ".join(words) + "\n", encoding="utf-8")
    assert main(["--project", str(root), "ingest"]) == 0
    assert standin.requests_to("/api/show")[-1].body["model"] == "nomic-embed-text"
    sent = [t for r in standin.requests_to("/api/embed") for t in r.body["input"]]
    window = max((t for t in sent if t.startswith("Mice\n\nmouse0 ")), key=len)
    n = len(window.split()) - 1  # the heading path comes first
    assert window.split()[1:] == words[:n]  # the document's start, in order
    # 256 tokens would be 196 words; the server keeps 398 (its context less BOS and EOS)
    assert 196 < n <= 398


def test_a_slow_ollama_model_does_not_hold_up_other_embedders(tmp_path: Path, standin, embedder, monkeypatch):
    """Building an ollama: embedder asks the server (/api/show, one embed: up to the read
    timeout while the model loads); meanwhile the TUI's get_embedder for a loaded model answers."""
    import threading

    from workbench.core.retrieval import embedder as embedder_module

    monkeypatch.setattr(embedder_module, "_CACHE", {**embedder_module._CACHE})
    standin.configure(first_byte_delay_s=3.0)  # the model loads
    got: list[object] = []
    slow = threading.Thread(target=lambda: got.append(embedder_module.get_embedder(MODEL, host=standin.url)))
    slow.start()
    try:
        assert standin.wait_for(lambda s: any(r.outcome == "pending" for r in s.requests_to("/api/embed")))
        assert embedder_module.get_embedder() is embedder  # the loaded MiniLM: no wait
        probe = standin.requests_to("/api/embed")[0]
        assert probe.outcome == "pending"  # answered while the Ollama model was still loading
    finally:
        slow.join(10)
    assert got and got[0].dimension == 256
    # a second call finds the one built (no second probe)
    assert embedder_module.get_embedder(MODEL, host=standin.url) is got[0]
    assert len(standin.requests_to("/api/embed")) == 1


def test_a_changed_document_window_re_chunks_every_file(tmp_path: Path, standin, monkeypatch):
    """/api/show failing (or not saying) drops the document vector's window to 256 tokens: the
    index records the window, so an incremental ingest re-embeds every document rather than
    mixing 2048- and 256-token document vectors; an index from before the record is accepted."""
    from workbench.core.retrieval import embedder as embedder_module
    from workbench.core.retrieval.ingest import ingest
    from workbench.core.retrieval.settings import RetrievalSettings

    root = _project(tmp_path, standin.url)
    settings = RetrievalSettings(corpus=["docs"], embedding_model=MODEL)

    def run():
        monkeypatch.setattr(embedder_module, "_CACHE", {})  # a new process: /api/show asked again
        return ingest([root / "docs"], root / ".workbench", settings, root=root)

    first = run()
    assert _meta(root)["chunking"]["doc_window"] == 2048
    # an index from before the window was recorded: nothing to redo, and the window is recorded
    meta = _meta(root)
    del meta["chunking"]["doc_window"]
    (root / ".workbench" / "index" / "meta.json").write_text(json.dumps(meta))
    assert run().nothing_changed and _meta(root)["chunking"]["doc_window"] == 2048

    # /api/show fails this time (the model is served, and embeds, as before)
    monkeypatch.setattr(StandinHandler, "_show", lambda self, body: self._error(500, "show failed"))
    cats = root / "docs" / "cats.md"
    cats.write_text(cats.read_text() + "\nCats also purr.\n", encoding="utf-8")
    report = run()
    assert report.rechunked and "'doc_window': 2048" in report.rechunked
    assert sorted(report.updated) == sorted(first.added)  # every document, not only cats.md
    assert _meta(root)["chunking"]["doc_window"] == 256
    assert run().nothing_changed
