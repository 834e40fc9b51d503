"""`workbench runs show rN`: a stored retrieval trace read as `retrieve` printed it (the query,
how it was searched, the ranked hits with every method's score and the start of their text),
not ~150 lines of its JSON row; `--json` still gives the row, whose `chunks` carry their rank.
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench.cli import main
from workbench.core.project import Project

HOSTILE = "# Purring\n\nCats purr [bold red]loudly[/bold red] when content \x1b]52;c;aGk=\x07 and calm.\n"


def wb(root: Path, *argv: str) -> int:
    return main(["--project", str(root), *argv])


def test_a_trace_is_shown_as_text_and_its_json_ranks_each_chunk(retrieval_project, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    root = retrieval_project
    assert wb(root, "ingest") == 0
    assert wb(root, "retrieve", "cats sleep hours", "--gold", "cats.md") == 0
    capsys.readouterr()

    assert wb(root, "runs", "show", "r1", "--json") == 0
    row = json.loads(capsys.readouterr().out)  # --json still gives the stored row
    data = row["results"]
    hits = data["hits"]
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1)) and len(hits) == row["k"] == 2

    # `rank` in `chunks` is the rank under the trace's mode, as in `hits`, not 0 for every chunk;
    # a chunk kept only for another method's top k has none (0)
    top_ids = [h["chunk_id"] for h in hits]
    for cid, chunk in data["chunks"].items():
        assert chunk["rank"] == (top_ids.index(cid) + 1 if cid in top_ids else 0), cid
    assert set(data["chunks"]) - set(top_ids)  # the other methods' lists are there too

    assert wb(root, "runs", "show", "r1") == 0
    out = capsys.readouterr().out
    assert not out.lstrip().startswith("{") and '"chunks"' not in out and '"dense_rank"' not in out
    lines = out.splitlines()
    assert lines[0].startswith("retrieval trace r1 · ")
    assert "query: cats sleep hours" in out
    assert f"hybrid, k=2, {row['latency_ms']:.0f} ms, index version {data['index_version']}" in out
    assert "embedding all-MiniLM-L6-v2, chunk_tokens=60, overlap=10" in out
    ranks = data["gold_ranks"]
    names = {"dense": "dense", "fts": "full-text", "hybrid": "hybrid"}
    assert "gold cats.md: " + " · ".join(f"{names[m]} #{r}" for m, r in ranks.items()) in out
    for rank, h in enumerate(hits, 1):
        header = f"{rank:>2}. {h['path']}:{h['line_start']}-{h['line_end']}  {h['heading_path']}  [{h['chunk_id']}]"
        at = next(i for i, line in enumerate(lines) if line.startswith(header))
        assert lines[at + 1].strip() == (
            f"dense {h['dense_score']:.3f} (#{h['dense_rank']}) · full-text {h['fts_score']:.2f} "
            f"(#{h['fts_rank']}) · fused {h['fused_score']:.4f} (#{h['hybrid_rank']})"
        )
        assert lines[at + 2].strip() == h["text"].splitlines()[0].strip()  # the text, starting here
    assert "full-text top 2: " + ", ".join(data["top"]["fts"]) in out
    assert "workbench runs show r1 --markdown" in out


def test_a_traces_document_text_is_shown_literally(retrieval_project, capsys, monkeypatch):
    """Document text is untrusted: markup in it is printed as written, escapes made visible."""
    monkeypatch.setenv("COLUMNS", "200")
    root = retrieval_project
    (root / "docs" / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    assert wb(root, "ingest") == 0
    assert wb(root, "retrieve", "[red]purr loudly content calm") == 0
    capsys.readouterr()
    assert wb(root, "runs", "show", "r1") == 0
    out = capsys.readouterr().out
    assert "query: [red]purr loudly content calm" in out
    assert "hostile.md" in out and "Purring" in out
    assert "Cats purr [bold red]loudly[/bold red] when content" in out
    assert "\\x1b]52;c;aGk=\\x07" in out and "\x1b" not in out


def test_a_trace_that_did_not_run_says_why(tmp_path, capsys):
    from fixtures_project import write_project

    from workbench.core.retrieval.traces import record_failure

    root = write_project(tmp_path / "proj")
    project = Project.open(root)
    try:
        record_failure(project.store, "what is WAL", {"mode": "hybrid", "k": 3}, "the index is not built yet")
    finally:
        project.close()
    assert wb(root, "runs", "show", "r1") == 0
    out = capsys.readouterr().out
    assert "retrieval trace r1 · " in out and "from ask" in out
    assert "query: what is WAL" in out and "did not run: the index is not built yet" in out
    assert "{" not in out
