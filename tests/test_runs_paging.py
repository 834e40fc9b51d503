"""`workbench runs` with 100,000 stored runs: it prints the newest page and how many are left,
reading each table with a LIMIT (the rows fetched are counted: a page costs the same with 100 or
100,000 runs; benchmarks/runs_listing.py times it)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from fixtures_project import write_project

from workbench.cli import main
from workbench.core import runlog
from workbench.core.store import Store


def fill_generations(db: Path, n: int) -> None:
    """`n` finished generations, inserted straight into the store's own schema (seconds, not hours)."""
    Store(db).close()  # creates the tables as the product does
    rows = (
        (f"2024-01-01T00:00:{i // 1000:02d}.{i % 1000:06d}", "cli", "m", "m", f"answer {i}", "ok") for i in range(n)
    )
    with sqlite3.connect(db) as con:
        con.executemany(
            "INSERT INTO generations (created_at, source, model_requested, model_used, output, status) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def test_runs_with_100000_stored_prints_the_newest_page_from_limited_reads(tmp_path, monkeypatch, capsys):
    """Before: no --page, no word about the rest (the first 20 looked like everything)."""
    root = write_project(tmp_path / "p")
    fill_generations(root / ".workbench" / "runs.db", 100_000)
    fetched: list[int] = []
    real_rows = runlog._rows
    monkeypatch.setattr(
        runlog, "_rows", lambda store, kind, limit: fetched.append(len(got := real_rows(store, kind, limit))) or got
    )

    assert main(["--project", str(root), "runs", "--kind", "generation"]) == 0
    out = capsys.readouterr().out
    assert "100000" in out and "99981" in out and "99980" not in out
    assert "99,980 more: --page 2 (--limit N rows per page)" in out
    assert sum(fetched) == 20

    fetched.clear()
    assert main(["--project", str(root), "runs", "--page", "3", "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "99980" in out and "99971" in out and "99981" not in out and "99970" not in out
    assert "99,970 more: --page 4" in out
    assert sum(fetched) <= 30  # page 3 of 10: at most 30 rows from any table, never all 100,000


def test_the_runs_tabs_search_at_100000_runs_reads_one_page(tmp_path, monkeypatch):
    """Before: a search read every row of every table (`limit=None`) and filtered in Python; now
    the LIKE is in SQL, so 100,000 stored runs cost the page the tab shows (runs.py ROW_LIMIT)."""
    from workbench.tui.tabs.runs import ROW_LIMIT

    db = tmp_path / "runs.db"
    Store(db).close()
    rows = (
        (
            f"2024-01-01T00:00:{i // 1000:02d}.{i % 1000:06d}",
            "cli",
            "m",
            "m",
            json.dumps({"question": f"{'Needle in 50%_off' if i % 7 == 0 else 'plain'} {i}"}),
            "ok",
        )
        for i in range(100_000)
    )
    with sqlite3.connect(db) as con:
        con.executemany(
            "INSERT INTO generations (created_at, source, model_requested, model_used, inputs, "
            "status) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    fetched: list[int] = []
    real_rows = runlog._rows
    monkeypatch.setattr(runlog, "_rows", lambda *a: fetched.append(len(got := real_rows(*a))) or got)
    store = Store(db)
    try:
        found = runlog.list_runs(store, search="needle", limit=ROW_LIMIT)
        assert [r["summary"] for r in found[:2]] == ["Needle in 50%_off 99995", "Needle in 50%_off 99988"]
        assert len(found) == ROW_LIMIT and all("Needle" in r["summary"] for r in found)
        assert sum(fetched) <= ROW_LIMIT
        # LIKE's wildcards in the search box are literal text, not "any character"
        assert runlog.list_runs(store, search="50%_off 9999", limit=5)[0]["summary"] == "Needle in 50%_off 99995"
        assert runlog.list_runs(store, search="plain_", limit=5) == []
    finally:
        store.close()
