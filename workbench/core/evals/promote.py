"""The production loop: stored generations and logged questions become eval cases.

Cases are *appended* as text to the eval file, never by re-dumping parsed YAML: the user's
comments, ordering and formatting are theirs, and a diff of the file in review shows exactly the
new case. Appending is only safe when `cases:` is the last block of the file and is a block
list; otherwise the file is left untouched and the error says what to move. After writing, the
whole file is validated again; if the result does not load, the original bytes are restored.

A promoted case must earn its place in the pass rate, so `promote_generation` refuses:
- a case nothing would score: with no expected answer and no assertion, a case either counts as
  unscored or, when the file's `defaults` add a latency/token budget, passes on any answer and
  inflates the pass rate. Budgets do not count as scoring; the file's other defaults do.
- a second copy: the same generation, or the same inputs, already in the set (`force` overrides).
- `relevant` documents the retrieval corpus does not have: a typo there makes every retrieval
  metric and `cites` check of the case a silent miss.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import ASSERTION_TYPES, Case, EvalSet, load_evalset, parse_evalset

# Assertions any answer can pass whatever it says: alone they do not score a case.
NOT_SCORING = ("max-latency-ms", "max-tokens")


@dataclass
class PromotedCase:
    id: str
    path: Path
    line: int  # where the new case starts in the file
    text: str  # the appended YAML


@dataclass
class ImportReport:
    path: Path
    added: list[str] = field(default_factory=list)  # new case ids
    duplicates: list[tuple[int, str, str]] = field(default_factory=list)  # (jsonl line, question, duplicate of)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (jsonl line, why)
    # added cases with no check of the answer (an imported `expected` is a reference to review,
    # not a check): unscored, or passing on a default budget alone, until someone adds `assert:`
    unchecked: list[str] = field(default_factory=list)


class NothingToScore(WorkbenchError):
    """The promoted case would have no check of what the answer says. `budgets` are the checks it
    would have (budgets such as the file's default max-latency-ms), none of which does."""

    def __init__(self, generation_id: int, budgets: Sequence[str], path: Path) -> None:
        self.generation_id = generation_id
        self.budgets = list(budgets)
        super().__init__(
            f"generation {generation_id} would become a case with {self.why}: give it an "
            "expected answer or an assertion that looks at the answer",
            path=path,
            field="assert",
        )

    @property
    def why(self) -> str:
        if not self.budgets:
            return "no check (no expected answer, no assertion)"
        kinds = list(dict.fromkeys(self.budgets))
        many = len(kinds) > 1
        return (
            f"only {'' if many else 'a '}{' and '.join(kinds)} check{'s' * many}, which "
            f"{'do' if many else 'does'} not look at what the answer says"
        )


class AlreadyPromoted(WorkbenchError):
    """The eval set already has this generation (`same` == "generation") or its inputs
    (`same` == "inputs") as case `case_id`; `line` is where that case starts."""

    def __init__(self, message: str, *, case_id: str, same: str, path: Path, line: int | None) -> None:
        self.case_id = case_id
        self.same = same
        super().__init__(message, path=path, line=line, field="inputs")


@dataclass(frozen=True)
class CorpusDocuments:
    """The documents `relevant:` may name: what an ingest would read now, plus what the index
    holds. `chunks` maps an indexed path to its chunk ids (None: no index to check them with)."""

    paths: frozenset[str]
    chunks: Callable[[str], list[str]] | None
    where: str  # for messages: "docs/: 4 documents; the index: 5 documents"


# --------------------------------------------------------------------------- YAML text helpers


def word_slug(text: str, limit: int = 40) -> str:
    """'What is the capital of France?' -> 'what-is-the-capital-of-france': lower-case ASCII
    words joined by '-', cut at a word boundary (never mid-word) within `limit` characters; a
    first word longer than `limit` is cut, nothing at all is 'case'. The CLI and the TUI share it."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = [w for w in re.split(r"[^a-z0-9]+", t) if w]
    out = ""
    for word in words:
        longer = f"{out}-{word}" if out else word
        if len(longer) > limit:
            break
        out = longer
    return out or (words[0][:limit] if words else "case")


_slug = word_slug


def _dump_value(value: Any) -> str:
    """One YAML value on one line: PyYAML's flow style when it fits on a line, else JSON (which
    YAML reads as double-quoted scalars and flow collections, newlines escaped)."""
    text: str = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9, sort_keys=False)
    text = text.strip()
    if text.endswith("..."):  # the document-end marker PyYAML adds after a bare scalar
        text = text[:-3].strip()
    if "\n" in text:
        return json.dumps(value, ensure_ascii=False)
    return text


def case_yaml(case: dict[str, Any], dash_col: int, item_col: int) -> str:
    """A case mapping as block YAML at the file's own indentation."""
    pad_dash, pad = " " * dash_col, " " * item_col
    lines: list[str] = []
    first = True
    for key, value in case.items():
        if value is None or value == [] or value == {}:
            continue
        prefix = pad_dash + "-" + " " * (item_col - dash_col - 1) if first else pad
        first = False
        if key == "inputs" and isinstance(value, dict):
            lines.append(f"{prefix}inputs:")
            for k, v in value.items():
                lines.append(f"{pad}  {_dump_value(str(k))}: {_dump_value(v)}")
        elif key == "assert":
            lines.append(f"{prefix}assert:")
            for a in value:
                lines.append(f"{pad}  - {_dump_value(a)}")
        else:
            lines.append(f"{prefix}{key}: {_dump_value(value)}")
    return "\n".join(lines) + "\n"


def _layout(path: Path, text: str) -> tuple[int, int, EvalSet]:
    """(dash column, item column, parsed set) for appending; raises if appending is unsafe."""
    evalset = parse_evalset(text, path)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    cnode = next(v for k, v in root.value if k.value == "cases")
    if cnode.flow_style or not isinstance(cnode, yaml.SequenceNode):
        raise WorkbenchError(
            "cannot append: `cases:` is written as a flow list `[...]`; write it as a block list (`- id: ...`)",
            path=path,
            line=cnode.start_mark.line + 1,
            field="cases",
        )
    last_key_node = root.value[-1][0]
    if last_key_node.value != "cases":
        raise WorkbenchError(
            f"cannot append: `cases:` must be the last block of the file, but "
            f"`{last_key_node.value}:` follows it; move `cases:` to the end",
            path=path,
            line=last_key_node.start_mark.line + 1,
            field="cases",
        )
    dash_col = cnode.start_mark.column
    item_col = cnode.value[0].start_mark.column
    return dash_col, item_col, evalset


def _render(p: Path, cases: Sequence[dict[str, Any]]) -> tuple[bytes | None, str, str, list[PromotedCase]]:
    """(original bytes or None, current text, text to append, the cases with their lines)."""
    if p.exists():
        original = p.read_bytes()
        text = original.decode("utf-8")
        dash_col, item_col, _ = _layout(p, text)
    else:
        original = None
        text = f"name: {_dump_value(p.stem)}\ncases:\n"
        dash_col, item_col = 2, 4
    chunks = []
    base_line = text.count("\n") + (0 if text.endswith("\n") or not text else 1) + 1
    prefix = "" if not text or text.endswith("\n") else "\n"
    out: list[PromotedCase] = []
    line = base_line
    for case in cases:
        chunk = case_yaml(case, dash_col, item_col)
        chunks.append(chunk)
        out.append(PromotedCase(case["id"], p, line, chunk))
        line += chunk.count("\n")
    return original, text, prefix + "".join(chunks), out


def append_cases(path: str | Path, cases: Sequence[dict[str, Any]]) -> list[PromotedCase]:
    """Append case mappings to an eval file (created if missing) and re-validate it."""
    p = Path(path)
    original, text, addition, out = _render(p, cases)
    if original is None:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        if original is None:
            p.write_text(text + addition, encoding="utf-8")
        else:
            with p.open("a", encoding="utf-8") as fh:
                fh.write(addition)
        loaded = load_evalset(p)
        missing = [c.id for c in out if c.id not in loaded.ids]
        if missing:
            raise WorkbenchError(f"appended cases did not land in `cases:` ({', '.join(missing)})", path=p)
    except Exception:
        if original is None:
            p.unlink(missing_ok=True)
        else:
            p.write_bytes(original)
        raise
    return out


def _unique_id(base: str, taken: set[str]) -> str:
    cid, n = base, 2
    while cid in taken:
        cid, n = f"{base}-{n}", n + 1
    taken.add(cid)
    return cid


# --------------------------------------------------------------------------- promote


def promote_generation(
    store: Any,
    generation_id: int,
    to: str | Path,
    *,
    expected: str | None = None,
    relevant: Sequence[str] = (),
    case_id: str | None = None,
    tags: Sequence[str] = (),
    split: str | None = None,
    asserts: Sequence[dict[str, Any]] = (),
    documents: CorpusDocuments | None = None,
    force: bool = False,
) -> PromotedCase:
    """Append a case made from stored generation `generation_id` to the eval file `to`.

    The case keeps the generation's inputs, the given `expected` and `relevant` documents, and a
    `source` saying where it came from. With `expected`, a `similar` check is added; `asserts`
    (assertion mappings as in the file, see `parse_assert_option`) are added after it.

    Refuses (WorkbenchError, nothing written) when nothing would score the case (NothingToScore),
    when the set already has this generation or these inputs (AlreadyPromoted; `force` appends
    anyway), and, given `documents`, when a `relevant` path is not one of them.
    """
    row = store.get("generations", generation_id)
    if row is None:
        raise WorkbenchError(f"no generation {generation_id} (see `workbench runs`)")
    inputs = json.loads(row["inputs"] or "{}")
    if not isinstance(inputs, dict) or not inputs:
        raise WorkbenchError(f"generation {generation_id} has no inputs to turn into a case")
    p = Path(to)
    existing = load_evalset(p) if p.exists() else None
    taken = set(existing.ids) if existing else set()
    question = str(inputs.get("question") or next(iter(inputs.values())))
    if case_id:
        if case_id in taken:
            raise WorkbenchError(f"case id '{case_id}' already exists in {p}", path=p, field="id")
    else:
        case_id = _unique_id(f"gen{generation_id}-{_slug(question, 32)}", taken)
    if documents is not None:
        relevant = check_relevant(relevant, documents)
    source = {
        "kind": "promoted",
        "generation": generation_id,
        # By name, whoever promotes (CLI or TUI): "base" for the unnamed settings; the
        # content hash apart, as the store keeps them (variants.variant_label).
        "variant": row.get("variant_name") or "base",
        "variant_id": row.get("variant_id"),
        "model": row.get("model_used") or row.get("model_requested"),
        "status": row.get("status"),
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    case = {
        "id": case_id,
        "inputs": inputs,
        "expected": expected,
        "relevant": list(relevant) or None,
        "tags": list(tags) or None,
        "split": split,
        "source": {k: v for k, v in source.items() if v is not None},
        "assert": ([{"type": "similar"}] if expected else []) + [dict(a) for a in asserts] or None,
    }
    # The case as `eval run` will see it (the file's defaults merged in), before writing a byte.
    _, text, addition, _ = _render(p, [case])
    would = parse_evalset(text + addition, p).case(case_id)
    if not force and existing is not None:
        _refuse_duplicate(existing, would, generation_id, p)
    scoring = [a for a in would.assertions if a.base not in NOT_SCORING]
    if not scoring:
        raise NothingToScore(generation_id, [a.type for a in would.assertions], p)
    return append_cases(p, [case])[0]


def _refuse_duplicate(evalset: EvalSet, new: Case, generation_id: int, path: Path) -> None:
    """AlreadyPromoted when `evalset` has a case from this generation or with the same inputs
    (string values compared case-, punctuation- and spacing-folded, as `import` does)."""
    for c in evalset.cases:
        src = c.source or {}
        if src.get("kind") == "promoted" and str(src.get("generation")) == str(generation_id):
            raise AlreadyPromoted(
                f"generation {generation_id} is already case '{c.id}'; edit that case to change its checks",
                case_id=c.id,
                same="generation",
                path=path,
                line=c.line,
            )
    wanted = _inputs_key(new.inputs)
    for c in evalset.cases:
        if _inputs_key(c.inputs) == wanted:
            raise AlreadyPromoted(
                f"case '{c.id}' already has the same inputs as generation {generation_id}; edit that case instead",
                case_id=c.id,
                same="inputs",
                path=path,
                line=c.line,
            )


def _inputs_key(inputs: dict[str, Any]) -> str:
    folded = {str(k): normalize_question(v) if isinstance(v, str) else v for k, v in inputs.items()}
    return json.dumps(folded, sort_keys=True, ensure_ascii=False, default=str)


def parse_assert_option(text: str) -> dict[str, Any]:
    """`--assert TYPE=VALUE` -> an assertion mapping, validated as the eval file would be.

    VALUE is taken as written for text checks (equals, contains, icontains, regex and their
    not- forms, similar), is the rubric for llm-judge, a comma-separated list or a YAML flow list
    for contains-any/contains-all, YAML/JSON for json-schema and a number for budgets; `cites`
    takes none.
    """
    atype, sep, raw = text.partition("=")
    atype = atype.strip()
    if atype not in ASSERTION_TYPES:
        hint = difflib.get_close_matches(atype, ASSERTION_TYPES, n=1, cutoff=0.5)
        raise WorkbenchError(
            f"--assert {text!r}: unknown assertion type '{atype}'"
            + (f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(ASSERTION_TYPES)})"),
            field="assert",
        )
    base = atype[4:] if atype.startswith("not-") else atype
    if base == "cites":
        if raw.strip():
            raise WorkbenchError(f"--assert {text!r}: cites takes no value (write --assert {atype})", field="assert")
        return {"type": atype}
    if not sep and base != "similar":
        what = "rubric" if base == "llm-judge" else "value"
        raise WorkbenchError(f"--assert {text!r}: {atype} needs a {what}: --assert {atype}=...", field="assert")
    a: dict[str, Any] = {"type": atype}
    try:
        if base == "llm-judge":
            a["rubric"] = raw
        elif base == "similar":
            if raw:
                a["value"] = raw
        elif base in ("contains-any", "contains-all"):
            a["value"] = (
                yaml.safe_load(raw)
                if raw.lstrip().startswith("[")
                else [v.strip() for v in raw.split(",") if v.strip()]
            )
        elif base in ("json-schema", "max-latency-ms", "max-tokens"):
            a["value"] = yaml.safe_load(raw)
        else:
            a["value"] = raw
    except yaml.YAMLError as exc:
        raise WorkbenchError(
            f"--assert {text!r}: not valid YAML/JSON ({getattr(exc, 'problem', None) or exc})", field="assert"
        ) from None
    doc = "cases:\n" + case_yaml({"id": "x", "inputs": {"q": "x"}, "expected": "x", "assert": [a]}, 2, 4)
    try:
        parse_evalset(doc, "--assert")
    except WorkbenchError as exc:
        msg = re.sub(r"^case 'x': ", "", exc.message)
        if exc.field and msg.startswith(f"{exc.field}: "):
            msg = msg[len(exc.field) + 2 :]
        raise WorkbenchError(f"--assert {text!r}: {msg}", field="assert") from None
    return a


# --------------------------------------------------------------------------- relevant documents


def corpus_documents(root: str | Path, data_dir: str | Path, settings: Any) -> CorpusDocuments:
    """The documents of a project's retrieval corpus: what an ingest of `settings.corpus` (paths
    relative to `root`) would read, plus what the index in `data_dir` holds if there is one (it
    may still hold a document deleted since, and retrieval can still return it)."""
    from workbench.core.retrieval.documents import discover

    root = Path(root)
    roots = [(root / c).resolve() for c in settings.corpus]
    found, _skipped = discover(roots)
    on_disk = {s.path for s in found}
    shown = [
        c.rstrip("/") + ("/" if r.is_dir() else "" if r.exists() else " (not found)")
        for c, r in zip(settings.corpus, roots, strict=True)
    ]
    where = [f"{', '.join(shown) or '(no corpus)'}: {_count(len(on_disk), 'document')}"]
    paths = set(on_disk)
    chunks = None
    from workbench.core.retrieval.index import index_location

    index = _open_index(index_location(data_dir, settings))  # or the object store of retrieval.uri
    if index is not None:
        indexed = index.paths()
        paths.update(indexed)
        where.append(f"the index: {_count(len(indexed), 'document')}")
        chunks = lambda path: [c["chunk_id"] for c in index.chunks_of(path)]  # noqa: E731
    return CorpusDocuments(frozenset(paths), chunks, "; ".join(where))


def _open_index(data_dir: Path | str) -> Any | None:
    """The retrieval index if one was built (not checked against the embedding model: only its
    document list is read), else None. `data_dir` may be an object-store uri."""
    from workbench.core.retrieval.index import Index, IndexUnavailable, index_dir
    from workbench.core.retrieval.storage import is_remote

    if not is_remote(data_dir) and not index_dir(Path(data_dir)).exists():
        return None
    try:
        return Index.open(data_dir)
    except IndexUnavailable:
        return None


def unindexed_labels(cases: Sequence[Any], data_dir: str | Path) -> list[str]:
    """`relevant` document labels that name no document of the index (e.g. `docs/wal.md` when
    the index stores `wal.md`, paths being relative to the corpus folder). Retrieval metrics
    count such a label as never retrieved, so `eval run` says so up front. [] without an index."""
    from workbench.core.evals.assertions import norm_path

    labels = {norm_path(r) for c in cases for r in c.relevant if "#" not in r}
    if not labels:
        return []
    index = _open_index(data_dir)  # a data folder, or an object-store uri (service.project_index)
    if index is None:
        return []
    return sorted(labels - set(index.paths()))


def check_relevant(relevant: Sequence[str], documents: CorpusDocuments) -> list[str]:
    """`relevant` entries normalised (`./a.md` -> `a.md`), or WorkbenchError naming the first
    that is not a document (or chunk id) of the corpus, with a did-you-mean."""
    from workbench.core.evals.assertions import norm_path

    out: list[str] = []
    for raw in relevant:
        r = norm_path(raw)
        if r in documents.paths:
            out.append(r)
            continue
        doc, sep, n = r.rpartition("#")
        if sep and doc in documents.paths and n.isdigit():
            ids = documents.chunks(doc) if documents.chunks is not None else None
            if ids is None or r in ids:
                out.append(r)
                continue
            raise WorkbenchError(
                f"relevant chunk '{r}' is not in the index ({doc} has {_count(len(ids), 'chunk')}: {_listing(ids)})",
                field="relevant",
            )
        if not documents.paths:
            raise WorkbenchError(
                f"relevant document '{r}' cannot be checked: the retrieval corpus has no "
                f"documents ({documents.where}); add them or fix `retrieval.corpus` in "
                "workbench.yaml",
                field="relevant",
            )
        hint = _closest(r, sorted(documents.paths))
        raise WorkbenchError(
            f"relevant document '{r}' is not in the retrieval corpus ({documents.where})"
            + (f"; did you mean '{hint}'?" if hint else f"; documents: {_listing(sorted(documents.paths))}"),
            field="relevant",
        )
    return out


def _closest(name: str, paths: list[str]) -> str | None:
    """The document a mistyped `name` most likely meant: one it is the tail of (`a.md` for
    `guide/a.md`), else the closest path, else the path with the closest file name."""
    tails = [p for p in paths if p.endswith("/" + name)]
    if tails:
        return tails[0]
    hint = difflib.get_close_matches(name, paths, n=1, cutoff=0.6)
    if hint:
        return hint[0]
    base = name.rsplit("/", 1)[-1]
    by_base: dict[str, str] = {}
    for p in paths:
        by_base.setdefault(p.rsplit("/", 1)[-1], p)
    hint = difflib.get_close_matches(base, list(by_base), n=1, cutoff=0.6)
    return by_base[hint[0]] if hint else None


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _listing(items: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


# --------------------------------------------------------------------------- import


def normalize_question(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).casefold()
    t = re.sub(r"[^\w\s]", " ", t)
    return " ".join(t.split())


def import_jsonl(
    jsonl: str | Path,
    to: str | Path,
    *,
    threshold: float = 0.9,
    embed: Callable[[list[str]], Any] | None = None,
    embed_threshold: float = 0.95,
    tags: Sequence[str] = (),
) -> ImportReport:
    """Import logged questions (one JSON object per line) as cases, skipping near-duplicates.

    Each line needs `question` (or `input` / `prompt`); `expected` (or `answer`: the logged answer
    becomes the reference to review), `relevant`, `tags` and `id` are optional. A question is a
    duplicate when its normalized text (case, punctuation, spacing folded) equals, or is at least
    `threshold` similar by difflib ratio to, an earlier question in the file or the eval set; with
    `embed`, also when the cosine similarity of embeddings is >= `embed_threshold`.
    """
    src, dst = Path(jsonl), Path(to)
    try:
        lines = src.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise WorkbenchError(f"cannot read {src}: {exc}", path=src) from None
    report = ImportReport(dst)
    existing = load_evalset(dst) if dst.exists() else None
    taken = set(existing.ids) if existing else set()
    kept_norm: list[tuple[str, str]] = []  # (normalized question, case id)
    if existing:
        for c in existing.cases:
            q = c.inputs.get("question")
            if isinstance(q, str):
                kept_norm.append((normalize_question(q), c.id))
    candidates: list[tuple[int, dict[str, Any], str]] = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            report.invalid.append((n, f"not JSON: {exc.msg}"))
            continue
        if not isinstance(obj, dict):
            report.invalid.append((n, "not a JSON object"))
            continue
        q = obj.get("question") or obj.get("input") or obj.get("prompt")
        if not isinstance(q, str) or not q.strip():
            report.invalid.append((n, "no `question` text"))
            continue
        candidates.append((n, obj, q.strip()))

    vectors: dict[int, Any] = {}
    if embed is not None and candidates:
        from workbench.core.evals.assertions import cosine

        texts = [q for _, _, q in candidates] + [
            c.inputs["question"]
            for c in (existing.cases if existing else ())
            if isinstance(c.inputs.get("question"), str)
        ]
        vecs = list(embed(texts))
        for i, (n, _, _) in enumerate(candidates):
            vectors[n] = vecs[i]
        existing_vecs = vecs[len(candidates) :]
    else:
        cosine = None  # type: ignore[assignment]
        existing_vecs = []
    kept_vecs: list[tuple[Any, str]] = [(v, cid) for v, (_, cid) in zip(existing_vecs, kept_norm, strict=False)]

    new_cases: list[dict[str, Any]] = []
    for n, obj, q in candidates:
        norm = normalize_question(q)
        dup = None
        for other, cid in kept_norm:
            if other == norm:
                dup = cid
                break
            sm = difflib.SequenceMatcher(None, norm, other, autojunk=False)
            if sm.real_quick_ratio() >= threshold and sm.quick_ratio() >= threshold and sm.ratio() >= threshold:
                dup = cid
                break
        if dup is None and cosine is not None:
            for vec, cid in kept_vecs:
                if cosine(vectors[n], vec) >= embed_threshold:
                    dup = cid
                    break
        if dup is not None:
            report.duplicates.append((n, q, dup))
            continue
        wanted = obj.get("id")
        base = _slug(str(wanted), 60) if wanted else f"{src.stem}-{n}-{_slug(q, 28)}"
        cid = _unique_id(base, taken)
        relevant = obj.get("relevant")
        case_tags = list(tags) + [t for t in (obj.get("tags") or []) if isinstance(t, str)]
        expected = obj.get("expected") or obj.get("answer")
        new_cases.append(
            {
                "id": cid,
                "inputs": {"question": q},
                "expected": expected if isinstance(expected, str) else None,
                "relevant": [r for r in relevant if isinstance(r, str)] if isinstance(relevant, list) else None,
                "tags": case_tags or None,
                "source": {"kind": "imported", "file": src.name, "line": n},
            }
        )
        kept_norm.append((norm, cid))
        if cosine is not None:
            kept_vecs.append((vectors[n], cid))
        report.added.append(cid)
    if new_cases:
        append_cases(dst, new_cases)
        written = load_evalset(dst)
        report.unchecked = [
            cid for cid in report.added if not any(a.base not in NOT_SCORING for a in written.case(cid).assertions)
        ]
    return report
