"""Benchmark: the whole flow on demo systems of N residents; prints time per step and peak memory.

Not a test. Each measured step runs in a child process of its own, so its peak resident memory
(from ``wait4``) is its own. Usage:

    .venv/bin/python scripts/benchmark.py --residents 100000 1000000 [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent


class TreeMemory:
    """Samples the summed resident memory of a process and all its descendants (worker pools too)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root, self.interval, self.peak = psutil.Process(pid), interval, 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                processes = [self.root, *self.root.children(recursive=True)]
                total = sum(p.memory_info().rss for p in processes if p.is_running())
            except psutil.Error:
                continue
            self.peak = max(self.peak, total)

    def stop(self) -> float:
        """Stop sampling; return the peak in MiB."""
        self.stopped.set()
        self.thread.join()
        return self.peak / 2**20


def run_child(arguments: list[str], environ: dict[str, str]) -> tuple[float, float, str]:
    """Run a child process; return its wall seconds, peak RSS of its process tree in MiB, stdout."""
    started = time.perf_counter()
    child = subprocess.Popen(arguments, env=environ, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    memory = TreeMemory(child.pid)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    peak = max(memory.stop(), usage.ru_maxrss / 1024)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"benchmark: {' '.join(arguments[:4])} failed ({child.returncode}):\n{output}")
    return elapsed, peak, output


def build_systems(folder: Path, residents: int) -> tuple[float, float, dict[str, str]]:
    """Generate the demo department systems; return time, peak memory and their environment."""
    script = (
        "import json, sys; from pathlib import Path; from pipelines.demo import build_demo; "
        f"s = build_demo(Path({str(folder)!r}), residents={residents}); "
        "print(json.dumps(s.environment()))"
    )
    seconds, peak, output = run_child([PYTHON, "-c", script], dict(os.environ))
    return seconds, peak, json.loads(output.strip().splitlines()[-1])


def run_flow(warehouse: Path, environ: dict[str, str]) -> tuple[float, float, dict[str, object]]:
    """Run ``gridsync run`` once; return time, peak memory and the run summary."""
    arguments = [PYTHON, "-m", "pipelines.cli", "run", "--warehouse", str(warehouse)]
    seconds, peak, _ = run_child(arguments, {**os.environ, **environ})
    newest = sorted((warehouse / "runs").glob("*.json"))[-1]
    return seconds, peak, json.loads(newest.read_text())


def next_day_update(folder: Path, fraction: float) -> float:
    """Apply the demo's next-day update in place; return its time."""
    script = (
        "from pathlib import Path; from pipelines.demo import apply_next_day_update; "
        f"apply_next_day_update(Path({str(folder)!r}), fraction={fraction})"
    )
    seconds, _, _ = run_child([PYTHON, "-c", script], dict(os.environ))
    return seconds


def score(warehouse: Path, truth: Path, before_snapshot: str | None = None) -> dict[str, object]:
    """Crosswalk quality against the demo's ground truth (and id stability since a snapshot)."""
    arguments = [PYTHON, "-m", "pipelines.cli", "evaluate", "--warehouse", str(warehouse)]
    arguments += ["--truth", str(truth)]
    if before_snapshot:
        arguments += ["--before-snapshot", before_snapshot]
    _, _, output = run_child(arguments, dict(os.environ))
    return dict(json.loads(output))


def report_run(label: str, seconds: float, peak: float, summary: dict[str, object]) -> None:
    steps = summary["step_seconds"]
    assert isinstance(steps, dict)
    print(f"  {label}: {seconds:.1f}s wall, peak RSS of the process tree {peak:.0f} MiB")
    for step, step_seconds in steps.items():
        print(f"      {step:<28}{step_seconds:8.1f}s")
    rows = sum(s["batch"]["row_count"] for s in summary["syncs"])  # type: ignore[index,union-attr]
    print(f"      rows extracted {rows}, residents {summary['residents']}, links {summary['links']}")


def linkage_seconds(summary: dict[str, object]) -> float:
    """Seconds of the run's identity-resolution (linkage) step."""
    steps = summary["step_seconds"]
    assert isinstance(steps, dict)
    return float(steps["resolve"])


def benchmark(residents: int, root: Path) -> None:
    folder, warehouse = root / f"systems-{residents}", root / f"warehouse-{residents}"
    print(f"\n== {residents:,} residents ==")
    seconds, peak, environ = build_systems(folder, residents)
    print(f"  generate demo systems: {seconds:.1f}s, peak RSS {peak:.0f} MiB (not part of the flow)")
    full_seconds, peak, summary = run_flow(warehouse, environ)
    report_run("full run", full_seconds, peak, summary)
    full_linkage, full_snapshot = linkage_seconds(summary), str(summary["snapshot_id"])
    print(f"      quality vs truth: {score(warehouse, folder / 'truth.parquet')}")
    seconds, peak, summary = run_flow(warehouse, environ)
    report_run("rerun, no change", seconds, peak, summary)
    next_day_update(folder, 0.03)
    seconds, peak, summary = run_flow(warehouse, environ)
    report_run("next-day run after a 3% change", seconds, peak, summary)
    print(f"      next-day run took {seconds / full_seconds:.0%} of the full run")
    print(f"      next-day linkage took {linkage_seconds(summary) / full_linkage:.1%} of the full run's")
    quality = score(warehouse, folder / "truth.parquet", full_snapshot)
    print(f"      quality vs truth, id stability since the full run: {quality}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="keep the systems and warehouses in this folder")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="gridsync-bench-"))
    print(f"gridsync benchmark on {os.cpu_count()} cores; files in {root}")
    try:
        for residents in args.residents:
            benchmark(residents, root)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
