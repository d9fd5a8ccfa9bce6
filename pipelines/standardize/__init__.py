"""Value standardizers: one pure, cached function per canonical field.

The submodules (`id_number`, `names`, `phones`, `dates`) each own one field; `records` applies them
to whole source batches. This package module holds the one rule they all share: what counts as an
empty value and what counts as a placeholder typed in place of a real value ('无', 'NULL', '-',
'000000', '123456…'). It imports no submodule, so importing any of them stays cheap.
"""

from __future__ import annotations

import math
import numbers
import re

# Upper-cased words that data entry uses for "no value". Compared after NFKC and upper-casing.
PLACEHOLDER_TOKENS = frozenset(
    {
        "无", "没有", "不详", "未知", "不明", "暂无", "空", "缺", "待补", "待补充", "略", "其他",
        "NULL", "NONE", "NAN", "NAT", "NIL", "N/A", "#N/A", "NA", "UNKNOWN", "TBD",
    }
)  # fmt: skip

_COUNT_UP, _COUNT_DOWN = "12345678901234567890", "98765432109876543210"
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def as_text(raw: object) -> str | None:
    """Turn a raw cell value into its text, or None when the cell is empty.

    Integral floats (Excel and pandas turn numeric columns into floats) lose their '.0' when they
    are exactly representable; larger floats keep Python's repr, so the caller sees that digits
    were lost instead of getting a guessed number.

    Args:
        raw: A value read from a source column: str, int, float, None, NaN, pandas NA, ...

    Returns:
        The text with surrounding whitespace removed, or None for None, NaN, NA and blank text.
    """
    text: str | None
    if isinstance(raw, str):
        text = raw.strip()
    elif raw is None:
        return None
    elif isinstance(raw, float):
        text = _float_text(raw)
    elif isinstance(raw, numbers.Integral):
        text = str(int(raw))
    elif _is_missing_scalar(raw):
        return None
    else:
        text = str(raw).strip()
    return text or None


def is_placeholder(text: str) -> bool:
    """Tell whether a non-empty text is a stand-in for "no value" rather than a value.

    Args:
        text: Text already passed through `as_text` (and NFKC for full-width input).

    Returns:
        True for placeholder words ('无', '不详', 'NULL' …), text without any letter or digit
        ('-', '/', '***'), one digit repeated ('000000', '111…1') and counting runs ('123456…').
    """
    compact = text.replace(" ", "").upper()
    if compact.isdigit():
        return len(set(compact)) == 1 or (
            len(compact) >= 6 and (_COUNT_UP.startswith(compact) or _COUNT_DOWN.startswith(compact))
        )
    return compact in PLACEHOLDER_TOKENS or _LETTER_OR_DIGIT.search(compact) is None


def _float_text(raw: float) -> str | None:
    if math.isnan(raw):
        return None
    if raw.is_integer() and abs(raw) < 2**53:
        return str(int(raw))
    return repr(raw)


def _is_missing_scalar(raw: object) -> bool:
    # pandas.NA and pandas.NaT are neither None nor float; pandas is only imported if it is loaded.
    import sys

    pandas = sys.modules.get("pandas")
    if pandas is None:
        return False
    try:
        return bool(pandas.isna(raw))
    except (TypeError, ValueError):
        return False
