"""Run every benchmark in this folder, one after another, and print their ratio lines.

Each script measures its own baseline in the same run and prints a ratio against it (never an
absolute number judged alone). Run: `make bench`, or `python benchmarks/run_all.py NAME...`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run_all.py")
    if argv:
        scripts = [p for p in scripts if any(name in p.stem for name in argv)]
    failed = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.stem}: exit {done.returncode} in {time.perf_counter() - start:.0f} s")
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
