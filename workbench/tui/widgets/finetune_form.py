"""The LoRA form's fields and how their text becomes this job's settings.

Pure functions (no widgets), so the validation is tested without a terminal. The defaults come
from the project's `finetune:` settings; a changed value applies to the one job it starts (the
job stores its whole config), never to workbench.yaml.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from workbench.core.errors import WorkbenchError

# (input id, label, FinetuneSettings field, type): the LoRA knobs, in the order they are read.
FIELDS: tuple[tuple[str, str, str, type], ...] = (
    ("ft-rank", "rank", "rank", int),
    ("ft-alpha", "alpha", "alpha", int),
    ("ft-dropout", "dropout", "dropout", float),
    ("ft-lr", "lr", "lr", float),
    ("ft-epochs", "epochs", "epochs", int),
    ("ft-steps", "steps", "max_steps", int),
    ("ft-batch", "batch", "batch_size", int),
    ("ft-maxlen", "max len", "max_length", int),
)


def field_value(value: Any) -> str:
    return "" if value is None else str(value)


def read_form(values: dict[str, str], base: Any) -> tuple[Any, str | None]:
    """(FinetuneSettings for this job, JSONL path or None) from the form's text; a bad value
    raises WorkbenchError naming the field."""
    changes: dict[str, Any] = {}
    for input_id, label, name, kind in FIELDS:
        text = values.get(input_id, "").strip()
        if not text:
            if name == "max_steps":
                changes[name] = None  # blank: the epochs decide
                continue
            raise WorkbenchError(f"{label}: needs a value", field=name)
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise WorkbenchError(f"{label}: {text!r} is not {what}", field=name) from None
        if name == "dropout":
            if not 0 <= value < 1:
                raise WorkbenchError(f"{label}: must be at least 0 and below 1", field=name)
        elif value <= 0:
            raise WorkbenchError(f"{label}: must be above 0", field=name)
        changes[name] = value
    targets = [t.strip() for t in values.get("ft-targets", "").split(",") if t.strip()]
    if not targets:
        raise WorkbenchError("targets: name at least one module (e.g. q_proj, v_proj)", field="target_modules")
    changes["target_modules"] = targets
    data = values.get("ft-data", "").strip() or None
    return dataclasses.replace(base, **changes), data
