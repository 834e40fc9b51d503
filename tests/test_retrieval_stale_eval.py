"""`retrieval eval` after a chunking change with no ingest: it scores the old chunks, so it says
so on stderr, stores it with the eval, and every comparison with that eval says its chunking
settings were not measured (a `chunk_tokens 80 → 60` with no delta is not "no effect")."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.cli import main

STALE = "the index was chunked with other settings (chunk_tokens 60 → 80"


def _set_chunk_tokens(root: Path, old: int, new: int) -> None:
    config = root / "workbench.yaml"
    config.write_text(config.read_text().replace(f"chunk_tokens: {old}", f"chunk_tokens: {new}"))


def _flat(text: str) -> str:
    return " ".join(text.split())  # undo the console's line wrapping


def test_an_eval_of_a_stale_index_warns_stores_it_and_its_comparisons_say_so(retrieval_project: Path, capsys):
    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    capsys.readouterr()
    assert main([*p, "retrieval", "eval", "tiny", "--json"]) == 0  # re1: index and settings agree
    fresh = capsys.readouterr()
    assert "warning" not in fresh.err and json.loads(fresh.out)["stale_index"] is None

    _set_chunk_tokens(retrieval_project, 60, 80)  # no ingest: the index keeps its 60-token chunks
    assert main([*p, "retrieval", "eval", "tiny", "--json"]) == 0  # re2
    stale = capsys.readouterr()
    assert f"warning: {STALE}" in _flat(stale.err) and "run `workbench ingest`" in _flat(stale.err)
    data = json.loads(stale.out)  # stdout stays JSON
    assert data["eval_id"] == 2 and data["settings"]["chunk_tokens"] == 80
    assert data["stale_index"].startswith(STALE)
    assert any(c.startswith("re2's index was not re-chunked") for c in data["comparison"]["changes"])
    assert main([*p, "runs", "show", "re2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["stale_index"] == data["stale_index"]

    _set_chunk_tokens(retrieval_project, 80, 60)  # back to what the index was chunked with
    assert main([*p, "retrieval", "eval", "tiny"]) == 0  # re3: same chunks, same scores as re2
    out = capsys.readouterr()
    assert "warning" not in out.err
    assert (
        "changed since re2: chunk_tokens 80 → 60; re2's index was not re-chunked, so its chunking "
        f"settings were not measured: {STALE}"
    ) in _flat(out.out)

    assert main([*p, "retrieval", "diff", "re1", "re2"]) == 0
    assert "re2's index was not re-chunked" in _flat(capsys.readouterr().out)
    assert main([*p, "runs", "show", "re2"]) == 0
    assert f"warning: scored an index not re-chunked for these settings: {STALE}" in _flat(capsys.readouterr().out)
    assert main([*p, "runs", "show", "re2", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert f"**Warning:** scored an index not re-chunked for these settings: {STALE}" in md
    assert "- changed since re1: chunk_tokens 60 → 80; re2's index was not re-chunked" in md
    assert main([*p, "runs", "show", "re1", "--markdown"]) == 0
    assert "Warning" not in capsys.readouterr().out
