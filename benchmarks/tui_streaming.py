"""Is the workbench responsive while an answer streams at 500 tokens/s, and is the text exact?

1. Latency, in a real pseudo-terminal (80x24): the real `workbench` process talks to the Ollama
   stand-in (its own process) streaming N tokens at 2 ms each. Keys are typed into the question
   Input before the answer (idle) and while it streams; each key is a letter that appears
   nowhere else on screen, and its latency is the time from writing it to the terminal until the
   terminal receives output containing it. Prints p50/p95/max for idle and streaming, and their
   ratio. Target: streaming p95 < 100 ms.
2. Exactness, headless (Pilot): the same stream into the Prompt tab; the Markdown view's final
   text and the stored row's output must equal the streamed text, byte for byte.

Run: .venv/bin/python benchmarks/tui_streaming.py [--tokens 2000] [--keys 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tui_startup import PtyProcess, child_env  # noqa: E402

SERVER = """
import sys
sys.path.insert(0, {tests!r})
sys.path.insert(0, {benchmarks!r})
from ollama_standin import OllamaStandin, StandinConfig
from tui_streaming import make_tokens
cfg = StandinConfig(reply=make_tokens({n}, {shape!r}), token_delay_s={delay})
with OllamaStandin(cfg) as s:
    print(s.url, flush=True)
    sys.stdin.read()
"""


def make_tokens(n: int, shape: str) -> list[str]:
    """The streamed answer, one token per element.

    `markdown`: what models write: paragraphs of ~50 tokens, every third one followed by a
    five-item bullet list, every seventh by a short code block. `paragraph`: the worst case for
    a Markdown view, one paragraph of n words that grows for the whole stream (every append
    re-wraps all of it).
    """
    if shape == "paragraph":
        return [f"w{i} " for i in range(n)]
    out: list[str] = []
    para = 0
    while len(out) < n:
        out += [f"w{len(out) + i} " for i in range(50)]
        out.append("\n\n")
        para += 1
        if para % 3 == 0:
            for item in range(5):
                out += ["- ", f"item{item} ", "of ", f"list{para}", "\n"]
            out.append("\n")
        if para % 7 == 0:
            out += ["```sql\n", "SELECT ", "1;", "\n", "```", "\n\n"]
    return out[:n]


# Letters that never occur in the app's chrome or the streamed "w123 " tokens: one per key.
KEYS = [chr(c) for c in (*range(0x3B1, 0x3CA), *range(0x430, 0x450), *range(0x410, 0x430))]


def start_standin(tokens: int, delay: float, shape: str) -> tuple[subprocess.Popen, str]:
    code = SERVER.format(
        tests=str(ROOT / "tests"), benchmarks=str(ROOT / "benchmarks"), n=tokens, delay=delay, shape=shape
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    return proc, url


def write_project(folder: Path, url: str) -> Path:
    (folder / "prompts").mkdir(parents=True, exist_ok=True)
    (folder / "prompts" / "qa.yaml").write_text('system: Be brief.\ntemplate: "{question}"\n')
    (folder / "workbench.yaml").write_text(
        f"name: bench\nmodel:\n  provider: ollama\n  name: llama3.2\n  host: {url}\nfallback: []\n"
    )
    return folder


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


TRACE_T0 = [time.perf_counter()]


def type_keys(proc: PtyProcess, keys: list[str], gap_s: float, stop: bytes | None = None) -> list[float]:
    """Latency of each key: write it, wait until the terminal output contains it."""
    out = []
    for key in keys:
        if stop is not None and proc.buffer.find(stop) >= 0:
            break
        offset = proc.size
        sent = proc.write(key.encode())
        seen = proc.wait_for(key.encode(), after=offset, timeout=10)
        out.append((seen - sent) * 1000)
        if os.environ.get("TUI_BENCH_TRACE"):
            print(f"    key at +{sent - TRACE_T0[0]:6.2f} s: {(seen - sent) * 1000:6.1f} ms", flush=True)
        time.sleep(gap_s)
    return out


def latency_run(project: Path, keys: int, gap_s: float) -> tuple[list[float], list[float], bool]:
    with tempfile.TemporaryDirectory() as xdg:
        proc = PtyProcess([sys.executable, "-m", "workbench.cli", "--project", str(project)], env=child_env(xdg))
        try:
            proc.wait_for(b"palette")
            proc.wait_for(b"reachable")  # the header's probe has answered
            idle = type_keys(proc, KEYS[: keys // 2], gap_s)
            TRACE_T0[0] = proc.write(b"\x12")  # ctrl+r: send
            proc.wait_for(b"w5 ", timeout=30)  # tokens are on screen
            streaming = type_keys(proc, KEYS[keys // 2 : keys // 2 + keys], gap_s, stop=b"attempts")
            finished = proc.buffer.find(b"attempts") >= 0 or bool(proc.wait_for(b"attempts", timeout=60))
            return idle, streaming, finished
        finally:
            proc.stop()


async def exactness_run(project: Path, expected: str) -> tuple[bool, bool, int, float]:
    from workbench.core.project import Project
    from workbench.core.runlog import list_runs, load_run
    from workbench.tui.app import WorkbenchApp

    app = WorkbenchApp(Project.open(project), probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.query_one("#var-question").value = "go"
        started = time.perf_counter()
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        elapsed = time.perf_counter() - started
        await pilot.pause()
        pane = app.query_one("#answer-a")
        shown = pane.markdown.source
        runs = list_runs(app.project.store, kind="generation")
        _, row = load_run(app.project.store, runs[0]["id"])
        app.project.close()
        return shown == expected, row["output"] == expected, len(shown), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=40, help="keys typed while streaming")
    parser.add_argument("--gap-ms", type=float, default=40.0, help="pause between keys")
    parser.add_argument(
        "--shape",
        choices=("markdown", "paragraph"),
        default="markdown",
        help="realistic Markdown (default) or one ever-growing paragraph",
    )
    args = parser.parse_args()
    delay = 0.002  # 500 tokens/s
    server, url = start_standin(args.tokens, delay, args.shape)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = write_project(Path(tmp) / "p", url)
            idle, streaming, finished = latency_run(project, args.keys, args.gap_ms / 1000)
            expected = "".join(make_tokens(args.tokens, args.shape))
            os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "xdg")
            same_view, same_row, length, elapsed = asyncio.run(exactness_run(project, expected))
    finally:
        server.stdin.close()
        server.wait(10)

    def line(name: str, values: list[float]) -> str:
        return (
            f"  {name:<10} n={len(values):3d}  p50 {statistics.median(values):6.1f} ms  "
            f"p95 {percentile(values, 95):6.1f} ms  max {max(values):6.1f} ms"
        )

    print(
        f"key press -> screen update, 80x24 pty, stand-in at {1 / delay:.0f} tokens/s "
        f"({args.tokens} tokens, {args.shape}):"
    )
    print(line("idle", idle))
    print(line("streaming", streaming))
    p95 = percentile(streaming, 95)
    print(
        f"  streaming p95 / idle p95: {p95 / percentile(idle, 95):.2f}x; "
        f"target p95 < 100 ms: {'met' if p95 < 100 else 'NOT met'}; stream finished: {finished}"
    )
    print(
        f"exactness (headless, {args.tokens} tokens in {elapsed:.2f} s = "
        f"{args.tokens / elapsed:.0f} tokens/s end to end):"
    )
    print(f"  Markdown view == streamed text: {same_view} ({length} chars); stored output == streamed text: {same_row}")
    assert same_view and same_row, "final text differs from the streamed text"
    return 0 if p95 < 100 else 1


if __name__ == "__main__":
    sys.exit(main())
