"""The errors real department data has, as small rewrites of clean values.

Each kind of error is a ``Messiness``: which values it can apply to (a vectorised test) and how it
rewrites one value. A source system declares, per column, which kinds it suffers and at what rate;
``inject`` picks the rows (every kind on its own rows, at least ``MIN_INJECTED`` of each whenever
enough rows qualify, so that even a small demo shows every kind) and logs what it did.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.demo import names, places
from pipelines.demo.strings import scatter

MIN_INJECTED = 2
"""Every declared kind is injected at least this often when enough rows qualify."""

PLACEHOLDER_IDS = ("000000000000000000", "111111111111111111", "123456789012345678", "无", "不详")
FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
DOT_VARIANTS = ("•", ".", "．", "・")
NAME_SEPARATORS = (" ", "\u3000", "  ")
COUNTRY_CODE_PREFIXES = ("+86 ", "+86", "0086 ", "86-", "(+86)")
PHONE_SEPARATORS = ("/", "，", ";", " ")

Rewrite = Callable[[str, Any, float], str | None]
Applies = Callable[[pa.Array, pa.Array | None], Any]


@dataclass(frozen=True)
class Messiness:
    """One kind of error.

    Attributes:
        applies_to: ``(values, aux) ->`` a boolean Arrow array marking the values it can rewrite.
        rewrite: ``(value, aux, u) -> new value``; ``aux`` is the row's helper value (e.g. the
            name's pinyin) when the caller passes one, ``u`` a uniform random number in [0, 1).
    """

    applies_to: Applies
    rewrite: Rewrite


@dataclass
class ErrorLog:
    """Which rows of one source table got which kind of error in which column."""

    rows: list[np.ndarray] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def add(self, column: str, kind: str, rows: np.ndarray) -> None:
        """Record that ``rows`` of ``column`` got error ``kind``."""
        self.rows.append(np.asarray(rows, dtype=np.int64))
        self.columns.extend([column] * len(rows))
        self.kinds.extend([kind] * len(rows))

    def drop_rows(self, rows: np.ndarray) -> None:
        """Forget every entry of ``rows`` (rows rewritten as a whole afterwards)."""
        logged = np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.int64)
        keep = ~np.isin(logged, rows)
        self.rows = [logged[keep]]
        self.columns = [c for c, k in zip(self.columns, keep, strict=True) if k]
        self.kinds = [c for c, k in zip(self.kinds, keep, strict=True) if k]

    def table(self, source: str, record_ids: pa.Array) -> pa.Table:
        """The log as rows of ``source_system, source_record_id, column, kind``."""
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.int64)
        return pa.table(
            {
                "source_system": pa.array([source] * len(rows), pa.string()),
                "source_record_id": record_ids.take(pa.array(rows)),
                "column": pa.array(self.columns, pa.string()),
                "kind": pa.array(self.kinds, pa.string()),
            }
        )


def _one_of(options: tuple[str, ...], u: float) -> str:
    return options[int(u * len(options))]


@functools.cache
def _matches(pattern: str) -> Applies:
    """A test by regular expression; one function per pattern, so ``inject`` evaluates it once."""
    return lambda values, aux: pc.fill_null(pc.match_substring_regex(values, pattern), False)


def _any_value(values: pa.Array, aux: pa.Array | None) -> Any:
    return pc.is_valid(values)


def _character_class(characters: str) -> str:
    return "[" + re.escape(characters) + "]"


# -- identity numbers --------------------------------------------------------------------------------

_CITIZEN_ID = r"^\d{17}[\dX]$"


def _mistype_digit(value: str, aux: Any, u: float) -> str:
    position = 6 + int(u * 11)  # in the birth date or sequence code
    shift = 1 + int((u * 11 % 1) * 9)  # any other digit breaks the check character
    return value[:position] + str((int(value[position]) + shift) % 10) + value[position + 1 :]


def _excel_scientific(value: str, aux: Any, u: float) -> str:
    mantissa = (value[0] + "." + value[1:15]).rstrip("0").rstrip(".")
    return f"{mantissa}E+17"


def _outer_spaces(value: str, aux: Any, u: float) -> str:
    return _one_of((" " + value, value + " ", " " + value + " ", value + "\t"), u)


ID_ERRORS: Mapping[str, Messiness] = {
    "missing": Messiness(_any_value, lambda value, aux, u: None),
    "placeholder": Messiness(_any_value, lambda value, aux, u: _one_of(PLACEHOLDER_IDS, u)),
    "masked": Messiness(_matches(_CITIZEN_ID), lambda value, aux, u: value[:6] + "*" * 8 + value[14:]),
    "mistyped_digit": Messiness(_matches(_CITIZEN_ID), _mistype_digit),
    "full_width": Messiness(_matches(_CITIZEN_ID), lambda value, aux, u: value.translate(FULL_WIDTH)),
    "inner_spaces": Messiness(
        _matches(_CITIZEN_ID), lambda value, aux, u: f"{value[:6]} {value[6:14]} {value[14:]}"
    ),
    "outer_spaces": Messiness(_any_value, _outer_spaces),
    "lowercase_x": Messiness(_matches(r"^\d{17}X$"), lambda value, aux, u: value.lower()),
    # 15-digit numbers were issued until 1999, to people born before about 1984
    "old_15_digit": Messiness(
        _matches(r"^\d{6}19([0-7]\d|8[0-3])\d{7}[\dX]$"), lambda value, aux, u: value[:6] + value[8:17]
    ),
    # a spreadsheet round trip keeps 15 significant digits
    "excel_scientific": Messiness(_matches(r"^\d{18}$"), _excel_scientific),
    "excel_truncated": Messiness(
        _matches(r"^\d{15}(?:[1-9]\d\d|\d[1-9]\d|\d\d[1-9])$"), lambda value, aux, u: value[:15] + "000"
    ),
}
"""Ways an ID number goes wrong between the person and the database."""


# -- names -------------------------------------------------------------------------------------------

_HAN_NAME = r"^[\x{4e00}-\x{9fff}]{2,4}$"
_TYPED_BY_SOUND = _character_class("".join(c for c, i in names.han_characters().items() if i.homophones))
_HAS_TRADITIONAL = _character_class(
    "".join(c for c, i in names.han_characters().items() if i.traditional != c)
)


def _homophone_typo(value: str, aux: Any, u: float) -> str:
    table = names.han_characters()
    positions = [i for i, c in enumerate(value) if c in table and table[c].homophones]
    position = positions[int(u * len(positions))]
    choices = table[value[position]].homophones
    return value[:position] + _one_of(tuple(choices), u * len(positions) % 1) + value[position + 1 :]


def _part(aux: pa.Array | None, name: str, length: int) -> pa.Array:
    """One field of the name helpers (``name_helpers``), or nulls when there are none."""
    return pc.struct_field(aux, name) if aux is not None else pa.nulls(length, pa.string())


def _han_name_with_pinyin(values: pa.Array, aux: pa.Array | None) -> Any:
    has_pinyin = pc.is_valid(_part(aux, "pinyin", len(values)))
    return pc.fill_null(pc.and_(_matches(_HAN_NAME)(values, aux), has_pinyin), False)


def _surname_of(value: str, aux: Any) -> str:
    surname = aux.get("surname") if isinstance(aux, dict) else None
    return surname if surname and value.startswith(surname) else ""


def _inner_space(value: str, aux: Any, u: float) -> str:
    """A space between surname and given name, or after the first character."""
    cut = len(_surname_of(value, aux)) or 1
    return value[:cut] + _one_of(NAME_SEPARATORS, u) + value[cut:]


def _pinyin_spelling(value: str, aux: Any, u: float) -> str:
    surname, given = str(aux["pinyin"]).split(" ", 1)
    return _one_of(
        (f"{surname} {given}", f"{surname} {given}".upper(), (surname + given).lower(), f"{given} {surname}"),
        u,
    )


_LATIN_NAME = r"^[A-Z]+( [A-Z]+)+$"
_SURNAMES_TYPED_BY_SOUND = _character_class(
    "".join(
        c
        for c in names.surname_catalog().text
        if len(c) == 1 and c in names.han_characters() and names.han_characters()[c].homophones
    )
)


def _latin_name_of_a_woman(values: pa.Array, aux: pa.Array | None) -> Any:
    woman = pc.equal(_part(aux, "gender", len(values)), "F")
    return pc.fill_null(pc.and_(_matches(_LATIN_NAME)(values, aux), woman), False)


def _has_chinese_rendering(values: pa.Array, aux: pa.Array | None) -> Any:
    rendering = _part(aux, "chinese", len(values))
    return pc.fill_null(pc.and_(_matches(_LATIN_NAME)(values, aux), pc.is_valid(rendering)), False)


def _typo_in_surname(value: str, aux: Any, u: float) -> str:
    """张伟 → 章伟 (a same-sound character), SUZUKI YUI → SUZIKI YUI (a letter)."""
    if not value.isascii():
        return _one_of(tuple(names.han_characters()[value[0]].homophones), u) + value[1:]
    surname = _surname_of(value, aux) or value.split(" ")[0]
    position = 1 + int(u * (len(surname) - 1))
    letters = [c for c in "AEIOUNRSTY" if c != surname[position]]
    return value[:position] + _one_of(tuple(letters), u * 7 % 1) + value[position + 1 :]


def _swap_name_order(value: str, aux: Any, u: float) -> str:
    """SUZUKI YUI → YUI SUZUKI, KIM MIN JUN → MIN JUN KIM."""
    surname = _surname_of(value, aux) or value.split(" ")[0]
    return f"{value[len(surname) :].strip()} {surname}"


def _change_surname(value: str, aux: Any, u: float) -> str:
    """A married woman's new family name, from her nationality's (MARIA GARCIA → MARIA LOPEZ)."""
    surname = _surname_of(value, aux) or value.split(" ")[0]
    nationality = names.surname_nationality().get(surname, "WEST")
    others = tuple(s for s in names.foreign_names()[nationality].surnames if s != surname)
    return _one_of(others, u) + value[len(surname) :]


NAME_ERRORS: Mapping[str, Messiness] = {
    "surname_typo": Messiness(
        lambda values, aux: pc.fill_null(
            pc.or_(
                _matches(f"^{_SURNAMES_TYPED_BY_SOUND}[\\x{{4e00}}-\\x{{9fff}}]{{1,3}}$")(values, aux),
                _matches(_LATIN_NAME)(values, aux),
            ),
            False,
        ),
        _typo_in_surname,
    ),
    # a passport holder written in Chinese: YUI SUZUKI → 铃木结衣, IVAN MARTIN → 伊万·马丁
    "transliterated": Messiness(_has_chinese_rendering, lambda value, aux, u: str(aux["chinese"])),
    "name_order_swapped": Messiness(_matches(_LATIN_NAME), _swap_name_order),
    "surname_changed": Messiness(_latin_name_of_a_woman, _change_surname),
    "traditional": Messiness(_matches(_HAS_TRADITIONAL), lambda value, aux, u: names.to_traditional(value)),
    "inner_space": Messiness(_matches(_HAN_NAME), _inner_space),
    # two-character names padded to three with an ideographic space, as old systems print them
    "full_width_padding": Messiness(
        _matches(r"^[\x{4e00}-\x{9fff}]{2}$"), lambda value, aux, u: value[0] + "\u3000" + value[1]
    ),
    "homophone": Messiness(_matches(_TYPED_BY_SOUND), _homophone_typo),
    # the pinyin, e.g. "Zhang Wei", in some order and case
    "pinyin_only": Messiness(_han_name_with_pinyin, _pinyin_spelling),
    "dot_variant": Messiness(
        _matches(names.MIDDLE_DOT),
        lambda value, aux, u: value.replace(names.MIDDLE_DOT, _one_of(DOT_VARIANTS, u)),
    ),
    "dot_missing": Messiness(
        _matches(names.MIDDLE_DOT), lambda value, aux, u: value.replace(names.MIDDLE_DOT, "")
    ),
    "rare_character_as_question_mark": Messiness(
        _matches(_character_class("".join(sorted(names.RARE_CHARACTERS)))),
        lambda value, aux, u: "".join("?" if c in names.RARE_CHARACTERS else c for c in value),
    ),
    "outer_spaces": Messiness(_any_value, _outer_spaces),
}
"""Ways a name goes wrong between the person and the database. ``aux`` holds the person's name
helpers (``surname``, ``pinyin``, ``chinese``, ``gender``; see ``systems.name_helpers``)."""


# -- phones ------------------------------------------------------------------------------------------

_MOBILE = r"^1\d{10}$"
_LANDLINE = r"^0\d{2,3}-\d{7,8}$"


def _two_numbers(value: str, aux: Any, u: float) -> str:
    other = _one_of(places.MOBILE_PREFIXES, u) + f"{int(u * 1e12) % 10**8:08d}"
    return value + _one_of(PHONE_SEPARATORS, u * 1000 % 1) + other


PHONE_ERRORS: Mapping[str, Messiness] = {
    "missing": Messiness(_any_value, lambda value, aux, u: None),
    "dashed": Messiness(_matches(_MOBILE), lambda value, aux, u: f"{value[:3]}-{value[3:7]}-{value[7:]}"),
    "spaced": Messiness(_matches(_MOBILE), lambda value, aux, u: f"{value[:3]} {value[3:7]} {value[7:]}"),
    "country_code": Messiness(
        _matches(_MOBILE), lambda value, aux, u: _one_of(COUNTRY_CODE_PREFIXES, u) + value
    ),
    "two_numbers": Messiness(_matches(_MOBILE), _two_numbers),
    "bracketed_area_code": Messiness(
        _matches(_LANDLINE), lambda value, aux, u: "({}){}".format(*value.split("-"))
    ),
    "no_area_code": Messiness(_matches(_LANDLINE), lambda value, aux, u: value.split("-")[1]),
    "full_width": Messiness(_any_value, lambda value, aux, u: value.translate(FULL_WIDTH)),
}
"""Ways a phone number is written; only ``missing`` loses information."""


def inject(
    rng: np.random.Generator,
    values: pa.Array,
    column: str,
    rates: Mapping[str, float],
    catalog: Mapping[str, Messiness],
    log: ErrorLog,
    aux: pa.Array | None = None,
    minimum: int = MIN_INJECTED,
    exclude: np.ndarray | None = None,
) -> pa.Array:
    """Give some rows of a column the errors a source suffers, each row at most one kind.

    Args:
        rng: the source's random generator.
        values: the clean column.
        column: its name, for the log.
        rates: kind to share of the rows it applies to that no earlier kind took (kinds are drawn
            in the order given).
        catalog: the kinds known for this sort of value (``ID_ERRORS``, ``NAME_ERRORS`` …).
        log: where the chosen rows are recorded.
        aux: per-row helper values for kinds that need them.
        minimum: each kind's least number of rows, when that many qualify.
        exclude: rows to leave as they are.

    Returns:
        The column with the errors in it.
    """
    free = np.ones(len(values), dtype=bool)
    if exclude is not None:
        free[exclude] = False
    applicable: dict[Applies, np.ndarray] = {}  # rows still free are unchanged: test the clean column once
    chosen, rewritten = [], []
    for kind, rate in rates.items():
        messiness = catalog[kind]
        if messiness.applies_to not in applicable:
            applicable[messiness.applies_to] = np.asarray(messiness.applies_to(values, aux), dtype=bool)
        candidates = np.flatnonzero(free & applicable[messiness.applies_to])
        count = min(len(candidates), max(round(rate * len(candidates)), minimum)) if rate > 0 else 0
        rows = np.sort(rng.choice(candidates, count, replace=False))
        old = values.take(pa.array(rows, pa.int64())).to_pylist()
        helpers = aux.take(pa.array(rows, pa.int64())).to_pylist() if aux is not None else [None] * count
        draws = rng.random(count).tolist()
        rewritten += [messiness.rewrite(*args) for args in zip(old, helpers, draws, strict=True)]
        chosen.append(rows)
        free[rows] = False
        log.add(column, kind, rows)
    return scatter(values, np.concatenate(chosen), rewritten) if chosen else values


DATE_ERRORS = ("mistyped_date", "chinese_date_format", "missing")
"""Ways a date goes wrong: a few days off, written 'YYYY年M月D日', left out (drawn in this order)."""

RECORD_ID_ERRORS = ("head_id_on_member", "parent_id_on_child", "no_usable_id")
"""ID-number errors that depend on the record's person, drawn before the others
(``systems.record_id_errors``): an adult member and a child recorded under their household head's
citizen ID number (the record keeps its own name, birth date and gender), and a registered
resident's record with no usable number (blank, 不详, 000000000000000000 or masked) whose name and
birth date are kept exact and whose address is written by its community."""
UNUSABLE_ID_FORMS = (None, "", "不详", "000000000000000000", "masked")
ADDRESS_ERRORS = ("stale_address",)
"""A person's second record that still has the flat they moved from (its grid and community too)."""

KINDS_BY_VALUE: Mapping[str, frozenset[str]] = {
    "id_number": frozenset(ID_ERRORS) | frozenset(RECORD_ID_ERRORS),
    "register_id_number": frozenset(ID_ERRORS),  # a register keyed by the number keeps it unique
    "address": frozenset(ADDRESS_ERRORS),
    "name": frozenset(NAME_ERRORS),
    "phone": frozenset(PHONE_ERRORS),
    "date": frozenset(DATE_ERRORS),
    "code": frozenset({"missing"}),
}
"""The error kinds a profile may give each kind of value (``spec.SystemSpec.errors``)."""
