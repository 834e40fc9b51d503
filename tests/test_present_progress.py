"""The CLI's one progress bar (workbench/present/progress.py): on a terminal an eval run draws a
Rich bar with its counts; in a CI log it prints a plain `progress` line every tenth of the run."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from rich.console import Console

from workbench.core.llm.hosts import HostStat
from workbench.present.progress import CaseProgress, host_brief, host_line, progress_bar


def host(url: str, tokens_per_s: float | None = 41.2) -> HostStat:
    return HostStat(url, "up", 3, 4, 120, 0, 5000, tokens_per_s)


@dataclass
class P:
    done: int
    total: int
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    judge_errors: int = 0
    cached: int = 0
    hosts: list[HostStat] = field(default_factory=list)


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=100, highlight=False, soft_wrap=True), buf


def test_a_terminal_gets_a_bar_with_the_counts() -> None:
    out, buf = console(terminal=True)
    with CaseProgress(out) as progress:
        progress(P(done=2, total=4, passed=1, failed=1, cached=1, hosts=[host("http://a:11434/v1")]))
        progress(P(done=4, total=4, passed=3, failed=1, cached=1, hosts=[host("http://a:11434/v1")]))
    text = buf.getvalue()
    assert "━" in text  # Rich's bar, not the old hand-drawn one
    assert "█" not in text and "progress " not in text
    assert "4/4  pass 3  fail 1  cached 1  hosts: a:11434 up 41 tok/s" in text


def test_a_ci_log_gets_a_line_per_tenth_and_the_last_one() -> None:
    out, buf = console(terminal=False)
    with CaseProgress(out) as progress:
        for done in range(0, 21):
            progress(P(done=done, total=20, passed=done))
    lines = buf.getvalue().splitlines()
    assert lines[0] == "progress 1/20  pass 1  fail 0" and lines[-1] == "progress 20/20  pass 20  fail 0"
    assert len(lines) == 11 and "\r" not in buf.getvalue() and "\x1b" not in buf.getvalue()


def test_quiet_or_without_lines_prints_nothing() -> None:
    for kwargs in ({"quiet": True}, {"log_lines": False}):
        out, buf = console(terminal=False)
        with CaseProgress(out, **kwargs) as progress:  # type: ignore[arg-type]
            progress(P(done=1, total=1, passed=1))
        assert buf.getvalue() == ""


def test_a_bar_shows_its_fields_and_count() -> None:
    out, buf = console(terminal=True)
    with progress_bar(out, "info", count=True, transient=False) as bar:
        task = bar.add_task("LoRA", total=10, info="loss 1.23")
        bar.update(task, completed=3)
    text = buf.getvalue()
    assert "LoRA" in text and "3/10" in text and "loss 1.23" in text
    out, buf = console(terminal=False)
    with progress_bar(out, "info") as bar:
        bar.add_task("x", total=1, info="y")
    assert buf.getvalue() == ""


def test_a_host_reads_the_same_in_the_cli_line_and_the_evals_tab() -> None:
    assert host_line(host("http://gpu1:11434")) == "gpu1:11434 up 3/4 busy · 120 done · 0 failed · 41.2 tok/s"
    assert host_line(host("http://gpu1:11434", None)).endswith("· – tok/s")
    assert host_brief(host("http://gpu1:11434", None)) == "gpu1:11434 up"
