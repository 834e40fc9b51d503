"""Eval-set loading: the typed result, and errors that name the right file, line, case and field."""

from __future__ import annotations

import hashlib
import textwrap

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import load_evalset

GOOD = """\
name: sqlite-docs-qa
description: Questions a user of the SQLite docs asks.
defaults:
  tags: [docs]
  inputs: {style: short}
  assert:
    - type: max-latency-ms
      value: 120000
cases:
  - id: autoincrement-keyword
    inputs:
      question: How do I make an INTEGER PRIMARY KEY never reuse deleted ids?
    expected: Declare the column INTEGER PRIMARY KEY AUTOINCREMENT.
    relevant: [autoinc.md]
    tags: [schema]
    split: heldout
    source: {kind: promoted, generation: 42}
    assert:
      - type: icontains
        value: AUTOINCREMENT
      - type: not-regex   # comments are fine
        value: "(?i)i don't know"
        name: no-refusal
        weight: 2
      - type: similar
        threshold: 0.6
  - id: plain
    inputs: {question: "What is WAL?", style: long}
"""


def write(tmp_path, text, name="set.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_loads_typed_cases_with_defaults_merged_and_lines(tmp_path):
    p = write(tmp_path, GOOD)
    s = load_evalset(p)
    assert s.name == "sqlite-docs-qa"
    assert s.content_hash == hashlib.sha256(p.read_bytes()).hexdigest()
    assert s.ids == ["autoincrement-keyword", "plain"]
    c = s.case("autoincrement-keyword")
    assert c.line == 10
    assert c.inputs == {"style": "short", "question": "How do I make an INTEGER PRIMARY KEY never reuse deleted ids?"}
    assert c.relevant == ("autoinc.md",)
    assert c.tags == ("schema",)  # case value wins over the default
    assert c.split == "heldout" and c.source == {"kind": "promoted", "generation": 42}
    # default assertions first, then the case's own, each with its line
    assert [(a.type, a.line) for a in c.assertions] == [
        ("max-latency-ms", 7),
        ("icontains", 19),
        ("not-regex", 21),
        ("similar", 25),
    ]
    neg = c.assertions[2]
    assert neg.negated and neg.base == "regex" and neg.label == "no-refusal" and neg.weight == 2
    assert c.assertions[3].threshold == 0.6 and c.assertions[3].value is None
    plain = s.case("plain")
    assert plain.inputs == {"style": "long", "question": "What is WAL?"}
    assert plain.tags == ("docs",)
    assert [a.type for a in plain.assertions] == ["max-latency-ms"]


def test_name_defaults_to_file_stem(tmp_path):
    p = write(tmp_path, "cases:\n  - id: a\n    inputs: {question: q}\n", name="my-set.yaml")
    assert load_evalset(p).name == "my-set"


def err(tmp_path, text) -> WorkbenchError:
    p = write(tmp_path, text)
    with pytest.raises(WorkbenchError) as ei:
        load_evalset(p)
    e = ei.value
    assert e.path == str(p)
    assert str(e).startswith(f"{p}:{e.line}: ")
    return e


def test_bad_yaml_names_the_line(tmp_path):
    e = err(
        tmp_path,
        """\
        cases:
          - id: a
            inputs: {question: "unterminated
          - id: b
        """,
    )
    assert "bad YAML" in e.message
    assert e.line in (3, 4, 5)


def test_an_unclosed_quote_or_brace_points_at_where_it_opened_and_names_the_case(tmp_path):
    """PyYAML notices an unclosed quote at the end of the file and a missing } on the next
    line; the error points where the fix is, and names the case it is in."""
    e = err(
        tmp_path,
        'cases:\n  - id: a\n    inputs: {question: hi}\n  - id: b\n    inputs: {question: "unclosed}\n    assert: []\n',
    )
    assert e.line == 5 and e.message.startswith("case 'b': bad YAML:") and "(noticed on line 7)" in e.message
    e = err(tmp_path, "cases:\n  - id: a\n    inputs: {question: hi\n    tags: [x]\n")
    assert e.line == 3 and e.message.startswith("case 'a': bad YAML:")


def test_bad_yaml_indentation_names_the_line(tmp_path):
    e = err(tmp_path, "cases:\n  - id: a\n    inputs:\n      question: q\n   tags: [x]\n")
    assert "bad YAML" in e.message and e.line == 5


def test_unquoted_question_mark_in_flow_mapping_gets_a_hint(tmp_path):
    e = err(tmp_path, "cases:\n  - id: a\n    inputs: {question: What is WAL?}\n")
    assert e.line == 3 and "quote text that contains '?'" in e.message


def test_duplicate_case_ids_name_both_lines(tmp_path):
    e = err(
        tmp_path,
        """\
        cases:
          - id: same
            inputs: {question: one}
          - id: other
            inputs: {question: two}
          - id: same
            inputs: {question: three}
        """,
    )
    assert "duplicate case id 'same' on lines 2 and 6" in e.message
    assert e.line == 6 and e.field == "id"


def test_unknown_assertion_type_suggests_the_right_one(tmp_path):
    e = err(
        tmp_path,
        """\
        cases:
          - id: q1
            inputs: {question: x}
            assert:
              - type: contains
                value: a
              - type: icontain
                value: b
        """,
    )
    assert e.line == 7
    assert "case 'q1'" in e.message and "unknown assertion type 'icontain'" in e.message
    assert "did you mean 'icontains'?" in e.message
    assert e.field == "assert[1].type"


def test_negation_of_a_budget_is_refused(tmp_path):
    e = err(tmp_path, "cases:\n  - id: q\n    inputs: {}\n    assert:\n      - {type: not-max-tokens, value: 3}\n")
    assert "'max-tokens' has no not- form" in e.message and e.line == 5


def test_bad_regex_is_compiled_and_reported_at_its_value(tmp_path):
    e = err(
        tmp_path,
        """\
        cases:
          - id: rx
            inputs: {question: x}
            assert:
              - type: regex
                value: "(unclosed"
        """,
    )
    assert e.line == 6 and "case 'rx'" in e.message and "bad regex" in e.message
    assert e.field == "assert[0].value"


def test_invalid_json_schema_is_checked_itself(tmp_path):
    e = err(
        tmp_path,
        """\
        cases:
          - id: js
            inputs: {question: x}
            assert:
              - type: json-schema
                value:
                  type: object
                  requried: [answer]
                  properties:
                    answer: {type: strin}
        """,
    )
    assert e.line == 7 and "case 'js'" in e.message and "invalid JSON schema" in e.message
    assert "unsupported keyword 'requried' (did you mean 'required'?)" in e.message
    assert "properties.answer: unknown type 'strin' (did you mean 'string'?)" in e.message


def test_unknown_case_field_suggests(tmp_path):
    e = err(tmp_path, "cases:\n  - id: c1\n    inputs: {}\n    relevent: [a.md]\n")
    assert e.line == 4 and "case 'c1'" in e.message and "did you mean 'relevant'?" in e.message
    assert e.field == "relevent"


def test_unknown_assertion_field(tmp_path):
    e = err(
        tmp_path,
        "cases:\n  - id: c1\n    inputs: {}\n    assert:\n      - type: similar\n        value: x\n        treshold: 0.5\n",
    )
    assert e.line == 7 and "did you mean 'threshold'?" in e.message


def test_missing_fields(tmp_path):
    e = err(tmp_path, "cases:\n  - inputs: {question: q}\n")
    assert e.line == 2 and "has no `id`" in e.message
    e = err(tmp_path, "cases:\n  - id: c\n    assert:\n      - type: contains\n")
    assert e.line == 4 and "case 'c'" in e.message and "needs a `value`" in e.message
    e = err(tmp_path, "cases:\n  - id: c\n    assert:\n      - type: similar\n")
    assert "no `expected` to compare with" in e.message and e.line == 4
    e = err(tmp_path, "cases:\n  - id: c\n    assert:\n      - type: llm-judge\n")
    assert "needs a `rubric`" in e.message
    e = err(tmp_path, "name: x\n")
    assert "no `cases:`" in e.message


def test_wrong_value_types(tmp_path):
    e = err(tmp_path, "cases:\n  - id: c\n    assert:\n      - {type: max-tokens, value: many}\n")
    assert "must be a whole number" in e.message and e.line == 4
    e = err(tmp_path, "cases:\n  - id: c\n    assert:\n      - {type: contains-any, value: abc}\n")
    assert "must be a list" in e.message
    e = err(tmp_path, "cases:\n  - id: c\n    split: test\n")
    assert "split must be one of train, heldout" in e.message and e.line == 3
    e = err(tmp_path, "cases:\n  - id: 'has space'\n")
    assert "may only contain" in e.message


def test_empty_file(tmp_path):
    e = err(tmp_path, "")
    assert "empty" in e.message


def test_missing_file(tmp_path):
    with pytest.raises(WorkbenchError, match="not found"):
        load_evalset(tmp_path / "nope.yaml")


def test_a_regex_can_be_marked_as_a_format_check_and_the_flag_is_validated(tmp_path):
    from workbench.core.errors import WorkbenchError
    from workbench.core.evals.evalset import parse_evalset

    ok = parse_evalset(
        "cases:\n  - id: a\n    inputs: {question: q}\n    assert:\n      - {type: regex, value: '^A', format: true}\n",
        tmp_path / "f.yaml",
    )
    assert ok.cases[0].assertions[0].format is True
    try:
        parse_evalset(
            "cases:\n  - id: a\n    inputs: {question: q}\n    assert:\n"
            "      - {type: regex, value: '^A', format: 'yes please'}\n",
            tmp_path / "f.yaml",
        )
    except WorkbenchError as exc:
        assert "f.yaml:5" in str(exc) and "format must be true or false" in str(exc)
    else:
        raise AssertionError("a non-boolean format flag was accepted")
