"""Time the demo generator: population, department views and SQLite writes, at several sizes.

Usage: ``.venv/bin/python scripts/bench_demo.py [--residents 20000 1000000] [--out DIR]``.
Each size runs in a fresh folder (under a temporary directory unless ``--out`` is given) and
prints the wall time of each step, the rows per source, the total wall and CPU time (CPU time
says more on a busy machine), the process's peak memory so far, and the time of one next-day update.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from pipelines.demo import apply_next_day_update, build_demo


def bench(residents: int, out_dir: Path) -> None:
    """Build one demo of the given size and print what it took."""
    print(f"--- {residents:,} residents -> {out_dir}")
    started, cpu_started = time.perf_counter(), time.process_time()
    demo = build_demo(out_dir, residents=residents, progress=lambda line: print(f"  {line}", flush=True))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rows = sum(demo.row_counts.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  rows: {demo.row_counts} = {rows:,}")
    print(f"  total {elapsed:.1f}s wall, {cpu:.1f}s CPU; peak memory so far {peak_mb:,.0f} MB")
    started = time.perf_counter()
    update = apply_next_day_update(out_dir)
    changed = sum(update.updated.values()) + sum(update.inserted.values())
    print(f"  next-day update: {changed:,} rows changed or added in {time.perf_counter() - started:.1f}s")


def main() -> None:
    """Parse the sizes and run them smallest first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=None, help="keep the demos here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        root = args.out or Path(scratch)
        for residents in sorted(args.residents):
            bench(residents, root / f"demo-{residents}")


if __name__ == "__main__":
    main()
