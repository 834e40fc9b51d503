"""`retrieval tune` as a person sees it at a terminal: a progress line per configuration on
stderr, Ctrl-C that stops after the current case (finished configurations kept; a second Ctrl-C
aborts now), and the applied winner's workbench.yaml diff and score.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from rich.console import Console
from rich.text import Text


def run_with_progress(plan: Any, project: Any, k: int | None, err: Console) -> Any:
    """Run the tune PLAN, printing progress to ERR; return its result (cancelled on Ctrl-C)."""
    cancel = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err.print(Text("stopping; finished configurations are kept (Ctrl-C again to abort now)", style="yellow"))

    last = [""]

    def progress(what: str, done: int, total_: int) -> None:
        if err.is_terminal and (what != last[0] or done == total_):
            last[0] = what
            err.print(Text(f"  {what} ({done}/{total_} cases)", style="dim"))

    previous = (
        signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        return plan.run(project, k=k, progress=progress, cancel=cancel)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        plan.cache.close()


def print_yaml_diff(out: Console, diff: list[str]) -> None:
    for line in diff:
        out.print(Text(line, style="green" if line.startswith("+") else "red" if line.startswith("-") else ""))


def applied_line(eval_id: int, mode: str, metrics: dict[str, float]) -> Text:
    return Text(
        f"applied and re-indexed; retrieval eval re{eval_id}: {mode} nDCG@10 {metrics['ndcg@10']:.3f}, "
        f"MRR@10 {metrics['mrr@10']:.3f}"
    )
