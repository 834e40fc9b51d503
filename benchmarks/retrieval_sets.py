"""Labelled retrieval sets from corpora nobody tuned for: man pages and Python's own docstrings.

The sample corpus (SQLite docs) is what the defaults were first chosen on, so it cannot tell
whether they generalise. Each set here is built from text that ships on this machine, and each
question is a one-line summary the corpus itself wrote, with that line REMOVED from the gold
document, so the question does not copy the gold text:

  man-commands  /usr/share/man/man1: a page's NAME line ("ls - list directory contents") is the
                question, the rest of the page (title = command name) the gold document
  man-c-api     /usr/share/man/man2 + man3 (*.2/*.3, the C library and system calls): same rule
  py-docstrings the venv's Python stdlib: a function/class docstring's summary line is the
                question, the docstring body (title = qualified name) the gold document

Held out (HELDOUT_SETS), built after the defaults were chosen on the three above and the sample,
and never used to choose one: they say whether a choice carries over to data nobody tuned on.

  man-admin     man5 + man7 + man8 (file formats, overviews, admin commands): the man rule
  lib-docstrings third-party libraries installed with the workbench (click, jinja2, flask,
                networkx, rich, sqlite-utils, fsspec, huggingface_hub, ...; LIB_MODULES, at
                most MAX_PER_MODULE documents per module): the docstring rule

Every other page/docstring selected is a distractor. Selection is deterministic (sha1 of the
name orders the pool), so the same machine always builds the same sets. Output, per set:
`<out>/<set>/docs/*.md` and `<out>/<set>/evalset.yaml` (eval-set format, `relevant:` paths).
Default <out>: benchmarks/.workbench/retrieval_sets (git-ignored; ~7 MB).

Run from the repository root: `python benchmarks/retrieval_sets.py [--out DIR] [--force]`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib
import inspect
import re
import shutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / ".workbench" / "retrieval_sets"  # .workbench/ is git-ignored
SETS = ("man-commands", "man-c-api", "py-docstrings")
# Sets never used to choose a default: they check that what was chosen on SETS carries over.
HELDOUT_SETS = ("man-admin", "lib-docstrings")
DOCS_PER_SET = 300  # documents (gold + distractors) per set
QUESTIONS_PER_SET = 100
MAX_DOC_CHARS = 5_000  # long pages are cut here (keeps the sets cheap to embed on 2 shared cores)


def _h(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


# --- man pages -----------------------------------------------------------------------------------

_ESC = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\s[+-]?\d"), ""),  # size changes
    (re.compile(r"\\\((em|en)"), "-"),
    (re.compile(r"\\\((aq|cq)"), "'"),
    (re.compile(r"\\\((dq|lq|rq)"), '"'),
    (re.compile(r"\\\(bu"), "*"),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),
    (re.compile(r"\\\*\(..|\\\*\[[^\]]*\]|\\\*."), ""),
    (re.compile(r"\\[-e]"), lambda m: "-" if m.group(0) == "\\-" else "\\"),
    (re.compile(r"\\[&|^,/:%)]"), ""),
    (re.compile(r"\\ "), " "),
    (re.compile(r"\\\\"), lambda m: "\\"),
]


def _unescape(s: str) -> str:
    for rx, rep in _ESC:
        s = rx.sub(rep, s)
    return s


def _macro_args(rest: str) -> str:
    parts = re.findall(r'"([^"]*)"|(\S+)', rest)
    return " ".join(a or b for a, b in parts)


def roff_to_markdown(src: str) -> tuple[str, str, str] | None:
    """(names, description, markdown body without the NAME section) of a man page, or None."""
    lines = src.splitlines()
    out: list[str] = []
    name_lines: list[str] = []
    section = ""
    skip_def = False
    for raw in lines:
        if skip_def:
            if raw.startswith(".."):
                skip_def = False
            continue
        if raw.startswith(('.\\"', "'\\\"", '.\\"')) or raw.strip() in (".", "'"):
            continue
        if raw.startswith((".", "'")):
            m = re.match(r"[.'](\S+)\s*(.*)", raw)
            if not m:
                continue
            mac, rest = m.group(1), m.group(2)
            if mac in ("de", "de1", "am", "ig"):
                skip_def = True
                continue
            if mac == "so":
                return None  # a redirect to another page
            if mac in ("SH", "SS", "Sh", "Ss"):
                title = _unescape(_macro_args(rest)).strip()
                section = title.upper()
                if section != "NAME":
                    out.append("")
                    out.append(("## " if mac in ("SH", "Sh") else "### ") + title.capitalize())
                    out.append("")
                continue
            if mac in ("PP", "LP", "P", "TP", "IP", "sp", "br", "Pp", "HP"):
                if mac == "IP" and rest:
                    (name_lines if section == "NAME" else out).append(_unescape(_macro_args(rest)))
                (name_lines if section == "NAME" else out).append("")
                continue
            if mac in ("B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM", "SB", "Nm", "Nd", "Fn", "Xr"):
                text = _unescape(
                    _macro_args(rest)
                    if mac in ("B", "I", "SM", "SB")
                    else "".join(a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', rest))
                )
                if mac == "Nd":
                    text = "- " + text
                (name_lines if section == "NAME" else out).append(text)
                continue
            continue  # any other request: formatting only
        text = _unescape(raw)
        (name_lines if section == "NAME" else out).append(text)
    name = " ".join(x.strip() for x in name_lines if x.strip())
    m = re.match(r"(.+?)\s+[-\u2013\u2014]+\s+(.+)", name)
    if not m:
        return None
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    return m.group(1).strip(), m.group(2).strip(), body


def _man_pool(folders: list[Path], suffixes: tuple[str, ...]) -> list[tuple[str, Path]]:
    pool = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.endswith(suffixes):
                pool.append((p.name, p))
    pool.sort(key=lambda x: _h(x[0]))
    return pool


def _man_set(folders: list[Path], suffixes: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(file stem, question, markdown doc) for up to DOCS_PER_SET usable pages."""
    out: list[tuple[str, str, str]] = []
    seen_desc: set[str] = set()
    families: dict[str, int] = {}
    for name, path in _man_pool(folders, suffixes):
        if len(out) >= DOCS_PER_SET:
            break
        # 16,600 of man1's 17,800 pages here are gcloud_*: cap any one family at a sixth
        family = re.split(r"[_.]", name, maxsplit=1)[0]
        if families.get(family, 0) >= DOCS_PER_SET // 6:
            continue
        try:
            src = (
                gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
                if name.endswith(".gz")
                else path.read_text(encoding="utf-8", errors="replace")
            )
        except OSError:
            continue
        parsed = roff_to_markdown(src)
        if parsed is None:
            continue
        names, desc, body = parsed
        desc = desc.rstrip(". ")
        if len(desc.split()) < 3 or len(body.split()) < 60 or desc.lower() in seen_desc:
            continue
        seen_desc.add(desc.lower())
        families[family] = families.get(family, 0) + 1
        stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", name.removesuffix(".gz"))
        doc = f"# {names}\n\n{body[:MAX_DOC_CHARS]}\n"
        out.append((stem, desc, doc))
    return out


# --- Python docstrings ---------------------------------------------------------------------------

PY_MODULES = (
    "argparse asyncio.events asyncio.streams asyncio.tasks base64 bisect calendar codecs collections "
    "concurrent.futures configparser contextlib copy csv dataclasses datetime decimal difflib "
    "email.message email.utils enum fnmatch fractions ftplib functools getopt gettext glob gzip hashlib "
    "heapq hmac html http.client http.cookiejar http.server imaplib inspect ipaddress itertools json "
    "logging logging.handlers mailbox mimetypes multiprocessing.pool netrc ntpath operator optparse os "
    "pathlib pickle pkgutil platform plistlib poplib posixpath pprint pydoc queue quopri random re "
    "sched secrets selectors shelve shlex shutil signal smtplib socket socketserver sqlite3 ssl "
    "statistics string subprocess tarfile tempfile textwrap threading timeit tokenize traceback "
    "typing unittest.case unittest.mock urllib.parse urllib.request uuid warnings weakref "
    "xml.dom.minidom xml.etree.ElementTree zipfile zipimport"
).split()


# Held-out: third-party libraries installed with the workbench (none of them was looked at while the
# defaults were chosen). hf_api alone has ~330 usable docstrings: MAX_PER_MODULE keeps it a share.
LIB_MODULES = (
    "click.core click.termui click.utils jinja2.environment jinja2.filters jinja2.utils httpx._client "
    "flask.app flask.helpers flask.sansio.app flask.sansio.scaffold networkx.classes.graph "
    "networkx.classes.digraph networkx.classes.function networkx.algorithms.shortest_paths.generic "
    "networkx.algorithms.dag networkx.algorithms.components.connected networkx.algorithms.cycles "
    "dateutil.parser._parser dateutil.rrule jsonschema.validators markdown_it.main rich.console "
    "rich.table rich.text rich.progress sqlite_utils.db attr._make itsdangerous.serializer "
    "werkzeug.utils werkzeug.wrappers.request fsspec.spec fsspec.core packaging.specifiers "
    "pathspec.pathspec joblib.parallel joblib.memory huggingface_hub.hf_api"
).split()
MAX_PER_MODULE = 30


def _py_set(modules: list[str] = PY_MODULES, per_module: int | None = None) -> list[tuple[str, str, str]]:
    """(qualified name, summary line, markdown doc) of documented functions/classes/methods."""
    found: dict[str, tuple[str, str]] = {}
    warnings.simplefilter("ignore")
    for modname in modules:
        try:
            mod = importlib.import_module(modname)
        except Exception:
            continue
        items = []
        for n, obj in vars(mod).items():
            if n.startswith("_") or getattr(obj, "__module__", None) != modname:
                continue
            items.append((f"{modname}.{n}", obj))
            if inspect.isclass(obj):
                for mn, meth in vars(obj).items():
                    if not mn.startswith("_") and callable(meth):
                        items.append((f"{modname}.{n}.{mn}", meth))
        for qual, obj in items:
            doc = inspect.getdoc(obj) if callable(obj) or inspect.isclass(obj) else None
            if not doc or "\n\n" not in doc:
                continue
            summary, body = doc.split("\n\n", 1)
            summary = " ".join(summary.split()).rstrip(".")
            if not (4 <= len(summary.split()) <= 30) or len(body.split()) < 40 or "(" in summary[:1]:
                continue
            found.setdefault(qual, (summary, body))
    pool = sorted(found.items(), key=lambda kv: _h(kv[0]))
    out, seen = [], set()
    per: dict[str, int] = {}
    for qual, (summary, body) in pool:
        if len(out) >= DOCS_PER_SET:
            break
        module = next((m for m in modules if qual.startswith(m + ".")), "")
        if summary.lower() in seen or (per_module and per.get(module, 0) >= per_module):
            continue
        per[module] = per.get(module, 0) + 1
        seen.add(summary.lower())
        out.append((qual, summary, f"# {qual}\n\n{body[:MAX_DOC_CHARS]}\n"))
    return out


# --- writing ---------------------------------------------------------------------------------------


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_set(out: Path, name: str, items: list[tuple[str, str, str]], how: str) -> tuple[int, int]:
    docs = out / name / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    docs.mkdir(parents=True)
    cases = []
    # questions: a second hash order, so they are not the pool's first (pre-cap) families
    asked = {stem for stem, _, _ in sorted(items, key=lambda it: _h("q:" + it[0]))[:QUESTIONS_PER_SET]}
    for stem, question, text in items:
        fname = f"{stem}.md"
        (docs / fname).write_text(text, encoding="utf-8")
        if stem in asked:
            split = "heldout" if int(_h(stem), 16) % 5 == 0 else "train"
            cases.append(
                f"  - id: {_yaml_str(stem)}\n    split: {split}\n    inputs:\n"
                f"      question: {_yaml_str(question)}\n    relevant: [{_yaml_str(fname)}]\n"
            )
    head = (
        f"# Generated by benchmarks/retrieval_sets.py ({how}). Do not edit: re-run the script.\n"
        f"name: {name}\ndescription: {_yaml_str(how)}\ncases:\n"
    )
    (out / name / "evalset.yaml").write_text(head + "".join(cases), encoding="utf-8")
    return len(items), len(cases)


BUILDERS = {
    "man-commands": (
        lambda: _man_set([Path("/usr/share/man/man1")], (".1.gz", ".1")),
        "man1 NAME line as question, rest of the page as gold",
    ),
    "man-c-api": (
        lambda: _man_set([Path("/usr/share/man/man2"), Path("/usr/share/man/man3")], (".2.gz", ".3.gz", ".2", ".3")),
        "man2/man3 NAME line as question, rest of the page as gold",
    ),
    "py-docstrings": (_py_set, "stdlib docstring summary as question, docstring body as gold"),
    # held out (HELDOUT_SETS): built after the defaults were chosen, to check them, never to tune
    "man-admin": (
        lambda: _man_set(
            [Path("/usr/share/man/man5"), Path("/usr/share/man/man7"), Path("/usr/share/man/man8")],
            (".5.gz", ".7.gz", ".8.gz", ".5", ".7", ".8"),
        ),
        "man5/man7/man8 (file formats, overviews, admin commands) NAME line as question, rest of the page as gold",
    ),
    "lib-docstrings": (
        lambda: _py_set(LIB_MODULES, MAX_PER_MODULE),
        "third-party library docstring summary as question, docstring body as gold",
    ),
}


def build(
    out: Path = DEFAULT_OUT, force: bool = False, names: tuple[str, ...] = SETS + HELDOUT_SETS
) -> dict[str, Path]:
    """Build (or reuse) each set; returns set name -> its folder (docs/ + evalset.yaml)."""
    made = {}
    for name in names:
        folder = out / name
        if force or not (folder / "evalset.yaml").is_file():
            fn, how = BUILDERS[name]
            items = fn()
            if len(items) < 50:
                print(f"{name}: only {len(items)} documents found here; skipped", file=sys.stderr)
                continue
            n_docs, n_q = write_set(out, name, items, how)
            print(f"{name}: {n_docs} documents, {n_q} questions -> {folder}")
        made[name] = folder
    return made


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--force", action="store_true", help="rebuild sets that exist")
    args = ap.parse_args(argv)
    build(Path(args.out), args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
