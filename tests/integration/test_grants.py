"""Department grants: a department sees only its granted tables, columns and rows, masked as declared."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.flow import run_flow
from pipelines.grants import GrantError, load_grants
from pipelines.layout import WarehouseLayout
from pipelines.query import QueryError, run_query

GRANT = """
department: housing_office
title: Housing office
owns: [housing]
fields: {id_number: masked, name: masked, phone: masked}
tables:
  resident:
    columns: [resident_id, gender, id_number, name, phone]
  source_record:
    columns: [source_system, source_record_id, name]
    rows: own
"""


@pytest.fixture
def published(systems, tmp_path: Path) -> Path:
    sources, warehouse, environ = systems
    grants = tmp_path / "grants"
    grants.mkdir()
    (grants / "housing_office.yaml").write_text(GRANT, encoding="utf-8")
    summary = run_flow(sources, warehouse, environ, grants_dir=grants)
    assert summary.succeeded
    return warehouse


def query(warehouse: Path, sql: str) -> list[dict[str, object]]:
    return run_query(WarehouseLayout(warehouse), sql, department="housing_office").to_pylist()


def test_masked_columns_show_only_their_declared_parts(published: Path) -> None:
    """ID keeps 6 leading and 4 trailing characters, a name its first character, a phone its last 4."""
    row = query(published, "select * from resident where id_number like '110105%'")[0]
    assert row["id_number"] == "110105********002X"
    assert row["name"] == "Z" + "*" * 8  # ZHANG WEI, the most recently updated spelling
    assert row["phone"] == "+86138****5678"
    assert set(row) == {"resident_id", "gender", "id_number", "name", "phone"}


def test_rows_are_limited_to_granted_sources(published: Path) -> None:
    """Only the housing source's records are visible in source_record."""
    systems = query(published, "select distinct source_system from source_record")
    assert systems == [{"source_system": "housing"}]


def test_ungranted_tables_are_unreachable(published: Path) -> None:
    """A table outside the grant does not exist for the department, even by qualified name."""
    for sql in ("select * from quarantine", "select * from warehouse.resident"):
        with pytest.raises(QueryError):
            query(published, sql)


def test_grant_naming_a_missing_column_fails_the_publish(systems, tmp_path: Path) -> None:
    """A grant listing a column the table lacks stops the publish with the file, table and column."""
    sources, warehouse, environ = systems
    grants = tmp_path / "grants"
    grants.mkdir()
    (grants / "bad.yaml").write_text(GRANT.replace("[resident_id, gender,", "[salary,"))
    with pytest.raises(
        GrantError, match=r"bad.yaml: key 'tables.resident.columns': 'salary': no such column"
    ):
        run_flow(sources, warehouse, environ, grants_dir=grants)


def test_invalid_mask_kind_names_file_and_key(tmp_path: Path) -> None:
    """An unknown mask kind is rejected when grants are loaded."""
    (tmp_path / "g.yaml").write_text(GRANT.replace("name: masked", "name: blur"))
    with pytest.raises(GrantError, match=r"g.yaml: key 'fields.name'"):
        load_grants(tmp_path)


def test_id_mask_keeps_only_the_region_when_the_birth_date_is_granted(systems, tmp_path: Path) -> None:
    """With birth_date granted the last four characters would give the number back: only the region shows."""
    sources, warehouse, environ = systems
    grants = tmp_path / "grants"
    grants.mkdir()
    with_birth = GRANT.replace("phone: masked}", "phone: masked, birth_date: clear}").replace(
        "[resident_id, gender,", "[resident_id, gender, birth_date,"
    )
    (grants / "housing_office.yaml").write_text(with_birth, encoding="utf-8")
    run_flow(sources, warehouse, environ, grants_dir=grants)
    row = query(warehouse, "select * from resident where id_number like '110105%'")[0]
    assert row["id_number"] == "110105************"
    assert str(row["birth_date"]) == "1949-12-31"


def test_a_field_not_granted_is_refused_as_a_column(systems, tmp_path: Path) -> None:
    """Listing a column whose field the grant does not give stops the publish, naming it."""
    sources, warehouse, environ = systems
    grants = tmp_path / "grants"
    grants.mkdir()
    (grants / "g.yaml").write_text(GRANT.replace("[resident_id, gender,", "[resident_id, address,"))
    with pytest.raises(GrantError, match=r"'address': its field is not granted"):
        run_flow(sources, warehouse, environ, grants_dir=grants)
