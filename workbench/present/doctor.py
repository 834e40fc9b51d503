"""`workbench doctor`'s findings as terminal lines: level, what, and the text (never markup)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from workbench.core.doctor import NOTE, OK, PROBLEM, Finding
from workbench.core.safetext import terminal_safe

STYLE = {OK: "green", NOTE: "yellow", PROBLEM: "bold red"}


def print_findings(findings: list[Finding]) -> int:
    """Print each finding and the verdict; return the number of problems."""
    out = Console(highlight=False, soft_wrap=True)  # a path cut at the width would not paste
    for f in findings:
        out.print(Text.assemble((f"{f.level:<8}", STYLE[f.level]), (f"{f.what}: ", "bold"), terminal_safe(f.text)))
    problems = sum(f.level == PROBLEM for f in findings)
    out.print(Text(f"{problems} problem(s) found" if problems else "healthy", style=STYLE[PROBLEM if problems else OK]))
    return problems
