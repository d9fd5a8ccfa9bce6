"""
# gridsync: reconcile and publish

Scheduled on the Assets of the sync DAGs (`gridsync://staged/<name>`): whenever a source has a
newly staged batch, this DAG resolves identities across every staged source, validates, and
publishes a new warehouse snapshot, made live in one atomic step.

- **Never two publishes at once**: one active run at a time, and a file lock on the warehouse
  that the `gridsync` command line takes too.
- **Last good batch**: each source contributes its last successfully staged batch; a source whose
  latest sync failed is named in the run summary (`runs/run-<time>-airflow-<run id>.json` in the warehouse,
  and this task's return value) with the batch it was published from.
- **Idempotent**: when every staged batch is already in the live snapshot (a rerun, a cleared
  task, or a second Asset event) nothing is written. Trigger with `{"force": true}` to publish
  anyway.
- A blocking failure (for example a critical data-quality check) fails the task, keeps the last
  good snapshot live, and calls the alert callback.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetAny, Param, dag, task

from pipelines.orchestration import PUBLISH_DAG_ID, sync_dag_specs, task_defaults
from pipelines.settings import Settings

_settings = Settings.from_env()
_assets = [Asset(name=s.asset_name, uri=s.asset_uri) for s in sync_dag_specs(_settings.sources_dir)]


@dag(
    dag_id=PUBLISH_DAG_ID,
    description="Resolve identities across staged sources, validate and publish a snapshot",
    doc_md=__doc__,
    schedule=AssetAny(*_assets) if _assets else None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(_settings, "gridsync"),
    params={"force": Param(False, type="boolean", description="publish even if nothing changed")},
    tags=["gridsync", "publish"],
)
def gridsync_publish() -> None:
    @task(multiple_outputs=False, max_active_tis_per_dag=1)
    def publish(run_id: str | None = None, params: dict[str, object] | None = None) -> dict[str, object]:
        from pipelines.orchestration import publish_staged

        return publish_staged(str(run_id), force=bool((params or {}).get("force")))

    publish()


gridsync_publish()
