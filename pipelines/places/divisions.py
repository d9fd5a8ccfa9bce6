"""The division reference: provinces down to grids, with names, codes and their hierarchy.

A district's divisions are declared in ``schemas/divisions/<6-digit district code>.csv`` with the
columns ``code,name,level,parent_code``. Codes follow GB/T 2260 and the 12-digit statistical division
codes (统计用区划代码), cut to the level: province 2 digits, city 4, district 6, street (街道/镇/乡) 9,
community (社区/村) 12, grid 15 (the community's 12 digits and a 3-digit grid number). A row's parent is
the division one level up, whose code its own code starts with.

`load_divisions` reads every file of a folder into a `Divisions` object, checking each row; an error
names the file, the row and the column in one line.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

DIVISIONS_PATH = Path(__file__).resolve().parents[2] / "schemas" / "divisions"
LEVELS = ("province", "city", "district", "street", "community", "grid")
CODE_LENGTHS = {"province": 2, "city": 4, "district": 6, "street": 9, "community": 12, "grid": 15}
COLUMNS = ("code", "name", "level", "parent_code")
# Suffixes that a name is often written without ('积玉桥' for 积玉桥街道), longest first per level.
NAME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "province": ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"),
    "city": ("自治州", "地区", "盟", "市"),
    "district": ("自治县", "自治旗", "新区", "区", "县", "市", "旗"),
    "street": ("街道办事处", "街道办", "街道", "镇", "乡", "苏木"),
    "community": (
        "社区居民委员会", "社区居委会", "居民委员会", "村民委员会", "居委会", "村委会", "社区", "村", "嘎查",
    ),
    "grid": (),  # grids are named by their community and number, not written in addresses
}  # fmt: skip
_MIN_SHORT_NAME = 2


class DivisionError(ValueError):
    """A division file that cannot be used; the message names the file, row and column."""


@dataclass(frozen=True, slots=True)
class Division:
    """One administrative division.

    Attributes:
        code: Its code, 2/4/6/9/12/15 digits by level (e.g. '420106' for 武昌区).
        name: Its full name ('积玉桥街道').
        level: One of LEVELS.
        parent_code: The code of the division one level up; None for a province.
        short_name: The name without its suffix ('积玉桥'), when at least two characters are left.
    """

    code: str
    name: str
    level: str
    parent_code: str | None
    short_name: str | None = None


def division_short_name(name: str, level: str) -> str | None:
    """The name a division is often written by: its full name without the level's suffix.

    Args:
        name: The full name, e.g. '临江社区'.
        level: One of LEVELS.

    Returns:
        For example '临江' for ('临江社区', 'community') and '积玉桥' for ('积玉桥街道', 'street');
        None when no suffix matches or fewer than two characters would be left.
    """
    for suffix in NAME_SUFFIXES.get(level, ()):
        if name.endswith(suffix) and len(name) - len(suffix) >= _MIN_SHORT_NAME:
            return name[: -len(suffix)]
    return None


class Divisions:
    """A set of divisions with lookups by code and by name, and their hierarchy.

    Built from `load_divisions`, `national.national_divisions` or any iterable of `Division`; a code
    given twice keeps its last division (so `merged` lets a district's own file win).
    """

    def __init__(self, divisions: Iterable[Division]) -> None:
        self._by_code: dict[str, Division] = {d.code: d for d in divisions}
        by_name: defaultdict[str, list[Division]] = defaultdict(list)
        children: defaultdict[str, list[Division]] = defaultdict(list)
        for division in self._by_code.values():
            by_name[division.name].append(division)
            if division.short_name and division.short_name != division.name:
                by_name[division.short_name].append(division)
            if division.parent_code is not None:
                children[division.parent_code].append(division)
        self._by_name = {name: tuple(found) for name, found in by_name.items()}
        self._children = {code: tuple(found) for code, found in children.items()}

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Division]:
        return iter(self._by_code.values())

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str | None) -> Division | None:
        """The division with this code, or None."""
        return None if code is None else self._by_code.get(code)

    def named(self, name: str, level: str | None = None) -> tuple[Division, ...]:
        """Divisions whose full or short name is ``name`` ('临江社区' or '临江'), of one level if given."""
        found = self._by_name.get(name, ())
        return found if level is None else tuple(d for d in found if d.level == level)

    def names(self) -> Iterator[tuple[str, tuple[Division, ...]]]:
        """Every full and short name with the divisions it names."""
        return iter(self._by_name.items())

    def parent(self, division: Division) -> Division | None:
        """The division one level up, when this set holds it."""
        return self.get(division.parent_code)

    def ancestors(self, code: str) -> tuple[Division, ...]:
        """The divisions above ``code`` that this set holds, nearest first (grid → … → province)."""
        found: list[Division] = []
        division = self.get(code)
        while division is not None and division.parent_code is not None:
            division = self.get(division.parent_code)
            if division is not None:
                found.append(division)
        return tuple(found)

    def children(self, code: str) -> tuple[Division, ...]:
        """The divisions whose parent is ``code``."""
        return self._children.get(code, ())

    def at_level(self, level: str) -> tuple[Division, ...]:
        """Every division of one level."""
        return tuple(d for d in self._by_code.values() if d.level == level)

    def merged(self, other: Divisions) -> Divisions:
        """This set with ``other``'s divisions added; ``other`` wins where both hold a code."""
        return Divisions([*self, *other])


def load_divisions(folder: Path = DIVISIONS_PATH) -> Divisions:
    """Read every ``<district code>.csv`` of a folder into one set of divisions.

    Args:
        folder: The folder, ``schemas/divisions`` by default; a missing or empty folder gives no
            divisions (a district we have never seen has no file, and addresses still parse).

    Returns:
        The divisions of every file.

    Raises:
        DivisionError: A file name is not a 6-digit district code, a header or value is wrong, a
            row belongs to another district, or one code is given two different ways.
    """
    seen: dict[str, tuple[Division, str]] = {}
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else ():
        for division, where in read_division_file(path):
            earlier = seen.get(division.code)
            if earlier is not None and earlier[0] != division:
                raise DivisionError(
                    f"{where}, column code: {division.code} is given as {division.name} ({division.level}) "
                    f"here and as {earlier[0].name} ({earlier[0].level}) at {earlier[1]}"
                )
            seen.setdefault(division.code, (division, where))
    return Divisions(division for division, _ in seen.values())


def read_division_file(path: Path) -> list[tuple[Division, str]]:
    """Read and check one district's division file.

    Args:
        path: ``<6-digit district code>.csv`` with the columns code,name,level,parent_code.

    Returns:
        Each row's division with where it was read ('path: row N'), in file order.

    Raises:
        DivisionError: As for `load_divisions`, naming this file.
    """
    district = path.stem
    if not (district.isdigit() and len(district) == CODE_LENGTHS["district"]):
        raise DivisionError(f"{path}: the file name must be a 6-digit district code, not {path.name!r}")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(cell.strip() for cell in rows[0]) != COLUMNS:
        header = ",".join(rows[0]) if rows else "nothing"
        raise DivisionError(f"{path}: row 1: the header must be {','.join(COLUMNS)}, not {header!r}")
    divisions = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}: row {number}"
        divisions.append((_division(row, where, district), where))
    return divisions


def _division(row: list[str], where: str, district: str) -> Division:
    if len(row) != len(COLUMNS):
        raise DivisionError(f"{where}: {len(row)} values, expected {len(COLUMNS)} ({','.join(COLUMNS)})")
    code, name, level, parent_code = (cell.strip() for cell in row)
    if level not in CODE_LENGTHS:
        raise DivisionError(f"{where}, column level: {level!r} is not one of {', '.join(LEVELS)}")
    _check_code(code, level, where, district)
    if not name:
        raise DivisionError(f"{where}, column name: empty")
    _check_parent(code, level, parent_code, where)
    return Division(code, name, level, parent_code or None, division_short_name(name, level))


def _check_code(code: str, level: str, where: str, district: str) -> None:
    length = CODE_LENGTHS[level]
    if not (code.isdigit() and code.isascii() and len(code) == length):
        raise DivisionError(f"{where}, column code: {code!r} is not {length} digits, as a {level} code is")
    in_district = district.startswith(code) if length <= len(district) else code.startswith(district)
    if not in_district:
        raise DivisionError(f"{where}, column code: {code} is not in district {district} (the file's name)")


def _check_parent(code: str, level: str, parent_code: str, where: str) -> None:
    if level == "province":
        if parent_code:
            raise DivisionError(f"{where}, column parent_code: a province has no parent, got {parent_code!r}")
        return
    parent_length = CODE_LENGTHS[LEVELS[LEVELS.index(level) - 1]]
    if parent_code != code[:parent_length]:
        raise DivisionError(
            f"{where}, column parent_code: {parent_code!r} should be {code[:parent_length]}, "
            f"the first {parent_length} digits of {code}"
        )
