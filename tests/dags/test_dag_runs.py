"""dag.test() runs of the sync and publish DAGs against the demo systems change the warehouse as expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SECRET, DagRuns

from pipelines.layout import WarehouseLayout
from pipelines.orchestration import safe_run_id
from pipelines.publish import read_published
from pipelines.stage import read_state

pytestmark = [pytest.mark.airflow, pytest.mark.services, pytest.mark.slow]

SOURCES = ["civil_affairs", "grid", "public_security", "social_security"]
PUBLISH = {"dag_id": "gridsync_publish"}


def _sync(source: str) -> dict[str, str]:
    return {"dag_id": f"gridsync_sync_{source}"}


def _files_containing(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_sync_dags_stage_the_publish_dag_publishes_and_reruns_change_nothing(demo_dag_runs: DagRuns) -> None:
    """Syncs stage, never publish; publish makes all four live; rerunning both adds no batch or snapshot."""
    runs = demo_dag_runs.run(*(_sync(s) for s in SOURCES), PUBLISH, _sync("public_security"), PUBLISH)
    assert [r["state"] for r in runs] == ["success"] * 7, runs
    assert all(t["state"] == "success" for r in runs for t in r["tasks"].values())
    synced, published, resynced, republished = runs[3], runs[4], runs[5], runs[6]

    assert synced["warehouse"]["current"] is None, "a sync must not publish"
    assert {s: len(b) for s, b in synced["warehouse"]["landing"].items()} == dict.fromkeys(SOURCES, 1)
    assert published["warehouse"]["current"] is not None
    assert resynced["warehouse"]["landing"] == synced["warehouse"]["landing"], "unchanged source: no batch"
    assert republished["warehouse"]["current"] == published["warehouse"]["current"], "nothing new"

    layout = WarehouseLayout(demo_dag_runs.warehouse)
    batches = read_published(layout, "load_batch")
    assert batches is not None and sorted(batches.column("source_system").to_pylist()) == SOURCES
    staged = sum(read_state(layout, s).records.num_rows for s in SOURCES)
    links = read_published(layout, "resident_source_link")
    residents = read_published(layout, "resident")
    assert links is not None and links.num_rows == staged
    assert residents is not None and 0 < residents.num_rows < staged
    first = json.loads((layout.runs / f"{safe_run_id(published['run_id'])}.json").read_text())
    second = json.loads((layout.runs / f"{safe_run_id(republished['run_id'])}.json").read_text())
    assert (first["published"], second["published"]) == (True, False)
    assert first["sources"] == second["sources"] and sorted(first["sources"]) == SOURCES


def test_the_grid_connection_password_appears_in_no_file_log_or_xcom(demo_dag_runs: DagRuns) -> None:
    """Grid is read through an Airflow connection whose password is nowhere in warehouse, logs or XComs."""
    runs = demo_dag_runs.run(_sync("grid"))
    assert runs[0]["state"] == "success" and runs[0]["warehouse"]["landing"]["grid"], runs
    secret = SECRET.encode()
    assert _files_containing(demo_dag_runs.warehouse, secret) == []
    assert _files_containing(demo_dag_runs.setup.home, secret) == []
    assert SECRET not in demo_dag_runs.output
    xcoms = demo_dag_runs.xcom_values()
    assert len(xcoms) == 2 and not [x for x in xcoms if SECRET in x]
