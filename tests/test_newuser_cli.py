"""The CLI as a new user meets it: `workbench init`, read-only commands that leave no files
behind, a typo'd --project or --gold said as such. Real SQLite, real LanceDB and embedding model,
the Ollama stand-in for the model."""

from __future__ import annotations

from pathlib import Path

from workbench.cli import main


def test_read_only_commands_in_a_folder_without_a_project_create_nothing(tmp_path: Path, capsys):
    assert main(["-p", str(tmp_path), "runs"]) == 0
    captured = capsys.readouterr()
    assert "No runs stored yet" in captured.out
    assert "not a workbench project (`workbench init` starts one)" in captured.err
    assert main(["-p", str(tmp_path), "runs", "show", "3"]) == 2
    assert main(["-p", str(tmp_path), "eval", "runs"]) == 0
    assert main(["-p", str(tmp_path), "eval", "show", "1"]) == 2
    assert "no eval run 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no .workbench/runs.db


def test_a_typod_project_path_says_it_is_not_a_project(tmp_path: Path, capsys):
    assert main(["-p", str(tmp_path / "nosuch"), "runs"]) == 2
    err = capsys.readouterr().err
    assert "error: not a workbench project: the folder" in err and "`workbench init" in err
    assert not (tmp_path / "nosuch").exists()


def test_init_scaffolds_a_project_that_ingests_asks_and_evals(
    tmp_path: Path, capsys, ollama_host_env, embedder, monkeypatch
):
    ollama_host_env.configure(reply=["It answers questions about the docs [1]."])
    monkeypatch.chdir(tmp_path)
    assert main(["init", "mine"]) == 0
    out = capsys.readouterr().out
    assert "Next steps:\n  cd mine\n  workbench ingest" in out and "workbench eval run" in out
    root = tmp_path / "mine"
    text = (root / "workbench.yaml").read_text()
    for section in (
        "model:",
        "fallback:",
        "# timeouts:",
        "# retries:",
        "# pricing:",
        "# budget:",
        "retrieval:",
        "evals:",
        "# variants:",
        "# finetune:",
    ):
        assert section in text
    assert main(["-p", str(root), "ingest"]) == 0
    assert main(["-p", str(root), "eval", "run", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "run e1: done" in out and "pass rate 100% (1/1)" in out, out
    # It refuses to overwrite, and says which files are in the way.
    before = (root / "workbench.yaml").read_text()
    assert main(["init", str(root)]) == 2
    assert "not overwriting workbench.yaml" in capsys.readouterr().err
    assert (root / "workbench.yaml").read_text() == before


def test_retrieve_with_a_gold_document_not_in_the_index_says_so(retrieval_project: Path, capsys):
    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    capsys.readouterr()
    assert main([*p, "retrieve", "cats sleep hours", "--gold", "cast.md"]) == 2
    captured = capsys.readouterr()
    assert "error: --gold cast.md: not in the index: did you mean cats.md?" in captured.err
    assert captured.out == ""
    assert main([*p, "retrieve", "cats sleep hours", "--gold", "zzzz-nothing.md"]) == 2
    assert "documents are indexed" in capsys.readouterr().err
