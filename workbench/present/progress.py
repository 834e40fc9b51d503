"""The one progress bar the CLI draws on stderr (eval runs, training, ingest), built on
rich.progress so every command looks, wraps and stops alike; on a console that is not a
terminal the bar draws nothing and callers print plain lines instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from workbench.present.numbers import rate

if TYPE_CHECKING:
    from workbench.core.llm.hosts import HostStat


def progress_bar(
    console: Console,
    *fields: str,
    count: bool = False,
    elapsed: bool = False,
    transient: bool = True,
    disable: bool = False,
) -> Progress:
    """A bar: the task's description, the bar, `done/total` when `count`, then each named
    task field (set with `add_task(..., name=value)`), then the elapsed time when `elapsed`.
    Disabled (draws nothing) when asked or when `console` is not a terminal."""
    columns: list[ProgressColumn] = [TextColumn("{task.description}"), BarColumn()]
    if count:
        columns.append(MofNCompleteColumn())
    columns += [TextColumn(f"{{task.fields[{name}]}}") for name in fields]
    if elapsed:
        columns.append(TimeElapsedColumn())
    return Progress(*columns, console=console, transient=transient, disable=disable or not console.is_terminal)


def case_counts(p: Any) -> str:
    """An eval run's progress in words: `3/10  pass 2  fail 1`, then judge errors, cached cases
    and the hosts' state when there are any."""
    return (
        f"{p.done}/{p.total}  pass {p.passed}  fail {p.failed}"
        + (f"  judge errors {p.judge_errors}" if getattr(p, "judge_errors", 0) else "")
        + (f"  cached {p.cached}" if getattr(p, "cached", 0) else "")
        + ("  hosts: " + " · ".join(host_brief(h) for h in p.hosts) if getattr(p, "hosts", None) else "")
    )


def host_line(h: HostStat) -> str:
    """`gpu1:11434 up 3/4 busy · 120 done · 0 failed · 41.2 tok/s` (the Evals tab)."""
    return f"{h.short} {h.state} {h.outstanding}/{h.concurrency} busy · {h.done} done · {h.failed} failed · {rate(h.tokens_per_s)}"


def host_brief(h: HostStat) -> str:
    """`gpu1:11434 up 41 tok/s` (the CLI's one progress line)."""
    return f"{h.short} {h.state}" + (f" {rate(h.tokens_per_s, 0)}" if h.tokens_per_s is not None else "")


class CaseProgress:
    """An eval runner's `on_progress` for the CLI: a bar on a terminal; otherwise (CI logs) a
    `progress 3/10 ...` line every tenth of the run when `log_lines`. Use as a context manager."""

    def __init__(self, console: Console, *, quiet: bool = False, log_lines: bool = True) -> None:
        self.console = console
        self.quiet = quiet
        self.log_lines = log_lines and not quiet
        self.bar = progress_bar(console, "counts", transient=False, disable=quiet)
        self.task = self.bar.add_task("", total=None, counts="")
        self.logged = -1

    @property
    def drawing(self) -> bool:
        return not self.bar.disable

    def __enter__(self) -> CaseProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, p: Any) -> None:
        counts = case_counts(p)
        if self.drawing:
            self.bar.update(self.task, total=p.total or None, completed=p.done, counts=counts)
        elif self.log_lines and p.total:
            step = max(1, p.total // 10)
            if (p.done == p.total or p.done - self.logged >= step and p.done > p.skipped) and self.logged != p.done:
                self.logged = p.done
                self.console.print(Text(f"progress {counts}"))
