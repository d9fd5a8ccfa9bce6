"""The whole flow on source systems that are not the demo's, declared only by contract files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipelines import publish
from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout
from pipelines.publish import current_snapshot
from pipelines.query import QueryError, run_query
from pipelines.resolve.review import record_decision


def rows(warehouse: Path, sql: str) -> list[dict[str, object]]:
    return run_query(WarehouseLayout(warehouse), sql).to_pylist()


def test_run_links_two_custom_sources_and_quarantines_bad_rows(systems) -> None:
    """Records sharing a citizen ID across sources are one resident; unusable rows are kept with reasons."""
    sources, warehouse, environ = systems
    summary = run_flow(sources, warehouse, environ)
    assert summary.succeeded, summary.failures
    linked = rows(
        warehouse,
        "select source_system, source_record_id from resident_source_link"
        " where resident_id = (select resident_id from resident_source_link"
        " where source_record_id = 'p2') order by source_system",
    )
    assert linked == [
        {"source_system": "clinic", "source_record_id": "p2"},
        {"source_system": "housing", "source_record_id": "t1"},
    ]
    quarantine = rows(warehouse, "select source_record_id, rule from quarantine order by rule")
    assert quarantine == [
        {"source_record_id": "p3", "rule": "duplicate_primary_key"},
        {"source_record_id": "p4", "rule": "unidentifiable_record"},
    ]
    raw = json.loads(
        rows(warehouse, "select raw_values from quarantine where source_record_id = 'p4'")[0]["raw_values"]
    )
    assert raw == {
        "patient_no": "p4",
        "doc_kind": None,
        "doc_no": None,
        "full_name": None,
        "sex": "m",
        "dob": None,
        "ward": "C",
        "changed_at": "2026-01-01 08:00:00",
    }
    landed = rows(warehouse, "select sum(row_count) as n from load_batch")[0]["n"]
    kept = rows(warehouse, "select count(*) as n from source_record")[0]["n"]
    assert landed == kept + len(quarantine) == 7


def test_findings_name_the_column_and_value(systems) -> None:
    """An unlisted code and an impossible date are findings on a kept row, naming column and value."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    findings = rows(
        warehouse,
        "select rule, \"column\", value from dq_finding where source_record_id = 'p3' order by rule",
    )
    assert findings == [
        {"rule": "unlisted_code", "column": "sex", "value": "x"},
        {"rule": "unparseable_date", "column": "dob", "value": "32.01.1980"},
    ]


def test_latin_names_and_passports_are_standardized(systems) -> None:
    """A passport keeps its number and type; a Latin name is upper-cased with single spaces."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    record = rows(
        warehouse,
        "select id_type, id_number, name, gender, birth_date from source_record"
        " where source_record_id = 'p1'",
    )[0]
    assert record["id_type"] == "passport"
    assert record["id_number"] == "E12345678"
    assert record["name"] == "ANNA SCHMIDT"
    assert record["gender"] == "F"
    assert str(record["birth_date"]) == "1990-03-07"


def table_contents(warehouse: Path) -> dict[str, list[dict[str, object]]]:
    """Every business table's rows, sorted, without per-run timestamps."""
    volatile = {"extracted_at", "snapshot_id", "run_id"}
    contents = {}
    for table in ["resident", "resident_source_link", "quarantine", "dq_finding", "load_batch"]:
        result = run_query(WarehouseLayout(warehouse), f"select * from {table}")
        keep = [c for c in result.column_names if c not in volatile]
        contents[table] = sorted(result.select(keep).to_pylist(), key=repr)
    return contents


def test_second_run_on_unchanged_sources_publishes_the_same_contents(systems) -> None:
    """Running the same sources twice lands no new batch and publishes identical tables."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    first = table_contents(warehouse)
    second_summary = run_flow(sources, warehouse, environ)
    assert [s.batch.is_new for s in second_summary.syncs] == [False, False]
    assert table_contents(warehouse) == first


def test_unchanged_rerun_keeps_the_live_snapshot_without_rewriting_it(systems) -> None:
    """With no new batch, decision or configuration change, the live snapshot stays and nothing is written."""
    sources, warehouse, environ = systems
    first = run_flow(sources, warehouse, environ)
    second = run_flow(sources, warehouse, environ)
    assert (second.unchanged, second.snapshot_id) == (True, first.snapshot_id)
    assert (second.residents, second.links) == (first.residents, first.links)
    assert [p.name for p in (warehouse / "snapshots").iterdir()] == [first.snapshot_id]


@pytest.mark.parametrize("change", ["reviewer_decision", "grant", "contract"])
def test_a_decision_or_configuration_change_republishes(systems, tmp_path: Path, change: str) -> None:
    """A reviewer decision, a new grant or an edited contract is published even with no new batch."""
    sources, warehouse, environ = systems
    grants = tmp_path / "grants"
    grants.mkdir()
    first = run_flow(sources, warehouse, environ, grants_dir=grants)
    if change == "reviewer_decision":
        record_decision(WarehouseLayout(warehouse), "clinic:p1", "housing:t2", "not_same", reviewer="auditor")
    elif change == "grant":
        (grants / "clinic.yaml").write_text(
            "department: clinic\ntitle: Clinic\ntables:\n  resident:\n    columns: [resident_id]\n"
        )
    else:
        contract = sources / "clinic.yaml"
        contract.write_text(contract.read_text().replace("title: Clinic patients", "title: Clinic"))
    second = run_flow(sources, warehouse, environ, grants_dir=grants)
    assert not second.unchanged and second.snapshot_id != first.snapshot_id


def test_second_run_picks_up_exactly_the_change(systems, tmp_path: Path) -> None:
    """An updated row past the watermark lands as a one-row batch and changes only that record."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    before = table_contents(warehouse)
    clinic = sqlite3.connect(tmp_path / "clinic.sqlite")
    clinic.execute(
        "update patients set full_name = 'Anna Schmidt-Weber', changed_at = '2026-02-01 09:00:00'"
        " where patient_no = 'p1'"
    )
    clinic.commit()
    clinic.close()
    summary = run_flow(sources, warehouse, environ)
    clinic_sync = next(s for s in summary.syncs if s.source_system == "clinic")
    assert (clinic_sync.batch.row_count, clinic_sync.staged.updated) == (1, 1)
    assert clinic_sync.batch.watermark_low == "2026-01-01 08:00:00"
    after = table_contents(warehouse)
    changed = [r for r in after["resident"] if r not in before["resident"]]
    assert [r["name"] for r in changed] == ["ANNA SCHMIDT-WEBER"]
    assert len(after["resident"]) == len(before["resident"])
    assert len(after["load_batch"]) == len(before["load_batch"]) + 1


def test_failed_publish_leaves_previous_snapshot_live_and_unchanged(
    systems, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish that dies half-way leaves CURRENT, and every table readers see, as they were."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    live = current_snapshot(WarehouseLayout(warehouse)).snapshot_id
    before = table_contents(warehouse)
    clinic = sqlite3.connect(tmp_path / "clinic.sqlite")
    clinic.execute("update patients set changed_at = '2026-03-01 00:00:00' where patient_no = 'p1'")
    clinic.commit()
    clinic.close()
    reader = publish.current_snapshot(WarehouseLayout(warehouse))
    broken_marts = tmp_path / "marts"
    broken_marts.mkdir()
    (broken_marts / "zz_broken.sql").write_text("create table broken as select * from missing_table")
    monkeypatch.setattr(publish, "MARTS_DIR", broken_marts)
    with pytest.raises(publish.duckdb.CatalogException, match="missing_table"):
        run_flow(sources, warehouse, environ)
    monkeypatch.undo()
    assert current_snapshot(WarehouseLayout(warehouse)).snapshot_id == live == reader.snapshot_id
    assert table_contents(warehouse) == before
    leftovers = [p.name for p in (warehouse / "snapshots").iterdir() if p.name != live]
    assert leftovers == []


def test_query_is_read_only_and_cannot_touch_files(systems, tmp_path: Path) -> None:
    """Writes, file reads and file writes are refused with a QueryError."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    for sql in (
        "delete from resident",
        "create table x as select 1",
        f"copy resident to '{tmp_path / 'leak.csv'}'",
        "select * from read_csv('/etc/passwd')",
    ):
        with pytest.raises(QueryError):
            run_query(WarehouseLayout(warehouse), sql)
    assert not (tmp_path / "leak.csv").exists()
