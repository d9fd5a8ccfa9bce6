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
        (
            ("attributes: [ward]\n", "  phone: {column: tel, kind: registered}\nattributes: [ward]\n"),
            "fields",
        ),
        (("attributes: [ward]\n", "  family_name: surname\nattributes: [ward]\n"), "fields"),
        (("attributes: [ward]\n", "attributes: [ward]\npriority: {nmae: 90}\n"), "priority"),
        (("attributes: [ward]\n", "attributes: [ward]\npriority: {name: 900}\n"), "priority"),
        (
            (
                "attributes: [ward]\n",
                "attributes: [ward]\nprogrammes: [{programme: lottery, status: {value: active}}]\n",
            ),
            "programmes.0.programme",
        ),
        (
            (
                "attributes: [ward]\n",
                "attributes: [ward]\n"
                "programmes: [{programme: pension, status: {column: st, codes: {A: paid}}}]\n",
            ),
            "programmes.0.status",
        ),
        (
            (
                "attributes: [ward]\n",
                "attributes: [ward]\nprogrammes: [{programme: {column: kind}, status: {value: active}}]\n",
            ),
            "programmes.0.programme",
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


PLACES_AND_PROGRAMMES = """
name: assistance
title: Assistance register
owner: Civil affairs
connection: ${ASSISTANCE_URL}
table: recipients
primary_key: rec_no
fields:
  family_name: xing
  given_name: ming
  address: {column: home, kind: registered}
  grid_code: wgbm
  household_number: hh
attributes: [amount]
roster: true
priority: {name: 80, address: 20}
programmes:
  - programme: {column: kind, codes: {A: subsistence_allowance, B: destitute_support}}
    status: {column: state, codes: {正常发放: active, 暂停发放: suspended, 终止发放: stopped}}
    since: {column: start, format: "%Y%m%d"}
  - programme: elderly_allowance
    status: {value: active}
"""


def test_places_programmes_and_priorities_are_declared_by_contract(tmp_path: Path) -> None:
    """A contract says which address it holds, what its records mean for programmes, how its
    fields rank in golden records, and that it is a grid roster; the columns it reads follow."""
    contract = load_contract(write(tmp_path, PLACES_AND_PROGRAMMES))
    assert contract.fields["address"].kind == "registered"
    assert contract.roster is True
    assert (contract.priority_of("name"), contract.priority_of("address"), contract.priority_of("phone")) == (
        80,
        20,
        50,
    )
    first, second = contract.programmes
    assert first.programme.codes == {"A": "subsistence_allowance", "B": "destitute_support"}
    assert first.status.codes is not None and first.status.codes["暂停发放"] == "suspended"
    assert (second.programme.value, second.status.value) == ("elderly_allowance", "active")
    assert contract.source_columns == [
        "rec_no",
        "xing",
        "ming",
        "home",
        "wgbm",
        "hh",
        "kind",
        "state",
        "start",
        "amount",
    ]


def test_registered_address_twice_is_refused(tmp_path: Path) -> None:
    """An address of kind registered and a registered_address both mapped is a contract error."""
    text = PLACES_AND_PROGRAMMES.replace(
        "  grid_code: wgbm\n", "  grid_code: wgbm\n  registered_address: hj\n"
    )
    with pytest.raises(ContractError, match="key 'fields': 'address' has kind registered"):
        load_contract(write(tmp_path, text))
