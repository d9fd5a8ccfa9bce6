"""A contract's phone region decides how numbers without a country code are read."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipelines.contracts import SourceContract
from pipelines.standardize.records import standardize_batch


def contract(phone: dict[str, str]) -> SourceContract:
    """A minimal contract whose phone field is mapped as given."""
    return SourceContract.model_validate(
        {
            "name": "library",
            "title": "Library members",
            "owner": "Culture office",
            "connection": "sqlite://",
            "table": "members",
            "primary_key": "member_no",
            "fields": {"name": "member_name", "phone": phone},
        }
    )


ROWS = pd.DataFrame(
    {
        "member_no": ["1", "2", "3"],
        "member_name": ["Marie Martin", "Jonas Weiss", "Li Na"],
        "phone": ["06 12 34 56 78", "+49 151 12345678", "0049 151 12345678"],
    }
)


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ({"column": "phone", "region": "FR"}, ["+33612345678", "+4915112345678", "+4915112345678"]),
        # without a region the national number is read as a Chinese one, and is not valid there
        ({"column": "phone"}, [None, "+4915112345678", "+4915112345678"]),
    ],
)
def test_phone_numbers_are_read_in_the_contract_region(
    phone: dict[str, str], expected: list[str | None]
) -> None:
    """National numbers follow the declared region; numbers with a country code need none."""
    staged = standardize_batch(contract(phone), ROWS, "b1", today=dt.date(2026, 1, 15))
    assert staged.records.column("phone").to_pylist() == expected
    rules = staged.findings.column("rule").to_pylist()
    assert rules.count("invalid_phone") == expected.count(None)
