"""`workbench doctor`'s checks: runs.db, the embedding model, the retrieval index and data_dir,
each a Finding that says what to do about a problem. Read-only: runs.db over a read-only
connection (PRAGMA integrity_check reads every page), the index by opening it and reading every
data file once, an `ollama:` embedding model by asking its server to embed one word.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

OK, NOTE, PROBLEM = "ok", "note", "problem"


@dataclass
class Finding:
    level: str  # ok | note | problem
    what: str  # "runs.db", "index", "data_dir"
    text: str


def diagnose(project: Any) -> list[Finding]:
    findings: list[Finding] = []
    outside = project.data_dir_outside()
    if outside:
        findings.append(Finding(NOTE, "data_dir", outside))
    findings += check_store(Path(project.db_path))
    findings += check_corpus(project)
    model = check_embedding(project)
    findings += model
    findings += check_index(project, model_usable=not any(f.level == PROBLEM for f in model))
    return findings


def check_corpus(project: Any) -> list[Finding]:
    """Every `retrieval.corpus` entry is on disk. With an index, a missing one is a problem (a
    mistyped folder: the next ingest refuses, and until then search serves what the last ingest
    indexed); without one, a note (a project that does not use retrieval yet has no docs/)."""
    from workbench.core.retrieval.index import index_dir
    from workbench.core.retrieval.service import corpus_paths, missing_corpus

    settings = project.config.retrieval
    problem = missing_corpus(project, settings)
    if problem is not None:
        indexed = index_dir(Path(project.data_dir)).exists() or bool(settings.uri)
        return [Finding(PROBLEM if indexed else NOTE, "corpus", str(problem))]
    shown = ", ".join(str(p) for p in corpus_paths(project, settings))
    return [Finding(OK, "corpus", shown or "(none configured)")]


def check_embedding(project: Any) -> list[Finding]:
    """Whether `retrieval.embedding_model` can be used: an `ollama:` model's server answers and
    embeds with it; a folder exists and is a model folder (not loaded: that takes seconds)."""
    from workbench.core.retrieval.embedder import is_ollama, loaded_embedder, model_problem

    model = project.config.retrieval.embedding_model
    problem = model_problem(model, Path(project.root))
    if problem is not None:
        return [Finding(PROBLEM, "embedding", str(problem))]
    if is_ollama(model):
        emb = loaded_embedder(model, Path(project.root))
        host = getattr(emb, "host", "its server")
        width = f", {emb.dimension}-dimensional vectors" if emb is not None else ""
        return [Finding(OK, "embedding", f"{model}: Ollama at {host} serves it{width}")]
    return [Finding(OK, "embedding", f"{model}: model folder found")]


def check_store(path: Path) -> list[Finding]:
    from workbench.core.store import SCHEMA_VERSION
    from workbench.core.store_health import backups_dir, check

    if path.is_symlink():
        return [
            Finding(
                PROBLEM,
                "runs.db",
                f"{path} is a symlink (to {path.resolve()}): workbench refuses to "
                "write into another file; replace the link with a real file, or set data_dir",
            )
        ]
    if not path.exists():
        return [Finding(OK, "runs.db", f"{path} does not exist yet (it is created by the first run)")]
    if path.is_dir():
        return [Finding(PROBLEM, "runs.db", f"{path} is a folder, not a database file: move it aside")]
    problems = check(path)
    if problems:
        return [Finding(PROBLEM, "runs.db", p) for p in problems]
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        runs = conn.execute("SELECT count(*) FROM generations").fetchone()[0] if "generations" in tables else 0
    finally:
        conn.close()
    if not version and tables:
        return [
            Finding(
                PROBLEM,
                "runs.db",
                f"{path} is not a workbench database (it holds other tables: "
                f"{', '.join(sorted(tables)[:5])}): move it aside or set data_dir",
            )
        ]
    if version > SCHEMA_VERSION:
        return [
            Finding(
                PROBLEM,
                "runs.db",
                f"{path} has schema version {version}, newer than this workbench "
                f"understands ({SCHEMA_VERSION}): upgrade llm-workbench",
            )
        ]
    found = [Finding(OK, "runs.db", f"{path}: integrity ok, schema version {version}, {runs} generations")]
    backups = sorted(backups_dir(path).glob("*.db")) if backups_dir(path).is_dir() else []
    if backups:
        found.append(Finding(OK, "backups", f"{len(backups)} in {backups_dir(path)}, newest {backups[-1].name}"))
    return found


def check_index(project: Any, *, model_usable: bool = True) -> list[Finding]:
    """The index opens, matches the configured embedding model and reads. When it was built with
    another model and the configured one cannot be used (`model_usable` False: check_embedding
    said why), the mismatch is a note: `ingest --reindex` would fail until the model is fixed."""
    from workbench.core.retrieval.index import (
        Index,
        IndexMismatch,
        IndexUnavailable,
        NoIndex,
        chunking_drift,
        index_dir,
        staging_dir,
    )
    from workbench.core.retrieval.service import project_index

    settings = project.config.retrieval
    data = Path(project.data_dir)
    found: list[Finding] = []
    if staging_dir(data).exists():
        found.append(
            Finding(
                NOTE,
                "index",
                f"{staging_dir(data)} is left from an `ingest --reindex` that did "
                "not finish; the old index still serves, and the next ingest deletes it",
            )
        )
    none_yet = Finding(OK, "index", "no retrieval index yet (`workbench ingest` builds one)")
    if not index_dir(data).exists() and not settings.uri:
        return found + [none_yet]
    try:
        index = Index.open(project_index(project, settings), settings.embedding_model)  # or retrieval.uri
        index.verify()
        note = index.incomplete()
    except NoIndex:
        return found + [none_yet]
    except IndexMismatch as exc:
        if model_usable:
            return found + [Finding(PROBLEM, "index", exc.reason)]
        built = Index.read_meta(project_index(project, settings)).get("embedding_model")
        return found + [
            Finding(
                NOTE,
                "index",
                f"built with embedding model {built!r}, not the configured {settings.embedding_model!r}: "
                f"set retrieval.embedding_model back to {built!r}, or fix it (above) and then run "
                "`workbench ingest --reindex`",
            )
        ]
    except IndexUnavailable as exc:
        return found + [Finding(PROBLEM, "index", exc.reason)]
    if note:
        return found + [Finding(PROBLEM, "index", note)]
    drift = chunking_drift(index.meta, settings)
    if drift:
        found.append(Finding(NOTE, "index", f"{drift}: run `workbench ingest`"))
    return found + [
        Finding(
            OK,
            "index",
            f"{index.dir}: {len(index.file_hashes())} documents, {index.count()} "
            f"chunks, embedding {index.meta.get('embedding_model')}",
        )
    ]
