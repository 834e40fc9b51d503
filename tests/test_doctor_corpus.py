"""`workbench doctor` checks `retrieval.corpus`: a mistyped folder in a project with an index is a
problem named at its workbench.yaml line (ingest refuses it; search serves the old index till
then); a project with no index and no docs/ yet only gets a note. Real project, index and CLI."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures_project import write_project
from workbench.cli import main


def test_a_mistyped_corpus_folder_is_a_problem_at_its_line_once_there_is_an_index(retrieval_project: Path, capsys):
    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    assert main([*p, "doctor"]) == 0
    assert "ok      corpus:" in capsys.readouterr().out
    config = retrieval_project / "workbench.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("corpus: [docs]", "corpus: [doc]"), encoding="utf-8")
    line = next(i for i, row in enumerate(config.read_text().splitlines(), 1) if "corpus: [doc]" in row)
    assert main([*p, "doctor"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"workbench.yaml:{line}: retrieval.corpus: folder not found: doc (did you mean docs?)" in out, out


def test_a_project_without_retrieval_yet_gets_a_note_not_a_problem(tmp_path: Path, capsys):
    root = write_project(tmp_path / "proj")  # no docs/, no index
    assert main(["--project", str(root), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "note    corpus:" in out and "retrieval.corpus: folder not found: docs" in out
