"""Citizen ID numbers (公民身份号码, GB 11643) and other identity document numbers.

A resident ID is valid when its ISO 7064 MOD 11-2 check character is right and its birth date is a
real date from 1880 on. The region code is deliberately not checked against python-stdnum's
bundled table, which `stdnum.cn.ric.validate` does: the table lags behind re-coded and newly created
counties, and it rejects a county code "not assigned in the birth year", although numbers were
issued from 1984 on with the code current at issue, so everyone born before a county got its code
would be rejected. Rejecting a real citizen's number would throw away the strongest matching key;
the check character already catches typos in the region digits.

A future birth date is not rejected here (the function is pure and cached, so it cannot depend on
today's date): callers compare `IdNumber.birth_date` with `dates.plausible_birth_date`.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from stdnum.cn import ric

from pipelines.canonical import canonical_fields
from pipelines.standardize import as_text, is_placeholder
from pipelines.standardize.dates import MIN_YEAR

ID_TYPES = canonical_fields()["id_type"].values  # declared once, in schemas/canonical.yaml
ID_STATUSES = (
    "valid",
    "converted_15",
    "invalid_checksum",
    "invalid_format",
    "masked",
    "placeholder",
    "missing",
    "not_cn_resident_id",
)
MASK_CHARS = "*×●"

_CN = "cn_resident_id"
_RESIDENT_18 = re.compile(r"\d{17}[\dX]")
_CLEAN_RESIDENT_18 = re.compile(r"[1-8]\d{16}[\dX]")
_RESIDENT_15 = re.compile(r"\d{15}")
_MASKED = re.compile(r"[\dX*]{15}|[\dX*]{18}")
_DIGIT_RUN = re.compile(r"\d{14,20}[A-Z]?")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d*)?E[+-]?\d+", re.IGNORECASE)
_FLOAT_ZERO = re.compile(r"(\d+)\.0+")
_SEPARATORS = re.compile(r"[\s\-_]+")
_QUOTES = "'\"`‘’“”"
# Checked in order: the first pattern that matches the whole compacted number gives the type.
_SHAPES = (
    ("foreign_permanent_resident", re.compile(r"9\d{16}[\dX]|[A-Z]{3}\d{12}")),
    (_CN, re.compile(r"\d{17}[\dX]|\d{15}")),
    ("hk_macao_permit", re.compile(r"[HM]\d{8,10}")),
    ("tw_permit", re.compile(r"\d{8}|T\d{7,10}")),
    ("passport", re.compile(r"[A-Z]{1,2}\d{7,8}")),
)


@dataclass(frozen=True, slots=True)
class IdNumber:
    """An identity document number after standardization.

    Attributes:
        value: The normalized number (18 characters, upper-case X, for a resident ID) when status
            is valid, converted_15 or not_cn_resident_id; otherwise None.
        id_type: One of ID_TYPES.
        status: One of ID_STATUSES.
        masked: For status masked, the number with its visible characters kept and every mask
            character written '*', always in 18-character form (e.g. '420102********1234').
        birth_date: Birth date encoded in the number, when it is readable.
        gender: 'M' or 'F' from the order code's parity, when it is readable.
        reason: Why the number is not valid, in English; None for valid numbers.
    """

    value: str | None
    id_type: str
    status: str
    masked: str | None = None
    birth_date: datetime.date | None = None
    gender: str | None = None
    reason: str | None = None


def normalize_id_number(raw: object, id_type_hint: str | None = None) -> IdNumber:
    """Standardize one identity document number.

    Args:
        raw: The source value: text, int, float, None, NaN or pandas NA.
        id_type_hint: The record's id_type if the source has one (one of ID_TYPES). A hint that is
            empty or not one of ID_TYPES is ignored and the type is inferred from the shape.

    Returns:
        The normalized number with its type, status, decoded birth date and gender.
    """
    text = as_text(raw)
    if text is None:
        return IdNumber(None, id_type_hint if id_type_hint in ID_TYPES else _CN, "missing")
    hint = id_type_hint if id_type_hint in ID_TYPES else None
    return _normalize_text(text, hint)


def id_number_visible_digits_agree(masked: str, full: str) -> bool:
    """Tell whether a full resident ID fits every visible character of a masked one.

    Args:
        masked: A masked number such as '420102********1234' (any mask characters, 15 or 18 long).
        full: A full number; 15-digit numbers are converted to 18 first.

    Returns:
        True when both have the same length after normalization, the masked one shows at least one
        character, and every shown character equals the full number's character there.
    """
    pattern = normalize_id_number(masked).masked or _compact(masked)
    number = normalize_id_number(full).value or _compact(full)
    if len(pattern) != len(number) or pattern.count("*") == len(pattern) or "*" in number:
        return False
    return all(p in ("*", n) for p, n in zip(pattern, number, strict=True))


@lru_cache(maxsize=1 << 16)
def _normalize_text(text: str, hint: str | None) -> IdNumber:
    if hint in (None, _CN) and _CLEAN_RESIDENT_18.fullmatch(text) and not is_placeholder(text):
        return _resident_id(text)  # most numbers are already clean: skip the general path
    text = unicodedata.normalize("NFKC", text).strip(_QUOTES + " ")
    float_zero = _FLOAT_ZERO.fullmatch(text)
    compact = _compact(float_zero.group(1) if float_zero else text)
    if is_placeholder(compact):
        return IdNumber(None, hint or _CN, "placeholder", reason=f"placeholder value {text!r}")
    if hint not in (None, _CN):
        return IdNumber(compact, hint, "not_cn_resident_id")
    if _SCIENTIFIC.fullmatch(text):
        reason = f"{text!r} is in scientific notation; the digits after the first 15 are lost"
        return IdNumber(None, _CN, "invalid_format", reason=reason)
    return _by_shape(compact, hint)


def _by_shape(compact: str, hint: str | None) -> IdNumber:
    """Classify a compacted, non-placeholder number given no hint or the resident ID hint."""
    if _CLEAN_RESIDENT_18.fullmatch(compact):
        return _resident_id(compact)
    masked = _unify_mask(compact)
    if "*" in masked:
        return _masked(masked, hint)
    id_type = hint or _infer_type(compact)
    if id_type != _CN:
        return IdNumber(compact, id_type, "not_cn_resident_id")
    return _resident_id(compact)


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


def _unify_mask(compact: str) -> str:
    """Write every mask character as '*'; in a resident ID an X is a mask unless it is last."""
    body, last = compact[:-1], compact[-1:]
    if len(compact) in (15, 18):
        body = body.replace("X", "*")
    for mask_char in MASK_CHARS:
        body, last = body.replace(mask_char, "*"), last.replace(mask_char, "*")
    return body + last


def _infer_type(compact: str) -> str:
    for id_type, shape in _SHAPES:
        if shape.fullmatch(compact):
            return id_type
    return _CN if _DIGIT_RUN.fullmatch(compact) else "other"


def _masked(masked: str, hint: str | None) -> IdNumber:
    if not _MASKED.fullmatch(masked):
        reason = f"{masked!r} has mask characters but not the shape of a resident ID"
        return IdNumber(None, hint or "other", "invalid_format", reason=reason)
    if len(masked) == 15:
        masked = masked[:6] + "19" + masked[6:] + "*"
    birth_date, gender = _decode_birth_date(masked), _decode_gender(masked)
    return IdNumber(None, _CN, "masked", masked, birth_date, gender, reason="number is masked")


def _resident_id(compact: str) -> IdNumber:
    if _RESIDENT_15.fullmatch(compact):
        return _converted_15(compact)
    if not _RESIDENT_18.fullmatch(compact):
        reason = f"{compact!r} is not 17 digits and a check character (0-9 or X)"
        return IdNumber(None, _CN, "invalid_format", reason=reason)
    expected = ric.calc_check_digit(compact)
    if compact[-1] != expected:
        reason = f"check character is {compact[-1]}, expected {expected}"
        return IdNumber(None, _CN, "invalid_checksum", reason=reason)
    return _with_birth_date(compact, "valid")


def _converted_15(compact: str) -> IdNumber:
    body = compact[:6] + "19" + compact[6:]
    number = body + ric.calc_check_digit(body + "0")
    return _with_birth_date(number, "converted_15")


def _with_birth_date(number: str, status: str) -> IdNumber:
    birth_date = _decode_birth_date(number)
    if birth_date is None:
        reason = f"birth date {number[6:14]} in the number is not a real date from {MIN_YEAR} on"
        return IdNumber(None, _CN, "invalid_format", reason=reason)
    return IdNumber(number, _CN, status, None, birth_date, _decode_gender(number))


def _decode_birth_date(number: str) -> datetime.date | None:
    digits = number[6:14]
    if not digits.isdigit():
        return None
    try:
        birth_date = datetime.date.fromisoformat(digits)  # reads YYYYMMDD since Python 3.11
    except ValueError:
        return None
    return birth_date if birth_date.year >= MIN_YEAR else None


def _decode_gender(number: str) -> str | None:
    order_digit = number[16]
    if not order_digit.isdigit():
        return None
    return "M" if order_digit in "13579" else "F"
