"""
# gridsync: one sync DAG per source contract

Generated from `schemas/sources/*.yaml` (or `$GRIDSYNC_SOURCES_DIR`): adding a contract file adds
a DAG `gridsync_sync_<name>`, with no code. Each run

1. **extract**: reads the department system (its `connection` URL, or the Airflow connection
   named by its `conn_id`) into a new immutable landing batch; an unchanged source lands nothing;
2. **stage**: standardizes and validates the batch into the source's staged records and
   quarantine, and updates the Asset `gridsync://staged/<name>`, which schedules
   `gridsync_publish`.

Both steps are idempotent: rerunning or clearing a task for the same interval gives the same
batch and the same staged state. A task that fails is retried with exponential backoff; once it has
failed for good, the alert callback logs the source and the reason and posts them to
`$GRIDSYNC_ALERT_WEBHOOK_URL` when set. The published warehouse is never touched by a sync.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from pipelines.orchestration import SyncDagSpec, sync_dag_specs, task_defaults
from pipelines.settings import Settings

START_DATE = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")


def sync_dag(spec: SyncDagSpec, settings: Settings) -> None:
    """Declare the sync DAG of one source contract."""

    @dag(
        dag_id=spec.dag_id,
        description=f"Sync {spec.title} into gridsync's staged layer",
        doc_md=__doc__,
        schedule=spec.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=task_defaults(settings, spec.owner),
        tags=["gridsync", "sync", spec.source],
    )
    def sync() -> None:
        @task(multiple_outputs=False)
        def extract(source: str) -> dict[str, object]:
            from pipelines.orchestration import extract_batch

            return extract_batch(source)

        @task(multiple_outputs=False, outlets=[Asset(name=spec.asset_name, uri=spec.asset_uri)])
        def stage(source: str) -> dict[str, object]:
            from pipelines.orchestration import stage_batch

            return stage_batch(source)

        extract(spec.source) >> stage(spec.source)

    sync()


_settings = Settings.from_env()
for _spec in sync_dag_specs(_settings.sources_dir):
    sync_dag(_spec, _settings)
