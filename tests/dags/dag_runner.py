"""Run DAGs with ``dag.test()`` in a clean process: ``python dag_runner.py STEPS.json RESULT.json``.

STEPS is a list of ``{"dag_id": ..., "env": {...}, "conf": {...}}``, run in order; ``env`` is set in
this process before its step (tasks run in process and read the environment when they run).
RESULT gets, per step, the run's id and state, each task's state and try number, the seconds it
took and what the warehouse held afterwards (live snapshot id, landing batches per source).
Airflow is configured through the environment (AIRFLOW_HOME, metadata database).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _warehouse_state(root: Path) -> dict[str, Any]:
    """What a step left in the warehouse: the live snapshot id and the landing batches per source."""
    pointer = root / "CURRENT"
    landing = root / "landing"
    return {
        "current": json.loads(pointer.read_text())["snapshot_id"] if pointer.exists() else None,
        "landing": {
            source.name: sorted(b.name for b in source.iterdir() if not b.name.startswith("."))
            for source in sorted(landing.iterdir())
        }
        if landing.exists()
        else {},
    }


def main(steps_path: Path, result_path: Path) -> None:
    """Parse the DAG folder once, run every step, write the results."""
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    results: list[dict[str, Any]] = []
    for step in json.loads(steps_path.read_text(encoding="utf-8")):
        os.environ.update(step.get("env", {}))
        step_started = time.perf_counter()
        run = bag.dags[step["dag_id"]].test(run_conf=step.get("conf"))
        seconds = round(time.perf_counter() - step_started, 1)
        tasks = {
            ti.task_id: {"state": str(ti.state), "try_number": ti.try_number}
            for ti in run.get_task_instances()
        }
        results.append(
            {
                "dag_id": step["dag_id"],
                "run_id": run.run_id,
                "state": str(run.state),
                "tasks": tasks,
                "seconds": seconds,
                "warehouse": _warehouse_state(Path(os.environ["GRIDSYNC_WAREHOUSE_DIR"])),
            }
        )
    result_path.write_text(json.dumps(results), encoding="utf-8")
    timings = [(r["dag_id"], r["seconds"]) for r in results]
    print(f"dag_runner: {timings}, total {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
