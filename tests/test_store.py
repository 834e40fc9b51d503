"""The run store: schema versioning, crash recovery, and that nothing written is lost."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.store import SCHEMA_VERSION, Store, decode


def test_fresh_database_is_migrated_wal_and_versioned(tmp_path):
    with Store(tmp_path / "d" / "runs.db") as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {"generations", "retrievals", "eval_runs", "eval_results", "finetune_jobs", "variants"} <= set(
            store.db.table_names()
        )


def test_reopening_keeps_rows_and_does_not_remigrate(tmp_path):
    path = tmp_path / "runs.db"
    with Store(path) as store:
        gen = store.start_generation({"source": "cli", "messages": [{"role": "user", "content": "é"}]})
        store.update_generation(gen, {"status": "ok", "output": "done"})
    with Store(path) as store:
        row = decode(store.get("generations", gen), "messages")
        assert row["status"] == "ok" and row["messages"][0]["content"] == "é"
        assert store.recovered == 0


def test_rows_left_running_by_a_dead_process_become_interrupted(tmp_path):
    path = tmp_path / "runs.db"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(dead.stdout)
    with Store(path) as store:
        mine = store.start_generation({"source": "cli"})  # this process: alive
        orphan = store.start_generation({"source": "cli", "output": "half an ans"})
        store.update("generations", orphan, {"pid": dead_pid})
        run = store.insert("eval_runs", {"status": "running", "pid": dead_pid, "created_at": "x"})
    with Store(path) as store:
        assert store.recovered == 2
        assert store.get("generations", orphan)["status"] == "interrupted"
        assert store.get("generations", orphan)["output"] == "half an ans"
        assert store.get("generations", mine)["status"] == "running"
        assert store.get("eval_runs", run)["status"] == "interrupted"


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "runs.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    con.close()
    with pytest.raises(WorkbenchError, match="newer than this workbench"):
        Store(path)


def test_cached_generation_is_only_a_complete_one(tmp_path):
    with Store(tmp_path / "runs.db") as store:
        bad = store.start_generation({"cache_key": "k"})
        store.update_generation(bad, {"status": "interrupted", "output": "par"})
        assert store.find_cached_generation("k") is None
        good = store.start_generation({"cache_key": "k"})
        store.update_generation(good, {"status": "ok", "output": "full"})
        assert store.find_cached_generation("k")["id"] == good


def test_get_row_names_a_missing_row_and_the_store(tmp_path):
    """A row that must exist but does not is a WorkbenchError saying which, not a None used later."""
    with Store(tmp_path / "runs.db") as store:
        with pytest.raises(WorkbenchError, match=r"retrieval trace 7 is not in .*runs\.db"):
            store.get_row("retrievals", 7, "retrieval trace")


def test_a_streaming_update_is_one_statement_and_keeps_json_and_unknown_columns_fail(tmp_path):
    """update() writes the changed columns in one UPDATE (a streamed answer flushes every 0.25 s;
    sqlite_utils' update re-read the schema and the row around each), JSON-encodes lists and
    dicts as insert does, and a column the table lacks still fails loudly."""
    store = Store(tmp_path / "runs.db")
    gen = store.start_generation({"inputs": {"q": "x"}, "model_requested": "m"})
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    store.update_generation(gen, {"output": "tok0 tok1", "thinking": ""})
    store.update_generation(gen, {"output": "tok0 tok1 tok2", "messages": [{"role": "user", "content": "x"}]})
    store.conn.set_trace_callback(None)
    statements = [s for s in seen if s not in ("BEGIN ", "COMMIT", "BEGIN")]
    assert len([s for s in statements if s.startswith("UPDATE")]) == 2
    assert not [s for s in statements if "sqlite_master" in s or s.startswith("select *")], statements
    row = store.get_row("generations", gen, "generation")
    assert row["output"] == "tok0 tok1 tok2"
    assert decode(row, "messages")["messages"] == [{"role": "user", "content": "x"}]
    with pytest.raises(Exception, match="no_such_column|no such column|no_such"):
        store.update("generations", gen, {"no_such_column": 1})
    store.close()
