"""Incremental, interruptible ingest: corpus files -> chunks -> vectors -> the LanceDB index.

Details: docs/NOTES.md, section core/retrieval/ingest.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.chunking import Chunk, chunk_with, chunking_record, doc_window_text, tokens_for
from workbench.core.retrieval.documents import (
    Document,
    Skipped,
    discover,
    document_base,
    file_hash,
    read_bytes,
    read_document,
)
from workbench.core.retrieval.embedder import Embedder, get_embedder, identity_record, is_ollama, tokenizer_folder
from workbench.core.retrieval.index import (
    INDEX_VERSION,
    Index,
    IndexMismatch,
    IndexUnavailable,
    WriteRefused,
    check_compatible,
    index_location,
    new_build_id,
    now_iso,
)
from workbench.core.retrieval.settings import RetrievalSettings

COMMIT_CHUNKS = 256  # chunks per LanceDB commit: big enough that commits cost ~nothing
DOC_WINDOW_TOKENS = 256  # a document vector's window when the embedder does not say its own


@dataclass
class IngestProgress:
    """One progress update (sent after each batch, and once per phase change)."""

    phase: str  # "scanning" | "embedding" | "indexing" | "done"
    files_done: int
    files_total: int
    chunks_done: int  # chunks embedded so far in this run
    chunks_total: int  # chunks to embed in this run (known after scanning)
    chunks_per_s: float
    eta_s: float | None  # None until a rate is known
    current: str = ""  # document path being worked on


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_embedded: int = 0
    windows_embedded: int = 0  # document first windows embedded besides the chunks (doc_vector)
    docs_total: int = 0  # documents in the index after the run
    chunks_total: int = 0  # chunks in the index after the run
    seconds: float = 0.0
    embed_seconds: float = 0.0  # time inside Embedder.encode (throughput baseline)
    cancelled: bool = False
    reindexed: bool = False
    rechunked: str | None = None  # why every file was re-chunked, if it was
    embedding_model: str = ""
    index_version: int = 0  # LanceDB table version after the run
    pending: list[str] = field(default_factory=list)  # files left for next run (cancelled)

    @property
    def nothing_changed(self) -> bool:
        return not (self.added or self.updated or self.removed or self.reindexed or self.pending)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": len(self.unchanged),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "chunks_embedded": self.chunks_embedded,
            "windows_embedded": self.windows_embedded,
            "docs_total": self.docs_total,
            "chunks_total": self.chunks_total,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "cancelled": self.cancelled,
            "reindexed": self.reindexed,
            "rechunked": self.rechunked,
            "embedding_model": self.embedding_model,
            "index_version": self.index_version,
            "pending": self.pending,
            "nothing_changed": self.nothing_changed,
        }


def ingest(
    paths: list[Path | str],
    data_dir: Path,
    settings: RetrievalSettings,
    *,
    root: Path | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
    cancel: threading.Event | None = None,
    reindex: bool = False,
    embedder: Embedder | None = None,
    bases: list[Path] | None = None,
    prune: bool = True,
) -> IngestReport:
    """Bring the index in `data_dir/index` (or at `settings.uri`) in line with the documents
    under `paths`.

    `root` resolves a relative `settings.embedding_model` folder. `embedder` overrides the
    configured model (tests, benchmarks). `bases` are the corpus folders document paths are
    relative to (documents.document_base). `prune`: also remove indexed documents under
    `paths` that are not there any more (see the module docstring). Raises IndexMismatch when
    the index was built with another embedding model (unless reindex), WorkbenchError when
    another ingest holds the lock.
    """
    t0 = time.perf_counter()
    report = IngestReport(reindexed=reindex, embedding_model=settings.embedding_model)
    emit = progress or (lambda p: None)
    tokens = tokens_for(tokenizer_folder(settings.embedding_model, root, embedder))
    # what the chunks depend on; any difference from the index's record re-chunks every file
    chunking = {**chunking_record(settings), "tokenizer": tokens.name}

    roots = [Path(p) for p in paths]
    missing = [str(r) for r in roots if not r.exists()]
    configured = {str(Path(b)) for b in bases or ()}
    if set(missing) & configured:
        # a corpus folder of workbench.yaml (a tune's sweep ingests those): the fix is in the file,
        # and --prune is no help (service.missing_corpus says the same with the line, for ingest)
        raise WorkbenchError(
            f"retrieval.corpus: not found: {', '.join(m for m in missing if m in configured)} (nothing was "
            "changed; fix the path in workbench.yaml)",
            field="retrieval.corpus",
        )
    if missing:
        # the index mirrors the given paths: a mistyped path must not empty it
        raise WorkbenchError(
            f"corpus path not found: {', '.join(missing)} (nothing was changed; to drop deleted "
            "files from the index, ingest the folder that held them with --prune, or the whole corpus)",
            field="retrieval.corpus",
        )
    sources, skipped = discover(roots, bases or (), follow_symlinks=settings.follow_symlinks)
    report.skipped.extend(skipped)
    scopes = [(r, document_base(r, bases or ())) for r in roots]

    where = index_location(data_dir, settings)
    index: Index | None = None
    if not reindex:
        try:
            index = Index.open(where, settings.embedding_model)
        except IndexMismatch as exc:  # a model that cannot load is named first: --reindex cannot help
            from workbench.core.retrieval.service import unusable_model

            raise (None if embedder else unusable_model(settings.embedding_model, root, where)) or exc from None
        except IndexUnavailable:
            if Index.meta_exists(where):  # (an unreachable object store raises here)
                raise  # corrupt: say so (the message tells the user to --reindex)
            index = None
    if index is not None and embedder is None and index.meta.get("embedding_digest"):
        embedder = get_embedder(settings.embedding_model, root)  # Ollama: its digest now, checked next
    if index is not None and embedder is not None:
        check_compatible(index.meta, None, embedder.dimension, index.dir / "meta.json")

    def get_model() -> Embedder:
        nonlocal embedder
        if embedder is None:
            embedder = get_embedder(settings.embedding_model, root)
        return embedder

    lock_owner = index if index is not None else Index(where, {}, None, None)
    with lock_owner.write_lock(), _removed_if_unwritten(where) as created:
        if index is not None:  # re-read under the lock: another ingest may just have finished
            index = Index.open(where, settings.embedding_model)
        if not reindex:  # a killed --reindex's half-built folder: only disk space now
            Index.clear_leftovers(where)
        if embedder is None and is_ollama(settings.embedding_model):
            get_model()  # its window (/api/show, 256 when that fails) decides the document vectors
        if embedder is not None:  # (a local model's is fixed by its folder: loaded when needed)
            chunking["doc_window"] = doc_window_tokens(embedder)
        if index is None:
            emb = get_model()
            index = Index.create(
                where,
                {
                    "index_version": INDEX_VERSION,
                    "embedding_model": settings.embedding_model,
                    "dimension": emb.dimension,
                    **identity_record(emb),
                    "chunking": chunking,
                    "created_at": now_iso(),
                    "state": "ingesting",
                    "docs": 0,
                    "chunks": 0,
                },
                staged=reindex,  # built beside the serving index, swapped in when complete
            )
            created.append(index)
        was_interrupted = index.meta.get("state") == "ingesting"
        indexed = index.file_hashes()
        if _chunking_differs(index.meta.get("chunking"), chunking) and indexed:
            report.rechunked = (
                f"chunking settings changed ({index.meta.get('chunking')} -> {chunking}): every file re-chunked"
            )

        # --- scan: hash every file; chunk only new/changed ones ----------------------------------
        emit(IngestProgress("scanning", 0, len(sources), 0, 0, 0.0, None))
        todo: list[tuple[Document, list[Chunk]]] = []
        present: set[str] = set()
        max_bytes = int(settings.max_file_mb * 1_000_000)
        for i, src in enumerate(sources):
            raw = read_bytes(src, max_bytes)
            if isinstance(raw, Skipped):
                report.skipped.append(raw)
                continue
            h = file_hash(raw)
            if not report.rechunked and indexed.get(src.path) == h:
                present.add(src.path)
                report.unchanged.append(src.path)
                continue
            doc = read_document(src, max_bytes, raw)
            if isinstance(doc, Skipped):
                report.skipped.append(doc)
                continue
            chunks = chunk_with(doc, settings, tokens)
            if not chunks:
                # headings and nothing under them: no chunk, so no row would carry its hash, and
                # every run would "add" it again. Skipped with the reason instead (and, if it had
                # text before, its old chunks go: they no longer say what the file says)
                report.skipped.append(Skipped(src.path, "no text to index (headings only)"))
                continue
            present.add(src.path)
            todo.append((doc, chunks))
            if i % 50 == 49:
                emit(IngestProgress("scanning", i + 1, len(sources), 0, 0, 0.0, None, src.path))
            if cancel is not None and cancel.is_set():
                break
        if cancel is not None and cancel.is_set():
            # cancelled while scanning: nothing written yet, the index is as it was
            report.cancelled = True
            report.pending = [d.path for d, _ in todo]
            return _finish(index, report, t0, changed=was_interrupted, emit=emit)

        # --- removals: one commit ---------------------------------------------------------------
        scanned = {src.path for src in sources}
        removed = sorted(p for p in set(indexed) - present if p in scanned or (prune and _in_scope(p, scopes)))
        changed = bool(removed) or bool(todo) or was_interrupted
        if changed:  # until _finish, the index is marked incomplete: "index incomplete: 36/45 files"
            index.meta.update(state="ingesting", files_expected=len((set(indexed) - set(removed)) | present))
            index.write_meta()
        if removed:
            with index.writing("removing documents"):
                index.remove_files(removed)
            report.removed = removed

        # --- embed + write, a group of files per commit -------------------------------------------
        total_chunks = sum(len(c) for _, c in todo)
        files_total = len(sources)
        files_done = len(report.unchanged)
        done_chunks = 0
        t_embed0 = time.perf_counter()
        group: list[tuple[Document, list[Chunk]]] = []

        def rate() -> tuple[float, float | None]:
            el = time.perf_counter() - t_embed0
            r = done_chunks / el if el > 0 and done_chunks else 0.0
            eta = (total_chunks - done_chunks) / r if r > 0 else None
            return r, eta

        def flush(group: list[tuple[Document, list[Chunk]]]) -> bool:
            """Embed and commit a group; False if cancelled (completed files still committed)."""
            nonlocal done_chunks, files_done
            if not group:
                return True
            emb = get_model()
            texts = [c.embed_text for _, cs in group for c in cs]
            # each document's first window (index.py `doc_vector`) goes first, outside the chunk
            # progress, so a cancel between chunk batches still finds whole files to commit; a
            # one-chunk document's window is its chunk's text, embedded once
            window = chunking.setdefault("doc_window", doc_window_tokens(emb))
            doc_texts = [doc_window_text(d, cs, window, tokens) for d, cs in group]
            have = set(texts)
            windows = list(dict.fromkeys(t for t in doc_texts if t not in have))
            n_chunks = len(texts)
            # longest first, so each batch holds similar lengths and little padding is computed
            # (sentence-transformers sorts only within one encode() call, i.e. one batch here)
            texts += windows
            bs = settings.batch_size
            batches = []
            for part in (range(n_chunks, len(texts)), range(n_chunks)):  # windows, then chunks
                order = sorted(part, key=lambda i: -len(texts[i]))
                batches += [order[s : s + bs] for s in range(0, len(order), bs)]
            vecs: list[Any] = [None] * len(texts)
            cancelled = False
            for batch in batches:
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                te = time.perf_counter()
                out = emb.encode([texts[i] for i in batch], bs)
                report.embed_seconds += time.perf_counter() - te
                for i, v in zip(batch, out, strict=True):
                    vecs[i] = v
                chunks_in = sum(1 for i in batch if i < n_chunks)
                report.windows_embedded += len(batch) - chunks_in
                if not chunks_in:
                    continue
                done_chunks += chunks_in
                r, eta = rate()
                emit(
                    IngestProgress(
                        "embedding", files_done, files_total, done_chunks, total_chunks, r, eta, group[0][0].path
                    )
                )
            vec_of = {t: v for t, v in zip(texts, vecs, strict=True) if v is not None}
            # commit every file whose chunks are all embedded (all of them unless cancelled)
            per_file: list[tuple[str, list[dict[str, Any]]]] = []
            pos = 0
            for (doc, cs), doc_text in zip(group, doc_texts, strict=True):
                seg = vecs[pos : pos + len(cs)]
                pos += len(cs)
                doc_vec = vec_of.get(doc_text)
                if doc_vec is None or any(v is None for v in seg):
                    report.pending.append(doc.path)
                    continue
                rows = [_row(c, v, doc.file_hash, doc_vec if c.n == 0 else None) for c, v in zip(cs, seg, strict=True)]
                per_file.append((doc.path, rows))
            try:
                written = _commit(index, per_file)
            except WriteRefused:  # one file's data was refused: commit them one by one instead
                written = []
                for one in per_file:
                    try:
                        written += _commit(index, [one])
                    except WriteRefused as exc:
                        report.skipped.append(Skipped(one[0], f"could not be written to the index: {exc.reason}"))
            for path, rows in written:
                (report.updated if path in indexed and not reindex else report.added).append(path)
                report.chunks_embedded += len(rows)
                files_done += 1
            return not cancelled

        group_chunks = 0
        for doc, chunks in todo:
            group.append((doc, chunks))
            group_chunks += len(chunks)
            if group_chunks >= COMMIT_CHUNKS:
                if not flush(group):
                    report.cancelled = True
                    break
                group, group_chunks = [], 0
        else:
            if not flush(group):
                report.cancelled = True
        if report.cancelled:
            done = set(report.added) | set(report.updated) | set(report.pending)
            report.pending += [d.path for d, _ in todo if d.path not in done]
        r, _ = rate()
        emit(IngestProgress("indexing", files_done, files_total, done_chunks, total_chunks, r, 0.0))
        left_over = set(indexed) - present - set(removed)  # documents this run did not touch
        if report.rechunked and left_over and not report.cancelled:
            report.rechunked = (
                f"chunking settings changed ({index.meta.get('chunking')} -> {chunking}): the files "
                f"given were re-chunked; run `workbench ingest` to re-chunk the other {len(left_over)}"
            )
        if not (report.rechunked and (report.cancelled or left_over)):
            # (a cancelled or partial re-chunk keeps the old settings recorded, so the next full
            # run finishes it)
            recorded = index.meta.get("chunking") or {}
            if "doc_window" not in chunking and "doc_window" in recorded:  # no model loaded: unchanged
                chunking["doc_window"] = recorded["doc_window"]
            index.meta["chunking"] = chunking
        return _finish(index, report, t0, changed=changed, emit=emit)


def doc_window_tokens(emb: Embedder) -> int:
    """The tokens a document vector embeds from the document's start: the model's context
    (an Ollama model's from /api/show), else DOC_WINDOW_TOKENS."""
    return int(getattr(emb, "max_seq_length", 0) or DOC_WINDOW_TOKENS)


def _chunking_differs(recorded: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """Whether the index's chunks (and document vectors) were made otherwise than this run
    would make them. A window not known on one side (an index from before it was recorded, a
    local model not loaded yet) is accepted."""
    old, new = dict(recorded or {}), dict(now)
    if "doc_window" not in old or "doc_window" not in new:
        old.pop("doc_window", None)
        new.pop("doc_window", None)
    return old != new


@contextmanager
def _removed_if_unwritten(where: Path | str) -> Iterator[list[Index]]:
    """Collects the index this run creates; an exception before its first chunk is written
    (a model that cannot load: Ollama down) removes it again, and the folder that holds only
    the lock, so a failed first ingest leaves the project as it was. A killed one, which cannot
    clean up, is still reported incomplete by its meta.json."""
    created: list[Index] = []
    try:
        yield created
    except BaseException as exc:
        try:
            for index in created:
                index.remove_unwritten()
            Index.remove_if_empty(where)
        except Exception as cleanup:  # (an object store refusing a delete): the user needs the cause
            exc.add_note(f"(the unwritten index could not be removed: {cleanup})")
        raise


def _commit(index: Index, per_file: list[tuple[str, list[dict[str, Any]]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Write these files' chunks in one commit; what was written."""
    with index.writing("writing chunks"):
        index.replace_files(
            [r for _, rows in per_file for r in rows], [p for p, _ in per_file], index.meta["dimension"]
        )
    return per_file


def _in_scope(doc_path: str, scopes: list[tuple[Path, Path]]) -> bool:
    """Whether an indexed document would be found under one of the scanned paths: its file
    (base / document path) is that path or inside it."""
    for scanned, base in scopes:
        where = base / doc_path
        if where == scanned or scanned in where.parents:
            return True
    return False


def _finish(
    index: Index, report: IngestReport, t0: float, *, changed: bool, emit: Callable[[IngestProgress], None]
) -> IngestReport:
    if index.staged and report.cancelled:  # a cancelled --reindex: drop it, the old index serves on
        index.discard()
        return _unchanged(index.data_dir, report, t0)
    if changed or not index.has_fts():
        with index.writing("building the search indexes"):
            index.rebuild_fts()
            index.ensure_vector_index()
        index.compact()
    hashes = index.file_hashes()
    report.docs_total = len(hashes)
    report.chunks_total = index.count()
    report.index_version = index.version
    index.meta.setdefault("build_id", new_build_id())  # an index from before build ids
    index.meta.update(
        state="ingesting" if report.pending else "ready",  # cancelled: still incomplete
        docs=report.docs_total,
        chunks=report.chunks_total,
        table_version=report.index_version,
    )
    if changed:
        index.meta["last_ingest_at"] = now_iso()
    index.meta.setdefault("last_ingest_at", now_iso())
    if not report.pending:
        index.meta.pop("files_expected", None)
    index.write_meta()
    index.publish()
    report.seconds = time.perf_counter() - t0
    emit(
        IngestProgress(
            "done", report.docs_total, report.docs_total, report.chunks_embedded, report.chunks_embedded, 0.0, 0.0
        )
    )
    return report


def _unchanged(data_dir: Path | str, report: IngestReport, t0: float) -> IngestReport:
    """The report of a run that left the serving index as it was: its counts."""
    report.added, report.updated, report.chunks_embedded = [], [], 0
    try:
        old = Index.open(data_dir)
        report.docs_total, report.chunks_total, report.index_version = len(old.file_hashes()), old.count(), old.version
    except IndexUnavailable:
        pass
    report.seconds = time.perf_counter() - t0
    return report


def _row(chunk: Chunk, vector: Any, file_sha: str, doc_vector: Any = None) -> dict[str, Any]:
    d = chunk.to_dict()
    d["search_text"] = chunk.embed_text
    d["file_hash"] = file_sha
    d["vector"] = vector
    d["doc_vector"] = doc_vector
    return d
