"""The demo's four department systems: a blocking failure injected into one stops the publish."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipelines.demo import build_demo
from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout
from pipelines.publish import current_snapshot
from pipelines.report.render import build_report
from pipelines.settings import DEFAULT_SOURCES_DIR


def lose_social_security_keys(database: Path, count: int) -> None:
    """Rows arrive with a blank insured-person number (AAC001), as after a broken export."""
    connection = sqlite3.connect(database)
    cursor = connection.execute("select * from rs_cbry limit ?", (count,))
    columns = [c[0] for c in cursor.description]
    broken = [
        dict(zip(columns, row, strict=True)) | {"AAC001": " " * (n + 1), "AAE036": "2099-01-01 00:00:00"}
        for n, row in enumerate(cursor.fetchall())
    ]
    placeholders = ", ".join(f":{c}" for c in columns)
    connection.executemany(f"insert into rs_cbry values ({placeholders})", broken)
    connection.commit()
    connection.close()


@pytest.mark.slow
def test_blocking_failure_in_a_demo_source_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    """Keyless social-security rows block the publish; the last snapshot stays live; the report says why."""
    systems = build_demo(tmp_path / "systems", residents=300, seed=7)
    warehouse = tmp_path / "warehouse"
    environ = systems.environment()
    first = run_flow(DEFAULT_SOURCES_DIR, warehouse, environ)
    assert first.succeeded, (first.failures, first.blocked)
    lose_social_security_keys(systems.sqlite_paths["social_security"], 12)

    blocked = run_flow(DEFAULT_SOURCES_DIR, warehouse, environ)

    assert blocked.blocked == (
        "publish blocked: source social_security, check primary_key_present: 12 of 12 rows fail"
        " (needs 99.00% to pass)"
    )
    assert current_snapshot(WarehouseLayout(warehouse)).snapshot_id == first.snapshot_id
    html = build_report(WarehouseLayout(warehouse), tmp_path / "report").report.read_text(encoding="utf-8")
    assert blocked.blocked in html
    assert f'id="snapshot-id">{first.snapshot_id}<' in html
