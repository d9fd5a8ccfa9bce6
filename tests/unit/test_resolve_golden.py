"""Golden records and conflicts on literal linked records."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from pipelines.resolve.golden import GoldenRules, build_residents, find_conflicts
from tests.unit.resolve_records import staged_record, staged_table

# Sources named as a new district might name them: the rules come from their contracts only.
SOURCES = ["hukou", "roster", "assistance", "insurance"]
RULES = GoldenRules(
    priority={
        "hukou": {"name": 90, "id_number": 90, "gender": 90, "address": 30},
        "roster": {"name": 40, "address": 90, "gender": 40},
    }
)
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


def resolve(records: pa.Table, rules: GoldenRules = RULES) -> tuple[list[dict], list[dict]]:
    connection = duckdb.connect()
    connection.register("linked_records", records)
    residents = build_residents(connection, "linked_records", SOURCES, rules)
    connection.register("residents", residents)
    conflicts = find_conflicts(connection, "linked_records", "residents", rules)
    return residents.to_pylist(), conflicts.to_pylist()


def programme(name: str, status: str) -> dict:
    return {"programmes": [{"programme": name, "status": status, "since": None}]}


def test_each_field_survives_from_its_authoritative_source() -> None:
    """Name from the source its contract ranks highest for names, address from the one ranked
    highest for addresses, each with its source."""
    records = linked(
        ("hukou:1", "R1", {"name": "张伟", "id_number": ID, "address": "户籍地址"}),
        ("roster:7", "R1", {"name": "张玮", "address": "现住址 3栋"}),
    )
    (row,) = resolve(records)[0]
    assert (row["name"], row["name_source"]) == ("张伟", "hukou")
    assert (row["address"], row["address_source"]) == ("现住址 3栋", "roster")
    reversed_rules = GoldenRules(priority={"roster": {"name": 95}})
    (row,) = resolve(records, reversed_rules)[0]
    assert (row["name"], row["name_source"]) == ("张玮", "roster")


def test_deceased_but_still_paid_is_a_conflict() -> None:
    """Deceased in the register while a paying programme is still active is one conflict row;
    a stopped payment is none, and an active insurance enrolment is only 'enrolled'."""
    _, conflicts = resolve(
        linked(
            ("hukou:1", "R1", {"name": "张伟", "id_number": ID, "is_deceased": True}),
            (
                "assistance:9",
                "R1",
                {"name": "张伟", **programme("subsistence_allowance", "active")},
            ),
            ("insurance:4", "R1", {"name": "张伟", **programme("pension_insurance", "active")}),
            ("hukou:2", "R2", {"name": "李娜", "is_deceased": True}),
            (
                "assistance:8",
                "R2",
                {"name": "李娜", **programme("subsistence_allowance", "stopped")},
            ),
            ("hukou:3", "R3", {"name": "王芳", "is_deceased": True}),
            ("insurance:5", "R3", {"name": "王芳", **programme("medical_insurance", "active")}),
        )
    )
    kinds = sorted((c["resident_id"], c["conflict_type"]) for c in conflicts if c["field"] == "is_deceased")
    assert kinds == [
        ("R1", "deceased_but_enrolled"),
        ("R1", "deceased_but_paid"),
        ("R3", "deceased_but_enrolled"),
    ]
    paid = next(c for c in conflicts if c["conflict_type"] == "deceased_but_paid")
    assert json.loads(paid["values"]) == {
        "assistance:9": "subsistence_allowance active",
        "hukou:1": "deceased",
    }


def test_birth_date_disagreeing_with_the_id_number_is_a_conflict() -> None:
    """A golden birth date that is not the one the ID number encodes is reported."""
    _, conflicts = resolve(
        linked(("hukou:1", "R1", {"name": "张伟", "id_number": ID, "birth_date": "1949-12-30"}))
    )
    assert [(c["field"], c["conflict_type"]) for c in conflicts] == [
        ("birth_date", "birth_date_disagrees_with_id_number")
    ]


def test_unknown_gender_neither_survives_nor_disagrees() -> None:
    """A register's U gives way to the roster's F, and U against F is no conflict; M against F is."""
    residents, conflicts = resolve(
        linked(
            ("hukou:1", "R1", {"name": "张伟", "gender": "U"}),
            ("roster:7", "R1", {"name": "张伟", "gender": "F"}),
            ("hukou:2", "R2", {"name": "李娜", "gender": "M"}),
            ("roster:8", "R2", {"name": "李娜", "gender": "F"}),
            ("roster:9", "R3", {"name": "王芳", "gender": "U"}),
        )
    )
    genders = {r["resident_id"]: (r["gender"], r["gender_source"]) for r in residents}
    assert genders == {"R1": ("F", "roster"), "R2": ("M", "hukou"), "R3": ("U", None)}
    assert [(c["resident_id"], c["field"]) for c in conflicts if c["field"] == "gender"] == [("R2", "gender")]
