"""Finding and reading the documents of a corpus, or saying exactly why a file was skipped.

Details: docs/NOTES.md, section core/retrieval/documents.py.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from workbench.core.message_numbers import megabytes

KINDS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".rst": "rst",
    ".rest": "rst",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}


@dataclass(frozen=True)
class SourceFile:
    """A file found on disk that we will try to read."""

    file: Path  # where it is on disk
    path: str  # document path: relative to its corpus root, POSIX separators
    kind: str  # markdown | rst | text | html


@dataclass(frozen=True)
class Skipped:
    """A file that was not ingested, and why (shown to the user verbatim)."""

    path: str
    reason: str


@dataclass
class Document:
    """A readable document: its text (extracted for HTML) and where its lines came from."""

    path: str
    kind: str
    text: str  # newline-normalised text the chunker works on
    file_hash: str  # sha256 of the raw bytes: unchanged hash == nothing to do on re-ingest
    size: int  # bytes on disk
    line_of: list[int] | None = None  # HTML only: 1-based source line of each text line

    def source_line(self, text_line: int) -> int:
        """Map a 1-based line of `text` to a 1-based line of the file on disk."""
        if self.line_of is None or not self.line_of:
            return text_line
        return self.line_of[min(max(text_line, 1), len(self.line_of)) - 1]


def document_base(path: Path, bases: Sequence[Path] = ()) -> Path:
    """The folder a file's or folder's document paths are relative to: the first of `bases` (the
    configured corpus folders) that holds it, else the folder itself, or a file's parent.

    So `workbench ingest docs/guide/install.rst` indexes "guide/install.rst", the same document
    an ingest of the whole `docs` corpus makes, not a second copy named "install.rst".
    """
    for base in bases:
        if base.is_dir() and (path == base or base in path.parents):
            return base
    return path if path.is_dir() else path.parent


def discover(
    roots: list[Path], bases: Sequence[Path] = (), *, follow_symlinks: bool = False
) -> tuple[list[SourceFile], list[Skipped]]:
    """List the files under `roots` (files or folders), sorted, with their document paths
    (relative to `document_base(file, bases)`; with no `bases`, to the root they were found under).

    A root that does not exist is reported as skipped rather than raised: the caller decides
    whether "nothing to ingest" is an error. Anything that is not a regular file (a named pipe,
    a device) is skipped with the reason: opening a FIFO would block forever. So are a file
    whose name is not UTF-8 (the index stores names as UTF-8 text), an unreadable folder, and a
    symlink leading out of its corpus folder (unless `follow_symlinks`): a link to /etc/passwd
    would otherwise become model context.
    """
    found: list[SourceFile] = []
    skipped: list[Skipped] = []
    seen: dict[str, Path] = {}
    for root in roots:
        if not root.exists():
            skipped.append(Skipped(str(root), "not found"))
            continue
        top = root if root.is_dir() else root.parent
        if not root.is_dir():
            candidates = [root]
        else:
            candidates = []
            walked: set[str] = set()

            def unreadable(exc: OSError, top: Path = top) -> None:
                where = Path(exc.filename or top)
                rel = where.relative_to(top).as_posix() if where != top and top in where.parents else str(where)
                skipped.append(Skipped(display_path(rel), f"unreadable folder: {exc.strerror or exc}"))

            for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=follow_symlinks):
                if follow_symlinks:  # a link back up the tree would loop forever
                    real = os.path.realpath(dirpath)
                    if real in walked:
                        dirnames[:] = []
                        continue
                    walked.add(real)
                keep = sorted(d for d in dirnames if not d.startswith("."))
                dirnames[:] = keep
                candidates += [Path(dirpath) / name for name in sorted(filenames) if not name.startswith(".")]
                if not follow_symlinks:  # os.walk lists linked folders but does not enter them
                    candidates += [Path(dirpath) / d for d in keep if (Path(dirpath) / d).is_symlink()]
        for full in candidates:
            boundary = document_base(full, bases) if bases else top
            rel = full.relative_to(boundary).as_posix()
            if not _utf8(rel):
                skipped.append(Skipped(display_path(rel), "the file name is not valid UTF-8: rename it"))
                continue
            outside = None if follow_symlinks else _link_outside(full, boundary)
            if outside:
                skipped.append(Skipped(rel, outside))
                continue
            if full.is_dir():  # a linked folder inside the corpus: its files are found where they are
                continue
            kind = KINDS.get(full.suffix.lower())
            if kind is None:
                suffix = full.suffix or "(no extension)"
                skipped.append(Skipped(rel, f"unsupported file type {suffix}"))
                continue
            not_regular = _not_regular(full)
            if not_regular:
                skipped.append(Skipped(rel, not_regular))
                continue
            if rel in seen:
                if seen[rel] != full:
                    skipped.append(Skipped(rel, f"duplicate document path (already taken by {seen[rel]})"))
                continue  # (the same file reached twice, through overlapping paths)
            seen[rel] = full
            found.append(SourceFile(full, rel, kind))
    found.sort(key=lambda s: s.path)
    return found, skipped


def _utf8(name: str) -> bool:
    """Whether a file name decoded from the OS is real text (undecodable bytes come back as
    lone surrogates, which no UTF-8 writer - LanceDB, SQLite, a terminal - accepts)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(name: str) -> str:
    """A file name as it can be shown and stored: undecodable bytes as `\\xff` escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace") if not _utf8(name) else name


def _link_outside(full: Path, boundary: Path) -> str | None:
    """Why `full` is skipped as a symlink (on it or on a folder above it, inside the corpus)
    that leads out of the corpus folder `boundary`, or None."""
    real = os.path.realpath(full)
    inside = os.path.realpath(boundary)
    if real == inside or real.startswith(inside.rstrip(os.sep) + os.sep):
        return None
    return (
        f"a symlink to {display_path(real)}, outside the corpus folder: not indexed "
        "(set retrieval.follow_symlinks: true to index it)"
    )


_SPECIAL = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def _not_regular(path: Path, mode: int | None = None) -> str | None:
    """Why `path` is not a regular file that can be read ("not a regular file (a named pipe)"),
    or None. A broken link is left to the read, which says so."""
    if mode is None:
        try:
            mode = path.stat().st_mode
        except OSError:
            return None
    if stat.S_ISREG(mode):
        return None
    what = next((name for test, name in _SPECIAL if test(mode)), "a special file")
    return f"not a regular file ({what})"


def read_bytes(source: SourceFile, max_bytes: int) -> bytes | Skipped:
    """The raw bytes of a file, or why they cannot be used (too large, unreadable)."""
    try:
        st = source.file.stat()
    except OSError as exc:
        return Skipped(source.path, f"unreadable: {exc.strerror or exc}")
    not_regular = _not_regular(source.file, st.st_mode)
    if not_regular:  # never open it: reading a FIFO blocks until someone writes to it
        return Skipped(source.path, not_regular)
    size = st.st_size
    if size > max_bytes:
        return Skipped(source.path, f"too large: {megabytes(size)} MB > limit {max_bytes / 1e6:g} MB (max_file_mb)")
    try:
        return source.file.read_bytes()
    except PermissionError:
        return Skipped(source.path, "unreadable: permission denied")
    except OSError as exc:
        return Skipped(source.path, f"unreadable: {exc.strerror or exc}")


def file_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# Byte-order marks that say how a text file is encoded (UTF-32 first: its little-endian BOM
# begins with UTF-16's). Windows tools save "Unicode" text as UTF-16 with a BOM; its every other
# byte is NUL, so without this it would be "binary".
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(source: SourceFile, raw: bytes) -> str | Skipped:
    """The text with newlines normalised, or why not (binary, not UTF-8, empty).

    UTF-8 without a BOM is the default; a byte-order mark selects UTF-8, UTF-16 or UTF-32.
    """
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), "utf-8-sig")
    if encoding == "utf-8-sig" and b"\x00" in raw[:65536]:
        return Skipped(source.path, "binary file (contains NUL bytes)")
    try:
        text = raw.decode(encoding)  # (the codec reads the BOM for the byte order, and drops it)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8-sig":
            name = encoding.upper()
            return Skipped(
                source.path, f"not valid {name} (it starts with a {name} byte-order mark; bad data at byte {exc.start})"
            )
        line = raw[: exc.start].count(b"\n") + 1
        return Skipped(
            source.path,
            f"not UTF-8 (invalid byte 0x{raw[exc.start]:02x} at line {line}); re-save it as UTF-8",
        )
    if not text.strip():
        return Skipped(source.path, "empty file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_document(source: SourceFile, max_bytes: int, raw: bytes | None = None) -> Document | Skipped:
    """Read and (for HTML) extract one file. Never raises for a bad file."""
    if raw is None:
        got = read_bytes(source, max_bytes)
        if isinstance(got, Skipped):
            return got
        raw = got
    text = decode(source, raw)
    if isinstance(text, Skipped):
        return text
    line_of = None
    if source.kind == "html":
        text, line_of = html_to_text(text)
    if not text.strip():
        return Skipped(source.path, "no text content" if source.kind == "html" else "empty file")
    return Document(source.path, source.kind, text, file_hash(raw), len(raw), line_of)


# --- HTML -------------------------------------------------------------------------------------

_DROP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "head", "button"}
_BLOCK = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "nav",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tr",
    "form",
    "figure",
    "figcaption",
    "hr",
    "br",
    "body",
    "html",
    "center",
    "details",
    "summary",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_WS = re.compile(r"\s+")


class _Extractor(HTMLParser):
    """Collects blocks (heading / paragraph / pre) with the source line each began on."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int, str, int]] = []  # (kind, level, text, source line)
        self._buf: list[str] = []
        self._line = 1
        self._kind = "p"
        self._level = 0
        self._drop = 0
        self._pre = 0

    def _flush(self) -> None:
        raw = "".join(self._buf)
        self._buf = []
        if self._kind == "pre":
            text = raw.strip("\n")
            if text.strip():
                self.blocks.append(("pre", 0, text, self._line))
        else:
            text = _WS.sub(" ", raw).strip()
            if text:
                self.blocks.append((self._kind, self._level, text, self._line))
        self._kind, self._level = "p", 0

    def handle_starttag(self, tag: str, attrs: list[Any]) -> None:
        if tag in _DROP:
            self._drop += 1
            return
        if self._drop:
            return
        if tag in _HEADINGS:
            self._flush()
            self._kind, self._level = "h", _HEADINGS[tag]
        elif tag == "pre":
            self._flush()
            self._kind = "pre"
            self._pre += 1
        elif tag == "li":
            self._flush()
            self._kind = "li"
        elif tag in ("td", "th"):
            self._buf.append(" | " if self._buf else "")
        elif tag in _BLOCK and not self._pre:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[Any]) -> None:
        if tag in ("br", "hr") and not self._drop and not self._pre:
            self._flush()
        elif tag == "br" and self._pre:
            self._buf.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self._drop = max(0, self._drop - 1)
            return
        if self._drop:
            return
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
            self._flush()
        elif tag in _HEADINGS or tag == "li" or (tag in _BLOCK and not self._pre):
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._drop:
            return
        if data.strip() and not "".join(self._buf).strip():
            # the block starts at the first visible character of its first text
            leading = data[: len(data) - len(data.lstrip())]
            self._line = self.getpos()[0] + leading.count("\n")
        self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_text(html: str) -> tuple[str, list[int]]:
    """Markdown-like text of an HTML page and, per text line, the source line it came from."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    lines: list[str] = []
    line_of: list[int] = []

    def emit(text_lines: list[str], src: int, step: bool) -> None:
        if lines:
            lines.append("")
            line_of.append(src)
        for i, line in enumerate(text_lines):
            lines.append(line)
            line_of.append(src + i if step else src)

    for kind, level, text, src in parser.blocks:
        if kind == "h":
            emit(["#" * level + " " + text], src, False)
        elif kind == "pre":
            body = text.split("\n")
            fence = "~~~" if "```" in text else "```"
            emit([fence, *body, fence], max(src - 1, 1), True)
        elif kind == "li":
            emit(["- " + text], src, False)
        else:
            emit([text], src, False)
    return "\n".join(lines) + ("\n" if lines else ""), line_of
