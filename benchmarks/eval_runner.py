"""How much the eval runner adds on top of the model, and how fast a fully cached re-run is.

1. Concurrency efficiency. The Ollama stand-in (its own process, so its CPU is not ours)
   streams every answer at a fixed per-token delay. A single case's latency L is measured first,
   in the same run; then N cases run at concurrency C with the cache off. The ideal wall time is
   N x L / C; the printed ratio wall / ideal should stay <= 1.15 (the runner adds little).
2. Cached re-run. N cases are run once to fill the cache, then the same eval set again; every
   case must come from the cache, and the re-run's wall time should be < 5 s for 500 cases.

Run: .venv/bin/python benchmarks/eval_runner.py [--cases 40] [--tokens 20] [--delay-ms 20]
     [--concurrency 1 4 8] [--cached-cases 500]
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

SERVER = """
import sys
sys.path.insert(0, {tests!r})
from ollama_standin import OllamaStandin, StandinConfig
cfg = StandinConfig(reply=[f"tok{{i}} " for i in range({n})], token_delay_s={delay})
with OllamaStandin(cfg) as s:
    print(s.url, flush=True)
    sys.stdin.read()
"""


def start_standin(tokens: int, delay_s: float) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(tests=str(ROOT / "tests"), n=tokens, delay=delay_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return server, server.stdout.readline().strip()


def make_project(url: str, cases: int):
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.project import Project

    tmp = Path(tempfile.mkdtemp(prefix="evalbench-"))
    (tmp / "workbench.yaml").write_text(
        f"model: {{provider: ollama, name: llama3.2, host: '{url}', options: {{temperature: 0}}}}\n"
        "fallback: []\ntimeouts: {first_token_s: 60, idle_s: 30, total_s: 600}\n",
        encoding="utf-8",
    )
    write_cases(tmp / "bench.yaml", cases)
    return Project.open(tmp), load_evalset(tmp / "bench.yaml")


def write_cases(path: Path, cases: int) -> None:
    """`bench.yaml`: N distinct questions, each passing when the answer has `tok1`."""
    lines = ["name: bench", "cases:"]
    for i in range(cases):
        lines += [
            f"  - id: c{i}",
            f"    inputs: {{question: 'question number {i}'}}",
            "    assert:",
            "      - {type: contains, value: tok1}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def timed_run(project, evalset, variant, **kw) -> tuple[float, dict]:
    from workbench.core.evals.runner import EvalRunner

    t0 = time.perf_counter()
    out = await EvalRunner(project, evalset, variant, **kw).run()
    return time.perf_counter() - t0, out.summary


def concurrency_bench(args) -> list[tuple[int, float]]:
    from workbench.core.evals.evalset import parse_evalset
    from workbench.core.variants import resolve_variant

    server, url = start_standin(args.tokens, args.delay_ms / 1000)
    ratios = []
    try:
        project, evalset = make_project(url, args.cases)
        variant = resolve_variant(project)
        single = parse_evalset("cases:\n  - id: one\n    inputs: {question: single}\n", "one.yaml")

        async def go():
            await timed_run(project, single, variant, use_cache=False)  # warm-up
            lat = statistics.median([(await timed_run(project, single, variant, use_cache=False))[0] for _ in range(5)])
            print(
                f"single-case latency L = {lat * 1000:.0f} ms "
                f"({args.tokens} tokens x {args.delay_ms} ms; includes storing and scoring)"
            )
            for c in args.concurrency:
                wall, summary = await timed_run(project, evalset, variant, concurrency=c, use_cache=False)
                assert summary["passed"] == args.cases, summary
                ideal = args.cases * lat / c
                ratios.append((c, wall / ideal))
                print(
                    f"N={args.cases} C={c:<2}  wall {wall:6.2f} s   ideal N*L/C {ideal:6.2f} s   "
                    f"ratio {wall / ideal:.3f}"
                )

        asyncio.run(go())
        project.close()
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    return ratios


def cached_bench(args) -> float:
    from workbench.core.variants import resolve_variant

    server, url = start_standin(3, 0.0)
    try:
        project, evalset = make_project(url, args.cached_cases)
        variant = resolve_variant(project)

        async def go():
            fill, _ = await timed_run(project, evalset, variant, concurrency=8)
            again, summary = await timed_run(project, evalset, variant, concurrency=8)
            assert summary["cache_hits"] == args.cached_cases, summary["cache_hits"]
            print(
                f"{args.cached_cases} cases: first run {fill:.2f} s, fully cached re-run {again:.2f} s "
                f"({summary['cache_hits']} cache hits)"
            )
            return again

        again = asyncio.run(go())
        project.close()
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    return again


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--cached-cases", type=int, default=500)
    args = parser.parse_args()
    ratios = concurrency_bench(args)
    again = cached_bench(args)
    worst = max(r for _, r in ratios)
    print(
        f"target: wall/ideal <= 1.15 at every concurrency (worst {worst:.3f}: "
        f"{'ok' if worst <= 1.15 else 'MISSED'}); cached re-run of {args.cached_cases} < 5 s "
        f"({again:.2f} s: {'ok' if again < 5 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
