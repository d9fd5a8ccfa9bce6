"""Airflow metadata databases for tests, and running DAGs with ``dag.test()`` in a child process
against one test's Airflow and warehouse.

Imported by the DAG tests, their fixtures and the real-Airflow end-to-end test
(``from tests.dags.runs import ...``), never through ``conftest``: two conftest modules exist,
and importing one by name picks whichever came first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import sqlalchemy as sa

from pipelines.airflow_local import (
    AirflowSetup,
    airflow_command,
    airflow_environment,
    drop_database,
    ensure_database,
)

POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
RUNNER = Path(__file__).with_name("dag_runner.py")


@contextmanager
def migrated_template(
    home: Path, prefix: str, service_unavailable: Callable[[str, Exception], NoReturn]
) -> Iterator[str]:
    """Name of a new PostgreSQL database that ``airflow db migrate`` prepared, to be copied by tests;
    dropped on exit. An unreachable server goes to ``service_unavailable`` (skip, or fail in CI)."""
    url = f"{POSTGRES_SERVER}/{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        ensure_database(url)
    except sa.exc.DBAPIError as problem:
        service_unavailable("PostgreSQL at 127.0.0.1:5432", problem)
    try:
        setup = AirflowSetup(home=home, database_url=url)
        airflow_command(airflow_environment(setup, dict(os.environ)), "db", "migrate")
        yield str(sa.make_url(url).database)
    finally:
        drop_database(url)


@contextmanager
def metadata_copy(template: str) -> Iterator[str]:
    """URL of a new metadata database copied from ``template``; dropped on exit."""
    url = f"{POSTGRES_SERVER}/gridsync_airflow_{uuid.uuid4().hex[:12]}"
    ensure_database(url, template=template)
    try:
        yield url
    finally:
        drop_database(url)


@dataclass
class DagRuns:
    """Runs DAGs with ``dag.test()`` in a child process against one test's Airflow and warehouse."""

    setup: AirflowSetup
    warehouse: Path
    sources: Path
    env: dict[str, str]
    output: str = ""

    def run(self, *steps: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run each step (``{"dag_id", "env"?, "conf"?}``) in order; return run states per step."""
        spec = self.setup.home / f"steps-{uuid.uuid4().hex[:8]}.json"
        result = spec.with_suffix(".result.json")
        spec.write_text(json.dumps([dict(step) for step in steps]), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(RUNNER), str(spec), str(result)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.output += done.stdout + done.stderr
        assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
        print(*(line for line in done.stdout.splitlines() if line.startswith("dag_runner:")))
        runs: list[dict[str, Any]] = json.loads(result.read_text(encoding="utf-8"))
        return runs

    def xcom_values(self) -> list[str]:
        """Every XCom stored in the metadata database (dag_id, task_id, key, value), as JSON text."""
        engine = sa.create_engine(self.setup.database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.text("select dag_id, task_id, key, value from xcom")).all()
        finally:
            engine.dispose()
        return [json.dumps(list(row), ensure_ascii=False) for row in rows]


def make_dag_runs(tmp_path: Path, metadata_url: str, sources: Path, extra_env: Mapping[str, str]) -> DagRuns:
    """A :class:`DagRuns` for one test: its own AIRFLOW_HOME, warehouse and environment."""
    warehouse = tmp_path / "warehouse"
    setup = AirflowSetup(
        home=tmp_path / "airflow-home",
        database_url=metadata_url,
        secret_key=uuid.uuid4().hex,
        extra_env={
            "GRIDSYNC_SOURCES_DIR": str(sources),
            "GRIDSYNC_WAREHOUSE_DIR": str(warehouse),
            "GRIDSYNC_SYNC_RETRIES": "1",
            "GRIDSYNC_SYNC_RETRY_DELAY_SECONDS": "1",
            **extra_env,
        },
    )
    setup.home.mkdir(parents=True)
    env = airflow_environment(setup, dict(os.environ))
    return DagRuns(setup=setup, warehouse=warehouse, sources=sources, env=env)


SECRET = "Gr1d-S3cret-Passw0rd"
