"""The LanceDB chunk index in `<data_dir>/index/`, and its metadata.

Failures are typed (unavailable, mismatch, damaged) so `ask` can answer without retrieval
and the CLI can say what to do; file hashes live in the table, committed with their chunks.
Details: docs/NOTES.md, section core/retrieval/index.py.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# Bump when the table layout changes; an older index then needs --reindex (the message says so).
# 2: `doc_vector`, the document's first-window vector, on each document's first chunk row.
INDEX_VERSION = 2
# Below this many chunks an exact (flat) vector scan is fast enough (~16 ms at 20k here) and
# exact; above it an IVF_FLAT index keeps hybrid p50 well under 50 ms at 100k (see
# benchmarks/retrieval_speed.py). IVF_FLAT stores full vectors, so distances stay exact within
# the probed partitions; IVF_PQ's default recall measured 0.39 here.
VECTOR_INDEX_MIN_ROWS = 25_000
TABLE = "chunks"
META = "meta.json"
LOCK = ".ingest.lock"

COLUMNS = [
    "chunk_id",
    "path",
    "n",
    "heading_path",
    "text",
    "search_text",
    "char_start",
    "char_end",
    "line_start",
    "line_end",
    "chunk_hash",
    "file_hash",
    "n_tokens",
]
RESULT_COLUMNS = [c for c in COLUMNS if c not in ("search_text", "file_hash")]


class IndexUnavailable(WorkbenchError):
    """The index cannot be used; `reason` says why in words a user understands."""

    def __init__(self, reason: str, *, path: str | Path | None = None) -> None:
        super().__init__(reason, path=path)
        self.reason = reason

    def __str__(self) -> str:
        # the reason names the folder itself where that helps; it is also what `ask` shows
        # after "answered without retrieval", so no "path: " prefix
        return self.reason


class NoIndex(IndexUnavailable):
    """None was built at this location yet (`workbench ingest` builds one)."""


class IndexMismatch(IndexUnavailable):
    """The index was built with a different embedding model or dimension than configured."""


class IndexDamaged(IndexUnavailable):
    """The index's files are there but cannot be read as a table: only a rebuild helps."""


class WriteRefused(IndexUnavailable):
    """A write the table refused for its data, the table itself reading fine: not damage."""


REINDEX_HINT = "run `workbench ingest --reindex` to rebuild it"


def table_problem(exc: BaseException, where: Path | str, doing: str) -> IndexUnavailable:
    """What a LanceDB failure while `doing` something to the index at `where` means to a user.

    LanceDB raises plain RuntimeError/OSError/ValueError with the OS error inside the text
    ("... Permission denied (os error 13) ..."), so the cause is read from there. On an object
    store, refused credentials, an unreachable endpoint or a missing bucket come first.
    """
    text = str(exc).lower()
    short = _short(exc)
    store = _store_of(where)
    if store is not None:
        from workbench.core.retrieval.storage import remote_problem

        found = remote_problem(exc, store, doing)
        if found is not None:
            return found
        short = store.redact(short)
    if isinstance(exc, PermissionError) or "permission denied" in text or "os error 13" in text:
        return IndexUnavailable(
            f"retrieval index files at {where} are not accessible ({doing}: permission denied): "
            "fix their permissions (owner or mode), then try again",
            path=where,
        )
    if "read-only file system" in text or "os error 30" in text:
        return IndexUnavailable(f"retrieval index at {where} is on a read-only file system ({doing})", path=where)
    if "no space left" in text or "os error 28" in text:
        return IndexUnavailable(f"no space left on the disk of the retrieval index at {where} ({doing})", path=where)
    return IndexDamaged(
        f"the retrieval index looks damaged ({doing} failed: {short}): {REINDEX_HINT} (index folder {where})",
        path=where,
    )


def lancedb_module() -> Any:
    """Import lancedb (1.2 s) on first use, with its per-query stderr warnings silenced."""
    os.environ.setdefault("LANCEDB_LOG", "error")
    import lancedb

    return lancedb


def index_dir(data_dir: Path | str) -> Path:
    """The index folder in a data folder; for an object-store location, that location itself
    (a storage.RemoteDir, joined with `/` like a Path)."""
    store = _store_of(data_dir)
    if store is not None:
        return cast(Path, store.dir)  # a storage.RemoteDir: it joins with `/` and prints as a Path does
    return Path(data_dir) / "index"


def index_location(data_dir: Path | str, settings: Any = None) -> Path | str:
    """Where the index of a project with this data folder and RetrievalSettings lives: the
    configured `retrieval.uri` (an object store), else `<data_dir>/index`'s data folder."""
    uri = getattr(settings, "uri", None)
    return uri.strip() if uri else Path(data_dir)


def _store_of(where: Any) -> Any:
    """The storage.ObjectStore for an object-store location, None for a local folder."""
    from workbench.core.retrieval.storage import ObjectStore, is_remote

    if isinstance(where, ObjectStore):
        return where
    return ObjectStore(str(where)) if is_remote(where) else None


def staging_dir(data_dir: Path) -> Path:
    """Where `ingest --reindex` builds the next index, beside the serving one."""
    return Path(data_dir) / "index.reindex"


def _retired_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "index.old"


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot, and nothing was moved."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2  # linux/fcntl.h AT_FDCWD, linux/fs.h RENAME_EXCHANGE
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return bool(fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0)


def _recover_swap(data_dir: Path) -> None:
    """Finish or undo a two-rename swap (no atomic exchange here) that a kill cut in half: the
    serving folder is gone, the old one is at index.old."""
    live, old, new = index_dir(data_dir), _retired_dir(data_dir), staging_dir(data_dir)
    if live.exists() or not old.exists():
        return
    try:
        ready = json.loads((new / META).read_text(encoding="utf-8")).get("state") == "ready"
    except (OSError, ValueError, AttributeError):
        ready = False
    os.replace(new if ready else old, live)
    if ready:
        shutil.rmtree(old, ignore_errors=True)


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def glob_to_regex(glob: str) -> str:
    """fnmatch-style glob -> anchored regex (Rust and Python syntax alike).

    `*` matches any characters including "/" (so "guides/*" is everything under guides/ and
    "*.md" every Markdown file), `?` one character, `[abc]` / `[!abc]` a class.
    """
    out, i = ["^"], 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            while i + 1 < len(glob) and glob[i + 1] == "*":
                i += 1
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = glob.find("]", i + 2)
            if j == -1:
                out.append(r"\[")
            else:
                body = glob[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c.isalnum() or c in "/_ ":
            out.append(c)
        else:
            out.append("\\" + c)
        i += 1
    out.append("$")
    return "".join(out)


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def path_filter(path_glob: str | None) -> str | None:
    """A LanceDB `where` clause for a path glob (None = no filter)."""
    if not path_glob:
        return None
    return f"regexp_match(path, {sql_str(glob_to_regex(path_glob))})"


def path_matches(path: str, path_glob: str | None) -> bool:
    """The same test in Python (for results that did not come through a where clause)."""
    return not path_glob or re.match(glob_to_regex(path_glob), path) is not None


class Index:
    """An opened index: the LanceDB table (may be absent while empty) and its metadata."""

    def __init__(
        self,
        data_dir: Path | str,
        meta: dict[str, Any],
        table: Any | None,
        db: Any,
        folder: Path | None = None,
        *,
        staged: bool = False,
        table_name: str | None = None,
    ) -> None:
        self.store = _store_of(data_dir)  # an object-store index (storage.py), else None
        if self.store is not None:
            self.data_dir: Path | str = self.store.dir
            self.dir = self.store.dir
            self.staged = staged  # there, a --reindex build is a new table beside the old one
        else:
            self.data_dir = Path(data_dir)
            self.dir = folder or index_dir(self.data_dir)
            self.staged = self.dir != index_dir(self.data_dir)  # a --reindex build, not serving yet
        self.table_name = table_name or meta.get("table") or TABLE
        self.meta = meta
        self._table = table
        self._db = db

    # --- opening --------------------------------------------------------------------------------

    @staticmethod
    def read_meta(data_dir: Path | str) -> dict[str, Any]:
        """meta.json, or IndexUnavailable saying what is wrong with it."""
        store = _store_of(data_dir)
        if store is not None:
            text = store.read_text(META, "reading its metadata")
            if text is None:
                raise NoIndex(f"no retrieval index at {store.uri}: run `workbench ingest` first", path=store.uri)
            return _checked_meta(text, store.dir / META)
        d = index_dir(data_dir)
        meta_path = d / META
        if not d.exists():
            _recover_swap(Path(data_dir))
        if not d.exists():
            raise NoIndex(f"no retrieval index at {d}: run `workbench ingest` first", path=d)
        if not os.access(d, os.R_OK | os.X_OK):
            raise IndexUnavailable(f"retrieval index folder is unreadable: {d} (permission denied)", path=d)
        if not meta_path.exists():
            if not _holds_data(d):  # a first ingest that failed before creating anything
                raise NoIndex(f"no retrieval index at {d}: run `workbench ingest` first", path=d)
            raise IndexUnavailable(
                f"retrieval index at {d} has no {META} (never finished building?): run `workbench ingest --reindex`",
                path=d,
            )
        try:
            text = meta_path.read_text(encoding="utf-8")
        except PermissionError:
            raise IndexUnavailable(f"retrieval index metadata is unreadable: {meta_path}", path=meta_path) from None
        except OSError as exc:
            raise IndexUnavailable(
                f"retrieval index metadata is corrupt ({exc}): run `workbench ingest --reindex`",
                path=meta_path,
            ) from None
        return _checked_meta(text, meta_path)

    @staticmethod
    def meta_exists(data_dir: Path | str) -> bool:
        """Whether the location has index metadata (readable or not); on an object store an
        unreachable store or refused credentials raise instead of answering no."""
        store = _store_of(data_dir)
        if store is not None:
            return store.read_text(META, "reading its metadata") is not None
        return (index_dir(data_dir) / META).exists()

    @staticmethod
    def clear_leftovers(data_dir: Path | str) -> None:
        """Drop what a killed or replaced `--reindex` left (disk space only; call it under the
        ingest lock): the staging folder here; on an object store, every chunk table but the
        serving one, and the staged metadata."""
        store = _store_of(data_dir)
        if store is None:
            shutil.rmtree(staging_dir(Path(data_dir)), ignore_errors=True)
            return
        from workbench.core.retrieval.storage import STAGED_META

        text = store.read_text(META, "reading its metadata")
        try:
            serving = (json.loads(text) if text else {}).get("table", TABLE)
        except (ValueError, AttributeError):
            return  # corrupt metadata: keep everything for a --reindex to sort out
        _drop_tables(store, keep={serving})
        store.delete(STAGED_META)

    @classmethod
    def open(cls, data_dir: Path | str, embedding_model: str | None = None, dimension: int | None = None) -> Index:
        """Open an existing index for searching.

        `embedding_model` / `dimension`, when given, are checked against what the index was built
        with: a mismatch raises IndexMismatch instead of returning garbage neighbours.
        """
        meta = cls.read_meta(data_dir)
        check_compatible(meta, embedding_model, dimension, index_dir(data_dir) / META)
        d = index_dir(data_dir)
        store = _store_of(data_dir)
        name = meta.get("table") or TABLE
        try:
            db = store.connect() if store is not None else lancedb_module().connect(str(d))
            names = _table_names(db)
            table = db.open_table(name) if name in names else None
            if table is not None:
                table.schema  # noqa: B018  (touches the manifest: corrupt files fail here)
        except Exception as exc:  # lance raises plain OSError/ValueError/RuntimeError variants
            raise table_problem(exc, d, "opening it") from None
        if table is None and meta.get("chunks", 0):
            raise IndexUnavailable(
                f"retrieval index at {d} lost its chunk table: run `workbench ingest --reindex`", path=d
            )
        return cls(data_dir, meta, table, db)

    @classmethod
    def create(cls, data_dir: Path | str, meta: dict[str, Any], *, staged: bool = False) -> Index:
        """Start a fresh, empty index with this metadata: in place (dropping any previous one),
        or `staged` beside the serving one, which stays until `publish` swaps them."""
        store = _store_of(data_dir)
        if store is not None:  # staged: a new table; published by rewriting meta.json
            build = new_build_id()
            name = f"{TABLE}-{build}" if staged else TABLE
            try:
                db = store.connect()
                if name in _table_names(db):
                    db.drop_table(name)
            except Exception as exc:
                raise table_problem(exc, store.dir, "creating it") from None
            idx = cls(store, {**meta, "build_id": build, "table": name}, None, db, staged=staged, table_name=name)
            idx.write_meta()
            return idx
        d = staging_dir(Path(data_dir)) if staged else index_dir(data_dir)
        lancedb = lancedb_module()
        try:
            if staged and d.exists():  # a killed --reindex's leftover
                shutil.rmtree(d)
            d.mkdir(parents=True, exist_ok=True)
            db = lancedb.connect(str(d))
            if TABLE in _table_names(db):
                db.drop_table(TABLE)
            idx = cls(data_dir, {**meta, "build_id": new_build_id()}, None, db, d)
            idx.write_meta()
        except Exception as exc:  # a read-only data folder, another user's index
            raise table_problem(exc, d, "creating it") from None
        return idx

    def publish(self) -> None:
        """Make a staged (complete) index the serving one in one step and delete the old one.

        The swap is a single renameat2(RENAME_EXCHANGE), so a reader sees the old index or the
        new one, never neither; without it, two renames that `_recover_swap` can finish.
        """
        if not self.staged:
            return
        if self.store is not None:
            self._publish_remote()
            return
        live, old = index_dir(self.data_dir), _retired_dir(Path(self.data_dir))
        try:
            shutil.rmtree(old, ignore_errors=True)
            if not live.exists():
                os.replace(self.dir, live)
            elif _exchange(self.dir, live):
                old = self.dir  # the old index is where the new one was built
            else:
                os.replace(live, old)
                os.replace(self.dir, live)
            shutil.rmtree(old, ignore_errors=True)
            self.dir, self.staged = live, False
            self._db = lancedb_module().connect(str(live))
            self._table = self._db.open_table(TABLE) if TABLE in _table_names(self._db) else None
        except Exception as exc:
            raise table_problem(exc, live, "replacing it with the rebuilt index") from None

    def _publish_remote(self) -> None:
        """On an object store: one PUT of meta.json naming the new table is the switch. The
        table it replaces stays for searches that opened it a moment ago; older ones go."""
        from workbench.core.retrieval.storage import STAGED_META

        store = self.store
        text = store.read_text(META, "reading its metadata")
        try:
            retired = (json.loads(text) if text else {}).get("table", TABLE)
        except (ValueError, AttributeError):
            retired = TABLE
        self.staged = False
        try:
            self.write_meta()
        except BaseException:
            self.staged = True
            raise
        store.delete(STAGED_META)
        try:
            _drop_tables(store, keep={self.table_name, retired})
        except IndexUnavailable:
            pass  # disk space only: the next ingest drops them

    def remove_unwritten(self) -> None:
        """Remove an index this ingest created that holds no chunk yet (the run failed before
        its first write), so the project reads as before: no index. Call it under the lock."""
        if self.table is not None:
            return
        if self.staged:
            self.discard()
        elif self.store is not None:
            try:
                self.store.delete(META)
            except IndexUnavailable:
                pass  # the next ingest starts it afresh anyway
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def remove_if_empty(data_dir: Path | str) -> None:
        """Remove a local index folder that holds nothing but the ingest lock (call it under
        the lock): what an ingest that failed before creating its index leaves."""
        if _store_of(data_dir) is not None:
            return  # there the lock is a lease object, deleted as it is released
        d = index_dir(data_dir)
        if d.is_dir() and not _holds_data(d):
            shutil.rmtree(d, ignore_errors=True)

    def discard(self) -> None:
        """Drop a staged build (a cancelled --reindex): the serving index stays as it was."""
        if self.staged and self.store is not None:
            from workbench.core.retrieval.storage import STAGED_META

            try:
                _drop_tables(self.store, keep=set(), only={self.table_name})
                self.store.delete(STAGED_META)
            except IndexUnavailable:
                pass  # the next ingest drops it
        elif self.staged:
            shutil.rmtree(self.dir, ignore_errors=True)

    def incomplete(self) -> str | None:
        """ "index incomplete: 36/45 files (...)" when an ingest is running or was killed or
        cancelled part-way through this index, else None. Counts the indexed documents only then."""
        if self.meta.get("state") != "ingesting":
            return None
        try:
            have = len(self.file_hashes())
        except IndexUnavailable:
            have = int(self.meta.get("docs") or 0)
        expected = self.meta.get("files_expected")
        count = f"{have}/{expected} files" if expected is not None else f"{have} files so far"
        why = (
            "an ingest is running"
            if self.ingest_running()
            else "an ingest stopped before it finished: run `workbench ingest` to complete it"
        )
        return f"index incomplete: {count} ({why})"

    def ingest_running(self) -> bool:
        """Whether another process holds the ingest lock right now."""
        if self.store is not None:
            from workbench.core.retrieval.storage import Lease

            try:
                return Lease(self.store).holder() is not None
            except IndexUnavailable:
                return False
        from filelock import FileLock, Timeout

        if not (self.dir / LOCK).exists():
            return False
        try:
            with FileLock(str(self.dir / LOCK), timeout=0):
                return False
        except Timeout:
            return True
        except OSError:
            return False

    # --- metadata -------------------------------------------------------------------------------

    def write_meta(self) -> None:
        """Replace meta.json atomically (write a temp file, then rename over; on an object store
        one PUT, to reindex.json while the build is staged)."""
        if self.store is not None:
            from workbench.core.retrieval.storage import STAGED_META

            text = json.dumps(self.meta, indent=2, sort_keys=True)
            self.store.write_text(STAGED_META if self.staged else META, text, "writing its metadata")
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / (META + ".tmp")
        tmp.write_text(json.dumps(self.meta, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.dir / META)

    @property
    def table(self) -> Any | None:
        return self._table

    @property
    def version(self) -> int:
        """The LanceDB table version (changes on every write): what a trace records."""
        return int(self._table.version) if self._table is not None else 0

    @property
    def build_id(self) -> str | None:
        """Which build of the index this is: a random id written when the index is (re)created.

        The table version alone does not identify the contents: `ingest --reindex` (or deleting
        the index folder) starts a new table whose versions count from 1 again, so "version 3"
        can name two different texts. (build_id, version) cannot repeat. None for an index built
        before build ids existed (the next ingest gives it one).
        """
        return self.meta.get("build_id")

    def count(self) -> int:
        return int(self._table.count_rows()) if self._table is not None else 0

    # --- writing (ingest only) ------------------------------------------------------------------

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Exclusive lock against a second concurrent ingest of the same index (on an object
        store a lease object: storage.Lease)."""
        if self.store is not None:
            from workbench.core.retrieval.storage import Lease

            with Lease(self.store).held():
                yield
            return
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.dir / LOCK), timeout=0, thread_local=False)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise WorkbenchError(
                f"another `workbench ingest` is writing this index ({self.dir}); wait for it to finish"
            ) from None
        except OSError as exc:  # read-only folder, another user's index
            raise table_problem(exc, self.dir, "opening it for writing") from None
        try:
            yield
        finally:
            lock.release()

    def file_hashes(self) -> dict[str, str]:
        """{document path: sha256 of the file} for every document in the table."""
        if self._table is None:
            return {}
        try:
            tbl = self._table.search().select(["path", "file_hash"]).limit(None).to_arrow()
        except Exception as exc:
            raise table_problem(exc, self.dir, "reading its documents") from None
        return dict(zip(tbl.column("path").to_pylist(), tbl.column("file_hash").to_pylist(), strict=True))

    def verify(self) -> None:
        """Read every data file once (two small columns of every row), raising IndexDamaged (or
        a permission problem) when one cannot be read: what `retrieval status` checks, since
        opening a table reads only its manifest. ~50 ms per 100k chunks."""
        self.file_hashes()

    @contextmanager
    def writing(self, doing: str) -> Iterator[None]:
        """Raise what a failed write means (damaged, permission, disk full), not a lance trace.

        "Damaged" (and its --reindex advice) only when the table then fails a plain read too: a
        write refused for its data (a name no UTF-8 writer takes) left the index as it was, and
        a rebuild would fail the same way, leaving nothing.
        """
        try:
            yield
        except WorkbenchError:
            raise
        except Exception as exc:
            problem = table_problem(exc, self.dir, doing)
            if isinstance(problem, IndexDamaged) and self._reads_fine():
                problem = WriteRefused(f"{doing} failed ({_short(exc)}); the index was not changed", path=self.dir)
            raise problem from None

    def _reads_fine(self) -> bool:
        if self._table is None:
            return True
        try:
            self._table.search().select(["chunk_id"]).limit(None).to_arrow()
        except Exception:
            return False
        return True

    def replace_files(self, rows: list[dict[str, Any]], paths: list[str], dimension: int) -> None:
        """Make the chunks of `paths` exactly `rows`, in ONE LanceDB commit.

        merge_insert on chunk_id: matching ids are updated, new ones inserted, and rows of these
        paths that are not in `rows` deleted (when_not_matched_by_source_delete) - all in a single
        new table version, so a reader (or a crash) sees either the old or the new state of these
        files, never a file with half its chunks.
        """
        if not paths:
            return
        import pyarrow as pa

        data = pa.Table.from_pylist(rows, schema=_schema(dimension)) if rows else None
        if self._table is None:
            if data is None:
                return
            self._table = self._db.create_table(self.table_name, data=data, schema=_schema(dimension))
            return
        cond = "path IN (" + ", ".join(sql_str(p) for p in paths) + ")"
        if data is None:
            self._table.delete(cond)
            return
        (
            self._table.merge_insert("chunk_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(cond)
            .execute(data)
        )

    def remove_files(self, paths: list[str]) -> None:
        if self._table is None or not paths:
            return
        for i in range(0, len(paths), 500):
            part = paths[i : i + 500]
            self._table.delete("path IN (" + ", ".join(sql_str(p) for p in part) + ")")

    def rebuild_fts(self) -> None:
        """(Re)build the native full-text index on search_text (heading path + body)."""
        if self._table is None or self._table.count_rows() == 0:
            return
        from lancedb.index import FTS

        self._table.create_index("search_text", config=FTS(), replace=True)

    def ensure_vector_index(self) -> bool:
        """Build (or rebuild, once the table has doubled since) the IVF_FLAT vector index when
        the table is big enough to need one; drop it below the threshold. True if one exists."""
        if self._table is None:
            return False
        rows = self._table.count_rows()
        info = self.meta.get("vector_index")
        if rows < VECTOR_INDEX_MIN_ROWS:
            if info:
                try:
                    self._table.drop_index("vector_idx")
                except Exception:
                    pass
                self.meta.pop("vector_index", None)
            return False
        if info and rows <= 2 * int(info.get("rows", 0)):
            return True  # optimize() (compact) folds new rows into the existing partitions
        from lancedb.index import IvfFlat

        partitions = max(16, int(round(rows**0.5)))
        self._table.create_index(
            "vector", config=IvfFlat(distance_type="cosine", num_partitions=partitions), replace=True
        )
        self.meta["vector_index"] = {
            "type": "IVF_FLAT",
            "partitions": partitions,
            "nprobes": max(20, partitions // 8),
            "rows": rows,
        }
        return True

    def has_vector_index(self) -> bool:
        return bool(self.meta.get("vector_index"))

    def vector_index_desc(self) -> str:
        info = self.meta.get("vector_index") or {}
        return f"{info.get('type')} {info.get('partitions')} partitions, nprobes {info.get('nprobes')}"

    def compact(self) -> None:
        """Merge small fragments and drop table versions older than a minute (disk hygiene)."""
        if self._table is None:
            return
        try:
            self._table.optimize(cleanup_older_than=_dt.timedelta(minutes=1))
        except Exception:  # hygiene only: never fail an ingest over it
            pass

    # --- reading ----------------------------------------------------------------------------------

    def has_fts(self) -> bool:
        if self._table is None:
            return False
        try:
            return any(getattr(i, "index_type", "") == "FTS" for i in self._table.list_indices())
        except Exception:
            return False

    def dense(self, vector: np.ndarray, limit: int, where: str | None = None) -> list[dict[str, Any]]:
        """Nearest chunks by cosine distance; each row gets `_distance`."""
        if self._table is None:
            return []
        q = self._table.search(vector, vector_column_name="vector").distance_type("cosine")
        info = self.meta.get("vector_index")
        if info:
            q = q.nprobes(int(info.get("nprobes", 20)))
        if where:
            q = q.where(where, prefilter=True)
        try:
            return list(q.select(RESULT_COLUMNS + ["_distance"]).limit(limit).to_list())
        except Exception as exc:
            raise self._search_problem(
                exc, "dense search", "vector index" if self.meta.get("vector_index") else None
            ) from None

    def fts(self, query: str, limit: int, where: str | None = None) -> list[dict[str, Any]]:
        """Best BM25 matches on search_text; each row gets `_score`."""
        if self._table is None or not query.strip():
            return []
        q = self._table.search(query, query_type="fts", fts_columns="search_text")
        if where:
            q = q.where(where, prefilter=True)
        try:
            return list(q.select(RESULT_COLUMNS).limit(limit).to_list())
        except Exception as exc:
            if not self.has_fts():  # an ingest killed before its final index build
                raise IndexUnavailable(
                    "full-text index missing: run `workbench ingest` to rebuild it", path=self.dir
                ) from None
            raise self._search_problem(exc, "full-text search", "full-text index") from None

    def _search_problem(self, exc: Exception, doing: str, search_index: str | None = None) -> IndexUnavailable:
        """Why a query failed: a permission problem; damaged data (a plain read of the table
        fails too); else, the table reading fine, a damaged `search_index` over it, or (none)
        the query itself."""
        problem = table_problem(exc, self.dir, doing)
        if not isinstance(problem, IndexDamaged) or self._table is None:
            return problem
        try:
            self._table.search().select(["chunk_id"]).limit(None).to_arrow()
        except Exception as probe:
            return table_problem(probe, self.dir, doing)
        if search_index:
            return IndexDamaged(
                f"the {search_index} of the retrieval index looks damaged ({_short(exc)}): "
                f"{REINDEX_HINT} (index folder {self.dir})",
                path=self.dir,
            )
        return IndexUnavailable(f"{doing} failed ({_short(exc)})", path=self.dir)

    def chunks_of(self, path: str) -> list[dict[str, Any]]:
        """All chunks of one document, in order (for why-not and boundary checks)."""
        if self._table is None:
            return []
        rows = self._table.search().where(f"path = {sql_str(path)}").select(RESULT_COLUMNS).limit(None).to_list()
        return sorted(rows, key=lambda r: r["n"])

    def paths(self) -> list[str]:
        return sorted(self.file_hashes())

    def doc_vector_rows(self) -> tuple[list[str], Any]:
        """(paths, matrix) of the stored first-window document vectors, one row per document."""
        import numpy as np

        if self._table is None:
            return [], np.zeros((0, int(self.meta.get("dimension") or 1)), dtype=np.float32)
        try:
            tbl = self._table.search().where("n = 0").select(["path", "doc_vector"]).limit(None).to_arrow()
        except Exception as exc:
            raise table_problem(exc, self.dir, "reading its document vectors") from None
        tbl = tbl.filter(tbl.column("doc_vector").is_valid())
        paths = tbl.column("path").to_pylist()
        col = tbl.column("doc_vector").combine_chunks()
        dim = int(self.meta.get("dimension") or 1)
        return paths, np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(
            len(paths), dim
        )

    def chunk_ids(self) -> set[str]:
        """Every chunk id in the table (to check chunk-id labels against)."""
        if self._table is None:
            return set()
        try:
            tbl = self._table.search().select(["chunk_id"]).limit(None).to_arrow()
        except Exception as exc:
            raise table_problem(exc, self.dir, "reading its chunk ids") from None
        return set(tbl.column("chunk_id").to_pylist())


def _checked_meta(text: str, meta_path: Path | str) -> dict[str, Any]:
    """Parsed and validated meta.json text, or IndexUnavailable saying what is wrong with it."""
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise IndexUnavailable(
            f"retrieval index metadata is corrupt ({exc}): run `workbench ingest --reindex`",
            path=meta_path,
        ) from None
    if not isinstance(meta, dict) or "embedding_model" not in meta or "dimension" not in meta:
        raise IndexUnavailable(
            "retrieval index metadata is corrupt (missing fields): run `workbench ingest --reindex`",
            path=meta_path,
        )
    if meta.get("index_version") != INDEX_VERSION:
        raise IndexMismatch(
            f"retrieval index layout version {meta.get('index_version')} is not the current "
            f"{INDEX_VERSION}: run `workbench ingest --reindex`",
            path=meta_path,
        )
    return meta


def _holds_data(folder: Path) -> bool:
    """Whether an index folder holds anything besides the ingest lock (and an unfinished
    meta.json.tmp): only then is a missing meta.json a build that never finished."""
    try:
        return any(p.name not in (LOCK, META + ".tmp") for p in folder.iterdir())
    except OSError:
        return True


def new_build_id() -> str:
    return uuid.uuid4().hex[:16]


def check_compatible(meta: dict[str, Any], embedding_model: str | None, dimension: int | None, where: Path) -> None:
    """IndexMismatch when the configured model/dimension is not what the index was built with."""
    if embedding_model is not None and meta.get("embedding_model") != embedding_model:
        raise IndexMismatch(
            f"the retrieval index was built with embedding model {meta.get('embedding_model')!r} "
            f"but workbench.yaml sets retrieval.embedding_model to {embedding_model!r}; its vectors "
            "would give meaningless results: run `workbench ingest --reindex`",
            path=where,
        )
    if meta.get("embedding_digest"):  # an Ollama model: the weights its name points at now
        from workbench.core.retrieval.embedder import identity_problem

        problem = identity_problem(meta)
        if problem:
            raise IndexMismatch(problem, path=where)
    if dimension is not None and int(meta.get("dimension", -1)) != int(dimension):
        raise IndexMismatch(
            f"the retrieval index holds {meta.get('dimension')}-dimensional vectors but the embedding "
            f"model produces {dimension}: run `workbench ingest --reindex`",
            path=where,
        )


def chunking_drift(meta: dict[str, Any], settings: Any) -> str | None:
    """Why the index's chunks are not the ones an ingest with `settings` (RetrievalSettings)
    would make now, or None.

    Changing `chunk_tokens` (or upgrading to a new chunker) does not break search, so it is no
    IndexMismatch; but until the next ingest every result comes from the old chunks, and a user
    comparing settings would compare nothing.
    """
    from workbench.core.retrieval.chunking import chunking_record

    if not meta.get("chunks"):
        return None
    # heading_context is recorded only when off (settings.chunking_key): absent means on
    recorded = {"heading_context": True, **(meta.get("chunking") or {})}
    wanted = {"heading_context": True, **chunking_record(settings)}
    changed = [
        f"{key} {recorded.get(key, '?')} → {value}" for key, value in wanted.items() if recorded.get(key) != value
    ]
    if not changed:
        return None
    return (
        "the index was chunked with other settings (" + ", ".join(changed) + "); results "
        "come from the old chunks until the next ingest re-chunks them"
    )


def _schema(dimension: int) -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("chunk_id", pa.string()),
            pa.field("path", pa.string()),
            pa.field("n", pa.int32()),
            pa.field("heading_path", pa.string()),
            pa.field("text", pa.string()),
            pa.field("search_text", pa.string()),
            pa.field("char_start", pa.int32()),
            pa.field("char_end", pa.int32()),
            pa.field("line_start", pa.int32()),
            pa.field("line_end", pa.int32()),
            pa.field("chunk_hash", pa.string()),
            pa.field("file_hash", pa.string()),
            pa.field("n_tokens", pa.int32()),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
            # the document's own vector (chunking.doc_window_text), on its chunk n=0 only: null
            # elsewhere, so it is stored once per document and written in the same commit. A
            # variable-length list: LanceDB takes a fixed-size one for a vector column and then
            # refuses its nulls ("variable length vectors")
            pa.field("doc_vector", pa.list_(pa.float32()), nullable=True),
        ]
    )


_CHUNK_TABLE = re.compile(rf"^{TABLE}(-[0-9a-f]{{16}})?$")


def _drop_tables(store: Any, keep: set[str], only: set[str] | None = None) -> None:
    """Drop this index's chunk tables on an object store except `keep` (or just `only`); other
    tables that share the prefix are never touched."""
    try:
        db = store.connect()
        for name in _table_names(db):
            if _CHUNK_TABLE.match(name) and name not in keep and (only is None or name in only):
                db.drop_table(name)
    except Exception as exc:
        raise table_problem(exc, store.dir, "dropping a replaced table") from None


def _table_names(db: Any) -> list[str]:
    if hasattr(db, "list_tables"):
        res = db.list_tables()
        names = getattr(res, "tables", res)
        return list(names)
    return list(db.table_names())


_RUST_LOCATION = re.compile(r",?\s*/\S+\.rs:\d+:\d+")


def _short(exc: BaseException) -> str:
    """The first line of an exception, without the Rust source locations lance appends."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _RUST_LOCATION.sub("", text).strip()[:200]
