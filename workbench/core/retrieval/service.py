"""Retrieval for a project: the entry points the CLI, the TUI and `ask` (pipeline.py) call.

They resolve the project's corpus and data folder, open the index fresh for every call (1-2 ms
after lancedb is imported, and it means a long-running TUI always sees the latest ingest), run
the search and store the trace.

`retrieve_sources` is what pipeline.ground() calls; any exception it raises makes the answer
come back "answered without retrieval" with the exception's text as the reason, so the
IndexUnavailable messages are written to be shown as that reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.index import Index, index_location
from workbench.core.retrieval.settings import RetrievalSettings

if TYPE_CHECKING:
    from workbench.core.project import Project
    from workbench.core.store import Store


def project_index(project: Project, settings: RetrievalSettings | None = None) -> Path | str:
    """Where the project's index is: `retrieval.uri` (an object store) or its data folder;
    what Index.open / Index.read_meta take."""
    return index_location(Path(project.data_dir), settings or project.config.retrieval)


def corpus_paths(project: Project, settings: RetrievalSettings, paths: list[str] | None = None) -> list[Path]:
    """The folders/files to ingest: `paths` (relative to the current directory) or the config's
    `corpus` entries (relative to the project root)."""
    if paths:
        return [Path(p).resolve() for p in paths]
    return [(Path(project.root) / p).resolve() for p in settings.corpus]


def missing_corpus(project: Project, settings: RetrievalSettings) -> WorkbenchError | None:
    """A configured `retrieval.corpus` entry that is not on disk, as the workbench.yaml:LINE
    error it is: a typo in the file, fixed there, so the error points at the line and names the
    folders that do exist next to it (ingest's --prune advice is for paths typed on the command
    line: a typo in the config deleted nothing). None when every entry exists."""
    import difflib

    from workbench.core.retrieval.documents import KINDS

    # a variant may change chunking, not the corpus; line numbers are only the file's own entries
    own = list(settings.corpus) == list(project.config.retrieval.corpus)
    for i, (entry, root) in enumerate(zip(settings.corpus, corpus_paths(project, settings), strict=True)):
        if root.exists():
            continue
        what = "file" if root.suffix.lower() in KINDS else "folder"
        parent = Path(entry).parent
        there = (
            sorted(str(parent / d.name) for d in root.parent.iterdir() if d.is_dir() and not d.name.startswith("."))
            if root.parent.is_dir()
            else []
        )
        hint = difflib.get_close_matches(entry, there, n=1, cutoff=0.6)
        shown = f"; folders there: {', '.join(there[:8])}{', ...' if len(there) > 8 else ''}" if there else ""
        return WorkbenchError(
            f"retrieval.corpus: {what} not found: {entry}" + (f" (did you mean {hint[0]}?)" if hint else "") + shown,
            path=project.config.path,
            line=project.config.line_of("retrieval", "corpus", i) if own else None,
            field="retrieval.corpus",
        )
    return None


def open_index(project: Project, settings: RetrievalSettings) -> Index:
    """The project's index, checked against the configured embedding model. When the index was
    built with another model and the configured one cannot be used (a missing folder, Ollama
    down), that setting's file:line error is raised instead: `ingest --reindex` would only fail."""
    from workbench.core.retrieval.index import IndexMismatch

    try:
        return Index.open(project_index(project, settings), settings.embedding_model)
    except IndexMismatch as exc:
        where = project_index(project, settings)
        raise unusable_model(settings.embedding_model, Path(project.root), where) or exc from None


def unusable_model(model: str, root: Path | None, where: Path | str) -> WorkbenchError | None:
    """Why the configured embedding `model` cannot be used (its file:line error), saying which
    model the index at `where` was built with (the one that works without a re-index); None when
    the model is usable. Asked when the index does not match the model: before advising
    `ingest --reindex`."""
    from workbench.core.retrieval.embedder import model_problem

    problem = model_problem(model, root)
    if problem is None:
        return None
    try:
        built = Index.read_meta(where).get("embedding_model")
    except WorkbenchError:
        built = None
    note = f" (the retrieval index was built with {built!r})" if built else ""
    return WorkbenchError(problem.message + note, path=problem.path, line=problem.line, field=problem.field)


def incomplete_note(project: Project) -> str | None:
    """ "index incomplete: 36/45 files (...)" when an ingest is running or stopped part-way
    through the project's index; None when it is complete (or there is none to speak of)."""
    from workbench.core.retrieval.index import IndexUnavailable

    try:
        return Index.open(project_index(project)).incomplete()
    except IndexUnavailable:
        return None


def retrieve(
    project: Project,
    settings: RetrievalSettings,
    query: str,
    *,
    mode: str | None = None,
    k: int | None = None,
    path_glob: str | None = None,
    source: str = "cli",
    record: bool = True,
    depth: int | None = None,
    gold: list[str] | None = None,
) -> tuple[Any, int | None]:
    """Search the project's index and store the trace: (SearchResult, trace id or None).
    `gold` (relevant documents or chunk ids) is stored with the trace, with their ranks."""
    from workbench.core.retrieval.embedder import get_embedder
    from workbench.core.retrieval.search import search
    from workbench.core.retrieval.traces import record_search

    index = open_index(project, settings)
    embedder = get_embedder(settings.embedding_model, Path(project.root))
    result = search(query, index, settings, mode=mode, k=k, path_glob=path_glob, embedder=embedder, depth=depth)
    trace_id = record_search(project.store, result, source=source, gold=gold) if record else None
    return result, trace_id


def retrieve_sources(
    project: Project, settings: RetrievalSettings, question: str, *, source: str = "ask"
) -> tuple[list[dict[str, Any]], int | None]:
    """Top-k chunks for a grounded prompt, as the dicts pipeline.Source is built from.

    The same question with the same settings against the same index contents gets the same
    chunks, so a stored trace is reused instead of embedding and searching again: that keeps a
    cached eval re-run near-instant for grounded prompts too. The reuse returns the earlier
    trace's id, so the generation still links to the exact ranking it was given.

    "The same index contents" is the index's build id AND its table version: the version alone
    restarts at a rebuild (`ingest --reindex`, a deleted index folder), and reusing a trace of
    the previous build would hand the model text that is no longer in the documents.
    """
    index = open_index(project, settings)
    reused = _reusable_trace(project.store, question, settings, index)
    if reused is not None:
        return [_source_dict(h, reused["mode"]) for h in reused["results"]["hits"]], reused["id"]
    result, trace_id = retrieve(project, settings, question, source=source)
    return [_source_dict(h.to_dict(), result.mode) for h in result.hits], trace_id


_SCORE_FIELD = {"dense": "dense_score", "fts": "fts_score", "hybrid": "fused_score"}


def _source_dict(hit: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "chunk_id": hit["chunk_id"],
        "path": hit["path"],
        "heading": hit["heading_path"],
        "text": hit["text"],
        "score": hit.get(_SCORE_FIELD[mode]),
        "line_start": hit["line_start"],
        "line_end": hit["line_end"],
    }


def _reusable_trace(store: Store, question: str, settings: RetrievalSettings, index: Index) -> dict[str, Any] | None:
    """The newest successful trace of this exact query, settings and index build and version.

    An index without a build id (built before build ids existed) never reuses: its version
    cannot tell its builds apart.
    """
    import json

    if not index.build_id:
        return None
    wanted = settings.to_dict()
    rows = store.rows(
        "retrievals",
        "query = ? AND index_version = ? AND mode = ? AND k = ? AND error IS NULL",
        [question, str(index.version), settings.mode, settings.k],
        order_by="id desc",
        limit=5,
    )
    for row in rows:
        try:
            results = json.loads(row["results"])
            if json.loads(row["settings"]) == wanted and results.get("index_build") == index.build_id:
                return {**row, "results": results}
        except (TypeError, ValueError, AttributeError):
            continue
    return None


def ingest_project(
    project: Project,
    settings: RetrievalSettings,
    paths: list[str] | None = None,
    *,
    reindex: bool = False,
    prune: bool = False,
    progress: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
    embedder: Any = None,
) -> Any:
    """Ingest the project's corpus, or add/update `paths`; returns the IngestReport.

    `embedder`: instead of the configured model (`retrieval tune` passes its embedding cache, so
    applying a winner embeds only what the sweep did not).

    Without `paths` the index mirrors the configured corpus (deleted files are removed). With
    `paths` only those files are added or updated, their document paths relative to the corpus
    folder holding them; `prune` also removes indexed documents under them that are gone.
    """
    from workbench.core.retrieval.ingest import ingest

    problem = None if paths else missing_corpus(project, settings)
    if problem is not None:
        raise problem
    roots: list[Path | str] = [*corpus_paths(project, settings, paths)]
    return ingest(
        roots,
        Path(project.data_dir),
        settings,
        root=Path(project.root),
        progress=progress,
        cancel=cancel,
        reindex=reindex,
        embedder=embedder,
        bases=corpus_paths(project, settings) if paths else None,
        prune=prune or not paths,
    )
