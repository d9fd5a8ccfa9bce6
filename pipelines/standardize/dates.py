"""Dates from source columns: text in several layouts, date objects, integers, Excel serials.

`parse_date` is generic (birth, death and update dates); it rejects dates that do not exist and
years outside MIN_YEAR..MAX_YEAR, which in these systems are placeholders ('0001-01-01',
'9999-12-31').
Whether a date can be a birth date depends on today, so that is a separate, explicit check:
`plausible_birth_date`.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from pipelines.standardize import as_text

MIN_YEAR = 1880
MAX_YEAR = 2100  # '9999-12-31' and the like mean "open-ended", not a date
MAX_AGE_YEARS = 130
EXCEL_SERIAL = "excel_serial"
# Unambiguous layouts tried after the caller's formats. Day-first or month-first layouts such as
# '%d/%m/%Y' are ambiguous and are only used when a source contract lists them.
COMMON_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
)
# Excel counts days from 1899-12-30 (its 1900 leap-day bug only shifts serials before 61).
_EXCEL_EPOCH = datetime.date(1899, 12, 30)
# Date-only layouts read with one regex instead of strptime (same result, a tenth of the cost).
# '%Y%m%d' needs all 8 digits: strptime reads '1990111' as 1990-11-1, though 1990-1-11 is as likely.
_DATE_LAYOUTS = {
    "%Y-%m-%d": re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    "%Y/%m/%d": re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    "%Y%m%d": re.compile(r"(\d{4})(\d{2})(\d{2})"),
    "%Y.%m.%d": re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    "%Y年%m月%d日": re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_date(raw: object, formats: Sequence[str] = ()) -> datetime.date | None:
    """Read a date from a raw source value; never raises on bad data.

    Args:
        raw: Text (full-width digits allowed), int like 19900307, float, datetime.date,
            datetime.datetime or pandas.Timestamp; None, NaN and NA give None.
        formats: strptime formats tried, in order, before COMMON_FORMATS (one format may be
            given as a plain string); the special format 'excel_serial' also reads numbers such
            as 32939 as Excel day serials.

    Returns:
        The date, or None when nothing fits, the date does not exist or its year is outside
        MIN_YEAR..MAX_YEAR.
    """
    if isinstance(raw, datetime.date):
        if raw != raw:  # pandas.NaT is a datetime that differs from itself
            return None
        day = raw.date() if isinstance(raw, datetime.datetime) else raw
        return day if _in_range(day) else None
    text = as_text(raw)
    if text is None:
        return None
    return _parse_text(text, (formats,) if isinstance(formats, str) else tuple(formats))


def plausible_birth_date(birth_date: datetime.date, today: datetime.date) -> bool:
    """Tell whether a date can be a living or recently deceased person's birth date.

    Args:
        birth_date: The date to check.
        today: The reference day (passed in, so the result does not change while a run goes on).

    Returns:
        True when the date is not after today and its year is at most MAX_AGE_YEARS before
        today's year.
    """
    return today.year - MAX_AGE_YEARS <= birth_date.year and birth_date <= today


@lru_cache(maxsize=1 << 16)
def _parse_text(text: str, formats: tuple[str, ...]) -> datetime.date | None:
    text = unicodedata.normalize("NFKC", text)
    for fmt in formats + COMMON_FORMATS:
        parsed = _parse_with(text, fmt)
        if parsed is not None and _in_range(parsed):
            return parsed
    return None


def _parse_with(text: str, fmt: str) -> datetime.date | None:
    if fmt == EXCEL_SERIAL:
        return _from_excel_serial(text)
    layout = _DATE_LAYOUTS.get(fmt)
    if layout is not None:
        match = layout.fullmatch(text)
        return _from_parts(*match.groups()) if match else None
    if "%H" in fmt and ":" not in text:
        return None  # spares strptime's cost on every date-only value
    try:
        return datetime.datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def _from_parts(year: str, month: str, day: str) -> datetime.date | None:
    try:
        return datetime.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _from_excel_serial(text: str) -> datetime.date | None:
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return _EXCEL_EPOCH + datetime.timedelta(days=int(float(text)))
    except OverflowError:
        return None


def _in_range(value: datetime.date) -> bool:
    return MIN_YEAR <= value.year <= MAX_YEAR
