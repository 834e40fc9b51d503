"""Retrieval fixtures: the real embedding model (loaded once per session) and small corpora.

Loading all-MiniLM-L6-v2 costs ~5 s (the sentence-transformers import), so one Embedder serves
the whole session; `counting_embedder` wraps it to count how many texts each test embedded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = {
    "cats.md": """# Cats

Cats are small carnivorous mammals kept as pets.

## Sleeping

Cats sleep between twelve and sixteen hours a day. A sleeping cat curls up in a warm spot,
often in the sun, and cats nap lightly so they can wake quickly.

## Food

Cats need meat: taurine is an essential nutrient for them.
""",
    "dogs.md": """# Dogs

Dogs are loyal companions descended from wolves.

## Walks

Dogs need a walk at least twice a day. Unlike cats, dogs rarely sleep all day.
""",
    "sqlite.md": """# SQLite Autoincrement

## Summary

The AUTOINCREMENT keyword prevents the reuse of ROWIDs from previously deleted rows.
It imposes extra CPU and disk overhead.

## Background

Every ordinary table has a 64-bit signed integer ROWID.
""",
    "guide/install.rst": """Installing
==========

Run the installer, then restart the terminal.

Requirements
------------

Python 3.11 or newer is required.
""",
    "page.html": """<html><head><title>Page</title><script>var hidden = "scriptword";</script></head>
<body>
<h1>Bread baking</h1>
<p>Knead the dough for ten minutes until it is smooth and elastic.</p>
<h2>Proofing</h2>
<p>Let the dough rise in a warm place until it doubles.</p>
</body></html>
""",
}


def write_corpus(root: Path, files: dict[str, str] | None = None) -> Path:
    for rel, text in (files or CORPUS).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


class CountingEmbedder:
    """Delegates to a real Embedder and counts the texts it was asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = inner.path
        self.dimension = inner.dimension
        self.texts = 0

    def encode(self, texts, batch_size=32):
        self.texts += len(texts)
        return self.inner.encode(texts, batch_size)

    def encode_query(self, text):
        return self.inner.encode_query(text)


@pytest.fixture(scope="session")
def embedder():
    from workbench.core.retrieval.embedder import get_embedder

    return get_embedder()


@pytest.fixture
def counting_embedder(embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "docs")


@pytest.fixture(scope="module")
def built_index(tmp_path_factory, embedder):
    """(Index, settings, corpus folder) for the default tiny corpus, built once per module."""
    from workbench.core.retrieval.index import Index
    from workbench.core.retrieval.ingest import ingest
    from workbench.core.retrieval.settings import RetrievalSettings

    base = tmp_path_factory.mktemp("retrieval")
    docs = write_corpus(base / "docs")
    settings = RetrievalSettings(k=2, chunk_tokens=60, overlap_tokens=10)
    ingest([docs], base / "data", settings, embedder=embedder)
    return Index.open(base / "data", settings.embedding_model), settings, docs


# Three cases, each labelled with its gold document (one the retriever misses at k=1).
RETRIEVAL_SET = """name: tiny
cases:
  - id: cat-sleep
    inputs:
      question: "How many hours a day do cats sleep?"
    relevant: [cats.md]
  - id: bread
    inputs:
      question: "How long should I knead bread dough?"
    relevant: [page.html]
  - id: wolves-miss
    inputs:
      question: "Do cats sleep all day long?"
    relevant: [dogs.md]
"""
# The same, plus an expected answer for cat-sleep and a case with no label.
EVALSET = (
    RETRIEVAL_SET.replace(
        "    relevant: [cats.md]\n",
        "    expected: Cats sleep between twelve and sixteen hours a day.\n    relevant: [cats.md]\n",
    )
    + """  - id: unlabelled
    inputs:
      question: "hello"
"""
)


def write_grounded_project(root: Path, *, host: str | None = None) -> Path:
    """A project over the tiny corpus in docs/ (k=2, 60-token chunks) with a grounded prompt
    (`--prompt grounded`), not ingested yet; `host` points it at an Ollama stand-in."""
    from fixtures_project import write_project

    root = write_project(
        root, host=host, extra="retrieval:\n  corpus: [docs]\n  k: 2\n  chunk_tokens: 60\n  overlap_tokens: 10\n"
    )
    write_corpus(root / "docs")
    (root / "prompts" / "grounded.yaml").write_text(
        "template: |\n  Sources:\n  {context}\n\n  Question: {question}\n", encoding="utf-8"
    )
    return root


@pytest.fixture
def retrieval_project(tmp_path: Path, embedder) -> Path:
    """A project with the tiny corpus in docs/, a grounded prompt and evals/tiny.yaml (not
    ingested yet); the embedding model is loaded."""
    root = write_grounded_project(tmp_path / "proj")
    (root / "evals").mkdir()
    (root / "evals" / "tiny.yaml").write_text(EVALSET, encoding="utf-8")
    return root
