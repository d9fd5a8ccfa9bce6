"""The demo district's map: its divisions and its buildings, read from data files, never typed in code.

The divisions (province → city → district → street → community → grid, with names and codes) are
the reference table a deployment ships, ``schemas/divisions/<district>.csv``. The buildings are the
demo's own truth, a register named by the profile (``pipelines/demo/profiles/wuchang-buildings.csv``):
one row per building with its grid, its compound (小区) and the compound's road address
(三阳路27号), or only a road and house number for old houses without a compound, and its units,
floors and flats per floor. Both are written once by ``scripts/make_demo_geography.py``.

Flats are numbered across the district, building after building (buildings are stored grid by
grid, so the flats of one grid are one range). A flat is a building, a unit (单元), a floor and a
door; its room number (室) is floor × 100 + door, and its ``dwelling_key`` names it for good:
``420106B00123-02-0803``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from pipelines.demo.strings import concat, lookup, zero_pad

DIVISIONS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "divisions"
DIVISION_LEVELS = ("province", "city", "district", "street", "community", "grid")


class MapError(ValueError):
    """A division table or building register is missing or inconsistent."""


@dataclass(frozen=True)
class Flats:
    """Flats, one per row: building (index into the map's buildings), unit, floor and door."""

    building: np.ndarray
    unit: np.ndarray
    floor: np.ndarray
    door: np.ndarray

    @property
    def room(self) -> np.ndarray:
        """Room numbers: floor × 100 + door (803, 1701)."""
        return self.floor * 100 + self.door

    def take(self, index: np.ndarray) -> Flats:
        """The flats at the given positions."""
        return Flats(self.building[index], self.unit[index], self.floor[index], self.door[index])

    def replace(self, rows: np.ndarray, other: Flats) -> Flats:
        """These flats with the given rows replaced by ``other`` (aligned with ``rows``)."""
        parts = [part.copy() for part in (self.building, self.unit, self.floor, self.door)]
        for part, new in zip(parts, (other.building, other.unit, other.floor, other.door), strict=True):
            part[rows] = new
        return Flats(*parts)


@dataclass(frozen=True)
class DistrictMap:
    """A district's divisions and buildings as parallel arrays.

    Attributes:
        province: e.g. ``湖北省``.
        city: e.g. ``武汉市``.
        district: e.g. ``武昌区``.
        district_code: 6-digit division code.
        street_name: sub-districts (街道).
        street_code: their 9-digit codes.
        community_name: communities (社区).
        community_code: their 12-digit codes.
        community_street: index of each community's street.
        community_compounds: how many compounds each community has.
        grid_code: grids (网格): community code + 3-digit number.
        grid_name: their names.
        grid_community: index of each grid's community.
        compound_name: compounds (小区).
        building_key: ``<district>B<5 digits>``, one per building.
        building_grid: index of each building's grid.
        building_compound: index of each building's compound, -1 for a house without one.
        building_road: the road of each building's address (the compound's gate, or the house's).
        building_road_number: its house number on that road.
        building_number: its number in its compound (栋), 0 for a house without a compound.
        building_units: units (单元) per building.
        building_floors: floors per building.
        building_doors: flats per floor in each unit.
    """

    province: str
    city: str
    district: str
    district_code: str
    street_name: tuple[str, ...]
    street_code: tuple[str, ...]
    community_name: tuple[str, ...]
    community_code: tuple[str, ...]
    community_street: np.ndarray
    community_compounds: np.ndarray
    grid_code: tuple[str, ...]
    grid_name: tuple[str, ...]
    grid_community: np.ndarray
    compound_name: tuple[str, ...]
    building_key: tuple[str, ...]
    building_grid: np.ndarray
    building_compound: np.ndarray
    building_road: tuple[str, ...]
    building_road_number: np.ndarray
    building_number: np.ndarray
    building_units: np.ndarray
    building_floors: np.ndarray
    building_doors: np.ndarray

    @functools.cached_property
    def first_flat(self) -> np.ndarray:
        """The district-wide number of each building's first flat, and the total at the end."""
        flats = self.building_units * self.building_floors * self.building_doors
        return np.concatenate([[0], np.cumsum(flats)])

    @property
    def flat_count(self) -> int:
        """Flats in the district."""
        return int(self.first_flat[-1])

    @functools.cached_property
    def grid_flats(self) -> tuple[np.ndarray, np.ndarray]:
        """Each grid's first flat and its number of flats (a grid's flats are one range)."""
        first_building = np.searchsorted(self.building_grid, np.arange(len(self.grid_code)))
        last_building = np.searchsorted(self.building_grid, np.arange(len(self.grid_code)), side="right")
        start = self.first_flat[first_building]
        return start, self.first_flat[last_building] - start

    def building_community(self, building: np.ndarray) -> np.ndarray:
        """The community index of each building."""
        return self.grid_community[self.building_grid[building]]

    def flats(self, numbers: np.ndarray) -> Flats:
        """The flats with the given district-wide numbers.

        Args:
            numbers: flat numbers in ``[0, flat_count)``.

        Returns:
            Building, unit, floor and door of each.
        """
        building = np.searchsorted(self.first_flat, numbers, side="right") - 1
        local = numbers - self.first_flat[building]
        per_unit = self.building_floors[building] * self.building_doors[building]
        rest = local % per_unit
        doors = self.building_doors[building]
        return Flats(building, local // per_unit + 1, rest // doors + 1, rest % doors + 1)

    def dwelling_keys(self, flats: Flats) -> pa.Array:
        """The key of each flat: building key, unit and room (``420106B00123-02-0803``)."""
        return concat(
            lookup(self.building_key, flats.building),
            "-",
            zero_pad(flats.unit, 2),
            "-",
            zero_pad(flats.room, 4),
        )

    def flats_of(self, keys: pa.Array) -> Flats:
        """The flats that dwelling keys name (the inverse of ``dwelling_keys``).

        Args:
            keys: dwelling keys, none of them null.

        Returns:
            The flats.
        """
        head = len(self.district_code) + 1

        def number(start: int, stop: int) -> np.ndarray:
            digits = pc.utf8_slice_codeunits(keys, start, stop)
            return np.asarray(pc.cast(digits, pa.int64()), dtype=np.int64)

        room = number(head + 9, head + 13)
        return Flats(number(head, head + 5) - 1, number(head + 6, head + 8), room // 100, room % 100)

    def grid_codes(self, flats: Flats) -> pa.Array:
        """The grid of each flat."""
        return lookup(self.grid_code, self.building_grid[flats.building])

    def community_codes(self, flats: Flats) -> pa.Array:
        """The 12-digit community code of each flat."""
        return lookup(self.community_code, self.building_community(flats.building))


def _read_csv(path: Path, columns: dict[str, pa.DataType]) -> pa.Table:
    if not path.is_file():
        raise MapError(f"{path}: no such file")
    options = pv.ConvertOptions(column_types=columns, strings_can_be_null=False)
    table = pv.read_csv(path, convert_options=options)
    missing = sorted(set(columns) - set(table.column_names))
    if missing:
        raise MapError(f"{path}: missing columns {missing}")
    return table


def _texts(table: pa.Table, name: str) -> list[str]:
    return [str(value) for value in table.column(name).to_pylist()]


def _index(path: Path, values: list[str], known: list[str], what: str) -> np.ndarray:
    position = {value: i for i, value in enumerate(known)}
    unknown = sorted(set(values) - set(position))
    if unknown:
        raise MapError(f"{path}: {what} {unknown[:3]} not in the division table")
    return np.array([position[value] for value in values], dtype=np.int64)


def _ints(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).fill_null(0), dtype=np.int64)


@functools.cache
def load_map(district_code: str, buildings_path: Path, divisions_dir: Path = DIVISIONS_DIR) -> DistrictMap:
    """Read a district's division table and building register.

    Args:
        district_code: the 6-digit division code (names ``<divisions_dir>/<code>.csv``).
        buildings_path: the building register.
        divisions_dir: the folder of division tables.

    Returns:
        The map.

    Raises:
        MapError: a file is missing, or a building's grid is not in the division table, or the
            buildings are not stored grid by grid.
    """
    path = divisions_dir / f"{district_code}.csv"
    text = pa.string()
    divisions = _read_csv(path, {"code": text, "name": text, "level": text, "parent_code": text})
    by_level = {
        level: divisions.filter(pc.equal(divisions.column("level"), level)) for level in DIVISION_LEVELS
    }
    names = {level: _texts(rows, "name") for level, rows in by_level.items()}
    codes = {level: _texts(rows, "code") for level, rows in by_level.items()}
    if codes["district"] != [district_code]:
        raise MapError(f"{path}: expected the one district {district_code}, found {codes['district']}")
    communities, grids = by_level["community"], by_level["grid"]
    community_street = _index(path, _texts(communities, "parent_code"), codes["street"], "streets")
    grid_community = _index(path, _texts(grids, "parent_code"), codes["community"], "communities")

    types = {
        "grid_code": text,
        "compound": text,
        "road": text,
        "road_number": pa.int64(),
        "building": pa.int64(),
    }
    types.update({column: pa.int64() for column in ("units", "floors", "doors")})
    buildings = _read_csv(buildings_path, types)
    building_grid = _index(buildings_path, _texts(buildings, "grid_code"), codes["grid"], "grids")
    if np.any(np.diff(building_grid) < 0):
        raise MapError(f"{buildings_path}: buildings must be stored grid by grid, in division-table order")
    compound_of = _texts(buildings, "compound")
    compound_names = list(dict.fromkeys(name for name in compound_of if name))
    position = {name: i for i, name in enumerate(compound_names)}
    building_compound = np.array([position.get(name, -1) for name in compound_of], dtype=np.int64)
    first_building_of: dict[str, int] = {}
    for row, name in enumerate(compound_of):
        first_building_of.setdefault(name, row)
    compound_community = grid_community[building_grid[[first_building_of[n] for n in compound_names]]]
    return DistrictMap(
        province=names["province"][0],
        city=names["city"][0],
        district=names["district"][0],
        district_code=district_code,
        street_name=tuple(names["street"]),
        street_code=tuple(codes["street"]),
        community_name=tuple(names["community"]),
        community_code=tuple(codes["community"]),
        community_street=community_street,
        community_compounds=np.bincount(compound_community, minlength=len(codes["community"])),
        grid_code=tuple(codes["grid"]),
        grid_name=tuple(names["grid"]),
        grid_community=grid_community,
        compound_name=tuple(compound_names),
        building_key=tuple(f"{district_code}B{i + 1:05d}" for i in range(buildings.num_rows)),
        building_grid=building_grid,
        building_compound=building_compound,
        building_road=tuple(_texts(buildings, "road")),
        building_road_number=_ints(buildings, "road_number"),
        building_number=_ints(buildings, "building"),
        building_units=_ints(buildings, "units"),
        building_floors=_ints(buildings, "floors"),
        building_doors=_ints(buildings, "doors"),
    )
