"""Heading-aware chunking with a token budget, overlap, spans and stable ids.

Headings first, because a section is usually the unit a question is about; ids and spans
are stable so eval labels and citations survive a re-ingest.
Details: docs/NOTES.md, section core/retrieval/chunking.py.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.core.retrieval.documents import Document

HEADING_SEP = " > "

#: Version of the chunking rules (2: tiny sections folded into their neighbours).
CHUNKER_VERSION = 2


def chunking_record(settings: Any) -> dict[str, Any]:
    """What the chunks depend on besides the tokenizer: the settings and the chunker version.
    Ingest stores it (plus the tokenizer) in the index; a difference means stale chunks."""
    return {**settings.chunking_key(), "chunker": CHUNKER_VERSION}


@dataclass
class Chunk:
    chunk_id: str  # "<path>#<n>"
    path: str  # document path relative to the corpus root
    n: int  # position in the document, 0-based
    heading_path: str  # "Title > Section > Sub" ("" before the first heading)
    text: str  # the body text (a slice of the document text)
    char_start: int  # [char_start, char_end) in the document text
    char_end: int
    line_start: int  # 1-based, inclusive, lines of the file on disk
    line_end: int
    chunk_hash: str  # sha256(embed_text)[:16]
    n_tokens: int  # body tokens, as counted by the Tokens in use
    # the heading path goes on top of the embedded text (settings.heading_context); not a column
    with_heading: bool = True

    @property
    def embed_text(self) -> str:
        return embed_text(self.heading_path if self.with_heading else "", self.text)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("with_heading")
        return d


def embed_text(heading_path: str, text: str) -> str:
    """What gets embedded and full-text indexed for a chunk."""
    return f"{heading_path}\n\n{text}" if heading_path else text


def doc_window_text(doc: Document, chunks: list[Chunk], window: int, tokens: Tokens) -> str:
    """What is embedded as the document's own vector (`retrieval.doc_vector: first-window`):
    the first chunk's heading path (the title first), then the document's text from that chunk
    on, cut after `window` tokens (the embedding model's input limit, which would cut it anyway).

    A document that is one chunk gets exactly that chunk's embed_text, so ingest embeds it once
    for both. Cutting here, not in the model, keeps a 5 MB file from being tokenised whole.
    """
    first = chunks[0]
    rest = doc.text[first.char_start :]
    if len(chunks) == 1 and not doc.text[first.char_end :].strip():
        return first.embed_text
    budget = max(1, int(window / tokens.per_span))
    spans = tokens.spans(rest[: budget * 16])  # 16 chars per token is far more than any text needs
    end = spans[min(budget, len(spans)) - 1][1] if spans else 0
    return embed_text(first.heading_path if first.with_heading else "", rest[:end])


# --- token counting -----------------------------------------------------------------------------


class Tokens:
    """Splits text into token spans; `name` says how (recorded in the index metadata)."""

    name = "words*1.3"
    per_span = 1.3  # word-pieces per span (estimate); 1.0 for a real tokenizer

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\S+", text)]

    def count(self, text: str) -> int:
        return round(len(self.spans(text)) * self.per_span)


class HFTokens(Tokens):
    """Exact word-piece spans from a `tokenizer.json` (no special tokens, no truncation)."""

    per_span = 1.0

    def __init__(self, tokenizer_json: Path, name: str) -> None:
        from tokenizers import Tokenizer  # Rust library, ~50 ms; a transformers import is 0.7 s

        self._tok = Tokenizer.from_file(str(tokenizer_json))
        self._tok.no_truncation()
        self._tok.no_padding()
        self.name = name

    def spans(self, text: str) -> list[tuple[int, int]]:
        if not text:
            return []
        return list(self._tok.encode(text, add_special_tokens=False).offsets)

    def count(self, text: str) -> int:
        return len(self.spans(text))


@lru_cache(maxsize=8)
def tokens_for(model_dir: str | None) -> Tokens:
    """The model's tokenizer if `model_dir/tokenizer.json` loads, else the word estimate."""
    if model_dir:
        tj = Path(model_dir) / "tokenizer.json"
        if tj.is_file():
            try:
                return HFTokens(tj, f"tokenizer.json of {Path(model_dir).name}")
            except Exception:  # a tokenizer file we cannot read: estimate instead
                pass
    return Tokens()


# --- sections -------------------------------------------------------------------------------------


@dataclass
class Section:
    heading_path: list[str]
    start: int  # body start (char offset, after the heading lines)
    end: int
    heading_start: int | None = None  # where the heading that opens it starts (None: no heading)


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RST_ADORN = re.compile(r"^([!-/:-@\[-`{-~])\1+\s*$")


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


def _markdown_headings(text: str) -> list[tuple[int, str, int, int]]:
    """(level, title, heading start offset, body start offset) for each heading."""
    lines = text.split("\n")
    starts = _line_starts(text)
    out: list[tuple[int, str, int, int]] = []
    fence: str | None = None
    i = 0
    # YAML front matter is metadata, not text: skip it
    if lines and lines[0].strip() == "---":
        for j in range(1, min(len(lines), 200)):
            if lines[j].strip() in ("---", "..."):
                out.append((0, "", 0, starts[j + 1] if j + 1 < len(starts) else len(text)))
                i = j + 1
                break
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            i += 1
            continue
        if m:
            fence = m.group(1)
            i += 1
            continue
        nxt = i + 1
        body = starts[nxt] if nxt < len(starts) else len(text)
        m = _ATX.match(line)
        if m:
            out.append((len(m.group(1)), (m.group(2) or "").strip(), starts[i], body))
        elif (
            nxt < len(lines)
            and line.strip()
            and not line.startswith((" " * 4, "\t", "- ", "* ", "> ", "|"))
            and (i == 0 or not lines[i - 1].strip() or (out and out[-1][3] == starts[i]))
            and _SETEXT.match(lines[nxt])
        ):
            level = 1 if lines[nxt].strip()[0] == "=" else 2
            after = starts[nxt + 1] if nxt + 1 < len(starts) else len(text)
            out.append((level, line.strip(), starts[i], after))
            i += 2
            continue
        i += 1
    return out


def _rst_headings(text: str) -> list[tuple[int, str, int, int]]:
    lines = text.split("\n")
    starts = _line_starts(text)
    styles: list[tuple[str, bool]] = []
    out: list[tuple[int, str, int, int]] = []
    i = 0
    while i < len(lines) - 1:
        title, under = lines[i], lines[i + 1]
        over = i > 0 and _RST_ADORN.match(lines[i - 1] or "") is not None
        if (
            title.strip()
            and not _RST_ADORN.match(title)
            and _RST_ADORN.match(under)
            and len(under.rstrip()) >= len(title.rstrip())
            and (not title[:1].isspace() or over)
        ):
            ch = under.strip()[0]
            has_over = over and lines[i - 1].strip()[0] == ch
            style = (ch, has_over)
            if style not in styles:
                styles.append(style)
            level = styles.index(style) + 1
            head_start = starts[i - 1] if has_over else starts[i]
            body = starts[i + 2] if i + 2 < len(starts) else len(text)
            out.append((level, title.strip(), head_start, body))
            i += 2
            continue
        i += 1
    return out


def sections(doc: Document) -> list[Section]:
    """Cut a document at its headings; each section knows its heading path."""
    text = doc.text
    if doc.kind in ("markdown", "html"):
        heads = _markdown_headings(text)
    elif doc.kind == "rst":
        heads = _rst_headings(text)
    else:
        heads = []
    out: list[Section] = []
    stack: list[tuple[int, str]] = []
    pos, opened = 0, None
    path: list[str] = []
    for level, title, head_start, body_start in heads:
        out.append(Section(list(path), pos, head_start, opened))
        if level == 0:  # front matter: skipped, no heading
            pos, opened = body_start, None
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        path = [t for _, t in stack if t]
        pos, opened = body_start, head_start
    out.append(Section(list(path), pos, len(text), opened))
    return [s for s in out if text[s.start : s.end].strip()]


def fold_tiny(secs: list[Section], text: str, tokens: Tokens, min_tokens: int) -> list[Section]:
    """Group sections so that no group's body has fewer than `min_tokens` tokens (if possible).

    Each tiny section joins the next one (repeatedly, until the group is big enough); the group
    takes the heading path of its last section and spans from the first section's body - or
    from its heading line, when that heading is not in the group's path - to the last one's end.
    A tiny group left at the end joins the group before it (keeping that group's path). Token
    counts are of section bodies, so the heading lines between them do not count.
    """
    if min_tokens <= 0 or len(secs) < 2:
        return list(secs)
    groups: list[tuple[list[Section], Section]] = []  # (members, the one whose path it takes)
    cur: list[Section] = []
    total = 0
    for sec in secs:
        cur.append(sec)
        total += tokens.count(text[sec.start : sec.end])
        if total >= min_tokens:
            groups.append((cur, sec))
            cur, total = [], 0
    if cur:
        if groups:
            groups[-1] = (groups[-1][0] + cur, groups[-1][1])
        else:
            groups.append((cur, cur[-1]))
    out: list[Section] = []
    for members, owner in groups:
        first, path = members[0], owner.heading_path
        start = first.start
        own = first.heading_path
        if first.heading_start is not None and own and path[: len(own)] != own:
            start = first.heading_start  # a sibling's title would be lost: keep its heading line
        out.append(Section(list(path), start, members[-1].end, first.heading_start))
    return out


# --- windows ------------------------------------------------------------------------------------

_SENT_END = re.compile(r"[.!?:;][\"')\]]*$")


def _gap_score(text: str, prev_end: int, next_start: int, prev_tok: str) -> int:
    """How good a cut between two tokens is: 4 paragraph, 3 sentence, 2 line, 1 word, 0 inside."""
    gap = text[prev_end:next_start]
    if "\n\n" in gap:
        return 4
    if not gap:
        return 0
    if _SENT_END.search(prev_tok):
        return 3
    if "\n" in gap:
        return 2
    return 1


def _windows(text: str, tokens: Tokens, budget: int, overlap: int) -> list[tuple[int, int, int]]:
    """Char spans (start, end, n_tokens) covering `text` in windows of <= budget tokens."""
    spans = tokens.spans(text)
    if not spans:
        return []
    per = tokens.per_span
    cap = max(1, int(budget / per))  # spans per window
    ov = max(0, min(int(overlap / per), cap // 2))
    n = len(spans)
    if n <= cap:
        return [(spans[0][0], spans[-1][1], round(n * per))]

    # score of cutting before span c (1..n-1); word-piece continuations score 0
    def score(c: int) -> int:
        prev_s, prev_e = spans[c - 1]
        word_end = prev_e
        # the "previous token" for sentence detection: the whole word it ends
        ws = text.rfind(" ", 0, prev_e) + 1
        return _gap_score(text, word_end, spans[c][0], text[max(ws, prev_s - 40) : prev_e])

    out: list[tuple[int, int, int]] = []
    i = 0
    while i < n:
        j = min(i + cap, n)
        if j < n:
            lo = i + max(1, cap // 2)
            best, best_c = -1, j
            for c in range(j, lo - 1, -1):
                sc = score(c)
                if sc > best:
                    best, best_c = sc, c
                    if sc == 4:
                        break
            if best > 0:
                j = best_c
            else:  # no break at all (e.g. one enormous token run): hard cut at the budget
                j = i + cap
        out.append((spans[i][0], spans[j - 1][1], round((j - i) * per)))
        if j >= n:
            break
        # start the next window inside the overlap region, as early as possible, preferring a
        # sentence (or line/paragraph) start, else a word start; never inside a word
        lo = max(i + 1, j - ov)
        nxt = j
        for want in (2, 1):
            cands = [c for c in range(lo, j) if score(c) >= want]
            if cands:
                nxt = cands[0]
                break
        i = nxt
    return out


def chunk_with(doc: Document, settings: Any, tokens: Tokens) -> list[Chunk]:
    """`chunk_document` under RetrievalSettings: every chunking setting, so no caller (ingest,
    a tune's cost count) can leave one out and count or embed other chunks than ingest makes."""
    return chunk_document(
        doc,
        settings.chunk_tokens,
        settings.overlap_tokens,
        tokens,
        settings.min_tokens(),
        heading_context=settings.heading_context,
    )


def chunk_document(
    doc: Document,
    chunk_tokens: int,
    overlap_tokens: int,
    tokens: Tokens,
    min_chunk_tokens: int = 0,
    *,
    heading_context: bool = True,
) -> list[Chunk]:
    """All chunks of one document, in document order.

    `heading_context` (settings.heading_context): each chunk's embedded text starts with its
    heading path; off, it is the body alone (the heading path is still kept, for display).

    `min_chunk_tokens` > 0 folds sections with fewer body tokens into their neighbours
    (`fold_tiny`). It is capped at half of `chunk_tokens`: the windowing never ends a window
    before half the budget, so a folded tiny section cannot end up alone in a window again.
    """
    text = doc.text
    starts = _line_starts(text)
    chunks: list[Chunk] = []
    overlap = min(overlap_tokens, max(chunk_tokens - 1, 0))
    min_tokens = min(max(min_chunk_tokens, 0), chunk_tokens // 2)
    for sec in fold_tiny(sections(doc), text, tokens, min_tokens):
        body = text[sec.start : sec.end]
        heading = HEADING_SEP.join(sec.heading_path)
        for ws, we, ntok in _windows(body, tokens, chunk_tokens, overlap):
            cs, ce = sec.start + ws, sec.start + we
            piece = text[cs:ce]
            ls = bisect.bisect_right(starts, cs)
            le = bisect.bisect_right(starts, max(cs, ce - 1))
            n = len(chunks)
            et = embed_text(heading if heading_context else "", piece)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.path}#{n}",
                    path=doc.path,
                    n=n,
                    heading_path=heading,
                    text=piece,
                    char_start=cs,
                    char_end=ce,
                    line_start=doc.source_line(ls),
                    line_end=doc.source_line(le),
                    chunk_hash=hashlib.sha256(et.encode("utf-8")).hexdigest()[:16],
                    n_tokens=ntok,
                    with_heading=heading_context,
                )
            )
    return chunks
