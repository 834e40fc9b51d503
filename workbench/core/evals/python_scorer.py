"""`type: python` checks: a project's own scorer, run in a worker process with limits.

A scorer is `value: scorers.py:check_sql` (a function in a file next to the eval set, or at the
project root) or an inline `expr:` over `answer` and `case`. It returns a bool, a score in
[0, 1], or a dict with `pass`, `score`, `reason`. Each call is a fresh process (scorer_worker.py)
with a wall-clock limit (default 10 s) and a memory cap (RLIMIT_AS, default 512 MB, where the OS
has it), so a scorer that loops, raises, returns junk or eats memory is a *scorer error* for that
case (passed=None, error_kind="scorer-error", its last traceback frame kept), never a hung or
crashed run. The scorer file's bytes are hashed into the eval set's identity (evalset.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.message_numbers import decimal

if TYPE_CHECKING:
    from workbench.core.evals.assertions import AssertionResult, GenerationOutcome
    from workbench.core.evals.evalset import Assertion, Case

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 512
DEFAULT_THRESHOLD = 0.5
_WORKER = Path(__file__).with_name("scorer_worker.py")
_EXPECTED = "expected a bool, a score in [0, 1], or a dict with pass/score/reason"


@dataclass(frozen=True)
class ScorerSpec:
    """What an assertion's `value`/`expr` resolved to at load time (stored as Assertion.value)."""

    label: str  # as written: "scorers.py:check_sql" or "expr"
    file: str | None = None  # absolute path of the scorer file
    function: str | None = None
    expr: str | None = None
    sha256: str | None = None  # of the file's bytes when loaded
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB


def resolve_file(ref: str, evalset_path: Path) -> tuple[Path | None, list[Path]]:
    """`scorers.py` relative to the eval set's folder, else to the project root (the nearest
    folder above holding workbench.yaml). Returns (the file or None, the places looked)."""
    rel = Path(ref)
    if rel.is_absolute():
        return (rel if rel.is_file() else None), [rel]
    folder = evalset_path.resolve().parent
    tried = [folder / rel]
    for up in (folder, *folder.parents):
        if (up / "workbench.yaml").is_file():
            if up != folder:
                tried.append(up / rel)
            break
    return next((p for p in tried if p.is_file()), None), tried


def file_problem(path: Path, function: str) -> str | None:
    """Why `path` cannot serve `function` (None if it can): it must parse and define it at top
    level. Checked at load, so a typo stops the run before any model is called."""
    import ast

    try:
        source = path.read_bytes()
        tree = ast.parse(source, filename=str(path))
    except OSError as exc:
        return f"cannot read {path.name}: {exc}"
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        return f"{path.name}{f':{line}' if line else ''}: {getattr(exc, 'msg', exc)}"
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if function not in names:
        return f"{path.name} defines no top-level function {function!r}" + (
            f" (it has: {', '.join(sorted(names))})" if names else ""
        )
    return None


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def case_payload(case: Any, sources: Any = ()) -> dict[str, Any]:
    """What the scorer's `case` argument holds: inputs, expected, sources shown, metadata."""
    if case is None:
        return {"id": None, "inputs": {}, "expected": None, "relevant": [], "tags": [], "sources": [], "metadata": {}}
    return {
        "id": case.id,
        "inputs": dict(case.inputs),
        "expected": case.expected,
        "relevant": list(case.relevant),
        "tags": list(case.tags),
        "sources": [{"n": s.n, "path": s.path, "chunk_id": s.chunk_id} for s in sources],
        "metadata": {"split": case.split, "description": case.description, "source": case.source},
    }


@dataclass
class ScorerVerdict:
    """One scorer call's outcome: decided (passed/score/reason) or an error with its frame."""

    passed: bool | None
    score: float | None = None
    reason: str = ""
    error: str | None = None
    frame: str = ""


def interpret(value: Any, threshold: float = DEFAULT_THRESHOLD) -> ScorerVerdict:
    """A scorer's return value -> verdict; a wrong type or range is an error naming what came."""

    def bad(what: str) -> ScorerVerdict:
        return ScorerVerdict(None, error=f"returned {what}; {_EXPECTED}")

    if isinstance(value, bool):
        return ScorerVerdict(value, float(value))
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 0 <= value <= 1:
            return bad(f"the score {value!r}, outside [0, 1]")
        return ScorerVerdict(value >= threshold, float(value))
    if isinstance(value, dict) and "__type__" not in value:
        verdict, score, reason = value.get("pass"), value.get("score"), value.get("reason", "")
        if verdict is not None and not isinstance(verdict, bool):
            return bad(f"a dict whose 'pass' is {type(verdict).__name__}, not a bool")
        if score is not None and (
            isinstance(score, bool)
            or not isinstance(score, (int, float))
            or not math.isfinite(score)
            or not 0 <= score <= 1
        ):
            return bad(f"a dict whose 'score' is {score!r}, not a number in [0, 1]")
        if verdict is None and score is None:
            return bad("a dict with neither 'pass' nor 'score'")
        passed = verdict if verdict is not None else score is not None and score >= threshold
        return ScorerVerdict(
            passed,
            float(score) if score is not None else float(passed),
            reason if isinstance(reason, str) else str(reason),
        )
    if isinstance(value, dict):
        return bad(f"a {value['__type__']} ({value.get('__repr__', '')[:60]})")
    if isinstance(value, str):
        return bad(f"a str ({value[:60]!r})")
    return bad("None" if value is None else f"a {type(value).__name__}")


async def run_scorer(
    spec: ScorerSpec, answer: str, case: dict[str, Any], *, threshold: float = DEFAULT_THRESHOLD
) -> ScorerVerdict:
    """Call the scorer once in a fresh worker process; kill it at `spec.timeout_s`."""
    job = {
        "file": spec.file,
        "function": spec.function,
        "expr": spec.expr,
        "answer": answer,
        "case": case,
        "memory_mb": spec.memory_mb,
        "cpu_s": int(math.ceil(spec.timeout_s)) + 1,
    }
    data = json.dumps(job, ensure_ascii=False, default=str).encode("utf-8")
    # -I: no PYTHONPATH, user site or cwd on the path; the worker adds the scorer's own folder.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        str(_WORKER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(data), spec.timeout_s)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        return ScorerVerdict(
            None, error=f"timed out after {spec.timeout_s:g} s (raise `timeout:` on the check if it is honest work)"
        )
    except asyncio.CancelledError:  # Ctrl-C: never leave a scorer running
        _kill(proc)
        raise
    try:
        reply = json.loads(stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = " ".join(stderr.decode("utf-8", "replace").strip().splitlines()[-1:])
        code = proc.returncode
        how = f"was killed by signal {-code}" if code and code < 0 else f"exited with code {code}"
        if code and code < 0 and -code in (9, 24):  # SIGKILL / SIGXCPU: the CPU-time cap
            how += " (CPU time or memory limit)"
        return ScorerVerdict(None, error=f"scorer process {how} without a result" + (f": {tail[:200]}" if tail else ""))
    if not reply.get("ok"):
        stage = "could not be loaded" if reply.get("stage") == "import" else "raised"
        error = str(reply.get("error"))
        if error.startswith("MemoryError"):
            error = f"MemoryError (over its {spec.memory_mb} MB memory cap; raise `memory_mb:` if honest)"
        return ScorerVerdict(None, error=f"{stage}: {error}", frame=reply.get("frame") or "")
    return interpret(reply.get("value"), threshold)


def _kill(proc: Any) -> None:
    try:
        proc.kill()
    except ProcessLookupError:
        pass


async def check_python(a: Assertion, out: GenerationOutcome, case: Case | None = None) -> AssertionResult:
    """The assertion: run the scorer on the answer; a scorer error is passed=None, counted apart."""
    from workbench.core.evals.assertions import AssertionResult

    spec: ScorerSpec = a.value
    threshold = a.threshold if a.threshold is not None else DEFAULT_THRESHOLD
    v = await run_scorer(spec, out.output, case_payload(case, out.sources), threshold=threshold)
    if v.error is not None:
        detail = f"scorer error: {spec.label} {v.error}" + (f" at {v.frame}" if v.frame else "")
        return AssertionResult(
            a.type, a.label, None, None, detail, error_kind="scorer-error", weight=a.weight, raw=v.frame or None
        )
    detail = v.reason or f"{spec.label} returned {'pass' if v.passed else 'fail'}" + (
        f" (score {decimal(v.score, 2)})" if v.score is not None and v.score not in (0.0, 1.0) else ""
    )
    return AssertionResult(a.type, a.label, v.passed, v.score, detail, weight=a.weight)


def scorer_error_only(result: Any) -> bool:
    """An undecided case whose undecided checks are all scorer errors (not judge errors): the
    summary counts these apart, so a broken scorer never reads as a judge problem."""
    undecided = [a for a in result.assertions if a.passed is None]
    return bool(undecided) and all(a.error_kind == "scorer-error" for a in undecided)
