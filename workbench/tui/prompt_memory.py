"""What the Prompt tab remembers: unsaved edits per variant, and, per project, the state a user
expects back when the app reopens (variants A and B, A/B mode, the variables typed, the answers
on show).

The state lives next to runs.db in `<data_dir>/state.json` (one project's, not the user's), and
is written atomically (settings.py's temp file + rename), so a crash cannot leave half a file.
Answers are kept as generation ids: their text comes back from runs.db, the record of truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.tui.settings import load_settings, save_settings

STATE_FILE = "state.json"
KEY = "prompt"


def state_path(project: Any) -> Path:
    return Path(project.data_dir) / STATE_FILE


def _text_pairs(value: Any) -> dict[str, dict[str, str]]:
    """Drafts as read from the file, keeping only well-formed entries (a hand edit is no crash)."""
    if not isinstance(value, dict):
        return {}
    return {
        str(k): {"system": str(v.get("system", "")), "template": str(v.get("template", ""))}
        for k, v in value.items()
        if isinstance(v, dict)
    }


class PromptMemory:
    """Drafts (`choice -> {system, template}`) and the remembered fields of the Prompt tab."""

    def __init__(self, project: Any) -> None:
        self.path = state_path(project)
        saved = load_settings(self.path).get(KEY)
        self.values: dict[str, Any] = saved if isinstance(saved, dict) else {}
        self.drafts = _text_pairs(self.values.pop("drafts", None))

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def choice(self, key: str, options: list[tuple[str, str]], default: str) -> str:
        """A remembered picker value that still exists (a variant may have been removed)."""
        value = self.values.get(key)
        return value if value in [v for _, v in options] else default

    def remember(self, **values: Any) -> None:
        self.values.update(values)

    def stash(self, choice: str, system: str, template: str, saved: tuple[str, str]) -> None:
        """Keep the editor's text for `choice` when it differs from the saved variant."""
        if (system, template) == saved:
            self.drafts.pop(choice, None)
        else:
            self.drafts[choice] = {"system": system, "template": template}

    def draft(self, choice: str) -> tuple[str, str] | None:
        found = self.drafts.get(choice)
        return (found["system"], found["template"]) if found else None

    def write(self) -> str | None:
        """Save to state.json; the reason when it could not be written, else None."""
        try:
            save_settings({KEY: {**self.values, "drafts": self.drafts}}, self.path)
        except OSError as exc:
            return f"could not remember the Prompt tab in {self.path}: {exc}"
        return None


def stored_answer(store: Any, generation_id: Any) -> dict[str, Any] | None:
    """The generation row a remembered answer points at, or None when it is gone."""
    if not isinstance(generation_id, int):
        return None
    try:
        row = store.get("generations", generation_id)
    except Exception:  # noqa: BLE001 - a damaged store is reported elsewhere; no answer back
        return None
    return row if row and row.get("output") else None
