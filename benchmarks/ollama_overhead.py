"""What the workbench adds over the bare `ollama` client, on the same token stream.

Both sides talk to the same Ollama stand-in (a real HTTP server, run in its own process so its
CPU is not counted), streaming the same N tokens at a fixed per-token delay. Measured per run:
- time to last token (wall), median over repetitions;
- CPU seconds of this process per token (what our plumbing costs: deadlines, metering,
  SQLite row insert + throttled flushes + final update).
Prints the ratios workbench / bare. Target: both within 5% (ratio <= 1.05).

Measured here (2 cores, 400 tokens at 2 ms): time to last token 1.00-1.02, CPU per token
1.00 (236 us against 236 us). The idle deadline used to be an `asyncio.wait_for` per token
(a task and a timer each: CPU ratio ~1.3); it is now one lazily re-armed timer
(`resilience._Deadline`), so a token costs the plumbing a clock read and two stores.
With `--delay-ms 0` (tokens as fast as the socket gives them, not a real model) the fixed
per-answer cost shows instead: ~15 ms for the row insert, flushes and final update.

Run: .venv/bin/python benchmarks/ollama_overhead.py [--tokens 400] [--delay-ms 2] [--reps 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SERVER = """
import sys, time
sys.path.insert(0, {tests!r})
from ollama_standin import OllamaStandin, StandinConfig
cfg = StandinConfig(reply=[f"tok{{i}} " for i in range({n})], token_delay_s={delay})
with OllamaStandin(cfg) as s:
    print(s.url, flush=True)
    sys.stdin.read()
"""


async def bare(url: str) -> tuple[float, float, str]:
    import ollama

    client = ollama.AsyncClient(host=url)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    text = []
    async for chunk in await client.chat(
        model="llama3.2", stream=True, messages=[{"role": "user", "content": "go"}], options={"temperature": 0}
    ):
        text.append(chunk.message.content or "")
    return time.perf_counter() - wall0, time.process_time() - cpu0, "".join(text)


async def workbench(project, variant) -> tuple[float, float, str]:
    from workbench.core.pipeline import run_generation

    wall0, cpu0 = time.perf_counter(), time.process_time()
    record = await run_generation(project, variant, {"question": "go"}, source="cli")
    assert record.status == "ok", record.result.error
    return time.perf_counter() - wall0, time.process_time() - cpu0, record.output


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--delay-ms", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(tests=str(ROOT / "tests"), n=args.tokens, delay=args.delay_ms / 1000)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    try:
        from workbench.core.project import Project
        from workbench.core.variants import resolve_variant

        tmp = Path(tempfile.mkdtemp())
        (tmp / "workbench.yaml").write_text(
            f"model: {{provider: ollama, name: llama3.2, host: '{url}', options: {{temperature: 0}}}}\nfallback: []\n",
            encoding="utf-8",
        )
        project = Project.open(tmp)
        variant = resolve_variant(project)

        async def run_all():
            await bare(url), await workbench(project, variant)  # warm both paths
            b, w = [], []
            for _ in range(args.reps):  # interleave so drift hits both sides equally
                b.append(await bare(url))
                w.append(await workbench(project, variant))
            return b, w

        b, w = asyncio.run(run_all())
        assert b[0][2] == w[0][2], "the two paths must see the same token stream"
        b_wall = statistics.median(x[0] for x in b)
        w_wall = statistics.median(x[0] for x in w)
        b_cpu = statistics.median(x[1] for x in b) / args.tokens * 1e6
        w_cpu = statistics.median(x[1] for x in w) / args.tokens * 1e6
        print(f"tokens per answer: {args.tokens}, per-token delay: {args.delay_ms} ms, reps: {args.reps}")
        print(
            f"time to last token  bare {b_wall * 1000:8.1f} ms   workbench {w_wall * 1000:8.1f} ms"
            f"   ratio {w_wall / b_wall:.3f}"
        )
        print(f"CPU per token       bare {b_cpu:8.1f} us   workbench {w_cpu:8.1f} us   ratio {w_cpu / b_cpu:.3f}")
        print("target: both ratios <= 1.05")
        project.close()
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
