"""Convert pages of the SQLite HTML documentation into clean Markdown.

Why this exists: the sample project needs a realistic documentation corpus that nobody on the
team wrote, so retrieval and eval numbers are not flattered by our own phrasing. The SQLite
documentation is public domain and ships as HTML in Debian's ``sqlite3-doc`` package; this
script turns the pages we picked into Markdown that a chunker can split on headings.

Only the standard library is used (``html.parser``), so regenerating the corpus needs no new
dependency::

    apt-get install -y sqlite3-doc
    python sample_data/tools/html_to_markdown.py /usr/share/doc/sqlite3 sample_data/docs

What it does, and why:

* Site chrome is dropped: menus, search form, scripts, the collapsible table of contents
  (``div.nosearch``, ``div.fancy_toc``), the "page last modified" footer. It is the same on
  every page and would only add near-duplicate noise to retrieval.
* Railroad syntax diagrams are inline SVG (often hundreds of KB per page). They are replaced by
  one line naming the diagram and its sqlite.org URL; the SVG text is unreadable as prose.
* Headings shift down one level (page ``h1`` -> ``##``, ``h2`` -> ``###``...) because each file
  starts with a single ``# Title`` taken from ``<title>``; one H1 per file keeps heading paths
  ("Title > Section > Subsection") meaningful. The hidden per-pragma ``<h>`` markers of
  pragma.html become ``###`` headings so each pragma is its own section.
* ``<pre>`` becomes a fenced code block; tables become GitHub pipe tables (empty spacer columns
  and rows removed, ``<br>`` kept as ``<br>`` inside cells); links keep their text only
  (relative ``*.html`` targets would be dead links in a Markdown corpus).
* Text is not Markdown-escaped: ``_ROWID_`` and ``SELECT *`` stay verbatim so keyword search
  finds them. The price is that a renderer may occasionally italicise a word.
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source"}
BLOCK = {
    "p", "div", "ul", "ol", "li", "pre", "table", "tr", "td", "th", "blockquote", "dl", "dt",
    "dd", "h", "h1", "h2", "h3", "h4", "h5", "h6", "center", "hr", "form", "thead", "tbody",
    "svg", "body", "html", "head",
}
# Tags whose whole subtree is dropped.
SKIP = {"script", "style", "svg", "button", "form", "select", "head", "title", "noscript"}
# Opening one of these closes an open <p> (HTML's implied end tags, the part these pages need).
CLOSES_P = BLOCK - {"td", "th", "tr", "li", "dt", "dd", "body", "html", "head", "svg"}
SITE = "https://sqlite.org/"
BR = "\x00"  # sentinel for <br> in running text, so source newlines can be collapsed
BOLD, ITAL = "\x01", "\x02"  # emphasis sentinels, resolved to ** / * by _finish_emphasis


class Node:
    """A minimal element: tag, attributes, children (Nodes and text strings)."""

    __slots__ = ("tag", "attrs", "children", "parent")

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Node | str] = []
        self.parent = parent

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        out: list[str] = []
        for child in self.children:
            out.append(child if isinstance(child, str) else child.text())
        return "".join(out)

    def find_all(self, tag: str) -> list[Node]:
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag:
                    found.append(child)
                found.extend(child.find_all(tag))
        return found


class TreeBuilder(HTMLParser):
    """Builds a Node tree, tolerating the unclosed <p>, <li>, <td> of hand-written HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root
        self.title = ""
        self._in_title = False

    def _close_to(self, tag: str, stop: set[str]) -> bool:
        """Pop up to and including the nearest open `tag`, not crossing a `stop` element."""
        node: Node | None = self.cur
        while node is not None and node.tag != "#root":
            if node.tag == tag:
                self.cur = node.parent or self.root
                return True
            if node.tag in stop:
                return False
            node = node.parent
        return False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in CLOSES_P:
            self._close_to("p", {"td", "th", "li", "dd", "blockquote", "div", "table"})
        if tag == "li":
            self._close_to("li", {"ul", "ol"})
        if tag in ("dt", "dd"):
            self._close_to("dt", {"dl"}) or self._close_to("dd", {"dl"})
        if tag == "tr":
            self._close_to("td", {"tr", "table"}) or self._close_to("th", {"tr", "table"})
            self._close_to("tr", {"table"})
        if tag in ("td", "th"):
            self._close_to("td", {"tr", "table"}) or self._close_to("th", {"tr", "table"})
        node = Node(tag, {k: (v or "") for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: (v or "") for k, v in attrs}, self.cur)
        self.cur.children.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in VOID:
            return
        stop = {"table"} if tag in ("td", "th", "tr") else set()
        if tag in ("ul", "ol", "table", "dl", "blockquote", "div"):
            stop = set()
        self._close_to(tag, stop)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.cur.children.append(data)


# ---------------------------------------------------------------- rendering


def _skip(node: Node) -> bool:
    if node.tag in SKIP:
        return True
    cls = node.classes()
    if node.tag == "div" and cls & {"nosearch", "fancy_toc", "menu", "searchmenu"}:
        return True
    if "imgcontainer" in cls:  # syntax diagram wrapper; the label paragraph says what it was
        return True
    if node.tag == "a" and node.attrs.get("id") == "mtimelink":
        return True
    return False


def _wrap(marker: str, text: str) -> str:
    """Emphasis that stays valid Markdown when the HTML put spaces inside the tag."""
    if not text.strip():
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()):]
    return f"{lead}{marker}{text.strip()}{marker}{trail}"


def inline(node: Node | str, in_cell: bool = False) -> str:
    """Render a node as inline Markdown (whitespace collapsed later)."""
    if isinstance(node, str):
        return re.sub(r"\s+", " ", node)
    if _skip(node):
        return ""
    tag = node.tag
    if tag == "br":
        return " <br> " if in_cell else BR
    if tag == "img":
        alt = node.attrs.get("alt", "").strip()
        return f" {alt} " if alt and alt != "SQLite" else ""
    inner = "".join(inline(c, in_cell) for c in node.children)
    if tag in ("b", "strong"):
        return _wrap(BOLD, inner)
    if tag in ("i", "em", "cite", "var"):
        return _wrap(ITAL, inner)
    if tag == "sup":  # 2<sup>31</sup>-1 must not read as 231-1
        return f"^{inner.strip()}" if inner.strip() else ""
    if tag in ("s", "strike", "del"):
        return _wrap("~~", inner)
    if tag in ("tt", "code", "kbd", "samp"):
        flat = re.sub(r"\s+", " ", node.text()).strip()
        if not flat:
            return ""
        tick = "``" if "`" in flat else "`"
        lead = " " if inner[:1].isspace() else ""
        trail = " " if inner[-1:].isspace() else ""
        return f"{lead}{tick}{flat}{tick}{trail}"
    if tag == "pre":  # <pre> in an inline context (a table cell): keep it as code
        flat = re.sub(r"\s+", " ", node.text()).strip()
        return f" `{flat}` " if flat else ""
    if tag in BLOCK:
        return f" {inner} "
    return inner


def _finish_emphasis(text: str) -> str:
    """Turn emphasis sentinels into Markdown, or drop them where Markdown can't express it.

    Signature lines such as ``<b>PRAGMA</b> <i>schema.</i><b>journal_mode;</b>`` put bold and
    italic runs back to back; written as ``*schema.***journal_mode`` that is unreadable and
    parses unpredictably, so a paragraph with touching runs keeps its text and loses emphasis.
    """
    if re.search(f"[{BOLD}{ITAL}]{{2,}}", text):
        return text.replace(BOLD, "").replace(ITAL, "")
    return text.replace(BOLD, "**").replace(ITAL, "*")


def _clean_inline(text: str) -> str:
    """Collapse source whitespace; only <br> (the BR sentinel) becomes a line break."""
    text = _finish_emphasis(re.sub(r"\s+", " ", text)).replace(BR, "\n")
    lines = [ln.strip() for ln in text.split("\n")]
    out = "\n".join(ln for ln in lines if ln)
    # "** bold**" artefacts from nested wrappers, and emphasis around nothing
    out = re.sub(r"\*\*\s*\*\*", "", out)
    return out.strip()


def _has_block(node: Node) -> bool:
    return any(isinstance(c, Node) and (c.tag in BLOCK or c.tag == "pre") and not _skip(c)
               for c in node.children)


def _indent(text: str, prefix: str) -> str:
    return "\n".join((prefix + ln) if ln.strip() else "" for ln in text.split("\n"))


def _diagram_label(node: Node) -> str | None:
    """`<p><b><a href="syntax/x.html">x:</a></b><button>` is the label of a syntax diagram."""
    if node.tag != "p" or not node.find_all("button"):
        return None
    for a in node.find_all("a"):
        href = a.attrs.get("href", "")
        if href.startswith("syntax/"):
            name = a.text().strip().rstrip(":")
            return f"*Syntax diagram `{name}` omitted; see {SITE}{href}*"
    return None


def blocks(node: Node, level_shift: int = 1) -> list[str]:
    """Render the children of `node` as a list of Markdown blocks."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        text = _clean_inline("".join(run))
        run.clear()
        if text:
            out.append(text)

    for child in node.children:
        if isinstance(child, str):
            run.append(re.sub(r"\s+", " ", child))
            continue
        if _skip(child):
            continue
        if child.tag not in BLOCK and child.tag != "pre":
            run.append(inline(child))
            continue
        flush()
        out.extend(block(child, level_shift))
    flush()
    return [b for b in out if b.strip()]


def block(node: Node, level_shift: int = 1) -> list[str]:
    tag = node.tag
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6", "h"):
        # pragma.html's hidden per-pragma <h> markers sit below its <h2> "List Of PRAGMAs"
        level = 4 if tag == "h" else min(6, int(tag[1]) + level_shift)
        text = re.sub(r"\s+", " ", "".join(inline(c) for c in node.children)).strip()
        text = text.replace(BOLD, "").replace(ITAL, "").replace(BR, " ")
        return [f"{'#' * level} {text}"] if text else []
    if tag == "pre":
        code = node.text().strip("\n")
        code = "\n".join(ln.rstrip() for ln in code.split("\n"))
        if not code.strip():
            return []
        fence = "````" if "```" in code else "```"
        return [f"{fence}\n{_dedent(code)}\n{fence}"]
    if tag == "hr":
        return []
    if tag == "p":
        label = _diagram_label(node)
        if label:
            return [label]
        if _has_block(node):
            return blocks(node, level_shift)
        text = _clean_inline("".join(inline(c) for c in node.children))
        if text.startswith("*This page last modified") or not text.strip("* "):
            return []
        if re.fullmatch(r"\*\*\(\d+\) [^\n]*\*\*", text):  # faq.html: "(3) Question?"
            return [f"## {text.strip('*')}"]
        return [text]
    if tag in ("ul", "ol"):
        return [_list(node, tag == "ol", level_shift)]
    if tag == "dl":
        parts: list[str] = []
        for child in node.children:
            if isinstance(child, Node) and child.tag == "dt":
                term = _clean_inline("".join(inline(c) for c in child.children))
                term = re.sub(r"\s+", " ", term.replace("**", "")).strip()
                if re.match(r"\(\d+\) ", term):  # faq.html: one question per <dt>
                    parts.append(f"## {term}")
                elif term:
                    parts.append(f"**{term}**")
            elif isinstance(child, Node) and child.tag == "dd":
                parts.extend(blocks(child, level_shift))
            elif isinstance(child, Node):
                parts.extend(block(child, level_shift))
        return parts
    if tag == "table":
        return _table(node)
    if tag == "blockquote":
        # sqlite.org uses <blockquote> for indentation (of code, tables, FAQ answers), not for
        # quotations, so a "> " prefix would only add noise
        return blocks(node, level_shift)
    return blocks(node, level_shift)


def _dedent(code: str) -> str:
    lines = code.split("\n")
    widths = [len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.strip()]
    cut = min(widths) if widths else 0
    return "\n".join(ln[cut:] for ln in lines)


def _list(node: Node, ordered: bool, level_shift: int) -> str:
    items: list[str] = []
    n = 0
    start = node.attrs.get("start", "")
    if start.isdigit():
        n = int(start) - 1
    for child in node.children:
        if isinstance(child, str):
            if child.strip():  # stray text between items: attach to previous item
                if items:
                    items[-1] += " " + child.strip()
            continue
        if _skip(child):
            continue
        if child.tag != "li":
            sub = block(child, level_shift) if (child.tag in BLOCK or child.tag == "pre") \
                else [_clean_inline(inline(child))]
            if items:
                items[-1] += "\n\n" + _indent("\n\n".join(s for s in sub if s), "   ")
            continue
        n += 1
        value = child.attrs.get("value", "")
        if value.isdigit():
            n = int(value)
        marker = f"{n}. " if ordered else "- "
        body = blocks(child, level_shift)
        if not body:
            continue
        pad = " " * len(marker)
        first, rest = body[0], body[1:]
        text = marker + _indent(first, pad)[len(pad):] if not first.startswith(" ") \
            else marker + first
        for b in rest:
            text += "\n\n" + _indent(b, pad)
        items.append(text)
    loose = any("\n\n" in it for it in items)
    return ("\n\n" if loose else "\n").join(items)


def _own_rows(node: Node) -> list[Node]:
    """The <tr> of this table, not of tables nested in its cells (those render inside the cell)."""
    rows: list[Node] = []
    for child in node.children:
        if isinstance(child, Node):
            if child.tag == "tr":
                rows.append(child)
            elif child.tag != "table":
                rows.extend(_own_rows(child))
    return rows


def _table(node: Node) -> list[str]:
    rows: list[list[str]] = []
    header_flags: list[bool] = []
    for tr in _own_rows(node):
        cells = [c for c in tr.children if isinstance(c, Node) and c.tag in ("td", "th")]
        if not cells:
            continue
        row = []
        for cell in cells:
            text = _clean_inline("".join(inline(c, in_cell=True) for c in cell.children))
            text = re.sub(r"\s+", " ", text).strip()
            text = re.sub(r"^(<br>\s*)+|(\s*<br>)+$", "", text).replace("|", "\\|")
            row.append(text)
            span = cell.attrs.get("colspan", "1")
            row.extend([""] * (int(span) - 1 if span.isdigit() else 0))
        rows.append(row)
        header_flags.append(all(c.tag == "th" for c in cells))
    if not rows:
        return []
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    keep_cols = [i for i in range(width) if any(r[i] for r in rows)]
    pairs = [([r[i] for i in keep_cols], h) for r, h in zip(rows, header_flags)]
    pairs = [(r, h) for r, h in pairs if any(r)]
    if not pairs or not keep_cols:
        return []
    if len(keep_cols) == 1:  # a one-column layout table is really a list
        items = [r[0].replace("\\|", "|").replace(" <br> ", "\n  ").replace("<br>", "\n  ")
                 for r, _ in pairs]
        return ["\n".join(f"- {item}" for item in items)]
    header, body = pairs[0][0], [r for r, _ in pairs[1:]]
    header = [h.replace("**", "") for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return ["\n".join(lines)]


def convert(html: str, page: str) -> str:
    """Return the Markdown for one page; `page` is its file stem, e.g. ``autoinc``."""
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    title = re.sub(r"\s+", " ", builder.title).strip() or page
    body = builder.root.find_all("body")
    root = body[0] if body else builder.root
    parts = blocks(root)
    # non-"fancy" pages repeat the title as their first heading
    if parts and parts[0].startswith("#"):
        first = parts[0].lstrip("#").strip().lower()
        if first == title.lower() or first in title.lower():
            parts = parts[1:]
    parts = _normalise_headings(parts)
    text = f"# {title}\n\nSource: {SITE}{page}.html\n\n" + "\n\n".join(parts) + "\n"
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text


def _normalise_headings(parts: list[str]) -> list[str]:
    """Shift headings so the page's top level is ``##`` (some pages start at <h2>)."""
    levels = [len(p) - len(p.lstrip("#")) for p in parts if re.match(r"#+ ", p)]
    if not levels or min(levels) == 2:
        return parts
    shift = 2 - min(levels)
    out = []
    for p in parts:
        m = re.match(r"(#+) ", p)
        out.append("#" * min(6, len(m.group(1)) + shift) + p[len(m.group(1)):] if m else p)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="folder with the HTML pages (/usr/share/doc/sqlite3)")
    ap.add_argument("dest", type=Path, help="output folder for <page>.md")
    ap.add_argument("pages", nargs="*", help="page stems; default: the list in PAGES")
    args = ap.parse_args(argv)
    pages = args.pages or PAGES
    args.dest.mkdir(parents=True, exist_ok=True)
    total = 0
    for page in pages:
        src = args.src / f"{page}.html"
        if not src.exists():
            print(f"missing: {src}", file=sys.stderr)
            return 1
        md = convert(src.read_text(encoding="utf-8", errors="replace"), page)
        (args.dest / f"{page}.md").write_text(md, encoding="utf-8")
        total += len(md.encode())
        print(f"{page}.md\t{len(md.encode())}")
    print(f"total\t{total}")
    return 0


# The pages a developer using SQLite actually reads; C API reference (c3ref/) is left out.
PAGES = [
    "autoinc", "datatype3", "lang_createtable", "lang_select", "lang_upsert", "lang_returning",
    "wal", "pragma", "foreignkeys", "fts5", "json1", "lang_datefunc", "windowfunctions",
    "partialindex", "expridx", "gencol", "withoutrowid", "stricttables", "lang_transaction",
    "isolation", "lockingv3", "atomiccommit", "queryplanner", "eqp", "lang_analyze",
    "lang_vacuum", "backup", "limits", "nulls", "quirks", "faq", "rowidtable", "lang_conflict",
    "lang_altertable", "lang_with", "lang_createindex", "lang_insert", "lang_corefunc",
    "lang_aggfunc", "lang_savepoint", "inmemorydb", "tempfiles", "whentouse", "lang_expr",
    "optoverview",
]

if __name__ == "__main__":
    raise SystemExit(main())
