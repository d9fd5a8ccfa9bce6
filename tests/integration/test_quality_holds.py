"""Quality state survives runs: a blocked batch stays held until a corrected batch supersedes it or a
person releases it, and its rows are pulled again when the source corrects them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout
from pipelines.publish import current_snapshot
from pipelines.quality.holds import held_batches, read_holds
from pipelines.query import run_query


def rows(warehouse: Path, sql: str) -> list[dict[str, Any]]:
    return run_query(WarehouseLayout(warehouse), sql).to_pylist()


def execute(database: Path, sql: str, *parameters: Any) -> None:
    connection = sqlite3.connect(database)
    connection.execute(sql, parameters)
    connection.commit()
    connection.close()


def lose_primary_keys(clinic: Path) -> None:
    """An extraction fault: three patients arrive without their record number."""
    for i in range(3):
        execute(
            clinic,
            "insert into patients values (null, 'P', ?, ?, 'm', '01.01.1970', '2026-02-01 08:00:00', 'A')",
            f"K{i:08d}",
            f"Patient {i}",
        )


def test_a_blocked_batch_stays_held_until_corrected_rows_supersede_it(systems) -> None:
    """The corrected rows keep their update time yet are pulled again; the held batch is superseded,
    never published, and no keyless row of it reaches the warehouse."""
    sources, warehouse, environ = systems
    clinic = warehouse.parent / "clinic.sqlite"
    run_flow(sources, warehouse, environ)
    live = current_snapshot(WarehouseLayout(warehouse)).snapshot_id
    lose_primary_keys(clinic)
    blocked = run_flow(sources, warehouse, environ)
    assert blocked.blocked and list(blocked.held) == ["clinic"]
    held = blocked.held["clinic"]
    assert held_batches(WarehouseLayout(warehouse), "clinic") == set(held)

    execute(
        clinic,
        "insert into patients values ('p5', 'P', 'E5', 'Li Lei', 'm', '01.01.1990', ?, 'B')",
        "2026-03-01 08:00:00",
    )  # a new, good row: the newest batch alone would pass the checks
    again = run_flow(sources, warehouse, environ)
    assert again.blocked and current_snapshot(WarehouseLayout(warehouse)).snapshot_id == live

    execute(clinic, "update patients set patient_no = 'k' || doc_no where patient_no is null")
    fixed = run_flow(sources, warehouse, environ)
    assert fixed.published, fixed.blocked
    assert rows(warehouse, "select count(*) as n from quarantine where rule = 'missing_primary_key'") == [
        {"n": 0}
    ]
    corrected = rows(warehouse, "select source_record_id from source_record where source_record_id like 'k%'")
    assert sorted(r["source_record_id"] for r in corrected) == ["kK00000000", "kK00000001", "kK00000002"]
    statuses = {
        r["batch_id"]: (r["status"], r["snapshot_id"])
        for r in rows(
            warehouse, "select batch_id, status, snapshot_id from load_batch where source_system = 'clinic'"
        )
    }
    assert statuses[held[0]] == ("superseded", None)
    newest = fixed.batches["clinic"]
    assert statuses[newest] == ("published", fixed.snapshot_id)
    assert held_batches(WarehouseLayout(warehouse), "clinic") == set()


def test_an_unchanged_source_keeps_its_batch_held_and_lands_nothing_new(systems) -> None:
    """Rerunning against the same faulty source blocks again without landing a copy of the batch."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    lose_primary_keys(warehouse.parent / "clinic.sqlite")
    first = run_flow(sources, warehouse, environ)
    second = run_flow(sources, warehouse, environ)
    assert first.blocked and second.blocked
    clinic = next(s for s in second.syncs if s.source_system == "clinic")
    assert not clinic.batch.is_new and clinic.batch.batch_id == first.held["clinic"][0]


def test_a_released_batch_is_published_with_who_released_it(
    systems, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gridsync release` lets a held batch through; load_batch names who released it and why."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    lose_primary_keys(warehouse.parent / "clinic.sqlite")
    held = run_flow(sources, warehouse, environ).held["clinic"][0]
    assert main(["release", "--warehouse", str(warehouse)]) == 0
    assert held in capsys.readouterr().out
    assert main(["release", "clinic", "nosuchbatch", "--by", "auditor", "--warehouse", str(warehouse)]) == 1
    assert "is not held" in capsys.readouterr().err
    code = main(
        [
            "release",
            "clinic",
            held,
            "--by",
            "auditor",
            "--note",
            "known export bug",
            "--warehouse",
            str(warehouse),
        ]
    )
    assert code == 0
    released = run_flow(sources, warehouse, environ)
    assert released.published and released.released == {"clinic": [held]}
    batch = rows(
        warehouse, f"select status, released_by, release_note from load_batch where batch_id = '{held}'"
    )
    assert batch == [{"status": "published", "released_by": "auditor", "release_note": "known export bug"}]
    assert rows(warehouse, "select count(*) as n from quarantine where rule = 'missing_primary_key'") == [
        {"n": 3}
    ]
    assert [h.released_by for h in read_holds(WarehouseLayout(warehouse))] == ["auditor"]


def test_a_full_snapshot_source_replaces_its_held_batch(systems) -> None:
    """A full-snapshot batch blocked on keyless rows is superseded by the next, corrected snapshot."""
    sources, warehouse, environ = systems
    housing = warehouse.parent / "housing.sqlite"
    run_flow(sources, warehouse, environ)
    for i in range(3):
        execute(housing, "insert into tenants values (null, ?, '王五', null)", f"11010519491231{i:03d}X")
    blocked = run_flow(sources, warehouse, environ)
    assert list(blocked.held) == ["housing"]
    execute(housing, "delete from tenants where tid is null")
    execute(housing, "insert into tenants values ('t9', null, '赵六', null)")
    fixed = run_flow(sources, warehouse, environ)
    assert fixed.published
    statuses = rows(
        warehouse,
        "select status, count(*) as n from load_batch where source_system = 'housing'"
        " group by all order by 1",
    )
    assert statuses == [{"status": "published", "n": 2}, {"status": "superseded", "n": 1}]
