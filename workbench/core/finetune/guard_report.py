"""The fine-tune guard's report: each rule's verdict and advice (Rule) and the whole check
(GuardReport), as data; present/finetune.py turns it into text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REQUIRED = "required"

WARNING = "warning"

# Advice priority when several rules fail: what invalidates the others comes first.
_PRIORITY = ("base model", "eval set", "retrieval", "variants", "plateau", "signal")


@dataclass
class Rule:
    """One guard rule with its evidence."""

    name: str
    passed: bool
    summary: str  # one line with the numbers
    next_step: str | None = None  # what to do when it does not pass
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str = REQUIRED  # required | warning (a warning never blocks training)
    # The same next step in the TUI's words (tab, key, picker) where it differs from the CLI's;
    # None: next_step reads the same in both. Kept in core so the wording is tested headless.
    tui_step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GuardReport:
    rules: list[Rule]
    advice: str
    signal: str | None = None
    evalset: str | None = None
    evalset_path: str | None = None
    best_run_id: int | None = None
    tui_advice: str | None = None  # the advice in the TUI's words (None: `advice` reads the same)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules if r.severity == REQUIRED)

    @property
    def warnings(self) -> list[Rule]:
        return [r for r in self.rules if r.severity == WARNING and not r.passed]

    @property
    def resolution(self) -> str | None:
        """What the eval set can resolve, from the plateau rule's comparisons (None: none yet)."""
        for r in self.rules:
            if r.name == "plateau":
                return r.evidence.get("resolution_words")
        return None

    @property
    def lead_resolution(self) -> str | None:
        """The resolution line `finetune check` leads with when the plateau rule blocks (a
        verdict on a ceiling means little without what the set can resolve); None when the
        guard passes, the plateau holds, or the advice already says it."""
        if self.passed or self.resolution is None or "resolves ±" in self.advice:
            return None
        plateau = next((r for r in self.rules if r.name == "plateau"), None)
        return None if plateau is None or plateau.passed else f"Resolution: {self.resolution}"

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "advice": self.advice,
            "signal": self.signal,
            "evalset": self.evalset,
            "evalset_path": self.evalset_path,
            "best_run_id": self.best_run_id,
            "tui_advice": self.tui_advice,
            "resolution": self.resolution,
            "rules": [r.to_dict() for r in self.rules],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardReport:
        return cls(
            [Rule(**r) for r in d.get("rules", [])],
            d.get("advice", ""),
            d.get("signal"),
            d.get("evalset"),
            d.get("evalset_path"),
            d.get("best_run_id"),
            d.get("tui_advice"),
        )
