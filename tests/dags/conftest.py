"""Fixtures of the DAG tests: a migrated Airflow metadata database, demo sources, a DAG runner.

Every test gets its own AIRFLOW_HOME under ``tmp_path`` and its own PostgreSQL metadata database,
copied from a template that ``airflow db migrate`` prepared once per session, and dropped afterwards.
Airflow reads its configuration at import, so DAGs are parsed and run in a separate process
(``dag_runner.py``) with that environment, never in the pytest process.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa

from pipelines.airflow_local import (
    drop_database,
    ensure_database,
)
from pipelines.settings import DEFAULT_SOURCES_DIR
from tests.dags.runs import (
    POSTGRES_SERVER,
    SECRET,
    DagRuns,
    make_dag_runs,
    metadata_copy,
    migrated_template,
)

DEMO_RESIDENTS = 300


@pytest.fixture(scope="session")
def metadata_template(
    tmp_path_factory: pytest.TempPathFactory, service_unavailable: Callable[[str, Exception], NoReturn]
) -> Iterator[str]:
    """Name of a metadata database migrated once for the session (dropped at its end)."""
    home = tmp_path_factory.mktemp("airflow-template")
    with migrated_template(home, "gridsync_airflow_template", service_unavailable) as name:
        yield name


@pytest.fixture
def metadata_url(metadata_template: str) -> Iterator[str]:
    """URL of this test's own metadata database, a copy of the template, dropped afterwards."""
    with metadata_copy(metadata_template) as url:
        yield url


@pytest.fixture(scope="module")
def module_metadata_url(metadata_template: str) -> Iterator[str]:
    """Like ``metadata_url``, for a module whose tests check the outcome of the same runs."""
    with metadata_copy(metadata_template) as url:
        yield url


@pytest.fixture(scope="session")
def demo_systems(
    tmp_path_factory: pytest.TempPathFactory, metadata_template: str
) -> Iterator[dict[str, str]]:
    """The four demo systems (small), built once: ``grid`` on PostgreSQL, the others on SQLite.

    Returns their URL variables, and ``GRID_DATABASE``: the name of the grid system's database.
    """
    from pipelines.demo import build_demo

    grid_url = f"{POSTGRES_SERVER}/gridsync_demo_grid_{uuid.uuid4().hex[:12]}"
    ensure_database(grid_url)
    try:
        systems = build_demo(
            tmp_path_factory.mktemp("demo"), residents=DEMO_RESIDENTS, seed=7, urls={"grid": grid_url}
        )
        yield systems.environment() | {"GRID_DATABASE": str(sa.make_url(grid_url).database)}
    finally:
        drop_database(grid_url)


def grid_by_connection(sources: Path, conn_id: str) -> Path:
    """Copy the repository's contracts to ``sources``, with ``grid`` reading an Airflow connection."""
    sources.mkdir()
    for contract in DEFAULT_SOURCES_DIR.glob("*.yaml"):
        text = contract.read_text(encoding="utf-8")
        if contract.stem == "grid":
            assert "connection: ${GRID_URL}" in text
            text = text.replace("connection: ${GRID_URL}", f"conn_id: {conn_id}")
        (sources / contract.name).write_text(text, encoding="utf-8")
    return sources


@pytest.fixture(scope="module")
def demo_dag_runs(
    tmp_path_factory: pytest.TempPathFactory, module_metadata_url: str, demo_systems: dict[str, str]
) -> DagRuns:
    """DAG runs over the demo systems, ``grid`` through the Airflow connection ``gridsync_grid``.

    The connection carries a password (PostgreSQL here trusts local users, so it is not checked):
    the tests look for it wherever it must not be.
    """
    connection = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "password": SECRET,
        "schema": demo_systems["GRID_DATABASE"],
    }
    env = {k: v for k, v in demo_systems.items() if k != "GRID_URL"}
    env["AIRFLOW_CONN_GRIDSYNC_GRID"] = json.dumps(connection)
    tmp_path = tmp_path_factory.mktemp("demo-dag-runs")
    return make_dag_runs(
        tmp_path, module_metadata_url, grid_by_connection(tmp_path / "sources", "gridsync_grid"), env
    )
