"""The training set: examples that teach behaviour, framed exactly as the model will see them.

Sources, in any combination:
- the eval set's cases that have an `expected` answer. Only `split: train` (or unsplit) cases are
  trained on; `split: heldout` cases go to heldout.jsonl, which is used for the held-out loss
  and never for a gradient step;
- stored generations a person approved (their output becomes the target);
- a JSONL file, one example per line: `{"messages": [...]}` (the last message is the assistant's
  answer) or `{"prompt": ..., "completion": ...}` (optionally `system` and `split`).

Every example is rendered with the prompt of the variant the adapter will be evaluated with (the
same system prompt, template and few-shot turns; for a grounded prompt, the retrieved context a
stored eval generation actually had, else fresh retrieval), then with the base model's own chat
template. The loss is masked to the final answer's tokens: the model learns to answer, not to
reproduce prompts. Files and a manifest with a sha256 land in the job folder, so a job always
says exactly what it was trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from workbench.core.errors import WorkbenchError

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
        return [-100] * self.prompt_len + self.input_ids[self.prompt_len:]

    def to_row(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "messages": self.messages,
                "input_ids": self.input_ids, "prompt_len": self.prompt_len}


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

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("folder", "train_path", "heldout_path"):
            d[k] = str(d[k])
        return d


# --------------------------------------------------------------------------- sources


def examples_from_evalset(project: Any, evalset: Any, variant: Any) -> list[Example]:
    """Cases with `expected`, rendered with the variant's prompt. Heldout cases keep their split."""
    out = []
    for case in evalset.cases:
        if not case.expected:
            continue
        messages = render_inputs(project, variant, dict(case.inputs))
        split = "heldout" if case.split == "heldout" else "train"
        out.append(Example(case.id, messages + [{"role": "assistant", "content": case.expected}],
                           f"evalset:{evalset.name}#{case.id}", split))
    return out


def render_inputs(project: Any, variant: Any, inputs: dict[str, Any]) -> list[dict[str, str]]:
    """The messages the variant sends for these inputs (what inference will send)."""
    if not variant.prompt.grounded:
        return variant.prompt.render({k: str(v) for k, v in inputs.items()}, system=variant.system)
    stored = _stored_messages(project, variant, inputs)
    if stored is not None:
        return stored
    from workbench.core.pipeline import ground

    question = str(inputs.get("question") or next(iter(inputs.values()), ""))
    grounding = ground(project, variant, question)
    if grounding.status != "used":
        # Training a grounded prompt on examples with no context would teach the model to answer
        # without sources: stop instead.
        reason = grounding.status.partition(": ")[2] or grounding.status
        raise WorkbenchError(
            f"prompt '{variant.prompt.name}' needs retrieved context for its training examples, but "
            f"retrieval is unavailable: {reason}. (Or frame the examples with a non-grounded variant: "
            "--variant NAME)")
    values = {k: str(v) for k, v in inputs.items()}
    values["context"] = grounding.context_text
    return variant.prompt.render(values, system=variant.system)


def _stored_messages(project: Any, variant: Any, inputs: dict[str, Any]) -> list[dict[str, str]] | None:
    """The messages (with retrieved context) of the newest complete generation of this variant
    for these inputs, so a grounded example sees the context the eval run saw."""
    want = json.dumps(inputs, sort_keys=True, ensure_ascii=False)
    for row in project.store.rows("generations", "variant_id = ? AND status = 'ok'", [variant.id], limit=5000):
        try:
            if json.dumps(json.loads(row["inputs"] or "{}"), sort_keys=True, ensure_ascii=False) != want:
                continue
            messages = json.loads(row["messages"] or "[]")
        except json.JSONDecodeError:
            continue
        if messages and messages[-1].get("role") == "user":
            return [{"role": m["role"], "content": m["content"]} for m in messages]
    return None


def examples_from_generations(store: Any, ids: Iterable[int]) -> list[Example]:
    """Approved stored generations: what was sent, and the answer as the target."""
    out = []
    for gid in ids:
        row = store.get("generations", int(gid))
        if row is None:
            raise WorkbenchError(f"no generation {gid} (see `workbench runs`)")
        if row.get("status") != "ok" or not (row.get("output") or "").strip():
            raise WorkbenchError(f"generation {gid} is {row.get('status')} with "
                                 f"{'no' if not row.get('output') else 'partial'} output: only complete "
                                 "answers can be training targets")
        messages = json.loads(row.get("messages") or "[]")
        out.append(Example(f"gen{gid}", messages + [{"role": "assistant", "content": row["output"]}],
                           f"generation:{gid}"))
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
        raise WorkbenchError(f"{len(errors)} bad row(s) in the training file: {shown}{more}",
                             path=p, line=errors[0][0])
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
    raise ValueError("expected {\"messages\": [...]} or {\"prompt\": ..., \"completion\": ...}")


# --------------------------------------------------------------------------- encoding


def load_tokenizer(folder: str | Path) -> Any:
    from transformers import AutoTokenizer

    if not (Path(folder) / "config.json").is_file():
        raise WorkbenchError("not a Hugging Face model folder (no config.json)", path=folder,
                             field="finetune.base_model")
    tok = AutoTokenizer.from_pretrained(str(folder))
    if not getattr(tok, "chat_template", None):
        raise WorkbenchError("the base model has no chat template, so answers cannot be framed as it "
                             "expects: use an instruct/chat model", path=folder, field="finetune.base_model")
    return tok


def encode(tokenizer: Any, example: Example, max_length: int) -> Encoded | str:
    """Chat-template the example; the answer's tokens are the only ones with a loss.

    Returns a reason string instead when the example cannot be used (prompt too long).
    """
    prompt_text = tokenizer.apply_chat_template(example.messages[:-1], tokenize=False,
                                                add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(example.messages, tokenize=False)
    if not full_text.startswith(prompt_text):
        raise WorkbenchError("the base model's chat template renders the prompt differently with and "
                             "without the answer, so the answer tokens cannot be isolated",
                             field="finetune.base_model")
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
    if len(prompt_ids) >= max_length - 1:
        return (f"{example.source}: prompt is {len(prompt_ids)} tokens, more than max_length "
                f"{max_length} allows; raise finetune.max_length or shorten the prompt")
    ids = prompt_ids + answer_ids
    return Encoded(example.id, example.source, example.messages, ids[:max_length], len(prompt_ids))


def build_dataset(examples: Sequence[Example], tokenizer: Any, folder: str | Path, *,
                  max_length: int) -> DatasetReport:
    """Encode and write train.jsonl + heldout.jsonl + dataset.json into the job folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    train: list[Encoded] = []
    heldout: list[Encoded] = []
    skipped: list[str] = []
    sources: dict[str, int] = {}
    for ex in examples:
        key = json.dumps(ex.messages, sort_keys=True, ensure_ascii=False)
        if key in seen:
            skipped.append(f"{ex.source}: duplicate of an earlier example")
            continue
        seen.add(key)
        enc = encode(tokenizer, ex, max_length)
        if isinstance(enc, str):
            skipped.append(enc)
            continue
        (heldout if ex.split == "heldout" else train).append(enc)
        kind = ex.source.split(":", 1)[0]
        sources[kind] = sources.get(kind, 0) + 1
    if not train:
        raise WorkbenchError("no training examples: add `expected` answers to train-split eval cases, "
                             "or pass --data FILE.jsonl"
                             + (f" ({len(skipped)} skipped: {skipped[0]})" if skipped else ""))
    train_bytes = _jsonl(train)
    heldout_bytes = _jsonl(heldout)
    train_path, heldout_path = folder / "train.jsonl", folder / "heldout.jsonl"
    train_path.write_bytes(train_bytes)
    heldout_path.write_bytes(heldout_bytes)
    digest = hashlib.sha256(train_bytes + b"\0" + heldout_bytes).hexdigest()
    report = DatasetReport(
        folder, train_path, heldout_path, digest, len(train), len(heldout),
        sum(len(e.input_ids) for e in train), sum(len(e.input_ids) - e.prompt_len for e in train),
        skipped, sources)
    (folder / "dataset.json").write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    return report


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
