"""Source contracts: valid ones load, invalid ones fail naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.contracts import ContractError, load_contract, load_contracts

VALID = """
name: clinic
title: Clinic patients
owner: Health bureau
connection: ${CLINIC_URL}
table: patients
primary_key: patient_no
incremental_column: changed_at
fields:
  id_number: passport_no
  name: full_name
  gender: {column: sex, codes: {1: M, 2: F}}
  birth_date: {column: dob, format: "%d.%m.%Y"}
attributes: [ward]
"""


def write(tmp_path: Path, text: str, name: str = "clinic.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_contract_loads_with_shorthand_and_codes(tmp_path: Path) -> None:
    """Shorthand columns become mappings, integer codes are keyed as text, one format becomes a tuple."""
    contract = load_contract(write(tmp_path, VALID))
    assert contract.fields["name"].column == "full_name"
    assert contract.fields["gender"].codes == {"1": "M", "2": "F"}
    assert contract.fields["birth_date"].format == ("%d.%m.%Y",)
    assert contract.source_columns == [
        "patient_no",
        "passport_no",
        "full_name",
        "sex",
        "dob",
        "ward",
        "changed_at",
    ]


@pytest.mark.parametrize(
    ("change", "expected_key"),
    [
        (("primary_key: patient_no\n", ""), "primary_key"),
        (("  name: full_name\n", "  nmae: full_name\n"), "fields"),
        (("table: patients\n", "table: patients\nquery: select 1\n"), "table"),
        (("name: clinic\n", "name: Clinic-1\n"), "name"),
        (("attributes: [ward]\n", "attributes: [ward]\ncolour: blue\n"), "colour"),
        (
            ("  gender: {column: sex, codes: {1: M, 2: F}}\n", "  gender: {codes: {1: M}}\n"),
            "fields.gender",
        ),
        (
            ("attributes: [ward]\n", "  phone: {column: tel, region: XX}\nattributes: [ward]\n"),
            "fields.phone.region",
        ),
        (
            (
                '  birth_date: {column: dob, format: "%d.%m.%Y"}\n',
                "  birth_date: {column: dob, region: FR}\n",
            ),
            "fields",
        ),
    ],
)
def test_invalid_contract_names_file_and_key(
    tmp_path: Path, change: tuple[str, str], expected_key: str
) -> None:
    """Each kind of mistake is reported with the file path and the key at fault."""
    path = write(tmp_path, VALID.replace(*change))
    with pytest.raises(ContractError) as raised:
        load_contract(path)
    message = str(raised.value)
    assert str(path) in message
    assert f"key '{expected_key}" in message


def test_phone_region_is_read_from_the_phone_mapping(tmp_path: Path) -> None:
    """A contract declares the region whose national format its phone numbers follow."""
    text = VALID.replace("attributes: [ward]\n", "  phone: {column: tel, region: FR}\nattributes: [ward]\n")
    contract = load_contract(write(tmp_path, text))
    assert contract.fields["phone"].region == "FR"
    assert contract.fields["name"].region is None


def test_unparseable_yaml_names_the_file(tmp_path: Path) -> None:
    """A YAML syntax error is a ContractError naming the file."""
    path = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ContractError, match="clinic.yaml: cannot read contract"):
        load_contract(path)


def test_missing_environment_variable_is_named(tmp_path: Path) -> None:
    """Resolving the connection names the unset variable and the source."""
    contract = load_contract(write(tmp_path, VALID))
    with pytest.raises(ContractError, match="source clinic: .*CLINIC_URL"):
        contract.connection_url({})
    assert contract.connection_url({"CLINIC_URL": "sqlite:///x.db"}) == "sqlite:///x.db"


def test_duplicate_source_names_are_rejected(tmp_path: Path) -> None:
    """Two contracts cannot share a source name."""
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, VALID, "b.yaml")
    with pytest.raises(ContractError, match="b.yaml: key 'name': 'clinic' is also used by .*a.yaml"):
        load_contracts(tmp_path)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    """A folder without contracts is reported, not silently treated as no sources."""
    with pytest.raises(ContractError, match="no source contracts"):
        load_contracts(tmp_path)


def test_repository_contracts_all_load() -> None:
    """Every contract committed in schemas/sources is valid."""
    contracts = load_contracts(Path(__file__).resolve().parents[2] / "schemas" / "sources")
    assert {c.name for c in contracts} >= {
        "public_security",
        "grid",
        "civil_affairs",
        "social_security",
    }
