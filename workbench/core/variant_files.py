"""Saving an edited prompt as a named variant: a new `prompts/<name>.yaml` plus a variant entry.

In core so the TUI's Prompt tab and any command can save one. workbench.yaml is the user's, so it
is edited as lines (never re-serialised), re-validated, and restored if the edit would break it.
"""

from __future__ import annotations

import errno
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from workbench.core.config import load_config
from workbench.core.errors import WorkbenchError
from workbench.core.prompts import load_prompt
from workbench.core.yamlfile import load_located

if TYPE_CHECKING:
    from workbench.core.project import Project


NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass
class SavedVariant:
    """Where the prompt went and whether workbench.yaml now names it as a variant."""

    name: str
    prompt_path: Path
    config_updated: bool
    message: str


class _BlockDumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no types: its classes are Any
    """Multi-line strings as `|` blocks, so the saved prompt reads like a hand-written one."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _str)


def check_name(project: Project, name: str) -> str:
    """The cleaned name, or a WorkbenchError saying why it cannot be used."""
    name = name.strip()
    if not NAME_RE.match(name):
        raise WorkbenchError(
            "a variant name uses letters, digits, '-' and '_' (up to 64), "
            f"starting with a letter or digit; got {name!r}"
        )
    prompt_path = project.root / project.config.prompts_dir / f"{name}.yaml"
    if prompt_path.exists() or name in project.prompts:
        raise WorkbenchError(f"a prompt named '{name}' already exists; choose another name", path=prompt_path)
    if name in project.config.variants:
        raise WorkbenchError(
            f"a variant named '{name}' already exists in workbench.yaml", path=project.config.path, field="variants"
        )
    return name


def save_prompt_variant(
    project: Project, name: str, *, template: str, system: str | None, base: Any, model: str | None = None
) -> SavedVariant:
    """Write prompts/<name>.yaml from the editor, then add `variants.<name>` to the config."""
    name = check_name(project, name)
    folder = project.root / project.config.prompts_dir
    folder.mkdir(parents=True, exist_ok=True)
    prompt_path = folder / f"{name}.yaml"
    data: dict[str, Any] = {"description": f"Saved from the Prompt tab (based on '{base.name}')."}
    if system:
        data["system"] = system
    data["template"] = template
    if base.spec.examples:
        data["examples"] = [{"user": e.user, "assistant": e.assistant} for e in base.spec.examples]
    if base.spec.defaults:
        data["defaults"] = dict(base.spec.defaults)
    text = yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
    _write_atomic(prompt_path, text, exclusive=True)
    try:
        load_prompt(prompt_path)
    except WorkbenchError:
        prompt_path.unlink()
        raise
    try:
        updated, message = _add_variant_entry(project, name, model)
    except WorkbenchError:
        prompt_path.unlink(missing_ok=True)  # no half-saved variant: the prompt goes too
        raise
    project.__dict__.pop("prompts", None)  # Project.prompts is a cached_property
    if updated:
        project.config = load_config(project.root)
    return SavedVariant(name, prompt_path, updated, message)


def _write_atomic(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write a temporary file beside `path`, then os.replace it in: a full disk or a kill midway
    leaves the old file byte-identical (workbench.yaml is the user's) and no half-written one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if `path` exists: never overwrite another prompt
        else:
            os.replace(tmp, path)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise WorkbenchError(
                f"the disk is full; {path.name} was not changed (free some space and save again)", path=path
            ) from exc
        if exclusive and exc.errno == errno.EEXIST:
            raise WorkbenchError(
                f"a prompt named '{path.stem}' already exists; choose another name", path=path
            ) from exc
        raise WorkbenchError(
            f"could not write {path.name}: {exc.strerror or exc}; it was not changed", path=path
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _entry_lines(name: str, model: str | None, indent: str, step: str) -> list[str]:
    lines = [f"{indent}{name}:", f"{indent}{step}prompt: {name}"]
    if model:
        lines.append(f"{indent}{step}model: {model}")
    return lines


def _add_variant_entry(project: Project, name: str, model: str | None) -> tuple[bool, str]:
    config_path = project.config.path
    if model == project.config.model.spec:
        model = None
    hint = f"add `{name}: {{prompt: {name}}}` under variants: in workbench.yaml to use it by name"
    if config_path is None:
        return False, f"saved prompts/{name}.yaml; no workbench.yaml to add the variant to ({hint})"
    original = Path(config_path).read_text(encoding="utf-8")
    lines = original.splitlines()
    located = load_located(Path(config_path), original)
    data = located.data if isinstance(located.data, dict) else {}
    variants = data.get("variants")
    key_line = located.lines.get(("variants",))
    if "variants" not in data:
        block = ["", "variants:", *_entry_lines(name, model, "  ", "  ")]
        new_lines = lines + block
    elif key_line is None:
        return False, f"saved prompts/{name}.yaml ({hint})"
    elif not variants:  # `variants:` with nothing, or `variants: {}`
        new_lines = lines[: key_line - 1] + ["variants:", *_entry_lines(name, model, "  ", "  ")] + lines[key_line:]
    else:
        first = next(iter(variants))
        child_line = located.lines.get(("variants", first))
        if not isinstance(variants, dict) or child_line is None or child_line == key_line:
            return False, f"saved prompts/{name}.yaml; variants: is in flow style ({hint})"
        child = lines[child_line - 1]
        indent = child[: len(child) - len(child.lstrip())] or "  "
        new_lines = lines[:key_line] + _entry_lines(name, model, indent, indent) + lines[key_line:]
    text = "\n".join(new_lines) + "\n"
    _write_atomic(Path(config_path), text)
    try:
        config = load_config(project.root)
        if name not in config.variants:
            raise WorkbenchError("the new variant did not load")
    except WorkbenchError as exc:
        _write_atomic(Path(config_path), original)
        return False, f"saved prompts/{name}.yaml; workbench.yaml left unchanged ({exc})"
    return True, f"saved prompts/{name}.yaml and variant '{name}' in workbench.yaml"
