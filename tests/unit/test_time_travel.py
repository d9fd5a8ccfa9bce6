"""Time travel: a past snapshot is queried by its id or by a date (the one live at that day's end)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.layout import WarehouseLayout, write_json_atomically
from pipelines.publish import SnapshotNotFound
from pipelines.query import run_query

SNAPSHOTS = {  # id -> residents it holds
    "20261130T080000000000Z": 10,
    "20261130T200000000000Z": 11,
    "20261201T090000000000Z": 12,
}


@pytest.fixture
def layout(tmp_path: Path) -> WarehouseLayout:
    layout = WarehouseLayout(tmp_path)
    for snapshot_id, residents in SNAPSHOTS.items():
        folder = layout.snapshots / snapshot_id
        folder.mkdir(parents=True)
        with duckdb.connect(str(folder / "gridsync.duckdb")) as connection:
            connection.execute(f"create table resident as select range as n from range({residents})")
        created = f"{snapshot_id[:4]}-{snapshot_id[4:6]}-{snapshot_id[6:8]}T{snapshot_id[9:11]}:00:00+00:00"
        manifest = {"snapshot_id": snapshot_id, "run_id": "r", "table_rows": {}, "created_at": created}
        write_json_atomically(folder / "manifest.json", manifest)
    write_json_atomically(layout.current_pointer, {"snapshot_id": "20261201T090000000000Z"})
    return layout


def residents(layout: WarehouseLayout, when: str | None) -> int:
    return int(run_query(layout, "select count(*) from resident", when=when).column(0)[0].as_py())


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (None, 12),
        ("20261130T080000000000Z", 10),
        ("2026-11-30", 11),
        ("2026-11-30T12:00:00", 10),
        ("2026-12-01", 12),
    ],
)
def test_a_snapshot_is_found_by_id_or_date(layout: WarehouseLayout, when: str | None, expected: int) -> None:
    """By id that snapshot; by date the last one published that day; by time the one live then."""
    assert residents(layout, when) == expected


@pytest.mark.parametrize("when", ["2026-11-29", "20261101T000000000000Z", "yesterday"])
def test_nothing_kept_from_then_is_an_error(layout: WarehouseLayout, when: str) -> None:
    """Before the oldest kept snapshot, an unknown id or a non-date names the problem."""
    with pytest.raises(SnapshotNotFound):
        residents(layout, when)
