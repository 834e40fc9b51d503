"""The run store: one SQLite file per project, through sqlite-utils.

Details: docs/NOTES.md, section core/store.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast, overload

import sqlite_utils

from workbench.core.records import GenerationRow
from workbench.core.store_health import StoreError, backup, store_problem

RUNNING = "running"
INTERRUPTED = "interrupted"

# Tables with a `status` + `pid` pair that `recover_interrupted` mends.
_RECOVERABLE = ("generations", "eval_runs", "finetune_jobs")


def now_iso() -> str:
    """UTC timestamp with milliseconds, sortable as text."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _v1(db: sqlite_utils.Database) -> None:
    db.table("variants").create({"id": str, "name": str, "spec": str, "created_at": str}, pk="id", if_not_exists=True)
    db.table("generations").create(
        {
            "id": int,
            "created_at": str,
            "updated_at": str,
            "source": str,  # cli | playground | eval
            "variant_id": str,
            "variant_name": str,
            "prompt_name": str,
            "inputs": str,  # JSON: template variables
            "messages": str,  # JSON: exactly what was sent
            "options": str,  # JSON
            "adapter": str,
            "model_requested": str,
            "model_used": str,
            "fallback_used": int,
            "attempt_log": str,  # JSON: every try, with the reason it failed
            "attempts": int,
            "output": str,
            "thinking": str,
            "status": str,  # running | ok | truncated | incomplete | error | timeout | interrupted
            "error": str,
            "warnings": str,  # JSON list
            "ttft_ms": float,
            "total_ms": float,
            "prompt_tokens": int,
            "completion_tokens": int,
            "tokens_per_s": float,
            "cost": float,
            "retrieval_id": int,
            "retrieval_status": str,  # used | skipped | unavailable: <reason>
            "sources": str,  # JSON: [{n, chunk_id, path, heading, score}]
            "cache_key": str,
            "cached_from": int,
            "pid": int,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("generations").create_index(["created_at"], if_not_exists=True)
    db.table("generations").create_index(["cache_key", "status"], if_not_exists=True)
    db.table("generations").create_index(["status"], if_not_exists=True)
    db.table("retrievals").create(
        {
            "id": int,
            "created_at": str,
            "query": str,
            "mode": str,
            "k": int,
            "settings": str,  # JSON
            "index_version": str,
            "results": str,  # JSON: ranked results per method with scores
            "latency_ms": float,
            "source": str,
            "error": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("retrieval_evals").create(
        {
            "id": int,
            "created_at": str,
            "evalset": str,
            "evalset_hash": str,
            "settings": str,
            "index_version": str,
            "metrics": str,  # JSON: per mode
            "cases": str,  # JSON: per case detail
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("retrieval_tunes").create(
        {
            "id": int,
            "created_at": str,
            "status": str,  # done | cancelled (stopped early: the configurations scored are kept)
            "evalset": str,
            "evalset_hash": str,
            "settings": str,  # JSON: the retrieval settings the sweep started from, + index_build
            "result": str,  # JSON: core/retrieval/tune.py TuneResult.to_dict (rows, winner, deltas)
            "applied_eval_id": int,  # the retrieval eval of the applied winner (`--apply`), if any
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("eval_runs").create(
        {
            "id": int,
            "created_at": str,
            "finished_at": str,
            "evalset_name": str,
            "evalset_path": str,
            "evalset_hash": str,
            "variant_id": str,
            "variant_name": str,
            "status": str,  # running | done | cancelled | interrupted
            "repeat": int,
            "total_cases": int,
            "config": str,  # JSON: variant spec, concurrency, flags
            "summary": str,  # JSON
            "pid": int,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("eval_results").create(
        {
            "id": int,
            "run_id": int,
            "case_id": str,
            "repeat_index": int,
            "generation_id": int,
            "passed": int,
            "judge_error": int,
            "failure_kind": str,
            "assertions": str,  # JSON list of per-assertion results
            "retrieval": str,  # JSON: retrieved docs, gold rank
            "cached": int,
            "latency_ms": float,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("run_id", "eval_runs", "id")],
        if_not_exists=True,
    )
    db.table("eval_results").create_index(["run_id", "case_id", "repeat_index"], unique=True, if_not_exists=True)
    db.table("finetune_jobs").create(
        {
            "id": int,
            "created_at": str,
            "updated_at": str,
            "status": str,  # running | done | failed | cancelled | interrupted
            "base_model": str,
            "signal": str,
            "config": str,
            "guard_report": str,
            "override_reason": str,
            "dataset_path": str,
            "dataset_hash": str,
            "loss_curve": str,  # JSON list of {step, loss, tokens_per_s}
            "adapter_path": str,
            "checkpoint_path": str,
            "eval_run_id": int,
            "export": str,
            "error": str,
            "pid": int,
        },
        pk="id",
        if_not_exists=True,
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Which weights answered: the model's digest (Ollama's, or the embedded GGUF + adapter
    hash; compared by `eval diff` and part of the cache key) and its details as JSON."""
    have = set(db.table("generations").columns_dict)
    for name in ("model_digest", "model_identity"):
        if name not in have:
            db.table("generations").add_column(name, str)


# Each entry moves the schema from version i to i+1. Append only; never edit a shipped entry.
MIGRATIONS = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """One project's run database."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self.backup_path: Path | None = None  # the copy taken before this open's migration
        self._columns: dict[str, set[str]] = {}  # update()'s column check, read once per table
        if self.path.is_symlink():
            raise StoreError(
                f"the run store {self.path} is a symlink (to {os.path.realpath(self.path)}): refusing to add "
                "workbench tables to another file; replace the link with a real file, or set data_dir",
                path=self.path,
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10.0)
        except (sqlite3.Error, OSError) as exc:
            raise store_problem(exc, self.path, "opening it") from None
        self.conn = conn
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            self._refuse_foreign()
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self.db = sqlite_utils.Database(conn)
            self.migrate()
            self.recovered = self.recover_interrupted()
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            raise store_problem(exc, self.path, "opening it") from None
        except BaseException:
            conn.close()
            raise

    def _refuse_foreign(self) -> None:
        """Refuse a database another program made (tables, but not our schema version): adding
        our tables to it would mix two programs' data in one file."""
        if self.schema_version():
            return
        tables = [
            r[0]
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        if tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(
                f"the run store {self.path} is not a workbench database (it holds other tables: {shown}): "
                "move it aside or set data_dir in workbench.yaml to another folder",
                path=self.path,
            )

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply pending migrations, each in its own transaction."""
        with self.lock:
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                from workbench.core.errors import WorkbenchError

                raise WorkbenchError(
                    f"this database has schema version {version}, newer than this workbench "
                    f"understands ({SCHEMA_VERSION}); upgrade llm-workbench",
                    path=self.path,
                )
            if 0 < version < SCHEMA_VERSION:  # a migration must never cost the user their runs
                self.backup_path = backup(self.conn, self.path, version)
            for index in range(version, SCHEMA_VERSION):
                with self.conn:
                    MIGRATIONS[index](self.db)
                    self.conn.execute(f"PRAGMA user_version = {index + 1}")

    def recover_interrupted(self) -> int:
        """Mark rows left `running` by processes that no longer exist as `interrupted`."""
        count = 0
        with self.lock, self.conn:
            for table in _RECOVERABLE:
                rows = self.conn.execute(f"SELECT id, pid FROM {table} WHERE status = ?", (RUNNING,)).fetchall()
                for row_id, pid in rows:
                    if pid == os.getpid() or _pid_alive(pid):
                        continue
                    extra = ""
                    if table == "generations":
                        extra = ", error = coalesce(error, 'the process stopped mid-stream')"
                    self.conn.execute(f"UPDATE {table} SET status = ?{extra} WHERE id = ?", (INTERRUPTED, row_id))
                    count += 1
        return count

    # -- generic helpers ----------------------------------------------------------------------
    @contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """A sqlite error inside becomes a StoreError naming runs.db and the fix."""
        try:
            yield
        except sqlite3.Error as exc:
            raise store_problem(exc, self.path, doing) from None

    def insert(self, table: str, row: dict[str, Any]) -> int:
        with self.guard(f"writing to {table}"), self.lock, self.conn:
            return cast(
                int, self.db.table(table).insert(_encode(row)).last_pk
            )  # every inserted table has an INTEGER id

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        with self.guard(f"writing to {table}"), self.lock, self.conn:
            self.db.table(table).upsert(_encode(row), pk="id")

    def update(self, table: str, row_id: int, changes: dict[str, Any]) -> None:
        """One UPDATE statement. Not sqlite_utils' `Table.update`: that re-reads the schema and
        the row around every call (6-9 statements), and a streaming answer updates its row
        every 0.25 s (benchmarks/ollama_overhead.py counted ~13 ms of CPU per answer)."""
        row = _encode(changes)
        if not row:
            return
        with self.guard(f"writing to {table}"), self.lock, self.conn:
            known = self._columns.get(table)
            if known is None or not known.issuperset(row):
                known = self._columns[table] = {c[1] for c in self.conn.execute(f'PRAGMA table_info("{table}")')}
            if not known.issuperset(row):  # a column this schema lacks: sqlite_utils says which
                self.db.table(table).update(row_id, row)
                return
            sets = ", ".join(f'"{column}" = ?' for column in row)
            self.conn.execute(f'UPDATE "{table}" SET {sets} WHERE id = ?', [*row.values(), row_id])

    def get(self, table: str, row_id: int | str) -> dict[str, Any] | None:
        with self.guard(f"reading {table}"), self.lock:
            rows = list(self.db.table(table).rows_where("id = ?", [row_id]))
        return rows[0] if rows else None

    def get_row(self, table: str, row_id: int | str, what: str) -> dict[str, Any]:
        """`get` for a row that must exist (just written, or named by a checked id): a missing
        one is a WorkbenchError naming it and this store, not a None used later."""
        row = self.get(table, row_id)
        if row is None:
            from workbench.core.errors import WorkbenchError

            raise WorkbenchError(f"{what} {row_id} is not in {self.path}")
        return row

    def rows(
        self,
        table: str,
        where: str | None = None,
        args: Iterable[Any] = (),
        *,
        order_by: str = "id desc",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        with self.guard(f"reading {table}"), self.lock:
            return list(self.db.table(table).rows_where(where, list(args), order_by=order_by, limit=limit))

    # -- generations --------------------------------------------------------------------------
    def start_generation(self, row: dict[str, Any]) -> int:
        """Insert a generation in state `running`, before any token exists."""
        stamp = now_iso()
        base = {"created_at": stamp, "updated_at": stamp, "status": RUNNING, "pid": os.getpid()}
        return self.insert("generations", {**base, **row})

    def update_generation(self, gen_id: int, changes: dict[str, Any]) -> None:
        self.update("generations", gen_id, {**changes, "updated_at": now_iso()})

    def find_cached_generation(self, cache_key: str) -> GenerationRow | None:
        """The newest complete generation with this cache key (never errors or partial output).

        `truncated` counts as complete: the model stopped at num_predict, which the same request
        reproduces exactly, so the answer is reusable (an unchanged re-run with a small token
        limit must not call the model again). Errors, timeouts and interrupted output are not.
        """
        rows = self.rows("generations", "cache_key = ? AND status IN ('ok', 'truncated')", [cache_key], limit=1)
        return cast(GenerationRow, rows[0]) if rows else None


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-encode lists and dicts so every column stays a plain SQLite value."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, (list, dict, tuple)):
            out[key] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, bool):
            out[key] = int(value)
        else:
            out[key] = value
    return out


def as_dict(value: Any) -> dict[str, Any]:
    """A decoded JSON column that should hold an object: itself when it does, else {}."""
    return value if isinstance(value, dict) else {}


@overload
def decode(row: dict[str, Any], *fields: str) -> dict[str, Any]: ...
@overload
def decode(row: None, *fields: str) -> None: ...
@overload
def decode(row: dict[str, Any] | None, *fields: str) -> dict[str, Any] | None: ...


def decode(row: dict[str, Any] | None, *fields: str) -> dict[str, Any] | None:
    """Parse the JSON columns named in `fields` of a row read from the store (None stays None)."""
    if row is None:
        return None
    out = dict(row)
    for name in fields:
        if isinstance(out.get(name), str) and out[name]:
            try:
                out[name] = json.loads(out[name])
            except json.JSONDecodeError:
                pass
    return out
