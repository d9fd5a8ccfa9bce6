"""Resident ID and document number standardization (DESIGN.md section 5)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas
import pytest
import yaml

from pipelines.standardize.id_number import (
    ID_TYPES,
    IdNumber,
    id_number_visible_digits_agree,
    normalize_id_number,
)

CANONICAL_YAML = Path(__file__).resolve().parents[2] / "schemas" / "canonical.yaml"
D = datetime.date

# Check characters below were computed by hand with ISO 7064 MOD 11-2 (weights 7 9 10 5 8 4 2 1 6
# 3 7 9 10 5 8 4 2; remainder 0..10 -> 1 0 X 9 8 7 6 5 4 3 2). 11010519491231002X is the example
# published with GB 11643.


@pytest.mark.parametrize(
    ("raw", "value", "status", "birth_date", "gender"),
    [
        ("11010519491231002X", "11010519491231002X", "valid", D(1949, 12, 31), "F"),
        ("11010519491231002x", "11010519491231002X", "valid", D(1949, 12, 31), "F"),
        (
            "１１０１０５１９４９１２３１００２Ｘ",
            "11010519491231002X",
            "valid",
            D(1949, 12, 31),
            "F",
        ),
        ("110105 19491231 002X", "11010519491231002X", "valid", D(1949, 12, 31), "F"),
        ("110105-19491231-002X", "11010519491231002X", "valid", D(1949, 12, 31), "F"),
        ("  '11010519491231002X\t", "11010519491231002X", "valid", D(1949, 12, 31), "F"),
        ("420102199003071232", "420102199003071232", "valid", D(1990, 3, 7), "M"),
        ("420102199003071232.0", "420102199003071232", "valid", D(1990, 3, 7), "M"),
        ("420102199003070029", "420102199003070029", "valid", D(1990, 3, 7), "F"),
        ("110105200002290013", "110105200002290013", "valid", D(2000, 2, 29), "M"),
        # 650102 (天山区) dates from 1983 in stdnum's table, which rejects anyone born before.
        ("650102198001010311", "650102198001010311", "valid", D(1980, 1, 1), "M"),
        ("110105491231002", "11010519491231002X", "converted_15", D(1949, 12, 31), "F"),
        (110105491231002, "11010519491231002X", "converted_15", D(1949, 12, 31), "F"),
        (110105491231002.0, "11010519491231002X", "converted_15", D(1949, 12, 31), "F"),
        ("440304851120001", "440304198511200013", "converted_15", D(1985, 11, 20), "M"),
        ("440304 851120 002", "440304198511200021", "converted_15", D(1985, 11, 20), "F"),
    ],
)
def test_usable_resident_ids_are_normalized_and_decoded(
    raw: object, value: str, status: str, birth_date: D, gender: str
) -> None:
    """A valid or 15-digit resident ID yields the 18-character number, its birth date and gender."""
    assert normalize_id_number(raw) == IdNumber(
        value, "cn_resident_id", status, None, birth_date, gender, None
    )


@pytest.mark.parametrize(
    ("raw", "status", "reason_part"),
    [
        ("420102199003071233", "invalid_checksum", "expected 2"),
        ("11010519491231002 1", "invalid_checksum", "expected X"),
        ("110105194912310020", "invalid_checksum", "expected X"),
        ("420102199002301235", "invalid_format", "19900230"),
        ("110105190002290017", "invalid_format", "19000229"),
        ("110105187912310016", "invalid_format", "18791231"),
        ("4.20102199003071E+17", "invalid_format", "scientific notation"),
        ("4.20102199003071e17", "invalid_format", "scientific notation"),
        (4.201021990030712e17, "invalid_format", "scientific notation"),
        ("4201021990030712", "invalid_format", "17 digits"),
        ("4201021990030712345", "invalid_format", "17 digits"),
        ("42010219900307123Y", "invalid_format", "17 digits"),
    ],
)
def test_unusable_resident_ids_name_the_fault(raw: object, status: str, reason_part: str) -> None:
    """A bad check character, impossible birth date or lost digits gives no number and a reason."""
    result = normalize_id_number(raw)
    assert (result.value, result.id_type, result.status) == (None, "cn_resident_id", status)
    assert result.reason is not None and reason_part in result.reason
    assert result.birth_date is None and result.gender is None


@pytest.mark.parametrize(
    ("raw", "masked", "birth_date", "gender"),
    [
        ("420102********1232", "420102********1232", None, "M"),
        ("420102××××××××1232", "420102********1232", None, "M"),
        ("420102●●●●●●●●1232", "420102********1232", None, "M"),
        ("420102xxxxxxxx123x", "420102********123X", None, "M"),
        ("420102＊＊＊＊＊＊＊＊1224", "420102********1224", None, "F"),
        ("42010219900307**32", "42010219900307**32", D(1990, 3, 7), "M"),
        ("4201021990******32", "4201021990******32", None, "M"),
        ("4201021990******X2", "4201021990*******2", None, None),
        ("420102******123", "42010219******123*", None, "M"),
    ],
)
def test_masked_ids_keep_their_visible_characters(
    raw: str, masked: str, birth_date: D | None, gender: str | None
) -> None:
    """A masked ID keeps its visible characters in 18-character form with '*' as the mask."""
    result = normalize_id_number(raw)
    assert (result.value, result.id_type, result.status) == (None, "cn_resident_id", "masked")
    assert (result.masked, result.birth_date, result.gender) == (masked, birth_date, gender)


@pytest.mark.parametrize(
    "raw",
    [
        "000000000000000000",
        "111111111111111111",
        "123456789012345678",
        "000000",
        "0",
        "无",
        "不详",
        "未知",
        "NULL",
        "null",
        "N/A",
        "-",
        "--",
        "/",
        "******************",
    ],
)
def test_placeholders_are_recognized(raw: str) -> None:
    """A value typed in place of a number is a placeholder, never a number."""
    result = normalize_id_number(raw)
    assert (result.value, result.status) == (None, "placeholder")


@pytest.mark.parametrize("raw", [None, float("nan"), "", "   ", "\t"])
def test_empty_values_are_missing(raw: object) -> None:
    """None, NaN and blank text are missing, not placeholders."""
    assert normalize_id_number(raw) == IdNumber(None, "cn_resident_id", "missing")


def test_pandas_na_is_missing() -> None:
    """pandas.NA from a nullable string column is missing."""
    assert normalize_id_number(pandas.NA).status == "missing"


@pytest.mark.parametrize(
    ("raw", "value", "id_type"),
    [
        ("E12345678", "E12345678", "passport"),
        ("G12345678", "G12345678", "passport"),
        ("EA1234567", "EA1234567", "passport"),
        ("e 1234 5678", "E12345678", "passport"),
        ("H12345678", "H12345678", "hk_macao_permit"),
        ("M1234567890", "M1234567890", "hk_macao_permit"),
        ("12345679", "12345679", "tw_permit"),
        ("T1234567", "T1234567", "tw_permit"),
        ("990105194912310023", "990105194912310023", "foreign_permanent_resident"),
        ("USA123456789012", "USA123456789012", "foreign_permanent_resident"),
        ("ABC12", "ABC12", "other"),
    ],
)
def test_document_type_is_inferred_from_shape(raw: str, value: str, id_type: str) -> None:
    """Without a hint, a non-resident document is typed by its shape and kept as given."""
    assert normalize_id_number(raw) == IdNumber(value, id_type, "not_cn_resident_id")


@pytest.mark.parametrize(
    ("raw", "hint", "expected"),
    [
        ("e1234 5678", "passport", IdNumber("E12345678", "passport", "not_cn_resident_id")),
        (
            "11010519491231002X",
            "passport",
            IdNumber("11010519491231002X", "passport", "not_cn_resident_id"),
        ),
        (
            "h-1234-5678",
            "hk_macao_permit",
            IdNumber("H12345678", "hk_macao_permit", "not_cn_resident_id"),
        ),
        (
            "无",
            "passport",
            IdNumber(None, "passport", "placeholder", reason="placeholder value '无'"),
        ),
        (None, "tw_permit", IdNumber(None, "tw_permit", "missing")),
        ("fpr 3j7 tg1jg", "national_id", IdNumber("FPR3J7TG1JG", "national_id", "not_cn_resident_id")),
        (
            "11010519491231002X",
            "not_a_type",
            IdNumber("11010519491231002X", "cn_resident_id", "valid", None, D(1949, 12, 31), "F"),
        ),
    ],
)
def test_hint_decides_the_document_type(raw: object, hint: str, expected: IdNumber) -> None:
    """A known non-resident hint keeps the number upper-cased; an unknown hint is ignored."""
    assert normalize_id_number(raw, hint) == expected


def test_resident_hint_rejects_other_shapes() -> None:
    """With the cn_resident_id hint, a passport-shaped number is an invalid resident ID."""
    result = normalize_id_number("E12345678", "cn_resident_id")
    assert (result.value, result.id_type, result.status) == (
        None,
        "cn_resident_id",
        "invalid_format",
    )


@pytest.mark.parametrize(
    ("masked", "full", "expected"),
    [
        ("420102********1232", "420102199003071232", True),
        ("420102********1232", "420102199003071240", False),
        ("420102××××××××1232", "420102 19900307 1232", True),
        ("420102xxxxxxxx123x", "11010519491231002X", False),
        ("110105********002X", "110105491231002", True),
        ("420102******123", "420102199003071232", True),
        ("420102******124", "420102199003071232", False),
        ("******************", "420102199003071232", False),
        ("420102********1232", "420102********1232", False),
        ("420102********123", "420102199003071232", False),
    ],
)
def test_visible_digits_agree(masked: str, full: str, expected: bool) -> None:
    """A full number agrees with a masked one only where every visible character matches."""
    assert id_number_visible_digits_agree(masked, full) is expected


def test_id_types_come_from_the_canonical_model() -> None:
    """ID_TYPES are the id_type values that schemas/canonical.yaml declares, in order."""
    declared = yaml.safe_load(CANONICAL_YAML.read_text(encoding="utf-8"))
    assert tuple(declared["fields"]["id_type"]["values"]) == ID_TYPES
    assert ID_TYPES[0] == "cn_resident_id" and "passport" in ID_TYPES
