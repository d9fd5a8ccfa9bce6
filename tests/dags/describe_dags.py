"""Parse the DAG folder in a clean process and print a JSON description of every DAG.

Used by the DAG integrity tests: ``python describe_dags.py`` with AIRFLOW_HOME, the DAG folder and
GRIDSYNC_SOURCES_DIR set in the environment. Also reports which modules parsing the DAG files
imported beyond Airflow itself, so heavy imports at parse time are caught.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _describe(dag: Any) -> dict[str, Any]:
    timetable = dag.timetable
    condition = getattr(timetable, "asset_condition", None)
    return {
        "tags": sorted(dag.tags),
        "owner": dag.owner,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "has_doc_md": bool(dag.doc_md and dag.doc_md.strip().startswith("#")),
        "cron": getattr(timetable, "expression", None),
        "schedule_assets": sorted(a.uri for a in condition.objects) if condition else [],
        "tasks": {
            task.task_id: {
                "downstream": sorted(task.downstream_task_ids),
                "retries": task.retries,
                "retry_exponential_backoff": task.retry_exponential_backoff,
                "has_failure_callback": bool(task.on_failure_callback),
                "outlets": sorted(getattr(o, "uri", str(o)) for o in task.outlets),
            }
            for task in dag.tasks
        },
    }


def main() -> None:
    """Print ``{"import_errors", "modules_added", "dags": {dag_id: description}}``."""
    from airflow.dag_processing.dagbag import DagBag

    before = set(sys.modules)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    added = sorted({name.split(".")[0] for name in set(sys.modules) - before})
    print(
        json.dumps(
            {
                "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
                "modules_added": added,
                "dags": {dag_id: _describe(dag) for dag_id, dag in bag.dags.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
