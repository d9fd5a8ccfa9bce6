"""Phone number normalization to E.164."""

from __future__ import annotations

import pytest

from pipelines.standardize.phones import normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("138-1234-5678", "+8613812345678"),
        ("138  1234  5678", "+8613812345678"),
        ("0086 138 1234 5678", "+8613812345678"),
        ("(+86)138-1234-5678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("+86-13812345678", "+8613812345678"),
        ("0086-138-1234-5678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),
        (13812345678, "+8613812345678"),
        (13812345678.0, "+8613812345678"),
        ("13800000000", "+8613800000000"),
        ("027-87654321", "+862787654321"),
        ("(027)87654321", "+862787654321"),
        ("010-12345678", "+861012345678"),
        ("027-87654321转123", "+862787654321"),
        ("027-87654321 分机 8021", "+862787654321"),
        ("027-87654321-8021", "+862787654321"),
        ("13912345678 ext 12", "+8613912345678"),
        ("13812345678/13987654321", "+8613812345678"),
        ("无；13987654321", "+8613987654321"),
        ("+852 2123 4567", "+85221234567"),
    ],
)
def test_valid_numbers_become_e164(raw: object, expected: str) -> None:
    """Separators, prefixes, full-width digits and extensions do not change the E.164 form."""
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        float("nan"),
        "",
        "无",
        "-",
        "00000000000",
        "11111111111",
        "12345678901",
        "87654321",
        "0755-2345678",
        "1381234567",
        "138123456789",
        "10086",
    ],
)
def test_invalid_numbers_are_none(raw: object) -> None:
    """Placeholders, local numbers without area code and numbers outside the plan give None."""
    assert normalize_phone(raw) is None


def test_region_applies_to_national_numbers() -> None:
    """A number without country code is read in the given region's national format."""
    assert normalize_phone("(650) 253-0000", region="US") == "+16502530000"
