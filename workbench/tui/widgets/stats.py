"""The one-line numbers under an answer, live while it streams and exact when it ends.

Pure functions of plain values, so the wording is tested without a terminal. Live numbers are
counted in the UI (chunks seen, time since send); the final line comes from the stored record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.core.llm.resilience import format_cost


@dataclass
class LiveStats:
    """What the UI has counted so far for one streaming answer."""

    started: float
    call_started: float | None = None  # after grounding: TTFT counts from here, as stored
    first_token: float | None = None
    last_token: float | None = None
    chunks: int = 0
    thinking_chars: int = 0
    attempts: int = 1
    completion_price_per_1k: float = 0.0

    def parts(self, now: float) -> list[str]:
        parts = ["streaming"]
        if self.first_token is None:
            parts.append(f"waiting {now - self.started:.1f}s")
        else:
            parts.append(f"TTFT {self.first_token - (self.call_started or self.started):.2f}s")
            span = (self.last_token or now) - self.first_token
            if self.chunks > 1 and span > 0:
                parts.append(f"{(self.chunks - 1) / span:.1f} tok/s")
        parts.append(f"{self.chunks} tok")
        if self.thinking_chars:
            parts.append(f"thinking {self.thinking_chars} chars")
        if self.completion_price_per_1k:
            parts.append(f"cost ~{format_cost(self.chunks / 1000 * self.completion_price_per_1k)}")
        parts.append(f"attempt {self.attempts}")
        return parts


def pack(parts: list[str], width: int) -> str:
    """Parts joined by ' · ', wrapped only between parts ("attempts 2" never splits)."""
    from rich.cells import cell_len

    lines: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current} · {part}" if current else part
        if current and cell_len(candidate) > width:
            lines.append(current + " ·")
            current = part
        else:
            current = candidate
    if current:
        lines.append(current)
    return "\n".join(lines)


def _n(value: Any) -> str:
    return "?" if value is None else str(value)


def final_parts(result: Any, *, cached: bool = False) -> list[str]:
    """The finished call: status, model, TTFT, tok/s, tokens, cost, attempts, total time."""
    parts = [result.status]
    if cached:
        parts.append("from cache")
    if result.model_used:
        model = result.model_used
        if result.fallback_used:
            model += f" (fell back from {result.model_requested})"
        parts.append(model)
    if result.ttft_ms is not None:
        parts.append(f"TTFT {result.ttft_ms / 1000:.2f}s")
    if result.tokens_per_s:
        parts.append(f"{result.tokens_per_s:.1f} tok/s")
    parts.append(f"{_n(result.prompt_tokens)}+{_n(result.completion_tokens)} tok")
    if result.cost:
        parts.append(f"cost {format_cost(result.cost)}")
    attempts = [a for a in result.attempts if getattr(a, "outcome", "") != "skipped"]
    parts.append(f"attempts {len(attempts)}")
    if result.total_ms is not None:
        parts.append(f"{result.total_ms / 1000:.2f}s")
    return parts


def interrupted_parts(stats: LiveStats | None) -> list[str]:
    chunks = stats.chunks if stats else 0
    return ["interrupted", f"partial answer kept ({chunks} tokens)", "stored as interrupted"]
