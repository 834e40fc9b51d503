"""An eval across several model servers (`model.hosts`): pace, and a host dying mid-run.

Three Ollama stand-ins (each its own process, streaming at a fixed per-token delay) serve one
model, each with concurrency C. A single case's latency L (the model call as the run records it,
`latency_ms`) is measured first, in the same run; everything else the runner does per case
(storing, scoring) and per run (the digest check on every host) counts against the ratio.

1. Pace: N cases; the ideal wall time is N x L / sum(C), and wall / ideal should stay <= 1.15.
2. A host killed at 30%: the same N cases, and once 30% are done one stand-in is SIGKILLed
   mid-stream. Every case must still be answered exactly once (one result per case, all ok,
   none lost); cases cut mid-stream are restarted on another host with their partial attempt in
   the attempt log. The ideal here is 0.3 N x L / sum(C) + 0.7 N x L / (sum(C) - C).

Run: .venv/bin/python benchmarks/eval_hosts.py [--cases 300] [--tokens 40] [--delay-ms 25]
     [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_runner import start_standin, write_cases  # noqa: E402 - the same stand-in and cases


def make_project(urls: list[str], concurrency: int, cases: int):
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.project import Project

    tmp = Path(tempfile.mkdtemp(prefix="evalhosts-"))
    hosts = ", ".join(f"{{url: '{u}', concurrency: {concurrency}}}" for u in urls)
    (tmp / "workbench.yaml").write_text(
        f"model: {{provider: ollama, name: llama3.2, hosts: [{hosts}], options: {{temperature: 0}}}}\n"
        "fallback: []\ntimeouts: {connect_s: 1, first_token_s: 60, idle_s: 30, total_s: 600}\n"
        "retries: {count: 2, backoff_s: 0.05}\n",
        encoding="utf-8",
    )
    write_cases(tmp / "bench.yaml", cases)
    return Project.open(tmp), load_evalset(tmp / "bench.yaml")


async def timed(project, evalset, variant, **kw):
    from workbench.core.evals.runner import EvalRunner

    t0 = time.perf_counter()
    out = await EvalRunner(project, evalset, variant, use_cache=False, **kw).run()
    return time.perf_counter() - t0, out


def counts(project, outcome, cases: int) -> dict[str, int]:
    """What the run stored: results, distinct cases, ok answers, restarted and failed-over tries."""
    ids = [r.case_id for r in outcome.results]
    logs = [
        json.loads(row[0] or "[]")
        for row in project.store.db.execute(
            "select attempt_log from generations where id in (select generation_id from eval_results where run_id = ?)",
            [outcome.run_id],
        ).fetchall()
    ]
    return {
        "results": len(ids),
        "distinct": len(set(ids)),
        "ok": sum(r.status == "ok" for r in outcome.results),
        "lost": cases - sum(r.status == "ok" for r in outcome.results),
        "restarted_mid_stream": sum(any(a.get("partial_output") for a in log) for log in logs),
        "moved_before_first_token": sum(
            1 for log in logs for a in log if a.get("host") and not a.get("partial_output")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--delay-ms", type=float, default=25.0)
    parser.add_argument("--concurrency", type=int, default=4, help="per host")
    args = parser.parse_args()
    from workbench.core.evals.evalset import parse_evalset
    from workbench.core.variants import resolve_variant

    servers = [start_standin(args.tokens, args.delay_ms / 1000) for _ in range(3)]
    urls = [url for _, url in servers]
    total_c = 3 * args.concurrency
    ok = True
    try:
        project, evalset = make_project(urls, args.concurrency, args.cases)
        variant = resolve_variant(project)
        single = parse_evalset("cases:\n  - id: one\n    inputs: {question: single}\n", "one.yaml")

        async def pace() -> float:
            await timed(project, single, variant)  # warm-up
            lat = statistics.median(
                [(await timed(project, single, variant))[1].results[0].latency_ms / 1000 for _ in range(5)]
            )
            print(f"single-case latency L = {lat * 1000:.0f} ms ({args.tokens} tokens x {args.delay_ms:g} ms)")
            wall, outcome = await timed(project, evalset, variant)
            ideal = args.cases * lat / total_c
            c = counts(project, outcome, args.cases)
            print(
                f"3 hosts x C={args.concurrency}: N={args.cases} wall {wall:.2f} s, ideal N*L/sumC "
                f"{ideal:.2f} s, ratio {wall / ideal:.3f}; {c}"
            )
            return lat, wall / ideal, c

        lat, ratio, c1 = asyncio.run(pace())
        ok &= ratio <= 1.15 and c1["ok"] == args.cases

        victim, _ = servers[1]

        def on_progress(p) -> None:
            if p.done >= 0.3 * p.total and victim.poll() is None:
                victim.kill()  # SIGKILL: its open streams are cut mid-token

        async def killed():
            return await timed(project, evalset, variant, on_progress=on_progress)

        wall, outcome = asyncio.run(killed())
        c2 = counts(project, outcome, args.cases)
        ideal = 0.3 * args.cases * lat / total_c + 0.7 * args.cases * lat / (total_c - args.concurrency)
        print(f"host {urls[1]} killed at 30%: wall {wall:.2f} s, ideal {ideal:.2f} s, ratio {wall / ideal:.3f}; {c2}")
        once = c2["results"] == c2["distinct"] == c2["ok"] == args.cases and c2["lost"] == 0
        ok &= once
        project.close()
    finally:
        for server, _ in servers:
            if server.poll() is None:
                server.stdin.close()
                server.wait(timeout=10)
    print(
        f"target: wall/ideal <= 1.15 with 3 hosts ({ratio:.3f}: {'ok' if ratio <= 1.15 else 'MISSED'}); "
        f"one host killed at 30%: every case answered exactly once, none lost "
        f"({'ok' if once else 'MISSED'})"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
