"""`workbench runs` as a user runs it: every kind of run listed with its id prefix and opened in
full, and variants named as the TUI names them ("base" or their name, plus the start of the hash).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_evals import CAPITALS_PAIR as CAPITALS
from fixtures_project import write_project
from fixtures_retrieval import RETRIEVAL_SET, write_corpus

from workbench.cli import main
from workbench.core.project import Project
from workbench.core.runlog import parse_run_id
from workbench.core.variants import resolve_variant


def wb(root: Path, *argv: str) -> int:
    return main(["--project", str(root), *argv])


def flat(text: str) -> str:
    """Undo the console's line wrapping."""
    return " ".join(text.split())


@pytest.fixture
def wide(monkeypatch):
    """A 200-column terminal, so list rows are not cut short."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def retrieval_project(tmp_path: Path, embedder) -> Path:
    root = write_project(
        tmp_path / "proj", extra="retrieval:\n  corpus: [docs]\n  k: 2\n  chunk_tokens: 60\n  overlap_tokens: 10\n"
    )
    write_corpus(root / "docs")
    (root / "evals").mkdir()
    (root / "evals" / "tiny.yaml").write_text(RETRIEVAL_SET, encoding="utf-8")
    return root


def test_retrieval_evals_are_listed_with_their_metrics_and_open_in_full(retrieval_project, capsys, wide):
    root = retrieval_project
    assert wb(root, "ingest") == 0
    assert wb(root, "retrieve", "cats sleep hours") == 0  # a trace, r1, to tell apart from re1
    capsys.readouterr()
    assert wb(root, "retrieval", "eval", "tiny", "--k", "1") == 0
    assert "[retrieval eval re1] stored" in capsys.readouterr().err
    assert wb(root, "retrieval", "eval", "tiny", "--k", "1", "--json") == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]

    assert wb(root, "runs") == 0
    listing = capsys.readouterr().out
    lines = {line.split()[0]: line for line in listing.splitlines()[1:] if line.strip()}
    assert list(lines) == ["re2", "re1", "r1"]  # newest first, the trace keeps its own prefix
    row = lines["re2"]
    assert "retrieval-eval" in row and "ok" in row and "all-minilm-l6-v2" in row.lower()
    names = {"dense": "dense", "fts": "full-text", "hybrid": "hybrid"}
    best = max(names, key=lambda m: (metrics[m]["ndcg@10"], metrics[m]["mrr@10"]))

    def num(value):
        return f"{value:.2f}".removeprefix("0")

    expected = " · ".join(
        [f"tiny: {names[best]} nDCG {num(metrics[best]['ndcg@10'])} recall@1 {num(metrics[best]['recall@k'])}"]
        + [f"{names[m]} {num(metrics[m]['ndcg@10'])}/{num(metrics[m]['recall@k'])}" for m in names if m != best]
        + ["3 cases"]
    )
    assert expected in row

    assert wb(root, "runs", "--kind", "retrieval-eval", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["re2", "re1"] and rows[0]["kind"] == "retrieval-eval"

    assert wb(root, "runs", "show", "re2") == 0
    shown = flat(capsys.readouterr().out)
    assert "retrieval eval re2 of tiny: 3 labelled cases, k=1" in shown and "deltas vs re1" in shown
    for header in ("hit@1", "recall@1", "ndcg@10", "full-text"):
        assert header in shown
    # every case, not only the misses, with the gold document's rank per mode
    assert "cat-sleep" in shown and "bread" in shown and "wolves-miss" in shown
    assert "wolves-miss: gold chunk ranked" in shown and "cut at k=1" in shown
    assert "outranked by cats.md#" in shown
    assert f"{metrics['hybrid']['ndcg@10']:.3f}" in shown

    # the stored report is the one the run printed
    assert wb(root, "retrieval", "eval", "tiny", "--k", "1", "--markdown") == 0
    live = capsys.readouterr().out
    assert live.startswith("# Retrieval eval re3: tiny")
    assert wb(root, "runs", "show", "re3", "--markdown") == 0
    assert capsys.readouterr().out == live
    assert "Deltas in brackets are against retrieval eval re2." not in live  # no change, no deltas

    assert wb(root, "runs", "show", "re9") == 2
    assert "no run with id 're9'" in capsys.readouterr().err


def test_run_ids_keep_their_kinds_apart():
    assert parse_run_id("re3") == ("retrieval-eval", 3)
    assert parse_run_id("RE12") == ("retrieval-eval", 12)
    assert parse_run_id("r3") == ("retrieval", 3)
    assert parse_run_id("e3") == ("eval", 3) and parse_run_id("f3") == ("finetune", 3)
    assert parse_run_id("3") == ("generation", 3)
    assert parse_run_id("re") is None and parse_run_id("rex1") is None and parse_run_id("r") is None


def capitals_answer(body):
    text = body["messages"][-1]["content"]
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    if "Italy" in text:
        return ["Milan."] if "Be sloppy" in system else ["Rome."]
    return ["Paris."]


@pytest.fixture
def eval_project(ollama_standin, tmp_path: Path) -> tuple[Path, str, str]:
    """A project with a base and a `sloppy` variant; returns (root, base id, sloppy id)."""
    ollama_standin.configure(reply=capitals_answer)
    root = write_project(
        tmp_path / "proj",
        host=ollama_standin.url,
        retries="count: 0\n  backoff_s: 0.01",
        extra="evals:\n  dir: evals\nvariants:\n  sloppy:\n    system: Be sloppy.\n",
    )
    (root / "evals").mkdir()
    (root / "evals" / "capitals.yaml").write_text(CAPITALS, encoding="utf-8")
    project = Project.open(root)
    try:
        ids = resolve_variant(project).id, resolve_variant(project, "sloppy").id
    finally:
        project.close()
    return root, *ids


def test_the_base_variant_is_called_base_with_its_hash(eval_project, capsys, wide):
    root, base, sloppy = eval_project
    assert wb(root, "ask", "Capital of France") == 0  # generation 1
    assert wb(root, "eval", "run") == 0  # e1, base
    started = capsys.readouterr().err
    assert f"with variant base ({base})" in started
    assert wb(root, "eval", "run", "--variant", "sloppy") == 0  # e2
    capsys.readouterr()

    assert wb(root, "runs", "--kind", "eval") == 0
    listing = capsys.readouterr().out
    assert f"base ({base[:8]})" in listing and "sloppy (" in listing  # the name first, the hash as fits
    assert base not in listing  # never the bare hash
    assert wb(root, "runs", "--kind", "eval", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["model"], r["variant_id"]) for r in rows] == [
        (f"sloppy ({sloppy[:8]})", sloppy),
        (f"base ({base[:8]})", base),
    ]

    assert wb(root, "eval", "runs") == 0
    listing = capsys.readouterr().out
    assert f"base ({base[:8]})" in listing and f"sloppy ({sloppy[:8]})" in listing

    assert wb(root, "eval", "show", "e1") == 0
    assert f"run e1 · capitals · variant base ({base}) · done" in capsys.readouterr().out

    # A then B, in the order given, named by their e-ids; the counts in the words the filters use
    assert wb(root, "eval", "diff", "e1", "e2") == 0
    assert (
        f"e1 (base, {base[:8]}) → e2 (sloppy, {sloppy[:8]}): 2 cases · 1 changed "
        "(1 regression, 0 fixes) · 1 unchanged" in flat(capsys.readouterr().out)
    )
    assert wb(root, "eval", "diff", "e2", "e1") == 0
    assert (
        f"e2 (sloppy, {sloppy[:8]}) → e1 (base, {base[:8]}): 2 cases · 1 changed "
        "(0 regressions, 1 fix) · 1 unchanged" in flat(capsys.readouterr().out)
    )

    assert wb(root, "eval", "show", "e2", "--markdown") == 0
    assert f"## Eval: capitals — e2 (sloppy, {sloppy[:8]})" in capsys.readouterr().out

    # `runs show eN` prints what `eval show eN` prints, not the stored row as JSON
    assert wb(root, "eval", "show", "e2") == 0
    eval_show = capsys.readouterr().out
    assert wb(root, "runs", "show", "e2") == 0
    shown = capsys.readouterr().out
    assert shown == eval_show
    assert "pass rate 50% (1/2), 95% CI" in shown and "failing cases:" in shown
    assert "italy" in shown and '"evalset_hash"' not in shown
    assert wb(root, "runs", "show", "e2", "--json") == 0  # machines still get the row
    assert json.loads(capsys.readouterr().out)["evalset_name"] == "capitals"
    assert wb(root, "runs", "show", "e2", "--markdown") == 0
    md = capsys.readouterr().out
    assert md.startswith("### eval e2 · capitals · sloppy (")
    assert "pass rate 50% (1/2), 95% CI" in md and "- ✗ fail italy" in md and "- ✓ pass france" in md

    assert wb(root, "runs", "show", "1") == 0
    assert f"variant: base ({base})" in capsys.readouterr().out
    assert wb(root, "runs", "show", "1", "--markdown") == 0
    assert f"- variant: base ({base}), prompt `plain`" in capsys.readouterr().out
    assert wb(root, "runs", "--json", "--kind", "generation") == 0
    rows = {r["id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["1"]["variant"] == f"base ({base[:8]})" and rows["1"]["source"] == "cli"


def test_an_interrupted_generation_shows_what_is_known(eval_project, capsys):
    """No model answered, no token arrived: say so; no `None`, no empty tokens, no `TTFT 0 ms`."""
    root = eval_project[0]
    project = Project.open(root)
    try:
        gen = project.store.start_generation(
            {
                "source": "tui",
                "inputs": {"question": "slow one"},
                "model_requested": "ollama:llama3.2",
                "status": "interrupted",
                "total_ms": 2300.0,
            }
        )
    finally:
        project.close()
    assert wb(root, "runs", "show", str(gen), "--markdown") == 0
    md = capsys.readouterr().out
    assert "- model: none answered (requested `ollama:llama3.2`)" in md
    assert "- timing: no token arrived; total 2300 ms" in md
    assert "None" not in md and "TTFT" not in md and "tokens:" not in md
    assert "**Output**\n\n(none)" in md
    assert wb(root, "runs", "show", str(gen)) == 0
    plain = capsys.readouterr().out
    assert "model_requested: ollama:llama3.2" in plain and "None" not in plain
    assert "model_used" not in plain and "ttft_ms" not in plain
    assert "--- messages ---\n(not stored)" in plain and "--- output ---\n(none)" in plain
