"""The CLI's stats line and the Prompt tab's say the same numbers for the same stored call."""

from __future__ import annotations

import re
from types import SimpleNamespace

from workbench.core.llm.resilience import AttemptRecord, CallResult
from workbench.present.generation import LiveStats, cli_stats_line, final_parts, pack

NUMBERS = re.compile(r"\d+(?:\.\d+)?")


def _record(**result: object) -> SimpleNamespace:
    base: dict[str, object] = dict(
        model_requested="ollama:llama3.2",
        model_used="embedded",
        fallback_used=True,
        status="ok",
        ttft_ms=423.6,
        total_ms=2150.0,
        prompt_tokens=12,
        completion_tokens=40,
        tokens_per_s=18.25,
        cost=0.0000512,
        attempts=[
            AttemptRecord("ollama:llama3.2", 1, "unreachable"),
            AttemptRecord("embedded", 1, "ok"),
            AttemptRecord("ollama:x", 1, "skipped"),
        ],
    )
    base.update(result)
    return SimpleNamespace(id=7, result=CallResult(**base), grounding=SimpleNamespace(status="off"))


def test_cli_and_tui_show_the_same_facts_in_the_same_format():
    record = _record()
    cli = cli_stats_line(record)
    tui = pack(final_parts(record.result), 80)  # the text StatsLine renders
    for fact in ("TTFT 0.42 s", "18.2 tok/s", "cost 0.0000512", "attempts 2", "2.15 s", "embedded", "ollama:llama3.2"):
        assert fact in cli and fact in tui.replace(" ·\n", " · "), fact
    assert "12 prompt + 40 completion tokens" in cli and "12+40 tok" in tui
    # every number the CLI states, the TUI states too (bar the run id)
    assert sorted(NUMBERS.findall(cli.removeprefix("[gen 7] "))) == sorted(NUMBERS.findall(tui))


def test_unknowns_read_the_same_way_and_zero_cost_is_left_out():
    record = _record(
        ttft_ms=None,
        total_ms=None,
        tokens_per_s=None,
        prompt_tokens=None,
        cost=0.0,
        fallback_used=False,
        model_used=None,
        status="error",
    )
    cli, tui = cli_stats_line(record), " · ".join(final_parts(record.result))
    assert "? prompt + 40 completion tokens" in cli and "?+40 tok" in tui
    assert "model none" in cli and "status error" in cli and tui.startswith("error ·")
    for absent in ("TTFT", "tok/s", "cost", "fallback", "fell back"):
        assert absent not in cli and absent not in tui


def test_live_line_uses_the_same_formats_as_the_stored_one():
    live = LiveStats(
        started=10.0, call_started=10.5, first_token=10.9236, last_token=12.0, chunks=21, completion_price_per_1k=0.002
    )
    parts = live.parts(now=12.0)
    assert parts[:3] == ["streaming", "TTFT 0.42 s", f"{20 / (12.0 - 10.9236):.1f} tok/s"]
    assert "cost ~0.0000420" in parts
    assert LiveStats(started=10.0).parts(now=12.34)[1] == "waiting 2.3 s"
