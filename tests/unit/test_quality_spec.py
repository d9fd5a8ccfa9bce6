"""Declared checks: typed, validated when loaded, merged per source, skipped where a field is unmapped."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.contracts import ContractError, load_contract
from pipelines.quality.frames import is_applicable
from pipelines.quality.spec import CheckSpec, check_catalogue, source_checks

CONTRACT = """
name: clinic
title: Clinic patients
owner: Health bureau
connection: sqlite:///clinic.sqlite
table: patients
primary_key: patient_no
fields:
  id_number: doc_no
  name: full_name
checks:
  - id: id_number_present
    dimension: completeness
    expect: not_null
    column: id_number_raw
    mostly: 0.5
  - id: ward_known
    dimension: validity
    severity: block
    expect: in_set
    column: id_type
    values: [cn_resident_id, passport]
    mostly: 0.9
"""


def test_contract_checks_are_typed(tmp_path: Path) -> None:
    """A contract's checks load as CheckSpec objects with their declared values."""
    path = tmp_path / "clinic.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    checks = load_contract(path).checks
    assert [type(c) for c in checks] == [CheckSpec, CheckSpec]
    assert checks[1].severity == "block"
    assert checks[1].values == ("cn_resident_id", "passport")


def test_a_block_check_on_data_must_tolerate_some_rows(tmp_path: Path) -> None:
    """A block check that one failing row would trip is refused when the contract loads: one bad
    record never stops a district's publish."""
    path = tmp_path / "clinic.yaml"
    path.write_text(CONTRACT.replace("    mostly: 0.9\n", ""), encoding="utf-8")
    with pytest.raises(ContractError, match=r"clinic\.yaml.*ward_known.*block check needs mostly below 1"):
        load_contract(path)


def test_only_integrity_checks_block_on_one_row() -> None:
    """The catalogue's single-row block checks guard gridsync's own output; the resident-level
    identity check warns, and blocks only past a systemic share."""
    single_row_blocks = {
        check.id
        for check in check_catalogue().defaults + check_catalogue().warehouse
        if check.severity == "block" and check.mostly >= 1.0
    }
    assert single_row_blocks == {"resident_id_unique", "every_record_linked"}
    by_id = {check.id: check for check in check_catalogue().warehouse}
    assert by_id["one_resident_per_id_number"].severity == "warn"
    assert (
        by_id["id_numbers_not_split_systemically"].severity,
        by_id["id_numbers_not_split_systemically"].mostly,
    ) == (
        "block",
        0.99,
    )


def test_contract_check_missing_a_parameter_names_the_key(tmp_path: Path) -> None:
    """An in_set check without values fails to load, naming the file and the check."""
    path = tmp_path / "clinic.yaml"
    path.write_text(CONTRACT.replace("    values: [cn_resident_id, passport]\n", ""), encoding="utf-8")
    with pytest.raises(ContractError, match=r"clinic\.yaml.*ward_known.*values"):
        load_contract(path)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"id": "x", "dimension": "validity", "expect": "match_regex", "column": "a"}, "regex"),
        ({"id": "x", "dimension": "validity", "expect": "between", "column": "a"}, "min or max"),
        ({"id": "x", "dimension": "speed", "expect": "fresh"}, "dimension"),
        ({"id": "x", "dimension": "timeliness", "expect": "fresh", "severity": "fatal"}, "severity"),
        ({"id": "Bad-Id", "dimension": "timeliness", "expect": "fresh"}, "snake_case"),
        ({"id": "x", "dimension": "validity", "expect": "not_null", "column": "a", "mostly": 2}, "mostly"),
    ],
)
def test_invalid_checks_are_rejected(spec: dict[str, object], message: str) -> None:
    """Each malformed declaration is refused with a message naming what is wrong."""
    with pytest.raises(ValidationError, match=message):
        CheckSpec.model_validate(spec)


def test_contract_check_replaces_the_default_with_the_same_id(tmp_path: Path) -> None:
    """A source's own check replaces the default of the same id and adds the rest after the defaults."""
    path = tmp_path / "clinic.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    merged = source_checks(load_contract(path).checks)
    by_id = {c.id: c for c in merged}
    assert by_id["id_number_present"].mostly == 0.5
    assert len(merged) == len(check_catalogue().defaults) + 1
    assert merged[-1].id == "ward_known"


def test_repository_catalogue_covers_every_dimension() -> None:
    """The default checks measure all six dimensions and the warehouse checks name their table."""
    catalogue = check_catalogue()
    assert {c.dimension for c in catalogue.defaults} == {
        "completeness",
        "validity",
        "uniqueness",
        "consistency",
        "timeliness",
        "cross_source",
    }
    assert all(c.table for c in catalogue.warehouse)


@pytest.mark.parametrize(
    ("column", "mapped", "expected"),
    [
        ("id_number_raw", {"id_number"}, True),
        ("id_number_raw", {"name"}, False),
        ("is_deceased", {"deceased"}, True),
        ("is_deceased", {"name"}, False),
        ("source_record_id", set(), True),
        ("division_code", {"name"}, False),
    ],
)
def test_checks_on_unmapped_fields_do_not_apply(column: str, mapped: set[str], expected: bool) -> None:
    """A check reading a staged column applies only when the source maps the field behind it."""
    check = CheckSpec(id="c", dimension="completeness", expect="not_null", column=column)
    assert is_applicable(check, mapped) is expected
