"""Property tests (hypothesis): whatever text a user or an attacker puts in a YAML file, a prompt
template, an eval set or a document, loading ends quickly with a result or a WorkbenchError that
names the file and line, never another exception. Examples are few and deadlines set, so the
suite stays quick; a failure prints the smallest input that breaks the rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.core.config import Config
from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import parse_evalset
from workbench.core.prompts import Prompt, PromptSpec, template_variables
from workbench.core.retrieval.chunking import Tokens, chunk_document
from workbench.core.retrieval.documents import Document
from workbench.core.yamlfile import Builder, load_located

FAST = settings(
    max_examples=150, deadline=timedelta(seconds=3), derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
PATH = Path("/project/file.yaml")

# Pieces YAML files are made of, including the hostile ones: anchors and aliases, merge keys,
# explicit tags with values they cannot hold, flow brackets, quotes, directives, odd characters.
YAML_PIECES = [
    "a",
    "b",
    "id",
    "cases",
    "template",
    "model",
    "options",
    "temperature",
    ":",
    ": ",
    " ",
    "\n",
    "  ",
    "- ",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "<<: ",
    "!!int ",
    "!!bool ",
    "!!timestamp ",
    "!!binary ",
    "!!float ",
    "!!str ",
    "!!map ",
    "!!seq ",
    "!!set ",
    "!!python/name:os ",
    "'",
    '"',
    "#",
    "|",
    ">",
    "? ",
    "1",
    "-1e999",
    "2020-13-45",
    "2020-02-30 25:61:00",
    ".nan",
    "~",
    "%YAML 1.1\n",
    "%TAG ! x\n",
    "---\n",
    "...\n",
    "\t",
    "\\",
    "\\x",
    "\x00",
    "\x85",
    "é",
    "\ufeff",
    "{question}",
    "{q:>9}",
]
yaml_text = st.one_of(
    st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join),
    st.text(max_size=200),
)


def assert_located(exc: WorkbenchError, path: Path = PATH) -> None:
    """The error a user reads: names the file, and a line within it."""
    assert exc.path == str(path)
    assert exc.line is not None and exc.line >= 1, str(exc)


def result_or_located_error(load: Callable[[], Any]) -> Any:
    """`load()`'s result, or None after checking its WorkbenchError names file and line (any
    other exception fails the test)."""
    try:
        return load()
    except WorkbenchError as exc:
        assert_located(exc)
        return None


@FAST
@given(yaml_text)
def test_yaml_loader_ends_with_data_or_a_located_error(text):
    located = result_or_located_error(lambda: load_located(PATH, text))
    if located is None:
        return
    for keypath in located.lines:  # every recorded line is a real line of the file
        assert 1 <= located.lines[keypath] <= text.count("\n") + 2


@FAST
@given(yaml_text)
def test_config_validation_ends_with_settings_or_a_located_error(text):
    def load() -> Config:
        located = load_located(PATH, text)
        return Builder(located).build(Config, located.data)

    result_or_located_error(load)


# Well-formed fields (so the check, not the brace syntax, is what is tested), hostile ones among
# them: format specs that pad to 100,000 characters, conversions, attribute and index access.
field_text = st.builds(
    lambda name, conv, spec: "{" + name + conv + spec + "}",
    st.sampled_from(["a", "q", "x", "a.x", "a[0]", "", "0"]),
    st.sampled_from(["", "", "!r", "!s"]),
    st.sampled_from(["", "", ":>99999", ":9", ":{q}", ":"]),
)
template_text = st.lists(
    st.one_of(
        field_text, st.sampled_from(["{{", "}}", " ", "\n", "é", "{", "}"]), st.text(alphabet="abc :.", max_size=8)
    ),
    max_size=12,
).map("".join)


@FAST
@given(
    st.one_of(st.text(max_size=120), template_text),
    st.fixed_dictionaries({"a": st.text(max_size=30)}, optional={"q": st.text(max_size=30), "x": st.text(max_size=30)}),
)
def test_templates_render_plain_fields_or_refuse_at_load(template, values):
    try:
        names = template_variables(template, PATH, 3)
    except WorkbenchError as exc:
        assert_located(exc)
        return
    prompt = Prompt("p", PromptSpec(template=template), PATH, 3)
    try:
        messages = prompt.render(values)
    except WorkbenchError as exc:  # a variable without a value
        assert_located(exc)
        assert any(n not in values for n in names)
        return
    content = messages[-1]["content"]
    # bounded: the template's own text plus each value at most once per placeholder
    assert len(content) <= len(template) + sum(len(values[n]) for n in names) * template.count("{")


EVAL_PIECES = YAML_PIECES + [
    "cases:\n",
    "  - id: c1\n",
    "    inputs: {question: hi}\n",
    "    expected: x\n",
    "    assert:\n",
    "      - type: regex\n",
    "        value: '(a+)+$'\n",
    "      - contains: a\n",
    "defaults:\n",
    "  assert: *a\n",
    "  tags: &a [x]\n",
    "    relevant: [a.md]\n",
    "name: s\n",
    "      - type: json-schema\n",
    "        value: {type: object}\n",
    "      - not-equals: 3\n",
    "    expected: ",
    "    inputs: {question: ",
    "2020-13-45}\n",
    "!!int x}\n",
    "!!float\n",
]


@FAST
@given(st.one_of(st.lists(st.sampled_from(EVAL_PIECES), max_size=40).map("".join), st.text(max_size=200)))
def test_eval_sets_parse_or_fail_with_file_and_line(text):
    evalset = result_or_located_error(lambda: parse_evalset(text, PATH))
    assert evalset is None or evalset.cases


@FAST
@given(
    st.one_of(
        st.text(max_size=600),
        st.lists(
            st.sampled_from(
                ["# T\n", "## S\n", "Title\n=====\n", "word ", "a. ", "\n\n", "\r\n", "x" * 80, "-----\n", "\t", "é"]
            ),
            max_size=60,
        ).map("".join),
    ),
    st.sampled_from(["markdown", "rst", "text"]),
    st.integers(1, 64),
    st.integers(0, 80),
    st.integers(0, 40),
)
def test_chunking_ends_with_contiguous_slices_in_order(text, kind, budget, overlap, min_tokens):
    doc = Document("a.md", kind, text, "h", len(text))
    chunks = chunk_document(doc, budget, overlap, Tokens(), min_chunk_tokens=min_tokens)
    previous = -1
    for chunk in chunks:
        assert chunk.text == text[chunk.char_start : chunk.char_end]
        assert 0 <= chunk.char_start <= chunk.char_end <= len(text)
        assert chunk.char_start >= previous or chunk.char_start < chunk.char_end
        assert 1 <= chunk.line_start <= chunk.line_end
        previous = chunk.char_start
