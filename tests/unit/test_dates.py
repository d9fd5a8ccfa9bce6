"""Date parsing and birth-date plausibility."""

from __future__ import annotations

import datetime

import pandas
import pytest

from pipelines.standardize.dates import parse_date, plausible_birth_date

D = datetime.date


@pytest.mark.parametrize(
    ("raw", "formats", "expected"),
    [
        ("1990-03-07", (), D(1990, 3, 7)),
        ("1990/03/07", (), D(1990, 3, 7)),
        ("1990/3/7", (), D(1990, 3, 7)),
        ("19900307", (), D(1990, 3, 7)),
        ("1990.03.07", (), D(1990, 3, 7)),
        ("1990年3月7日", (), D(1990, 3, 7)),
        ("1990年03月07日", (), D(1990, 3, 7)),
        ("1990-03-07 12:30:00", (), D(1990, 3, 7)),
        ("1990-03-07T12:30:00", (), D(1990, 3, 7)),
        ("1990-03-07 12:30:00.123", (), D(1990, 3, 7)),
        (" １９９０－０３－０７ ", (), D(1990, 3, 7)),
        (19900307, (), D(1990, 3, 7)),
        (19900307.0, (), D(1990, 3, 7)),
        (D(1990, 3, 7), (), D(1990, 3, 7)),
        (datetime.datetime(1990, 3, 7, 23, 59), (), D(1990, 3, 7)),
        ("2000-02-29", (), D(2000, 2, 29)),
        ("1880-01-01", (), D(1880, 1, 1)),
        ("07/03/1990", ("%d/%m/%Y",), D(1990, 3, 7)),
        ("07/03/1990", "%d/%m/%Y", D(1990, 3, 7)),
        ("03/07/1990", ("%m/%d/%Y",), D(1990, 3, 7)),
        ("1990-07-03", ("%Y-%d-%m",), D(1990, 3, 7)),
        ("32939", ("excel_serial",), D(1990, 3, 7)),
        (32939, ("excel_serial",), D(1990, 3, 7)),
        (32939.75, ("excel_serial",), D(1990, 3, 7)),
        ("18263", ("excel_serial",), D(1949, 12, 31)),
        ("19900307", ("excel_serial",), D(1990, 3, 7)),
    ],
)
def test_dates_are_parsed(raw: object, formats: tuple[str, ...] | str, expected: D) -> None:
    """Declared formats come first, then the common unambiguous layouts."""
    assert parse_date(raw, formats) == expected


@pytest.mark.parametrize(
    ("raw", "formats"),
    [
        (None, ()),
        (float("nan"), ()),
        ("", ()),
        ("不详", ()),
        ("abc", ()),
        ("1990-02-30", ()),
        ("1990年2月30日", ()),
        ("1900-02-29", ()),
        ("1990-13-01", ()),
        ("1879-12-31", ()),
        ("0001-01-01", ()),
        ("9999-12-31", ()),
        ("07/03/1990", ()),
        ("32939", ()),
        ("1990307", ()),
        ("1990307", ("%Y%m%d",)),
        ("99999999999", ("excel_serial",)),
    ],
)
def test_unparseable_dates_are_none(raw: object, formats: tuple[str, ...]) -> None:
    """Impossible dates, placeholder years and ambiguous layouts give None instead of raising."""
    assert parse_date(raw, formats) is None


def test_pandas_values_are_read() -> None:
    """pandas Timestamps are dates, and NaT and NA are missing."""
    assert parse_date(pandas.Timestamp("1990-03-07 08:00")) == D(1990, 3, 7)
    assert parse_date(pandas.NaT) is None
    assert parse_date(pandas.NA) is None


@pytest.mark.parametrize(
    ("birth_date", "expected"),
    [
        (D(1990, 3, 7), True),
        (D(2025, 6, 1), True),
        (D(2025, 6, 2), False),
        (D(1895, 1, 1), True),
        (D(1894, 12, 31), False),
    ],
)
def test_plausible_birth_date(birth_date: D, expected: bool) -> None:
    """A birth date is plausible from 130 years before the reference day up to that day."""
    assert plausible_birth_date(birth_date, today=D(2025, 6, 1)) is expected
