"""An incremental run's frame update and candidate pairs equal what building them anew gives."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from pipelines.resolve.config import matching_config
from pipelines.resolve.features import FRAME_TABLE, build_matching_frame, update_matching_frame
from pipelines.resolve.scoring import _is_symmetric, blocked_pairs_sql
from tests.unit.resolve_records import staged_record, staged_table

LIMIT = 2  # a phone shared by more than two records is no blocking key


def day_one() -> list[dict[str, Any]]:
    return [
        staged_record("grid:1", name="张伟", birth_date="1980-01-02", phone="13800000001"),
        staged_record("grid:2", name="王芳", birth_date="1981-03-04", phone="13800000001"),
        staged_record("grid:3", name="李娜", birth_date="1982-05-06", phone="13800000002"),
        staged_record("grid:4", name="刘洋", birth_date="1983-07-08", phone="13800000002"),
        staged_record("grid:5", name="陈静", birth_date="1984-09-10", phone="13800000002"),
        staged_record("ps:1", name="张伟", birth_date="1980-01-02", id_number="110101198001020014"),
    ]


def day_two() -> list[dict[str, Any]]:
    """A third holder of phone …01 (now over the limit), one holder of …02 gone (now under it), a
    renamed record, a newcomer."""
    records = {f"{r['source_system']}:{r['source_record_id']}": r for r in day_one()}
    del records["grid:5"]
    records["grid:3"] = staged_record("grid:3", name="李娜娜", birth_date="1982-05-06", phone="13800000002")
    records["grid:6"] = staged_record("grid:6", name="赵敏", birth_date="1990-01-01", phone="13800000001")
    return list(records.values())


def connection_with(records: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.register("records", staged_table(records))
    return connection


def frame_rows(connection: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return connection.sql(f"select * exclude (input_hash) from {FRAME_TABLE} order by unique_id").fetchall()


def test_updated_frame_equals_a_frame_built_anew() -> None:
    """Derived again: changed and new records; updated: kept rows whose phone crossed the limit."""
    connection = connection_with(day_one())
    build_matching_frame(connection, "records", LIMIT)
    phone_keys = dict(connection.sql(f"select unique_id, phone_key from {FRAME_TABLE}").fetchall())
    assert phone_keys["grid:1"] == "+8613800000001" and phone_keys["grid:3"] is None
    connection.register("records", staged_table(day_two()))
    connection.execute(
        "create temp table rederived as select * from (values ('grid:3'), ('grid:6')) t(unique_id)"
    )
    connection.execute("create temp table removed as select 'grid:5' as unique_id")

    frame = update_matching_frame(connection, "records", "rederived", "removed", LIMIT)

    anew = connection_with(day_two())
    build_matching_frame(anew, "records", LIMIT)
    assert frame_rows(connection) == frame_rows(anew)
    changed = sorted(row[0] for row in connection.sql(f"select unique_id from {frame.changed}").fetchall())
    assert changed == ["grid:1", "grid:2", "grid:3", "grid:4", "grid:6"]
    assert frame.derived == 2


@pytest.mark.parametrize(
    ("rule", "symmetric"),
    [
        ("l.id_key = r.id_key", True),
        ("l.birth_month = r.birth_day and l.birth_day = r.birth_month and l.name = r.name", True),
        ("l.phone_key = r.id_key", False),
        ("l.birth_year < r.birth_year", False),
        ("l.name = r.name or l.phone = r.phone", False),
    ],
)
def test_symmetric_rules_are_recognised(rule: str, symmetric: bool) -> None:
    assert _is_symmetric(rule) is symmetric


def test_pairs_of_changed_records_are_the_full_pairs_touching_them() -> None:
    """Generating only the pairs touching changed records gives exactly those of the full set,
    each once with the first rule that gives it, for symmetric and one-sided rules alike."""
    records = day_two() + [
        staged_record("cv:1", name="张伟", birth_date="1980-02-01", phone="13800000001"),
        staged_record("cv:2", name="王芳", birth_date="1981-03-04", id_number="110101198103040028"),
    ]
    connection = connection_with(records)
    build_matching_frame(connection, "records", 10)
    rules = (
        *matching_config().blocking_rules,
        "l.birth_year < r.birth_year and l.name_pinyin = r.name_pinyin",
    )
    connection.execute(
        f"create temp table changed as from {FRAME_TABLE} where unique_id in ('grid:1', 'cv:2')"
    )

    full = connection.sql(f"select * from ({blocked_pairs_sql(rules, FRAME_TABLE)})").fetchall()
    touching = sorted(row for row in full if {row[1], row[2]} & {"grid:1", "cv:2"})
    changed = sorted(connection.sql(blocked_pairs_sql(rules, FRAME_TABLE, "changed")).fetchall())
    assert changed == touching
    assert len(touching) >= 3
