"""`workbench runs` with 100,000 stored generations against 100: prints both times and their
ratio (near 1 when listing reads a page with LIMIT, ~1000 if it read every row).
Run: .venv/bin/python benchmarks/runs_listing.py"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures_project import write_project  # noqa: E402
from test_runs_paging import fill_generations  # noqa: E402

from workbench.cli import main  # noqa: E402


def listing_seconds(n: int, tmp: Path, repeats: int = 5) -> float:
    root = write_project(tmp / f"p{n}")
    fill_generations(root / ".workbench" / "runs.db", n)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--project", str(root), "runs"]) == 0
        best = min(best, time.perf_counter() - started)
    return best


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        small, large = listing_seconds(100, Path(tmp)), listing_seconds(100_000, Path(tmp))
    print(f"runs, 100 stored: {small * 1000:.1f} ms; 100,000 stored: {large * 1000:.1f} ms; ratio {large / small:.2f}")
