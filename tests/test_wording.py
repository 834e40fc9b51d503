"""Wording a new user tripped over, checked where they read it: the CLI's output and errors.

A mistyped eval-set name lists the sets there are; a mistyped `retrieval.corpus` folder points at
its workbench.yaml line (the --prune advice is for paths typed on the command line); a count of
one reads "1 case", never "1 cases"; and `retrieval eval`'s table and why-not lines agree about a
gold chunk that ranks below the candidates fusion looks at.
"""

from __future__ import annotations

from pathlib import Path

from fixtures_evals import CAPITALS_EU
from fixtures_project import write_project
from fixtures_retrieval import EVALSET, write_corpus

from workbench.cli import main
from workbench.core.errors import WorkbenchError
from workbench.core.evals.stats import plain_words
from workbench.core.retrieval.ingest import ingest
from workbench.core.retrieval.settings import RetrievalSettings


def _words(text: str) -> str:
    """The text with the console's line wrapping undone."""
    return " ".join(text.split())


def test_a_mistyped_eval_set_lists_the_sets_and_the_close_one(tmp_path: Path, capsys) -> None:
    root = write_project(tmp_path / "p", extra="evals:\n  dir: evals\n")
    (root / "evals").mkdir()
    (root / "evals" / "capitals.yaml").write_text(CAPITALS_EU, encoding="utf-8")
    (root / "evals" / "qa.yaml").write_text(CAPITALS_EU.replace("capitals", "qa"), encoding="utf-8")

    assert main(["--project", str(root), "eval", "run", "nosuchset"]) == 2
    err = _words(capsys.readouterr().err)
    assert f"eval set not found: nosuchset (looked in ., {root} and {root / 'evals'}; found: capitals, qa)" in err
    assert "did you mean" not in err

    assert main(["--project", str(root), "eval", "run", "capitols"]) == 2
    assert "found: capitals, qa); did you mean capitals?" in _words(capsys.readouterr().err)

    empty = write_project(tmp_path / "e", extra="evals:\n  dir: evals\n")
    assert main(["--project", str(empty), "eval", "run", "qa"]) == 2
    assert f"{empty / 'evals'}; no eval sets there yet)" in _words(capsys.readouterr().err)


def test_a_mistyped_corpus_folder_names_its_workbench_yaml_line(tmp_path: Path, capsys, monkeypatch) -> None:
    root = write_project(tmp_path / "p", extra="retrieval:\n  corpus: [documents]\n")
    write_corpus(root / "docs")
    monkeypatch.chdir(root)  # errors show workbench.yaml relative to the current folder
    line = (root / "workbench.yaml").read_text().splitlines().index("  corpus: [documents]") + 1

    assert main(["--project", str(root), "ingest"]) == 2
    err = _words(capsys.readouterr().err)
    assert (
        f"workbench.yaml:{line}: retrieval.corpus: folder not found: documents (did you mean docs?); "
        "folders there: docs, prompts"
    ) in err
    assert "--prune" not in err
    assert not (root / ".workbench" / "index").exists()

    # a path typed on the command line keeps the advice for files deleted since the last ingest
    assert main(["--project", str(root), "ingest", str(root / "gone")]) == 2
    err = _words(capsys.readouterr().err)
    assert f"corpus path not found: {root / 'gone'}" in err and "--prune" in err


def test_a_corpus_folder_a_sweep_cannot_find_is_not_given_the_prune_advice(tmp_path: Path) -> None:
    """`retrieval tune` ingests the configured folders itself (core/retrieval/tune.py)."""
    missing = tmp_path / "documents"
    try:
        ingest([missing], tmp_path / "data", RetrievalSettings(), bases=[missing])
    except WorkbenchError as exc:
        assert (
            str(exc) == f"retrieval.corpus: not found: {missing} (nothing was changed; fix the path in workbench.yaml)"
        )
    else:
        raise AssertionError("a missing corpus folder was ingested")


def test_a_one_space_indent_reads_1_space(tmp_path: Path, capsys) -> None:
    root = write_project(tmp_path / "p")
    config = root / "workbench.yaml"
    config.write_text(config.read_text().replace("  name: llama3.2", " name: llama3.2"), encoding="utf-8")
    assert main(["--project", str(root), "runs"]) == 2
    err = _words(capsys.readouterr().err)
    assert "is indented 1 space, which lines up with no key above it" in err


def test_one_flip_and_one_case_are_singular() -> None:
    """plain_words is the verdict `eval diff` and the Evals tab's diff print."""
    assert plain_words(1, 0, 1.0) == "+1 case, p=1.00: could be noise (with 1 flip no result can reach p<0.05)"
    assert plain_words(0, 1, 1.0).startswith("-1 case, p=1.00")
    assert plain_words(3, 1, 0.62).startswith("+2 cases (3 fixed, 1 regressed)")


def test_a_run_with_one_undecided_case_says_1_case(project_factory, capsys) -> None:
    """A case without assertions is unscored: the summary has no pass rate to give."""
    project = project_factory(extra="evals:\n  dir: evals\n")
    (project.root / "evals").mkdir()
    (project.root / "evals" / "one.yaml").write_text(
        "name: one\ncases:\n  - id: only\n    inputs: {question: hi}\n", encoding="utf-8"
    )
    root = project.root
    project.close()
    # no model answers (nothing listens on the project's host): the case errs, and is not decided
    main(["--project", str(root), "eval", "run", "one"])
    out = _words(capsys.readouterr().out)
    assert "1 case, none decided" in out and "1 cases" not in out


def test_the_guard_does_not_count_persisting_failures_across_no_variants(sample_project, capsys) -> None:
    assert main(["--project", str(sample_project.root), "finetune", "check"]) == 1
    out = _words(capsys.readouterr().out)
    assert "across all 0 variants" not in out
    assert (
        "no signal named. Evidence: format or capability failures that persist across variants: cannot tell "
        "(no variant evaluated yet)"
    ) in out


def test_the_eval_table_and_the_why_not_agree_on_a_gold_chunk_beyond_the_candidates(
    tmp_path: Path, embedder, capsys
) -> None:
    root = write_project(
        tmp_path / "p",
        extra="retrieval:\n  corpus: [docs]\n  k: 2\n  chunk_tokens: 60\n  overlap_tokens: 10\n  candidates: 1\n",
    )
    write_corpus(root / "docs")
    (root / "evals").mkdir()
    (root / "evals" / "tiny.yaml").write_text(EVALSET, encoding="utf-8")
    assert main(["--project", str(root), "ingest"]) == 0
    capsys.readouterr()
    assert main(["--project", str(root), "retrieval", "eval", "tiny", "--k", "1", "--cases", "all"]) == 0
    out = _words(capsys.readouterr().out)
    assert "— = not in the top 1 candidate)" in out and "(1 unlabelled case skipped)" in out
    # wolves-miss's gold (dogs.md) ranks 2nd: "—" in the table, and the why-not, which searches
    # deeper, says why the table has no rank for it
    assert "wolves-miss — — — dogs.md" in out
    assert (
        "wolves-miss: gold chunk ranked 2 under dense (beyond the 1 candidate fusion looks at), ranked 2 under "
        "full-text (beyond the 1 candidate fusion looks at), not in the top 1 under hybrid"
    ) in out
