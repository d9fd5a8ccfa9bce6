"""The one publish path: every entry publishes alike, the snapshot id is minted once, and every run,
a crashed one included, leaves a frozen summary that the auditors' run index reads."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from pipelines import flow
from pipelines.cli import main
from pipelines.contracts import load_contract
from pipelines.layout import WarehouseLayout, read_json
from pipelines.orchestration import publish_staged
from pipelines.publish import current_snapshot
from pipelines.query import run_query
from pipelines.report.figures import read_runs
from pipelines.runs import read_run_summaries
from pipelines.settings import Settings


def rows(warehouse: Path, sql: str) -> list[dict[str, Any]]:
    return run_query(WarehouseLayout(warehouse), sql).to_pylist()


def change_patient(root: Path, changed_at: str) -> None:
    clinic = sqlite3.connect(root / "clinic.sqlite")
    clinic.execute(
        "update patients set full_name = 'Anna Weber', changed_at = ? where patient_no = 'p1'", (changed_at,)
    )
    clinic.commit()
    clinic.close()


def test_load_batch_names_the_snapshot_that_was_published(systems) -> None:
    """Each batch's snapshot_id is the snapshot it was first published in, which exists."""
    sources, warehouse, environ = systems
    first = flow.run_flow(sources, warehouse, environ)
    change_patient(warehouse.parent, "2026-02-01 00:00:00")
    second = flow.run_flow(sources, warehouse, environ)
    batches = rows(warehouse, "select batch_id, snapshot_id from load_batch order by batch_id")
    assert first.snapshot_id != second.snapshot_id
    assert sorted({b["snapshot_id"] for b in batches}) == sorted([first.snapshot_id, second.snapshot_id])
    assert [b["snapshot_id"] for b in batches if b["batch_id"] == second.syncs[0].batch.batch_id] == [
        second.snapshot_id
    ]
    assert (warehouse / "snapshots" / str(first.snapshot_id)).is_dir()


def test_a_crashed_run_leaves_its_summary(systems, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that dies in resolve writes runs/<id>.json with the error; the live snapshot stays."""
    sources, warehouse, environ = systems
    first = flow.run_flow(sources, warehouse, environ)
    change_patient(warehouse.parent, "2026-02-01 00:00:00")

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("identity store on fire")

    monkeypatch.setattr(flow, "resolve_identities", broken)
    with pytest.raises(RuntimeError, match="on fire"):
        flow.run_flow(sources, warehouse, environ)
    summaries = read_run_summaries(WarehouseLayout(warehouse))
    assert [s["status"] for s in summaries] == ["published", "failed"]
    assert summaries[-1]["error"] == "identity store on fire"
    assert summaries[-1]["finished_at"] is not None
    assert current_snapshot(WarehouseLayout(warehouse)).snapshot_id == first.snapshot_id
    assert [r.error for r in read_runs(WarehouseLayout(warehouse))] == ["identity store on fire", None]


def test_a_killed_run_is_reported_by_the_next_one(systems) -> None:
    """A run killed before its end (only its start marker left) gets a failed summary next time."""
    sources, warehouse, environ = systems
    flow.run_flow(sources, warehouse, environ)
    (warehouse / "runs" / ".run-20260101T000000000000Z.started").write_text('{"origin": "cli"}')
    flow.run_flow(sources, warehouse, environ)
    killed = read_json(warehouse / "runs" / "run-20260101T000000000000Z.json")
    assert killed["status"] == "failed" and "stopped before it finished" in killed["error"]
    assert not list((warehouse / "runs").glob(".*.started"))


def test_airflow_and_reconcile_runs_reach_the_run_index(systems, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's publish and `gridsync reconcile` write run-*.json summaries like `gridsync run`,
    and find an unchanged warehouse unchanged (same input fingerprint)."""
    sources, warehouse, environ = systems
    flow.run_flow(sources, warehouse, environ)
    settings = Settings(sources_dir=sources, warehouse_dir=warehouse, environ=environ)
    result = publish_staged("manual__2026-01-01", settings=settings)
    for name, value in {
        "GRIDSYNC_WAREHOUSE_DIR": str(warehouse),
        "GRIDSYNC_SOURCES_DIR": str(sources),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["reconcile"]) == 0
    runs = read_runs(WarehouseLayout(warehouse))
    assert [r.origin for r in runs] == ["cli", "airflow:manual__2026-01-01", "cli"]
    summaries = read_run_summaries(WarehouseLayout(warehouse))
    assert [s["status"] for s in summaries] == ["published", "unchanged", "unchanged"]
    assert result["published"] is False and result["run_id"] == runs[1].run_id


def test_every_entry_honours_the_grants_folder_of_the_settings(
    systems, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gridsync run` builds the department databases of GRIDSYNC_GRANTS_DIR, as Airflow does."""
    sources, warehouse, environ = systems
    grants = tmp_path / "grants"
    grants.mkdir()
    (grants / "clinic.yaml").write_text(
        "department: clinic\ntitle: Clinic\ntables:\n  resident:\n    columns: [resident_id]\n"
    )
    for name, value in {**environ, "GRIDSYNC_GRANTS_DIR": str(grants)}.items():
        monkeypatch.setenv(name, value)
    assert main(["run", "--sources", str(sources), "--warehouse", str(warehouse)]) == 0
    departments = current_snapshot(WarehouseLayout(warehouse)).folder / "departments"
    assert [p.name for p in departments.glob("*.duckdb")] == ["clinic.duckdb"]


def test_a_sync_during_a_publish_cannot_make_it_inconsistent(
    systems, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `gridsync sync` started while a run resolves waits for its publish: every published record
    has a link of its own batch; the sync's batch is staged afterwards."""
    sources, warehouse, environ = systems
    flow.run_flow(sources, warehouse, environ)
    change_patient(warehouse.parent, "2026-02-01 00:00:00")
    (warehouse.parent / "later.sqlite").write_bytes((warehouse.parent / "clinic.sqlite").read_bytes())
    change_patient(warehouse.parent, "2026-01-15 00:00:00")
    clinic = load_contract(sources / "clinic.yaml")
    later = {**environ, "CLINIC_URL": f"sqlite:///{warehouse.parent / 'later.sqlite'}"}
    resolve = flow.resolve_identities
    syncs: list[threading.Thread] = []

    def resolve_while_a_sync_starts(*args: Any, **kwargs: Any) -> Any:
        resolution = resolve(*args, **kwargs)
        sync = threading.Thread(target=flow.sync_source, args=(clinic, WarehouseLayout(warehouse), later))
        sync.start()
        sync.join(timeout=3)  # without the lock, the sync applies its batch here
        syncs.append(sync)
        return resolution

    monkeypatch.setattr(flow, "resolve_identities", resolve_while_a_sync_starts)
    summary = flow.run_flow(sources, warehouse, environ)
    syncs[0].join(timeout=60)
    assert summary.published
    unlinked = rows(
        warehouse,
        "select count(*) as n from source_record r left join resident_source_link l"
        " using (source_system, source_record_id) where l.batch_id is distinct from r.batch_id",
    )
    assert unlinked == [{"n": 0}]
    names = rows(warehouse, "select name from source_record where source_record_id = 'p1'")
    assert names == [{"name": "ANNA WEBER"}]
    landed = sorted(p.name for p in (warehouse / "landing" / "clinic").iterdir() if p.is_dir())
    staged = read_json(warehouse / "staged" / "clinic" / "CURRENT")["applied"]
    assert len(landed) == 3 and staged == landed
