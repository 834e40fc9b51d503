"""One generation's numbers as text: the CLI's stderr stats line and the Prompt tab's stats line.

Both read the same facts from `call_facts`, so a number reads the same in either; the live line
(while streaming) counts in the UI, the final one comes from the stored record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.present.numbers import format_cost, ms, rate, secs


@dataclass(frozen=True)
class CallFacts:
    """The stored call's facts, each already formatted; None where the call has no such fact."""

    status: str
    model: str | None
    fallback_from: str | None
    ttft: str | None
    rate: str | None
    prompt_tokens: str
    completion_tokens: str
    cost: str | None
    attempts: int
    total: str | None


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


def call_facts(result: Any) -> CallFacts:
    """Facts of a `CallResult` (or anything with its fields, such as a stored row's view)."""
    return CallFacts(
        status=str(result.status),
        model=result.model_used or None,
        fallback_from=result.model_requested if result.fallback_used else None,
        ttft=None if result.ttft_ms is None else secs(result.ttft_ms / 1000),
        rate=rate(result.tokens_per_s) if result.tokens_per_s else None,
        prompt_tokens=_n(result.prompt_tokens),
        completion_tokens=_n(result.completion_tokens),
        cost=format_cost(result.cost) if result.cost else None,
        attempts=len([a for a in result.attempts if getattr(a, "outcome", "") != "skipped"]),
        total=None if result.total_ms is None else secs(result.total_ms / 1000),
    )


def _measured(f: CallFacts, tokens: str) -> list[str]:
    """TTFT, speed, tokens, cost and attempts, in the order both lines give them."""
    return (
        ([f"TTFT {f.ttft}"] if f.ttft else [])
        + ([f.rate] if f.rate else [])
        + [tokens]
        + ([f"cost {f.cost}"] if f.cost else [])
        + [f"attempts {f.attempts}"]
    )


def cli_stats_line(record: Any) -> str:
    """`[gen 12] model ollama:x · TTFT 0.42 s · … · status ok`: the line `ask` writes to stderr."""
    f = call_facts(record.result)
    parts = [f"model {f.model or 'none'}"]
    if f.fallback_from:
        parts.append(f"fallback from {f.fallback_from}")
    parts += _measured(f, f"{f.prompt_tokens} prompt + {f.completion_tokens} completion tokens")
    if f.total:
        parts.append(f"total {f.total}")
    parts.append(f"status {f.status}")
    if record.grounding.status.startswith("unavailable"):
        parts.append("answered without retrieval")
    return f"[gen {record.id}] " + " · ".join(parts)


def final_parts(result: Any, *, cached: bool = False) -> list[str]:
    """The Prompt tab's finished line: status first, then the same facts, compact."""
    f = call_facts(result)
    parts = [f.status]
    if cached:
        parts.append("from cache")
    if f.model:
        parts.append(f.model + (f" (fell back from {f.fallback_from})" if f.fallback_from else ""))
    parts += _measured(f, f"{f.prompt_tokens}+{f.completion_tokens} tok")
    if f.total:
        parts.append(f.total)
    return parts


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
            parts.append(f"waiting {secs(now - self.started, 1)}")
        else:
            parts.append(f"TTFT {secs(self.first_token - (self.call_started or self.started))}")
            span = (self.last_token or now) - self.first_token
            if self.chunks > 1 and span > 0:
                parts.append(rate((self.chunks - 1) / span))
        parts.append(f"{self.chunks} tok")
        if self.thinking_chars:
            parts.append(f"thinking {self.thinking_chars} chars")
        if self.completion_price_per_1k:
            parts.append(f"cost ~{format_cost(self.chunks / 1000 * self.completion_price_per_1k)}")
        parts.append(f"attempt {self.attempts}")
        return parts


def interrupted_parts(stats: LiveStats | None) -> list[str]:
    chunks = stats.chunks if stats else 0
    return ["interrupted", f"partial answer kept ({chunks} tokens)", "stored as interrupted"]


def pack(parts: list[str], width: int) -> str:
    """Parts joined by ' · ', wrapped only between parts ("attempts 2" never splits)."""
    from rich.cells import cell_len

    lines: list[str] = []
    current = ""
    for i, part in enumerate(parts):
        candidate = f"{current} · {part}" if current else part
        # a line that goes on ends in " ·": count it, or the terminal wraps the dot alone
        if current and cell_len(candidate) + (2 if i < len(parts) - 1 else 0) > width:
            lines.append(current + " ·")
            current = part
        else:
            current = candidate
    if current:
        lines.append(current)
    return "\n".join(lines)


def timing(row: dict[str, Any]) -> str:
    """`TTFT 120 ms; total 1500 ms`, or `no token arrived; total 2300 ms`: only what was
    measured (an interrupted call has no first token, and 0 ms would be a false reading)."""
    ttft, total = row.get("ttft_ms"), row.get("total_ms")
    parts = []
    if ttft is not None:
        parts.append(f"TTFT {ms(ttft)}")
    elif not row.get("output") and row.get("status") != "ok":
        parts.append("no token arrived")
    if total is not None:
        parts.append(f"total {ms(total)}")
    return "; ".join(parts)


def generation_markdown(row: dict[str, Any]) -> str:
    """A stored generation as a person reads it: what is not known is left out or said plainly."""
    from workbench.core.markdown import fence
    from workbench.core.variants import variant_label

    used, requested = row.get("model_used"), row.get("model_requested")
    if used:
        model = f"`{used}`" + (f" (requested `{requested}`)" if requested and requested != used else "")
    else:
        model = "none answered" + (f" (requested `{requested}`)" if requested else "")
    variant = variant_label(row.get("variant_name"), row.get("variant_id"), hash_chars=12)
    lines = [
        f"### generation {row['id']} ({row.get('created_at', '')})",
        "",
        f"- model: {model}",
        f"- variant: {variant or 'unknown'}"
        + (f", prompt `{row.get('prompt_name')}`" if row.get("prompt_name") else ""),
        f"- status: **{row.get('status')}**" + (f" — {row.get('error')}" if row.get("error") else ""),
    ]
    if row.get("prompt_tokens") is not None or row.get("completion_tokens") is not None:
        lines.append(
            f"- tokens: {row.get('prompt_tokens') if row.get('prompt_tokens') is not None else '?'} in"
            f" / {row.get('completion_tokens') if row.get('completion_tokens') is not None else '?'} out"
        )
    if timing(row):
        lines.append(f"- timing: {timing(row)}")
    lines += ["", "**Prompt**", ""]
    for message in row.get("messages") or []:
        lines += [f"_{message.get('role')}_:", fence(message.get("content", ""))]
    if not row.get("messages"):
        lines.append("(not stored)")
    lines += ["", "**Output**", "", fence(row["output"]) if row.get("output") else "(none)"]
    return "\n".join(lines)
