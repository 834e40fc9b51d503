"""The fine-tune guard's report: each rule's verdict as data (Rule: a `kind` and its `facts`) and
the whole check (GuardReport); present/finetune_guard.py words them (`worded`)."""

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
    # The words (one line with the numbers; what to do when it does not pass; the same step in
    # the TUI's words where it differs, else None): filled by present/finetune_guard.worded from
    # kind and facts, and as stored by jobs made before `kind` existed.
    summary: str = ""
    next_step: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str = REQUIRED  # required | warning (a warning never blocks training)
    tui_step: str | None = None
    kind: str = ""  # which verdict: "plateau.ceiling", "signal.none", ... ("": stored words only)
    facts: dict[str, Any] = field(default_factory=dict)  # the numbers and names the words need

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
    lead: str | None = None  # the failing rule the advice leads with (None: none fails)
    also: list[str] = field(default_factory=list)  # the other failing rules, in checklist order

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules if r.severity == REQUIRED)

    @property
    def warnings(self) -> list[Rule]:
        return [r for r in self.rules if r.severity == WARNING and not r.passed]

    @property
    def resolution(self) -> str | None:
        """What the eval set can resolve, from the plateau rule's comparisons (None: none yet, or
        not worded yet)."""
        for r in self.rules:
            if r.name == "plateau":
                return r.evidence.get("resolution_words")
        return None

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
            "lead": self.lead,
            "also": self.also,
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
            d.get("lead"),
            list(d.get("also") or []),
        )
