"""The production loop: stored generations and logged questions become eval cases.

Cases are *appended* as text to the eval file, never by re-dumping parsed YAML: the user's
comments, ordering and formatting are theirs, and a diff of the file in review shows exactly the
new case. Appending is only safe when `cases:` is the last block of the file and is a block
list; otherwise the file is left untouched and the error says what to move. After writing, the
whole file is validated again; if the result does not load, the original bytes are restored.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import EvalSet, load_evalset, parse_evalset


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


# --------------------------------------------------------------------------- YAML text helpers


def _slug(text: str, limit: int = 40) -> str:
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    t = re.sub(r"[^a-z0-9]+", "-", t).strip("-")
    return t[:limit].rstrip("-") or "case"


def _dump_value(value: Any) -> str:
    """One YAML value on one line: PyYAML's flow style when it fits on a line, else JSON (which
    YAML reads as double-quoted scalars and flow collections, newlines escaped)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9, sort_keys=False)
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
        raise WorkbenchError("cannot append: `cases:` is written as a flow list `[...]`; "
                             "write it as a block list (`- id: ...`)", path=path,
                             line=cnode.start_mark.line + 1, field="cases")
    last_key_node = root.value[-1][0]
    if last_key_node.value != "cases":
        raise WorkbenchError(f"cannot append: `cases:` must be the last block of the file, but "
                             f"`{last_key_node.value}:` follows it; move `cases:` to the end",
                             path=path, line=last_key_node.start_mark.line + 1, field="cases")
    dash_col = cnode.start_mark.column
    item_col = cnode.value[0].start_mark.column
    return dash_col, item_col, evalset


def append_cases(path: str | Path, cases: Sequence[dict[str, Any]]) -> list[PromotedCase]:
    """Append case mappings to an eval file (created if missing) and re-validate it."""
    p = Path(path)
    if p.exists():
        original = p.read_bytes()
        text = original.decode("utf-8")
        dash_col, item_col, _ = _layout(p, text)
    else:
        original = None
        p.parent.mkdir(parents=True, exist_ok=True)
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
    addition = prefix + "".join(chunks)
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


def promote_generation(store: Any, generation_id: int, to: str | Path, *, expected: str | None = None,
                       relevant: Sequence[str] = (), case_id: str | None = None,
                       tags: Sequence[str] = (), split: str | None = None) -> PromotedCase:
    """Append a case made from stored generation `generation_id` to the eval file `to`.

    The case keeps the generation's inputs, the given `expected` and `relevant` documents, and a
    `source` saying where it came from. With `expected`, a `similar` check is added so the case
    scores at once; without it the case is written with no checks (add them by hand).
    """
    row = store.get("generations", generation_id)
    if row is None:
        raise WorkbenchError(f"no generation {generation_id} (see `workbench runs`)")
    inputs = json.loads(row["inputs"] or "{}")
    if not isinstance(inputs, dict) or not inputs:
        raise WorkbenchError(f"generation {generation_id} has no inputs to turn into a case")
    p = Path(to)
    taken = set(load_evalset(p).ids) if p.exists() else set()
    question = str(inputs.get("question") or next(iter(inputs.values())))
    if case_id:
        if case_id in taken:
            raise WorkbenchError(f"case id '{case_id}' already exists in {p}", path=p, field="id")
    else:
        case_id = _unique_id(f"gen{generation_id}-{_slug(question, 32)}", taken)
    source = {"kind": "promoted", "generation": generation_id,
              "variant": row.get("variant_name") or row.get("variant_id"),
              "model": row.get("model_used") or row.get("model_requested"),
              "status": row.get("status"),
              "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    case = {
        "id": case_id,
        "inputs": inputs,
        "expected": expected,
        "relevant": list(relevant) or None,
        "tags": list(tags) or None,
        "split": split,
        "source": {k: v for k, v in source.items() if v is not None},
        "assert": [{"type": "similar"}] if expected else None,
    }
    return append_cases(p, [case])[0]


# --------------------------------------------------------------------------- import


def normalize_question(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).casefold()
    t = re.sub(r"[^\w\s]", " ", t)
    return " ".join(t.split())


def import_jsonl(jsonl: str | Path, to: str | Path, *, threshold: float = 0.9,
                 embed: Callable[[list[str]], Any] | None = None, embed_threshold: float = 0.95,
                 tags: Sequence[str] = ()) -> ImportReport:
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

        texts = [q for _, _, q in candidates] + [c.inputs["question"] for c in (existing.cases if existing else ())
                                                  if isinstance(c.inputs.get("question"), str)]
        vecs = list(embed(texts))
        for i, (n, _, _) in enumerate(candidates):
            vectors[n] = vecs[i]
        existing_vecs = vecs[len(candidates):]
    else:
        cosine = None  # type: ignore[assignment]
        existing_vecs = []
    kept_vecs: list[tuple[Any, str]] = [(v, cid) for v, (_, cid) in zip(existing_vecs, kept_norm)]

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
        new_cases.append({
            "id": cid,
            "inputs": {"question": q},
            "expected": expected if isinstance(expected, str) else None,
            "relevant": [r for r in relevant if isinstance(r, str)] if isinstance(relevant, list) else None,
            "tags": case_tags or None,
            "source": {"kind": "imported", "file": src.name, "line": n},
        })
        kept_norm.append((norm, cid))
        if cosine is not None:
            kept_vecs.append((vectors[n], cid))
        report.added.append(cid)
    if new_cases:
        append_cases(dst, new_cases)
    return report
