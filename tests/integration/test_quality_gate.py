"""The quality gate in the real flow: a blocking failure keeps the last good snapshot live and says why."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout, read_json
from pipelines.publish import current_snapshot
from pipelines.query import run_query


def rows(warehouse: Path, sql: str) -> list[dict[str, object]]:
    return run_query(WarehouseLayout(warehouse), sql).to_pylist()


def lose_primary_keys(root: Path, count: int) -> None:
    """An extraction fault: rows arrive without their primary key."""
    clinic = sqlite3.connect(root / "clinic.sqlite")
    clinic.executemany(
        "insert into patients values (null, 'C', ?, ?, 'm', '01.01.1970', '2026-02-01 08:00:00', 'A')",
        [(f"E{i:08d}", f"Patient {i}") for i in range(count)],
    )
    clinic.commit()
    clinic.close()


def test_blocking_failure_keeps_last_good_snapshot_live(
    systems, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyless rows block the publish: CURRENT stays; run summary and CLI name source, check, count."""
    sources, warehouse, environ = systems
    first = run_flow(sources, warehouse, environ)
    assert first.succeeded and first.blocked is None
    live = current_snapshot(WarehouseLayout(warehouse)).snapshot_id
    lose_primary_keys(warehouse.parent, 3)

    blocked = run_flow(sources, warehouse, environ)

    assert not blocked.succeeded and blocked.snapshot_id is None
    assert blocked.blocked == (
        "publish blocked: source clinic, check primary_key_present: 3 of 3 rows fail (needs 99.00% to pass)"
    )
    assert current_snapshot(WarehouseLayout(warehouse)).snapshot_id == live
    summary = read_json(warehouse / "runs" / f"{blocked.run_id}.json")
    assert summary["blocked"] == blocked.blocked
    failed = [c["check_id"] for c in summary["quality"] if c["severity"] == "block" and not c["is_passed"]]
    assert failed == ["primary_key_present"]

    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code = main(["run", "--sources", str(sources), "--warehouse", str(warehouse)])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 1
    assert message.startswith("gridsync: run finished with failures: publish blocked: source clinic")
    assert current_snapshot(WarehouseLayout(warehouse)).snapshot_id == live


def test_reconcile_command_exits_with_one_line_when_blocked(
    systems, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gridsync reconcile` raises the gate's error as a one-line message and exit code 1."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    lose_primary_keys(warehouse.parent, 3)
    run_flow(sources, warehouse, environ)  # stages the faulty batch (publish blocked)
    capsys.readouterr()
    code = main(["reconcile", "--sources", str(sources), "--warehouse", str(warehouse)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith(
        "gridsync: publish blocked: source clinic, check primary_key_present: 3 of 3 rows"
    )


def test_dq_result_carries_history_across_snapshots(systems) -> None:
    """After a source changes, the live snapshot still holds the checks of its earlier batch."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    housing = sqlite3.connect(warehouse.parent / "housing.sqlite")
    housing.execute("insert into tenants values ('t3', '11010519491231002X', '李娜', '13912345678')")
    housing.commit()
    housing.close()
    run_flow(sources, warehouse, environ)
    per_batch = rows(
        warehouse,
        "select batch_id, count(*) filter (where check_kind = 'row_rule') as rules,"
        " count(*) filter (where check_kind = 'expectation') as checks"
        " from dq_result where source_system = 'housing' group by all order by batch_id",
    )
    assert len(per_batch) == 2
    assert all(b["rules"] > 0 and b["checks"] > 0 for b in per_batch)
    batches = rows(
        warehouse, "select batch_id from load_batch where source_system = 'housing' order by batch_id"
    )
    assert [b["batch_id"] for b in per_batch] == [b["batch_id"] for b in batches]
    warehouse_runs = rows(
        warehouse, "select count(distinct batch_id) as n from dq_result where source_system = 'warehouse'"
    )
    assert warehouse_runs == [{"n": 2}]


def test_every_quarantined_row_is_in_the_warehouse_with_its_reason(systems) -> None:
    """Quarantine rows equal the rows landed minus the rows kept, each with rule, reason and raw values."""
    sources, warehouse, environ = systems
    lose_primary_keys(warehouse.parent, 0)
    run_flow(sources, warehouse, environ)
    landed = rows(warehouse, "select sum(row_count) as n from load_batch")[0]["n"]
    kept = rows(warehouse, "select count(*) as n from source_record")[0]["n"]
    quarantined = rows(
        warehouse,
        "select count(*) as n, count(*) filter (where rule is not null and reason is not null"
        " and raw_values is not null) as explained from quarantine",
    )[0]
    assert quarantined["n"] == quarantined["explained"] == landed - kept
    counted = rows(
        warehouse,
        "select sum(failed_rows) as n from dq_result where check_kind = 'row_rule'"
        " and check_id in (select rule_id from quality_rule where action = 'quarantine')",
    )[0]["n"]
    assert counted == quarantined["n"]
