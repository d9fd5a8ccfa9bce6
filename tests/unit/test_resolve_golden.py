"""Golden records and conflicts on literal linked records."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from pipelines.resolve.golden import build_residents, find_conflicts
from tests.unit.resolve_records import staged_record, staged_table

SOURCES = ["public_security", "grid", "civil_affairs", "social_security"]
ID = "11010519491231002X"


def linked(*records: tuple[str, str, dict]) -> pa.Table:
    """Staged records ``(ref, resident_id, fields)`` with their resident id."""
    rows = []
    for ref, resident_id, fields in records:
        attributes = fields.pop("attributes", None)
        row = staged_record(ref, **fields)
        row["attributes"] = json.dumps(attributes, ensure_ascii=False) if attributes else None
        rows.append((row, resident_id))
    table = staged_table([r for r, _ in rows])
    return table.append_column("resident_id", pa.array([rid for _, rid in rows]))


def resolve(records: pa.Table) -> tuple[list[dict], list[dict]]:
    connection = duckdb.connect()
    connection.register("linked_records", records)
    residents = build_residents(connection, "linked_records", SOURCES)
    connection.register("residents", residents)
    conflicts = find_conflicts(connection, "linked_records", "residents")
    return residents.to_pylist(), conflicts.to_pylist()


def test_each_field_survives_from_its_authoritative_source() -> None:
    """Name from the population register, address from the grid roster, each with its source."""
    residents, _ = resolve(
        linked(
            ("public_security:1", "R1", {"name": "张伟", "id_number": ID, "address": "户籍地址"}),
            ("grid:7", "R1", {"name": "张玮", "address": "现住址 3栋"}),
        )
    )
    (row,) = residents
    assert (row["name"], row["name_source"]) == ("张伟", "public_security")
    assert (row["address"], row["address_source"]) == ("现住址 3栋", "grid")


def test_deceased_but_still_paid_is_a_conflict() -> None:
    """Deceased in the register while civil affairs still pays is one conflict row."""
    _, conflicts = resolve(
        linked(
            ("public_security:1", "R1", {"name": "张伟", "id_number": ID, "is_deceased": True}),
            ("civil_affairs:9", "R1", {"name": "张伟", "attributes": {"FFZT": "正常"}}),
            ("public_security:2", "R2", {"name": "李娜", "is_deceased": True}),
            ("civil_affairs:8", "R2", {"name": "李娜", "attributes": {"FFZT": "停发"}}),
        )
    )
    paid = [c for c in conflicts if c["conflict_type"] == "deceased_but_receiving_benefits"]
    assert [c["resident_id"] for c in paid] == ["R1"]
    assert json.loads(paid[0]["values"]) == {
        "public_security:1": "deceased",
        "civil_affairs:9": "active benefit",
    }


def test_birth_date_disagreeing_with_the_id_number_is_a_conflict() -> None:
    """A golden birth date that is not the one the ID number encodes is reported."""
    _, conflicts = resolve(
        linked(("public_security:1", "R1", {"name": "张伟", "id_number": ID, "birth_date": "1949-12-30"}))
    )
    assert [(c["field"], c["conflict_type"]) for c in conflicts] == [
        ("birth_date", "birth_date_disagrees_with_id_number")
    ]


def test_unknown_gender_neither_survives_nor_disagrees() -> None:
    """A register's U gives way to the grid's F, and U against F is no conflict; M against F is."""
    residents, conflicts = resolve(
        linked(
            ("public_security:1", "R1", {"name": "张伟", "gender": "U"}),
            ("grid:7", "R1", {"name": "张伟", "gender": "F"}),
            ("public_security:2", "R2", {"name": "李娜", "gender": "M"}),
            ("grid:8", "R2", {"name": "李娜", "gender": "F"}),
            ("grid:9", "R3", {"name": "王芳", "gender": "U"}),
        )
    )
    genders = {r["resident_id"]: (r["gender"], r["gender_source"]) for r in residents}
    assert genders == {"R1": ("F", "grid"), "R2": ("M", "public_security"), "R3": ("U", None)}
    assert [(c["resident_id"], c["field"]) for c in conflicts if c["field"] == "gender"] == [("R2", "gender")]
