"""What the workbench adds over the bare `ollama` client, on the same token stream.

Both sides talk to the same Ollama stand-in (a real HTTP server, run in its own process so its
CPU is not counted), streaming the same N tokens at a fixed per-token delay. Measured per run:
- time to last token (wall), median over repetitions;
- CPU seconds of this process per token (what our plumbing costs: deadlines, metering,
  SQLite row insert + throttled flushes + final update).
Prints the ratios workbench / bare. Target: both within 5% (ratio <= 1.05).

Measured here (2 cores shared with other work, 400 tokens at 2 ms, 15 reps): time to last
token 0.99-1.01; CPU per token 1.04-1.20 over six runs (one interleaved pair ranges 0.8-1.6, so
read several runs). Split by layer (40 reps): the provider alone 0.96-1.04 of bare, with the
resilience layer 1.01-1.05, the whole run_generation ~1.07: what is left is its SQLite row
insert, throttled flushes and final update, plus the identity GET /api/tags (~0.6 ms CPU on the
chat's own connection). The idle deadline is one lazily re-armed timer (`resilience._Deadline`),
not an `asyncio.wait_for` per token (that cost ~1.3). With `--delay-ms 0` the fixed per-answer
cost shows instead.

Run: .venv/bin/python benchmarks/ollama_overhead.py [--tokens 400] [--delay-ms 2] [--reps 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from eval_runner import start_standin  # noqa: E402 - the stand-in in its own process, as there


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
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()

    server, url = start_standin(args.tokens, args.delay_ms / 1000)
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
        pairs = sorted(wi[1] / bi[1] for bi, wi in zip(b, w, strict=True))
        print(
            f"CPU ratio per interleaved pair: min {pairs[0]:.3f}  median {statistics.median(pairs):.3f}"
            f"  max {pairs[-1]:.3f}  (the spread is the noise of a shared machine)"
        )
        print("target: both ratios <= 1.05")
        project.close()
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
