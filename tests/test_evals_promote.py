"""`eval promote` refuses cases that would mislead: unscored, duplicated, or with unknown gold docs.

Real SQLite stores, real eval files, a real corpus folder and (once) a real LanceDB index built
with the real embedding model; the CLI tests run `workbench.cli.main` as a user would.
"""

from __future__ import annotations

import pytest
from fixtures_project import write_project
from fixtures_retrieval import write_corpus
from test_evals_promote_gate import add_generation, store  # noqa: F401 (a fixture)

from workbench.cli import main
from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import load_evalset
from workbench.core.evals.promote import (
    AlreadyPromoted,
    CorpusDocuments,
    NothingToScore,
    check_relevant,
    corpus_documents,
    parse_assert_option,
    promote_generation,
)
from workbench.core.retrieval.settings import RetrievalSettings
from workbench.core.store import Store

BUDGET_ONLY = """\
name: prod
defaults:
  assert:
    - {type: max-latency-ms, value: 120000}
cases:
  - id: first
    inputs:
      question: Is SQLite serverless?
    assert:
      - {type: icontains, value: serverless}
"""


# --------------------------------------------------------------------------- nothing to score


def test_a_case_with_no_check_is_refused_and_nothing_is_written(tmp_path, store):
    gen = add_generation(store, "How do readers not block writers?")
    new = tmp_path / "evals" / "prod.yaml"
    with pytest.raises(NothingToScore, match=r"no check \(no expected answer, no assertion\)"):
        promote_generation(store, gen, new)
    assert not new.exists()

    # the file's defaults only add a latency budget: the case would pass on any answer
    budget = tmp_path / "budget.yaml"
    budget.write_text(BUDGET_ONLY)
    with pytest.raises(NothingToScore, match="only a max-latency-ms check, which does not look at") as ei:
        promote_generation(store, gen, budget)
    assert ei.value.exit_code == 2 and ei.value.budgets == ["max-latency-ms"]
    with pytest.raises(NothingToScore, match="only max-latency-ms and max-tokens checks"):
        promote_generation(store, gen, budget, asserts=[{"type": "max-tokens", "value": 300}])
    assert budget.read_text() == BUDGET_ONLY


def test_an_assertion_or_a_content_check_in_the_defaults_is_enough(tmp_path, store):
    gen = add_generation(store, "How do readers not block writers?")
    budget = tmp_path / "budget.yaml"
    budget.write_text(BUDGET_ONLY)
    case = promote_generation(store, gen, budget, asserts=[parse_assert_option("icontains=WAL")])
    c = load_evalset(budget).case(case.id)
    assert [(a.type, a.value) for a in c.assertions] == [("max-latency-ms", 120000), ("icontains", "WAL")]

    judged = tmp_path / "judged.yaml"
    judged.write_text(
        "defaults:\n  assert:\n    - {type: llm-judge, rubric: Answers only from the context}\n"
        "cases:\n  - id: a\n    inputs: {question: q}\n"
    )
    case = promote_generation(store, gen, judged)  # the file's own judge scores every case
    assert [a.type for a in load_evalset(judged).case(case.id).assertions] == ["llm-judge"]


def test_assert_option_values_are_parsed_and_validated_like_the_file():
    assert parse_assert_option("contains-any=ROWID, rowid") == {"type": "contains-any", "value": ["ROWID", "rowid"]}
    assert parse_assert_option("contains-all=[a, 'b,c']") == {"type": "contains-all", "value": ["a", "b,c"]}
    assert parse_assert_option("llm-judge=Says WAL") == {"type": "llm-judge", "rubric": "Says WAL"}
    assert parse_assert_option("contains=yes") == {"type": "contains", "value": "yes"}  # text, not a YAML bool
    assert parse_assert_option("max-tokens=300") == {"type": "max-tokens", "value": 300}
    assert parse_assert_option("not-cites") == {"type": "not-cites"}
    with pytest.raises(WorkbenchError, match=r"unknown assertion type 'icontans' \(did you mean 'icontains'\?\)"):
        parse_assert_option("icontans=WAL")
    with pytest.raises(WorkbenchError, match=r"--assert 'regex=\(': bad regex"):
        parse_assert_option("regex=(")
    with pytest.raises(WorkbenchError, match="icontains needs a value: --assert icontains="):
        parse_assert_option("icontains")
    with pytest.raises(WorkbenchError, match="llm-judge rubric is empty"):
        parse_assert_option("llm-judge=")
    with pytest.raises(WorkbenchError, match="cites takes no value"):
        parse_assert_option("cites=a.md")


# --------------------------------------------------------------------------- duplicates


def test_the_same_generation_or_the_same_inputs_twice_is_refused_naming_the_case(tmp_path, store):
    path = tmp_path / "prod.yaml"
    path.write_text(BUDGET_ONLY)
    gen = add_generation(store, "How do readers not block writers?")
    first = promote_generation(store, gen, path, expected="WAL mode.")
    before = path.read_text()
    with pytest.raises(AlreadyPromoted, match=f"generation {gen} is already case '{first.id}'") as ei:
        promote_generation(store, gen, path, expected="Something else.")
    assert ei.value.case_id == first.id and ei.value.line == first.line and ei.value.same == "generation"
    assert str(ei.value).startswith(f"{path}:{first.line}: ")

    # another generation of the same question (case, punctuation and spacing aside)
    other = add_generation(store, "how do readers  NOT block writers", output="Use a mutex.")
    with pytest.raises(AlreadyPromoted, match=f"case '{first.id}' already has the same inputs") as ei:
        promote_generation(store, other, path, expected="WAL mode.")
    assert ei.value.same == "inputs"
    serverless = add_generation(store, "Is SQLite serverless?")  # the hand-written case's question
    with pytest.raises(AlreadyPromoted, match="case 'first' already has the same inputs"):
        promote_generation(store, serverless, path, expected="Yes.")
    assert path.read_text() == before

    forced = promote_generation(store, other, path, expected="WAL mode.", force=True)
    assert load_evalset(path).ids == ["first", first.id, forced.id]


# --------------------------------------------------------------------------- relevant documents


def docs_of(*paths, chunks=None):
    return CorpusDocuments(frozenset(paths), chunks, f"docs/: {len(paths)} documents")


def test_relevant_paths_must_be_corpus_documents_with_a_did_you_mean(tmp_path):
    root = tmp_path / "proj"
    write_corpus(root / "docs", {"wal.md": "# WAL\n", "guide/pragmas.md": "# Pragmas\n", "img.png": "x"})
    docs = corpus_documents(root, root / ".workbench", RetrievalSettings())
    assert docs.paths == {"wal.md", "guide/pragmas.md"} and docs.chunks is None  # no index yet
    assert check_relevant(["./wal.md", "guide/pragmas.md#0"], docs) == ["wal.md", "guide/pragmas.md#0"]
    with pytest.raises(
        WorkbenchError,
        match=r"'wall.md' is not in the retrieval corpus \(docs/: 2 documents\); "
        r"did you mean 'wal.md'\?",
    ) as ei:
        check_relevant(["wal.md", "wall.md"], docs)
    assert ei.value.field == "relevant"
    with pytest.raises(WorkbenchError, match="did you mean 'guide/pragmas.md'"):
        check_relevant(["pragmas.md"], docs)  # retrieval metrics compare whole paths
    with pytest.raises(WorkbenchError, match="did you mean 'guide/pragmas.md'"):
        check_relevant(["guides/pragma.md"], docs)
    with pytest.raises(WorkbenchError, match="documents: guide/pragmas.md, wal.md"):
        check_relevant(["zzz.txt"], docs)
    with pytest.raises(WorkbenchError, match="'img.png' is not in the retrieval corpus"):
        check_relevant(["img.png"], docs)  # ingest skips it, so retrieval never returns it
    empty = corpus_documents(tmp_path / "nowhere", tmp_path / "nowhere" / ".workbench", RetrievalSettings())
    with pytest.raises(
        WorkbenchError,
        match=r"cannot be checked: the retrieval corpus has no documents "
        r"\(docs \(not found\): 0 documents\); add them or fix `retrieval.corpus`",
    ):
        check_relevant(["wal.md"], empty)


def test_promote_checks_relevant_before_writing(tmp_path, store):
    gen = add_generation(store, "How do readers not block writers?")
    path = tmp_path / "prod.yaml"
    with pytest.raises(WorkbenchError, match="did you mean 'wal.md'"):
        promote_generation(store, gen, path, expected="WAL.", relevant=["wall.md"], documents=docs_of("wal.md"))
    assert not path.exists()
    case = promote_generation(store, gen, path, expected="WAL.", relevant=["./wal.md"], documents=docs_of("wal.md"))
    assert load_evalset(path).case(case.id).relevant == ("wal.md",)


def test_documents_in_the_index_count_and_chunk_ids_are_checked_against_it(tmp_path, embedder):
    from workbench.core.retrieval.ingest import ingest

    root = tmp_path / "proj"
    docs = write_corpus(root / "docs")
    settings = RetrievalSettings(chunk_tokens=60, overlap_tokens=10)
    ingest([docs], root / ".workbench", settings, embedder=embedder)
    indexed = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*") if p.is_file())
    gone = indexed[0]
    (docs / gone).unlink()  # deleted since the ingest: retrieval can still return it
    found = corpus_documents(root, root / ".workbench", settings)
    assert found.paths == set(indexed) and f"; the index: {len(indexed)} documents" in found.where
    assert check_relevant([gone, f"{gone}#0"], found) == [gone, f"{gone}#0"]
    with pytest.raises(
        WorkbenchError,
        match=rf"relevant chunk '{gone}#99' is not in the index \({gone} has "
        rf"\d+ chunks?: {gone}#0",
    ):
        check_relevant([f"{gone}#99"], found)


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli_project(tmp_path):
    root = write_project(tmp_path / "proj", extra="evals:\n  dir: evals\n")
    write_corpus(root / "docs", {"wal.md": "# WAL\nReaders do not block writers.\n", "locking.md": "# Locks\n"})
    (root / "evals").mkdir()
    with Store(root / ".workbench" / "runs.db") as s:
        add_generation(s, "How do readers not block writers?")
        add_generation(s, "How do readers not block writers??", output="Locks.")
    return root


def wb(root, *argv):
    return main(["--project", str(root), *argv])


def test_cli_refuses_unscored_duplicate_and_unknown_relevant_with_the_flag_to_use(cli_project, capsys):
    root = cli_project
    to = root / "evals" / "prod.yaml"
    assert wb(root, "eval", "promote", "1", "--to", str(to)) == 2
    err = capsys.readouterr().err
    assert "would become a case with no check" in err and "reported as unscored" not in err
    assert "Add --expected TEXT" in err and "--assert TYPE=VALUE" in err and not to.exists()

    assert wb(root, "eval", "promote", "1", "--to", str(to), "--assert", "icontans=WAL") == 2
    assert "did you mean 'icontains'?" in capsys.readouterr().err

    promote_wal = ("eval", "promote", "1", "--to", str(to), "--assert", "icontains=WAL")
    assert wb(root, *promote_wal, "--relevant", "wal.md", "lockng.md") == 2
    assert (
        "relevant document 'lockng.md' is not in the retrieval corpus (docs/: 2 documents); did you mean 'locking.md'?"
        in capsys.readouterr().err
        and not to.exists()
    )

    assert wb(root, *promote_wal, "--assert", "not-icontains=lock", "--relevant", "wal.md") == 0
    assert capsys.readouterr().out.startswith("added case 'gen1-how-do-readers-not-block-writers' to ")
    case = load_evalset(to).case("gen1-how-do-readers-not-block-writers")
    assert [(a.type, a.value) for a in case.assertions] == [("icontains", "WAL"), ("not-icontains", "lock")]
    assert case.relevant == ("wal.md",) and case.source["generation"] == 1

    assert wb(root, "eval", "promote", "1", "--to", str(to), "--expected", "WAL.") == 2
    err = capsys.readouterr().err
    assert "generation 1 is already case 'gen1-how-do-readers-not-block-writers'" in err and "--force" not in err
    assert wb(root, "eval", "promote", "2", "--to", str(to), "--expected", "WAL.") == 2
    err = capsys.readouterr().err
    assert f"{to}:3: case 'gen1-how-do-readers-not-block-writers' already has the same inputs" in err
    assert "pass --force" in err
    assert wb(root, "eval", "promote", "2", "--to", str(to), "--expected", "WAL.", "--force") == 0
    assert len(load_evalset(to).cases) == 2


def test_the_proposed_case_id_is_cut_at_a_word_never_mid_word(tmp_path, store):
    """Issue 17 item 11: `eval promote` named the case 'gen1-why-does-sqlite-need-a-busy-time'."""
    gen = add_generation(store, "Why does SQLite need a busy timeout for concurrent writers?")
    to = tmp_path / "evals" / "prod.yaml"
    promoted = promote_generation(store, gen, to, expected="Writers wait for the lock.")
    assert promoted.id == f"gen{gen}-why-does-sqlite-need-a-busy"
    assert load_evalset(to).case(promoted.id).source["generation"] == gen
