"""Every DAG imports cleanly in a fresh process, with owner, tags, retries and the expected task graph."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.airflow_local import DAGS_FOLDER, AirflowSetup, airflow_environment
from pipelines.settings import DEFAULT_SOURCES_DIR, PROJECT_ROOT

DESCRIBE = Path(__file__).with_name("describe_dags.py")
SOURCES = ["civil_affairs", "grid", "public_security", "social_security"]
SCHEDULES = {"civil_affairs": "0 2 * * *", "grid": "30 1 * * *", "public_security": "0 1 * * *"}
HEAVY = {
    "pandas",
    "pyarrow",
    "duckdb",
    "great_expectations",
    "splink",
    "pipelines.flow",
    "psycopg2",
    "pymysql",
}

HOUSING = """
name: housing
title: 住建 租户 (tenants)
owner: 区住建局
connection: ${HOUSING_URL}
table: tenants
primary_key: tid
schedule: "15 3 * * 1"
fields:
  id_number: sfz
  name: xm
"""


def _describe(tmp_path: Path, sources: Path) -> dict[str, Any]:
    setup = AirflowSetup(home=tmp_path / "airflow-home", database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    env = airflow_environment(setup, dict(os.environ)) | {"GRIDSYNC_SOURCES_DIR": str(sources)}
    done = subprocess.run(
        [sys.executable, str(DESCRIBE)], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    description: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return description


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The DAGs generated from the repository's contracts, described by a fresh process."""
    return _describe(tmp_path_factory.mktemp("integrity"), DEFAULT_SOURCES_DIR)


def test_dags_import_without_errors_one_sync_dag_per_contract(described: dict[str, Any]) -> None:
    """Four contracts give four sync DAGs and one publish DAG, and nothing fails to import."""
    assert described["import_errors"] == {}
    assert sorted(described["dags"]) == ["gridsync_publish"] + [f"gridsync_sync_{s}" for s in SOURCES]


def test_every_dag_has_owner_tags_retries_backoff_alerts_and_docs(described: dict[str, Any]) -> None:
    """No DAG runs with Airflow's default owner, without tags, retries, an alert callback or docs."""
    for dag_id, dag in described["dags"].items():
        assert dag["owner"] not in ("", "airflow"), dag_id
        assert "gridsync" in dag["tags"], dag_id
        assert dag["catchup"] is False and dag["max_active_runs"] == 1, dag_id
        assert dag["has_doc_md"], dag_id
        for task_id, task in dag["tasks"].items():
            assert task["retries"] == 3 and task["retry_exponential_backoff"] == 2.0, (dag_id, task_id)
            assert task["has_failure_callback"], (dag_id, task_id)


def test_sync_dags_extract_then_stage_into_their_asset_on_the_contract_schedule(
    described: dict[str, Any],
) -> None:
    """Each sync DAG is extract >> stage; stage updates gridsync://staged/<source>; cron from the contract."""
    for source in SOURCES:
        dag = described["dags"][f"gridsync_sync_{source}"]
        assert dag["tasks"]["extract"]["downstream"] == ["stage"]
        assert dag["tasks"]["stage"] == dag["tasks"]["stage"] | {
            "downstream": [],
            "outlets": [f"gridsync://staged/{source}"],
        }
        assert source in dag["tags"]
        if source in SCHEDULES:
            assert dag["cron"] == SCHEDULES[source]
    assert described["dags"]["gridsync_sync_grid"]["owner"] == "区社会治理网格化服务中心"


def test_publish_dag_is_scheduled_on_every_source_asset(described: dict[str, Any]) -> None:
    """The publish DAG has one task and runs when any source's staged Asset is updated."""
    dag = described["dags"]["gridsync_publish"]
    assert list(dag["tasks"]) == ["publish"]
    assert dag["schedule_assets"] == [f"gridsync://staged/{s}" for s in SOURCES]


def test_parsing_the_dags_imports_nothing_heavy(described: dict[str, Any]) -> None:
    """DAG files import no data library or database driver at parse time."""
    assert not HEAVY & set(described["modules_added"]), described["modules_added"]


def test_adding_a_contract_file_adds_a_dag(tmp_path: Path) -> None:
    """A fifth contract file gives a fifth sync DAG, whose Asset the publish DAG consumes, with no code."""
    sources = tmp_path / "sources"
    shutil.copytree(DEFAULT_SOURCES_DIR, sources)
    (sources / "housing.yaml").write_text(HOUSING, encoding="utf-8")
    dags = _describe(tmp_path, sources)["dags"]
    assert len(dags) == 6
    assert dags["gridsync_sync_housing"]["cron"] == "15 3 * * 1"
    assert dags["gridsync_sync_housing"]["owner"] == "区住建局"
    assert "gridsync://staged/housing" in dags["gridsync_publish"]["schedule_assets"]


def test_dags_follow_airflow_3_idioms() -> None:
    """``ruff check dags/ --select AIR3`` finds nothing."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [str(ruff), "check", str(DAGS_FOLDER), "--select", "AIR3"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout
