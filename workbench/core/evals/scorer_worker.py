"""The child process of a `type: python` check (python_scorer.py starts it as a script).

It caps its own memory and CPU time first (resource.setrlimit, where the OS has it), then
imports the user's scorer file (or compiles the inline expression), calls it once and writes one
JSON line to the stdout it was given. The scorer's own prints go to stderr. It imports nothing
from workbench, so it starts fast and a scorer cannot reach the parent's state.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any


def _limit(memory_mb: int | None, cpu_s: int | None) -> None:
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the parent's wall-clock limit still holds
        return
    for which, value in (
        (getattr(resource, "RLIMIT_AS", None), memory_mb and memory_mb * 1024 * 1024),
        (getattr(resource, "RLIMIT_CPU", None), cpu_s),
    ):
        if which is None or not value:
            continue
        try:
            _soft, hard = resource.getrlimit(which)
            cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (cap, hard))
        except (ValueError, OSError):  # not allowed here (macOS ignores RLIMIT_AS): time still holds
            pass


def _frame(exc: BaseException, filename: str) -> str:
    """The last traceback frame in the scorer's own file (what the user can fix), else the last."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{os.path.basename(exc.filename)}:{exc.lineno}: {(exc.text or '').strip()}"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename == filename]
    if not (own or frames):
        return ""
    pick = (own or frames)[-1]
    where = f"{os.path.basename(pick.filename)}:{pick.lineno} in {pick.name}"
    return f"{where}: {pick.line.strip()}" if pick.line else where


def _plain(value: Any) -> Any:
    """The result as JSON: bools, numbers (numpy scalars too) and dicts pass; others by type."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "item") and callable(value.item) and type(value).__module__ == "numpy":
        return _plain(value.item())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return {"__type__": type(value).__name__, "__repr__": repr(value)[:200]}


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a scorer's print() must not corrupt the reply
    sys.stdout = sys.stderr
    job = json.loads(sys.stdin.read())
    _limit(job.get("memory_mb"), job.get("cpu_s"))
    filename = job.get("file") or "<expr>"
    stage = "import"
    try:
        if job.get("expr") is not None:
            code = compile(job["expr"], "<expr>", "eval")
            stage = "call"
            result = eval(
                code,
                {"__builtins__": __builtins__},  # noqa: S307 - the user's own check
                {"answer": job["answer"], "case": job["case"]},
            )
        else:
            import importlib.util

            sys.path.insert(0, os.path.dirname(filename))
            spec = importlib.util.spec_from_file_location("_workbench_scorer", filename)
            if spec is None or spec.loader is None:
                raise ImportError(f"{os.path.basename(filename)} cannot be imported as a Python file")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            fn = getattr(module, job["function"], None)
            if not callable(fn):
                raise AttributeError(f"{os.path.basename(filename)} has no function {job['function']!r}")
            stage = "call"
            result = fn(job["answer"], job["case"])
        reply = {"ok": True, "value": _plain(result)}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and MemoryError are scorer errors too
        reply = {
            "ok": False,
            "stage": stage,
            "error": f"{type(exc).__name__}: {exc}"[:300],
            "frame": _frame(exc, filename)[:300],
        }
    out.write(json.dumps(reply) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
