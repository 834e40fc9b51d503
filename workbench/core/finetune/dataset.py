"""The training set: examples that teach behaviour, framed exactly as the model will see them.

Details: docs/NOTES.md, section core/finetune/dataset.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.project import Project
    from workbench.core.store import Store
    from workbench.core.variants import Variant


ROLES = ("system", "user", "assistant")
MAX_REPORTED_ERRORS = 10


@dataclass
class Example:
    """One chat example; the last message is the answer trained on."""

    id: str
    messages: list[dict[str, str]]
    source: str  # evalset:NAME#CASE | generation:ID | jsonl:FILE:LINE
    split: str = "train"  # train | heldout


@dataclass
class Encoded:
    id: str
    source: str
    messages: list[dict[str, str]]
    input_ids: list[int]
    prompt_len: int  # tokens before the answer: their labels are -100

    @property
    def labels(self) -> list[int]:
        return [-100] * self.prompt_len + self.input_ids[self.prompt_len :]

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "messages": self.messages,
            "input_ids": self.input_ids,
            "prompt_len": self.prompt_len,
        }


@dataclass
class DatasetReport:
    folder: Path
    train_path: Path
    heldout_path: Path
    sha256: str
    train: int
    heldout: int
    train_tokens: int
    answer_tokens: int
    skipped: list[str] = field(default_factory=list)  # why rows were left out
    sources: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. how many were too long, and the fix

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("folder", "train_path", "heldout_path"):
            d[k] = str(d[k])
        return d


# --------------------------------------------------------------------------- sources


def examples_from_evalset(project: Project, evalset: Any, variant: Any) -> Iterator[Example]:
    """Cases with `expected`, rendered with the variant's prompt as they are consumed (lazily:
    see the module docstring). Heldout cases keep their split."""
    render = Renderer(project, variant)
    for case in evalset.cases:
        if not case.expected:
            continue
        messages = render(dict(case.inputs))
        split = "heldout" if case.split == "heldout" else "train"
        yield Example(
            case.id,
            messages + [{"role": "assistant", "content": case.expected}],
            f"evalset:{evalset.name}#{case.id}",
            split,
        )


class Renderer:
    """The messages a variant sends for given inputs (what inference will send), for many
    inputs: the variant's stored generations are read once, not once per case."""

    def __init__(self, project: Project, variant: Variant) -> None:
        self.project = project
        self.variant = variant
        self._stored: dict[str, list[dict[str, str]]] | None = None

    def __call__(self, inputs: dict[str, Any]) -> list[dict[str, str]]:
        variant = self.variant
        if not variant.prompt.grounded:
            return variant.prompt.render({k: str(v) for k, v in inputs.items()}, system=variant.system)
        stored = self.stored().get(_inputs_key(inputs))
        if stored is not None:
            return stored
        question = str(inputs.get("question") or next(iter(inputs.values()), ""))
        values = {k: str(v) for k, v in inputs.items()}
        values["context"] = retrieved_context(self.project, variant, question)
        return variant.prompt.render(values, system=variant.system)

    def stored(self) -> dict[str, list[dict[str, str]]]:
        """inputs -> the messages (with retrieved context) of the newest complete generation of
        this variant, so a grounded example sees the context the eval run saw."""
        if self._stored is None:
            self._stored = {}
            rows = self.project.store.rows(
                "generations", "variant_id = ? AND status = 'ok'", [self.variant.id], limit=5000
            )
            for row in rows:  # newest first: the first one for given inputs wins
                try:
                    key = _inputs_key(json.loads(row["inputs"] or "{}"))
                    messages = json.loads(row["messages"] or "[]")
                except json.JSONDecodeError:
                    continue
                if key not in self._stored and messages and messages[-1].get("role") == "user":
                    self._stored[key] = [{"role": m["role"], "content": m["content"]} for m in messages]
        return self._stored


def render_inputs(project: Project, variant: Any, inputs: dict[str, Any]) -> list[dict[str, str]]:
    """The messages the variant sends for these inputs (what inference will send)."""
    return Renderer(project, variant)(inputs)


def _inputs_key(inputs: Any) -> str:
    return json.dumps(inputs, sort_keys=True, ensure_ascii=False)


def retrieved_context(project: Project, variant: Any, question: str) -> str:
    """The context block the grounded prompt gets for `question`: the same search and the same
    text as pipeline.ground (its Source/Grounding format), but no stored trace."""
    from workbench.core.pipeline import Grounding, Source

    try:
        from workbench.core.retrieval.service import retrieve

        result, _ = retrieve(project, variant.retrieval, question, source="finetune", record=False)
    except Exception as exc:  # noqa: BLE001 - any retriever failure is reported, as ground() does
        # Training a grounded prompt on examples with no context would teach the model to answer
        # without sources: stop instead.
        raise WorkbenchError(
            f"prompt '{variant.prompt.name}' needs retrieved context for its training examples, but "
            f"retrieval is unavailable: {str(exc) or type(exc).__name__}. (Or frame the examples with a "
            "non-grounded variant: --variant NAME)"
        ) from None
    sources = [
        Source(n=i + 1, chunk_id=h.chunk_id, path=h.path, heading=h.heading_path, text=h.text)
        for i, h in enumerate(result.hits)
    ]
    return Grounding(sources=sources, status="used").context_text


def examples_from_generations(store: Store, ids: Iterable[int]) -> list[Example]:
    """Approved stored generations: what was sent, and the answer as the target."""
    out = []
    for gid in ids:
        row = store.get("generations", int(gid))
        if row is None:
            raise WorkbenchError(f"no generation {gid} (see `workbench runs`)")
        if row.get("status") != "ok" or not (row.get("output") or "").strip():
            raise WorkbenchError(
                f"generation {gid} is {row.get('status')} with "
                f"{'no' if not row.get('output') else 'partial'} output: only complete "
                "answers can be training targets"
            )
        messages = json.loads(row.get("messages") or "[]")
        out.append(
            Example(f"gen{gid}", messages + [{"role": "assistant", "content": row["output"]}], f"generation:{gid}")
        )
    return out


def examples_from_jsonl(path: str | Path, *, heldout_fraction: float = 0.1) -> list[Example]:
    """Read a JSONL training file; every bad row is reported with its line number."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise WorkbenchError(f"cannot read training file: {exc.strerror or exc}", path=p) from None
    errors: list[tuple[int, str]] = []
    out: list[Example] = []
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append((number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        try:
            messages, split = _jsonl_row(row)
        except ValueError as exc:
            errors.append((number, str(exc)))
            continue
        if split is None:
            digest = hashlib.sha256(line.encode()).digest()
            split = "heldout" if int.from_bytes(digest[:4], "big") / 2**32 < heldout_fraction else "train"
        out.append(Example(f"line{number}", messages, f"jsonl:{p.name}:{number}", split))
    if errors:
        shown = "; ".join(f"line {n}: {why}" for n, why in errors[:MAX_REPORTED_ERRORS])
        more = f" (and {len(errors) - MAX_REPORTED_ERRORS} more)" if len(errors) > MAX_REPORTED_ERRORS else ""
        raise WorkbenchError(f"{len(errors)} bad row(s) in the training file: {shown}{more}", path=p, line=errors[0][0])
    if not out:
        raise WorkbenchError("the training file has no examples", path=p)
    return out


def _jsonl_row(row: Any) -> tuple[list[dict[str, str]], str | None]:
    if not isinstance(row, dict):
        raise ValueError("each line must be a JSON object")
    split = row.get("split")
    if split is not None and split not in ("train", "heldout"):
        raise ValueError(f"field 'split' must be 'train' or 'heldout', got {split!r}")
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            raise ValueError("field 'messages' must be a non-empty list")
        clean = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise ValueError(f"messages[{i}] must be an object with 'role' and 'content'")
            role, content = m.get("role"), m.get("content")
            if role not in ROLES:
                raise ValueError(f"messages[{i}].role must be one of {', '.join(ROLES)}, got {role!r}")
            if not isinstance(content, str) or not content.strip():
                raise ValueError(f"messages[{i}].content must be non-empty text")
            clean.append({"role": role, "content": content})
        if clean[-1]["role"] != "assistant":
            raise ValueError("the last message must be the assistant's answer (role 'assistant')")
        if not any(m["role"] == "user" for m in clean):
            raise ValueError("'messages' needs at least one user message")
        return clean, split
    if "prompt" in row or "completion" in row:
        prompt, completion = row.get("prompt"), row.get("completion")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("field 'prompt' must be non-empty text")
        if not isinstance(completion, str) or not completion.strip():
            raise ValueError("field 'completion' must be non-empty text")
        messages = []
        system = row.get("system")
        if system is not None:
            if not isinstance(system, str):
                raise ValueError("field 'system' must be text")
            messages.append({"role": "system", "content": system})
        messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
        return messages, split
    raise ValueError('expected {"messages": [...]} or {"prompt": ..., "completion": ...}')


# --------------------------------------------------------------------------- encoding


def load_tokenizer(folder: str | Path) -> Any:
    from transformers import AutoTokenizer

    if not (Path(folder) / "config.json").is_file():
        raise WorkbenchError(
            "not a Hugging Face model folder (no config.json)", path=folder, field="finetune.base_model"
        )
    tok = AutoTokenizer.from_pretrained(str(folder))
    if not getattr(tok, "chat_template", None):
        raise WorkbenchError(
            "the base model has no chat template, so answers cannot be framed as it "
            "expects: use an instruct/chat model",
            path=folder,
            field="finetune.base_model",
        )
    return tok


@dataclass
class TooLong:
    """An example whose prompt leaves no room for its answer within max_length."""

    source: str
    prompt_tokens: int
    answer_tokens: int
    max_length: int

    def __str__(self) -> str:
        return (
            f"{self.source}: prompt is {self.prompt_tokens} tokens, more than max_length "
            f"{self.max_length} allows; raise finetune.max_length or shorten the prompt"
        )


def encode(tokenizer: Any, example: Example, max_length: int) -> Encoded | TooLong:
    """Chat-template the example; the answer's tokens are the only ones with a loss.

    Returns TooLong instead when the prompt does not fit in max_length.
    """
    prompt_text = tokenizer.apply_chat_template(example.messages[:-1], tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(example.messages, tokenize=False)
    if not full_text.startswith(prompt_text):
        raise WorkbenchError(
            "the base model's chat template renders the prompt differently with and "
            "without the answer, so the answer tokens cannot be isolated",
            field="finetune.base_model",
        )
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full_text[len(prompt_text) :], add_special_tokens=False)["input_ids"]
    if len(prompt_ids) >= max_length - 1:
        return TooLong(example.source, len(prompt_ids), len(answer_ids), max_length)
    ids = prompt_ids + answer_ids
    return Encoded(example.id, example.source, example.messages, ids[:max_length], len(prompt_ids))


# After this many examples in a row that are all too long, the rest are not prepared (for
# grounded eval cases each costs a retrieval): the cause is the setting, not the examples.
PILOT_EXAMPLES = 5


@dataclass
class Encoding:
    """Encoded examples before they are written, and what was left out."""

    train: list[Encoded]
    heldout: list[Encoded]
    skipped: list[str]
    sources: dict[str, int]
    too_long: list[TooLong]
    seen: int  # examples read (duplicates included)

    def too_long_words(self, count: str | None = None) -> str:
        """'83 of 83 examples are longer than finetune.max_length=512 (prompts are 663-978 tokens,
        median 848): raise it to at least 1280, or shorten the prompt (a grounded prompt: fewer
        retrieved chunks, retrieval.k)'."""
        prompts = sorted(t.prompt_tokens for t in self.too_long)
        # A round number a quarter above the longest example seen: other prompts (other
        # retrieved chunks) are longer, and the first few may be all that was measured.
        need = -(-int(1.25 * max(t.prompt_tokens + t.answer_tokens for t in self.too_long)) // 256) * 256
        span = f"{prompts[0]}" if prompts[0] == prompts[-1] else f"{prompts[0]}-{prompts[-1]}"
        count = count or f"{len(prompts)} of {self.seen}"
        return (
            f"{count} examples are longer than finetune.max_length={self.too_long[0].max_length} "
            f"(prompts are {span} tokens, median {prompts[len(prompts) // 2]}): raise it to at least "
            f"{need}, or shorten the prompt (a grounded prompt: fewer retrieved chunks, retrieval.k)"
        )


def encode_examples(
    examples: Iterable[Example],
    tokenizer: Any,
    *,
    max_length: int,
    total: int | None = None,
    where: dict[str, Any] | None = None,
) -> Encoding:
    """Encode every example; raise (a WorkbenchError located at `where`, the max_length
    setting) when nothing is left to train on, leading with the dominant cause. When the first
    PILOT_EXAMPLES are all too long and `total` says more are coming, stop there."""
    seen_keys: set[str] = set()
    out = Encoding([], [], [], {}, [], 0)
    for ex in examples:
        out.seen += 1
        key = json.dumps(ex.messages, sort_keys=True, ensure_ascii=False)
        if key in seen_keys:
            out.skipped.append(f"{ex.source}: duplicate of an earlier example")
            continue
        seen_keys.add(key)
        enc = encode(tokenizer, ex, max_length)
        if isinstance(enc, TooLong):
            out.skipped.append(str(enc))
            out.too_long.append(enc)
            if len(out.too_long) == out.seen == PILOT_EXAMPLES and total and total > PILOT_EXAMPLES:
                raise WorkbenchError(
                    f"no training examples: {out.too_long_words(f'the first {PILOT_EXAMPLES} of {total}')} "
                    f"(the other {total - PILOT_EXAMPLES} were not prepared)",
                    **(where or {}),
                )
            continue
        (out.heldout if ex.split == "heldout" else out.train).append(enc)
        kind = ex.source.split(":", 1)[0]
        out.sources[kind] = out.sources.get(kind, 0) + 1
    if not out.train:
        if out.too_long and 2 * len(out.too_long) >= len(out.skipped):
            raise WorkbenchError(f"no training examples: {out.too_long_words()}", **(where or {}))
        raise WorkbenchError(
            "no training examples: add `expected` answers to train-split eval cases, "
            "or pass --data FILE.jsonl" + (f" ({len(out.skipped)} skipped: {out.skipped[0]})" if out.skipped else "")
        )
    return out


def write_dataset(encoding: Encoding, folder: str | Path) -> DatasetReport:
    """Write train.jsonl + heldout.jsonl + dataset.json into the job folder, hashed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train, heldout = encoding.train, encoding.heldout
    train_bytes = _jsonl(train)
    heldout_bytes = _jsonl(heldout)
    train_path, heldout_path = folder / "train.jsonl", folder / "heldout.jsonl"
    train_path.write_bytes(train_bytes)
    heldout_path.write_bytes(heldout_bytes)
    digest = hashlib.sha256(train_bytes + b"\0" + heldout_bytes).hexdigest()
    warnings = [f"{encoding.too_long_words()}; they were skipped"] if encoding.too_long else []
    report = DatasetReport(
        folder,
        train_path,
        heldout_path,
        digest,
        len(train),
        len(heldout),
        sum(len(e.input_ids) for e in train),
        sum(len(e.input_ids) - e.prompt_len for e in train),
        encoding.skipped,
        encoding.sources,
        warnings,
    )
    (folder / "dataset.json").write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    return report


def build_dataset(examples: Iterable[Example], tokenizer: Any, folder: str | Path, *, max_length: int) -> DatasetReport:
    """Encode and write in one go (tests, and callers with no job row to keep clean)."""
    return write_dataset(encode_examples(examples, tokenizer, max_length=max_length), folder)


def _jsonl(rows: Sequence[Encoded]) -> bytes:
    return "".join(json.dumps(r.to_row(), ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def read_encoded(path: str | Path) -> list[Encoded]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out.append(Encoded(d["id"], d["source"], d["messages"], d["input_ids"], d["prompt_len"]))
    return out
