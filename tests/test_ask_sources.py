"""`workbench ask` on a grounded prompt tells the reader what [1], [2] in the answer are."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures_retrieval import write_grounded_project

from workbench.cli import main


def test_ask_lists_its_numbered_sources_and_marks_the_cited_ones(tmp_path: Path, embedder, ollama_standin, capsys):
    ollama_standin.configure(reply=["Cats sleep a lot ", "[1]."])
    root = write_grounded_project(tmp_path / "proj", host=ollama_standin.url)
    assert main(["-p", str(root), "ingest"]) == 0
    capsys.readouterr()
    question = "How many hours a day do cats sleep?"
    assert main(["-p", str(root), "ask", "--prompt", "grounded", question]) == 0
    err = capsys.readouterr().err
    listed = [line for line in err.splitlines() if line.startswith("[1] ") or line.startswith("[2] ")]
    assert listed[0].startswith("[1] cats.md") and listed[0].endswith("(cited)")
    assert len(listed) == 2 and not listed[1].endswith("(cited)")
    assert main(["-p", str(root), "ask", "--prompt", "grounded", "--json", question]) == 0
    sources = json.loads(capsys.readouterr().out)["sources"]
    assert [s["cited"] for s in sources] == [True, False]
