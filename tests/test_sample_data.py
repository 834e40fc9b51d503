"""Checks on the sample project's data, so its labels cannot silently rot.

The eval sets in sample_data/evals/ are hand-written against the SQLite pages in
sample_data/docs/. If a page is regenerated (sample_data/tools/html_to_markdown.py) or a case is
edited, these tests catch the drift a user would otherwise only see as mysteriously bad
retrieval or eval numbers: a `relevant` page that no longer exists or no longer contains the
answer's key term, duplicate ids, or assertions that even the reference answer fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1] / "sample_data"
DOCS = ROOT / "docs"
QA = ROOT / "evals" / "sqlite_qa.yaml"
FORMAT = ROOT / "evals" / "format.yaml"
EVAL_FILES = [QA, FORMAT]


def _cases(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]


def _key_terms(case: dict) -> list[str]:
    """The values of the case's icontains / contains-any assertions."""
    terms: list[str] = []
    for a in case.get("assert", []):
        if a["type"] == "icontains":
            terms.append(a["value"])
        elif a["type"] == "contains-any":
            terms.extend(a["value"])
    return terms


@pytest.mark.parametrize("path", EVAL_FILES, ids=lambda p: p.name)
def test_eval_file_loads_with_unique_ids(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data["cases"], list) and data["cases"]
    ids = [c["id"] for c in data["cases"]]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"{path.name}: duplicate case ids {duplicates}"


def test_qa_set_is_big_enough_and_has_a_heldout_split() -> None:
    cases = _cases(QA)
    assert len(cases) >= 45
    heldout = [c["id"] for c in cases if c.get("split") == "heldout"]
    assert 0.15 <= len(heldout) / len(cases) <= 0.30, f"{len(heldout)} heldout of {len(cases)}"


def test_every_qa_case_has_a_question_expected_answer_and_gold_pages() -> None:
    for case in _cases(QA):
        assert case["inputs"]["question"].strip(), case["id"]
        assert isinstance(case.get("expected"), str) and case["expected"].strip(), case["id"]
        assert case.get("relevant"), f"{case['id']}: no relevant pages"
        assert _key_terms(case), f"{case['id']}: no icontains/contains-any assertion to check labels with"


@pytest.mark.parametrize("path", EVAL_FILES, ids=lambda p: p.name)
def test_relevant_pages_exist_and_contain_a_key_term(path: Path) -> None:
    problems = []
    for case in _cases(path):
        terms = _key_terms(case)
        for rel in case.get("relevant", []):
            page = DOCS / rel
            if not page.is_file():
                problems.append(f"{case['id']}: {rel} does not exist")
                continue
            text = page.read_text(encoding="utf-8").casefold()
            if not any(t.casefold() in text for t in terms):
                problems.append(f"{case['id']}: {rel} contains none of {terms}")
    assert not problems, "\n".join(problems)


def _passes(assertion: dict, text: str) -> bool | None:
    """Text assertions evaluated the way the eval runner does; None for the non-text kinds."""
    kind = assertion["type"]
    negated = kind.startswith("not-")
    base = kind[4:] if negated else kind
    value = assertion.get("value")
    if base == "icontains":
        ok = value.casefold() in text.casefold()
    elif base == "contains":
        ok = value in text
    elif base == "contains-any":
        ok = any(v in text for v in value)
    elif base == "regex":
        ok = re.search(value, text) is not None
    elif base == "json-schema":
        from workbench.core.evals.jsonschema_lite import validate

        ok = not validate(json.loads(text), value)
    else:
        return None
    return ok != negated


@pytest.mark.parametrize("path", EVAL_FILES, ids=lambda p: p.name)
def test_reference_answers_pass_their_own_assertions(path: Path) -> None:
    """An assertion that the reference answer fails would fail every correct model answer too."""
    failures = []
    for case in _cases(path):
        if not case.get("expected"):
            continue
        for a in case.get("assert", []):
            if _passes(a, case["expected"]) is False:
                failures.append(f"{case['id']}: expected answer fails {a}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", EVAL_FILES, ids=lambda p: p.name)
def test_workbench_loader_accepts_the_file(path: Path) -> None:
    from workbench.core.evals.evalset import load_evalset

    evalset = load_evalset(path)
    assert len(evalset.cases) == len(_cases(path))


def test_docs_start_with_title_and_source_line() -> None:
    pages = sorted(DOCS.glob("*.md"))
    assert 30 <= len(pages) <= 45
    for page in pages:
        lines = page.read_text(encoding="utf-8").split("\n")
        assert lines[0].startswith("# "), page.name
        assert lines[2] == f"Source: https://sqlite.org/{page.stem}.html", page.name
    assert sum(p.stat().st_size for p in pages) < 2_500_000
