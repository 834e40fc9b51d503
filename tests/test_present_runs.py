"""`workbench runs` and the Runs tab list the same cells; `runs show` states numbers in the one format."""

from __future__ import annotations

import io

from rich.console import Console

from workbench.core.runlog import list_runs, load_run
from workbench.core.store import Store
from workbench.present.runs import generation_detail, listing_row, runs_table
from workbench.tui.tabs.runs import COLUMNS, _cell


def _store_with_runs(tmp_path) -> tuple[Store, int]:
    store = Store(tmp_path / "runs.db")
    gen = store.start_generation(
        {"source": "cli", "inputs": {"question": "What is WAL?"}, "model_requested": "ollama:llama3.2"}
    )
    store.update_generation(
        gen,
        {
            "status": "ok",
            "model_used": "ollama:llama3.2",
            "prompt_tokens": 12,
            "completion_tokens": None,
            "total_ms": 1549,
            "ttft_ms": 212.6,
            "cost": 0.0000512,
            "fallback_used": 0,
        },
    )
    store.insert(
        "retrievals",
        {"created_at": "2099-01-01T00:00:01", "query": "partial index", "mode": "hybrid", "k": 5, "latency_ms": 12.4},
    )
    return store, gen


def test_cli_listing_and_runs_tab_show_the_same_cells(tmp_path):
    store, gen = _store_with_runs(tmp_path)
    with store:
        rows = [listing_row(r) for r in list_runs(store)]
    console = Console(file=io.StringIO(), width=160, highlight=False)
    console.print(runs_table(rows, 160))
    cli = console.file.getvalue()
    for row in rows:
        tab = {key: _cell(key, row.get(key)).plain for _, key, _ in COLUMNS}
        line = next(ln for ln in cli.splitlines() if ln.startswith(row["id"] + " "))
        for key in ("status", "summary", "model", "created_at", "tokens", "time"):
            assert tab[key] in line, (key, tab[key], line)
    tab_cells = {row["id"]: {key: _cell(key, row.get(key)).plain for _, key, _ in COLUMNS} for row in rows}
    assert tab_cells[str(gen)]["tokens"] == "12+?" and tab_cells[str(gen)]["time"] == "1.5s"
    assert tab_cells["r1"]["time"] == "12ms"


def test_runs_show_states_cost_and_times_in_the_shared_format(tmp_path):
    store, gen = _store_with_runs(tmp_path)
    with store:
        _, row = load_run(store, str(gen))
    assert row is not None
    shown = generation_detail(row)
    assert "cost: 0.0000512\n" in shown  # was 0.000051: six fixed decimals cut the third digit
    assert "ttft_ms: 213 ms\n" in shown and "total_ms: 1549 ms\n" in shown
    assert "fallback_used: no\n" in shown and "--- output ---\n(none)\n" in shown
