"""`retrieval.embedding_model: <folder>`: any local sentence-transformers model folder works
(a copy of the bundled all-MiniLM-L6-v2 here), and a folder that is missing or not such a model
is an error naming workbench.yaml, its line and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixtures_retrieval import write_grounded_project

from workbench.cli import main


def _project(tmp_path: Path, model: str) -> Path:
    root = write_grounded_project(tmp_path / "proj")
    cfg = root / "workbench.yaml"
    cfg.write_text(cfg.read_text().replace("retrieval:\n", f"retrieval:\n  embedding_model: {model}\n"))
    return root


def _line_of_setting(root: Path) -> int:
    lines = (root / "workbench.yaml").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if "embedding_model:" in text)


def test_a_copied_model_folder_ingests_and_searches(tmp_path: Path, embedder, capsys):
    root = _project(tmp_path, "models/minilm-copy")
    shutil.copytree(embedder.path, root / "models" / "minilm-copy")
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Ingested: 5 added" in out and "(models/minilm-copy," in out
    meta = json.loads((root / ".workbench" / "index" / "meta.json").read_text())
    assert meta["embedding_model"] == "models/minilm-copy" and meta["dimension"] == 384
    assert meta["chunking"]["tokenizer"] == "tokenizer.json of minilm-copy"  # its own tokenizer
    assert "embedding_digest" not in meta  # a folder has no server-side identity
    assert main([*p, "retrieve", "how many hours do cats sleep", "--json", "--mode", "dense"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["path"] == "cats.md"


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda folder: None, "does not exist"),
        (lambda folder: folder.parent.mkdir() or folder.write_text("x"), "is a file, not a model folder"),
        (
            lambda folder: folder.mkdir(parents=True) or (folder / "README.md").write_text("weights elsewhere"),
            "is not a sentence-transformers model folder (it has no modules.json or config.json)",
        ),
    ],
)
def test_a_bad_folder_names_the_file_line_and_field(tmp_path: Path, capsys, make, said):
    root = _project(tmp_path, "models/mine")
    make(root / "models" / "mine")
    assert main(["--project", str(root), "ingest"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"workbench.yaml:{_line_of_setting(root)}: retrieval.embedding_model: " in err
    assert f"the embedding model folder {root / 'models' / 'mine'} {said}" in err
    assert '"ollama:NAME"' in err  # the other forms it could be


def test_a_folder_that_does_not_load_says_why(tmp_path: Path, capsys, embedder):
    root = _project(tmp_path, "models/broken")
    folder = root / "models" / "broken"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")  # no model_type, no weights
    assert main(["--project", str(root), "retrieve", "cats"]) == 2  # no index yet: said first
    capsys.readouterr()
    assert main(["--project", str(root), "ingest"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"workbench.yaml:{_line_of_setting(root)}: retrieval.embedding_model: " in err
    assert f"could not load the embedding model in {folder} as a sentence-transformers model" in err
