"""Run every benchmark, one after another: ``python -m benchmarks [name ...]``.

Each benchmark prints its own table and writes its JSON to ``benchmarks/results/``; this runner
adds a closing summary of which ran and how long each took.  Benchmarks are never timed
assertions: the machines are shared and noisy, so read the numbers, do not gate on them.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in HERE.glob("*_bench.py"))
    summary: list[tuple[str, int, float]] = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"], cwd=HERE.parent)
        summary.append((name, code, time.perf_counter() - started))
    print("\n| benchmark | exit | wall s |\n|---|---|---|")
    for name, code, seconds in summary:
        print(f"| {name} | {code} | {seconds:.1f} |")
    print(f"\nJSON results in {HERE / 'results'}")
    return max((code for _, code, _ in summary), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
