"""Department views on a hand-made warehouse: pseudonyms, years, masks and JSON evidence, by field."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipelines.grants import Grant, SourceCarriers, write_department_databases
from pipelines.keys import Keyring

KEYS = Keyring(bytes(range(32)))
CARRIERS = {
    "register": SourceCarriers("id_number", {"SFZH": "id_number", "XM": "name", "DH": "phone"}),
    "roster": SourceCarriers(None, {"ZJHM": "id_number", "XM": "name"}),
}
ID = "420106194306247859"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "gridsync.duckdb"
    with duckdb.connect(str(path)) as c:
        c.execute(
            "create table resident as select * from (values "
            f"('R1', '{ID}', '王小明', date '1943-06-24', 'M'),"
            " ('R2', '110105194912310021', '李四', null, 'F'))"
            " t(resident_id, id_number, name, birth_date, gender)"
        )
        evidence = json.dumps({f"register:{ID}": "1943-06-24", "roster:RY9": "1943-06-27"})
        c.execute(
            "create table resident_conflict as select * from (values "
            f"('R1', 'birth_date', 'sources_disagree', 2, '{evidence}'),"
            f"('R1', 'id_number', 'sources_disagree', 2, '{json.dumps({'register:' + ID: ID})}'))"
            ' t(resident_id, field, conflict_type, value_count, "values")'
        )
        c.execute(
            "create table resident_source_link as select * from (values "
            f"('register', '{ID}', 'R1'), ('roster', 'RY9', 'R1'))"
            " t(source_system, source_record_id, resident_id)"
        )
        raw = json.dumps({"ZJHM": ID, "XM": "王小明", "WGBM": "420106001001001"}, ensure_ascii=False)
        c.execute(
            "create table quarantine as select * from (values "
            f"('roster', 'RY8', 'b1', 'duplicate_primary_key', 'RYBH', 'dup', '{raw}'),"
            f"('ghost', 'G1', 'b1', 'x', 'A', 'y', '{raw}'))"
            ' t(source_system, source_record_id, batch_id, rule, "column", reason, raw_values)'
        )
    return path


def build(tmp_path: Path, warehouse: Path, grant: dict) -> duckdb.DuckDBPyConnection:
    tmp_path.mkdir(exist_ok=True)
    grants = [Grant.model_validate(grant)]
    write_department_databases(tmp_path, warehouse, grants, {}, CARRIERS, KEYS)
    return duckdb.connect(str(tmp_path / "departments" / f"{grant['department']}.duckdb"), read_only=True)


def grant(department: str, **fields: str) -> dict:
    tables = {t: {} for t in ("resident", "resident_conflict", "resident_source_link", "quarantine")}
    return {"department": department, "title": department, "fields": fields, "tables": tables}


def test_pseudonyms_join_within_a_department_and_differ_across(tmp_path: Path, warehouse: Path) -> None:
    """An ID as pseudonym is equal wherever it appears in one department, and another in the next one."""
    first = build(
        tmp_path / "a", warehouse, grant("housing", id_number="pseudonym", name="masked", birth_date="year")
    )
    second = build(tmp_path / "b", warehouse, grant("health", id_number="pseudonym"))
    golden = first.execute(
        "select id_number, name, birth_date from resident where resident_id = 'R1'"
    ).fetchone()
    assert golden[0].startswith("P") and len(golden[0]) == 17 and golden[1:] == ("王**", 1943)
    key = first.execute("select source_record_id from resident_source_link where source_system = 'register'")
    record = key.fetchone()[0]
    assert record.startswith("K") and ID not in record
    conflicts = dict(first.execute('select field, "values" from resident_conflict').fetchall())
    assert json.loads(conflicts["id_number"]) == {f"register:{record}": golden[0]}
    assert json.loads(conflicts["birth_date"]) == {f"register:{record}": "1943", "roster:RY9": "1943"}
    other = second.execute("select id_number from resident where resident_id = 'R1'").fetchone()[0]
    assert other != golden[0] and other.startswith("P")
    assert (
        second.execute("select count(*) from resident_conflict").fetchone()[0] == 1
    )  # birth_date not granted


def test_delivered_values_follow_their_fields_and_unknown_sources_show_nothing(
    tmp_path: Path, warehouse: Path
) -> None:
    """Raw JSON keeps unmapped columns, masks mapped ones, drops ungranted ones; no contract, nothing."""
    connection = build(tmp_path, warehouse, grant("housing", id_number="masked"))
    rows = dict(connection.execute("select source_system, raw_values from quarantine").fetchall())
    assert json.loads(rows["roster"]) == {"ZJHM": "420106********7859", "WGBM": "420106001001001"}
    assert rows["ghost"] is None


def test_own_rows_are_shown_as_delivered(tmp_path: Path, warehouse: Path) -> None:
    """A department's own source rows keep their keys and values; others' are masked."""
    own = grant("roster_office", id_number="masked") | {"owns": ["register"]}
    connection = build(tmp_path, warehouse, own)
    links = dict(
        connection.execute("select source_system, source_record_id from resident_source_link").fetchall()
    )
    assert links == {"register": ID, "roster": "RY9"}
    assert connection.execute("select id_number from resident where resident_id = 'R2'").fetchone()[0] == (
        "110105********0021"  # no birth date granted: the usual mask
    )
