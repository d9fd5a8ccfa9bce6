"""dag.test() runs of the sync and publish DAGs against the demo systems change the warehouse as expected.

The runs happen once per module (``runs``); each test checks one aspect of their outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.layout import WarehouseLayout
from pipelines.publish import read_published
from pipelines.runs import read_run_summaries
from pipelines.stage import read_state
from tests.dags.runs import SECRET, DagRuns

pytestmark = [pytest.mark.airflow, pytest.mark.services, pytest.mark.slow]

SOURCES = ["civil_affairs", "grid", "public_security", "social_security"]
PUBLISH = {"dag_id": "gridsync_publish"}


def _sync(source: str) -> dict[str, str]:
    return {"dag_id": f"gridsync_sync_{source}"}


@pytest.fixture(scope="module")
def runs(demo_dag_runs: DagRuns) -> list[dict[str, Any]]:
    """Sync all four, publish, then sync public_security and publish again (a rerun)."""
    return demo_dag_runs.run(*(_sync(s) for s in SOURCES), PUBLISH, _sync("public_security"), PUBLISH)


def test_every_run_and_task_succeeds(runs: list[dict[str, Any]]) -> None:
    """Four syncs (grid through an Airflow connection), a publish, and both again all succeed."""
    assert [r["state"] for r in runs] == ["success"] * 7, runs
    assert [sorted(r["tasks"]) for r in runs[:4]] == [["extract", "stage"]] * 4
    assert all(t == {"state": "success", "try_number": 1} for r in runs for t in r["tasks"].values())


def test_syncs_stage_and_only_the_publish_makes_a_snapshot_live(
    runs: list[dict[str, Any]], demo_dag_runs: DagRuns
) -> None:
    """After the syncs nothing is live; after the publish all four sources' records are."""
    synced, published = runs[3]["warehouse"], runs[4]["warehouse"]
    assert synced["current"] is None, "a sync must not publish"
    assert {s: len(b) for s, b in synced["landing"].items()} == dict.fromkeys(SOURCES, 1)
    assert published["current"] is not None
    layout = WarehouseLayout(demo_dag_runs.warehouse)
    batches = read_published(layout, "load_batch")
    assert batches is not None and sorted(batches.column("source_system").to_pylist()) == SOURCES
    staged = sum(read_state(layout, s).records.num_rows for s in SOURCES)
    links = read_published(layout, "resident_source_link")
    residents = read_published(layout, "resident")
    assert links is not None and links.num_rows == staged
    assert residents is not None and 0 < residents.num_rows < staged


def test_rerunning_a_sync_and_the_publish_adds_no_batch_and_no_snapshot(
    runs: list[dict[str, Any]], demo_dag_runs: DagRuns
) -> None:
    """An unchanged source lands nothing; a publish with nothing new keeps the live snapshot."""
    assert runs[5]["warehouse"]["landing"] == runs[3]["warehouse"]["landing"]
    assert runs[6]["warehouse"]["current"] == runs[4]["warehouse"]["current"]
    by_origin = {s["origin"]: s for s in read_run_summaries(WarehouseLayout(demo_dag_runs.warehouse))}
    summaries = [by_origin[f"airflow:{r['run_id']}"] for r in (runs[4], runs[6])]
    assert [s["published"] for s in summaries] == [True, False]
    assert summaries[0]["batches"] == summaries[1]["batches"] and sorted(summaries[0]["batches"]) == SOURCES


def _files_containing(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_the_grid_connection_password_appears_in_no_file_log_or_xcom(
    runs: list[dict[str, Any]], demo_dag_runs: DagRuns
) -> None:
    """Grid was read through an Airflow connection whose password is nowhere in warehouse, logs or XComs."""
    assert runs[1]["dag_id"] == "gridsync_sync_grid" and runs[1]["warehouse"]["landing"]["grid"]
    secret = SECRET.encode()
    assert _files_containing(demo_dag_runs.warehouse, secret) == []
    assert _files_containing(demo_dag_runs.setup.home, secret) == []
    assert SECRET not in demo_dag_runs.output
    xcoms = demo_dag_runs.xcom_values()  # one return value per task run
    assert len(xcoms) == 4 * 2 + 1 + 2 + 1 and not [x for x in xcoms if SECRET in x]
