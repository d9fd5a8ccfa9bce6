"""Where residents live and where they are registered: flats of the district map, as population columns.

Each household lives in one flat (a few migrant households share one, 合租). A registered
household's registered address (户籍地址) is its flat, or, for a share of them (人户分离), another
flat of the district. The population keeps, per person, the flat's ``dwelling_key``, its grid,
community and street, the parts of its address and the address written in full.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.demo.geography import DistrictMap, Flats
from pipelines.demo.strings import concat, lookup

PLACE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("dwelling_key", pa.string()),
    ("grid_code", pa.string()),
    ("division_code", pa.string()),
    ("street", pa.string()),
    ("community", pa.string()),
    ("compound", pa.string()),
    ("road", pa.string()),
    ("road_number", pa.int16()),
    ("building", pa.int16()),
    ("unit", pa.int16()),
    ("floor", pa.int16()),
    ("room", pa.int16()),
    ("address", pa.string()),
]
"""The population's columns of where a person actually lives (``compound`` and ``building`` are null
for a house without a compound)."""
REGISTERED_FIELDS: list[tuple[str, pa.DataType]] = [
    ("registered_dwelling_key", pa.string()),
    ("registered_address", pa.string()),
    ("registered_division_code", pa.string()),
]
"""The population's columns of where a registered resident is registered (null for the others)."""


def canonical_addresses(district: DistrictMap, flats: Flats) -> pa.Array:
    """The full address of each flat: city, district, street, community, compound or road, flat.

    Args:
        district: the map.
        flats: the flats.

    Returns:
        E.g. ``武汉市武昌区积玉桥街道临江社区万达华府3栋2单元1502室`` or, for a house without a
        compound, ``武汉市武昌区粮道街道昙华社区昙华林路108号2单元301室`` (no unit in a one-unit building).
    """
    m = district
    heads = []
    for b in range(len(m.building_key)):
        community = m.grid_community[m.building_grid[b]]
        admin = (
            m.city + m.district + m.street_name[m.community_street[community]] + m.community_name[community]
        )
        if m.building_compound[b] < 0:
            heads.append(f"{admin}{m.building_road[b]}{m.building_road_number[b]}号")
        else:
            heads.append(f"{admin}{m.compound_name[m.building_compound[b]]}{m.building_number[b]}栋")
    units = ["", *(f"{u}单元" for u in range(1, int(flats.unit.max(initial=0)) + 1))]
    single = m.building_units[flats.building] == 1
    rooms = pc.cast(pa.array(flats.room), pa.string())
    unit = pa.array(units, pa.string()).take(pa.array(np.where(single, 0, flats.unit)))
    return concat(pa.array(heads, pa.string()).take(pa.array(flats.building)), unit, rooms, "室")


def draw_flats(rng: np.random.Generator, district: DistrictMap, count: int) -> Flats:
    """Draw flats uniformly over the district, all different while the district has room.

    Args:
        rng: a random generator.
        district: the map.
        count: how many.

    Returns:
        The flats.
    """
    total = district.flat_count
    numbers = rng.choice(total, count, replace=False) if count <= total else rng.integers(0, total, count)
    return district.flats(np.asarray(numbers, dtype=np.int64))


def flats_in_grids(rng: np.random.Generator, district: DistrictMap, grids: np.ndarray) -> Flats:
    """Draw one flat in each of the given grids.

    Args:
        rng: a random generator.
        district: the map.
        grids: grid indexes.

    Returns:
        The flats.
    """
    start, size = district.grid_flats
    return district.flats(start[grids] + (rng.random(len(grids)) * size[grids]).astype(np.int64))


def share_flats(rng: np.random.Generator, flats: Flats, sharing: np.ndarray, hosts: np.ndarray) -> Flats:
    """Move some households into the flat of another (flatmates, 合租).

    Args:
        rng: a random generator.
        flats: one flat per household.
        sharing: households that move in with another.
        hosts: households that may take them in.

    Returns:
        The flats, those of ``sharing`` replaced by a host's.
    """
    if len(sharing) == 0 or len(hosts) == 0:
        return flats
    return flats.replace(sharing, flats.take(rng.choice(hosts, len(sharing))))


def place_columns(district: DistrictMap, flats: Flats) -> dict[str, pa.Array]:
    """The population's place columns (``PLACE_FIELDS``) for some flats.

    Args:
        district: the map.
        flats: one flat per person.

    Returns:
        Column name to values.
    """
    m = district
    community = m.building_community(flats.building)
    compound_index = m.building_compound[flats.building]
    house = compound_index < 0
    number = m.building_number[flats.building]

    def small(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
        return pa.array(values.astype(np.int16), pa.int16(), mask=mask)

    return {
        "dwelling_key": m.dwelling_keys(flats),
        "grid_code": m.grid_codes(flats),
        "division_code": m.community_codes(flats),
        "street": lookup(m.street_name, m.community_street[community]),
        "community": lookup(m.community_name, community),
        "compound": pc.if_else(
            pa.array(house), pa.scalar(None, pa.string()), lookup(("",) + m.compound_name, compound_index + 1)
        ),
        "road": lookup(m.building_road, flats.building),
        "road_number": small(m.building_road_number[flats.building]),
        "building": small(number, mask=house),
        "unit": small(flats.unit),
        "floor": small(flats.floor),
        "room": small(flats.room),
        "address": canonical_addresses(m, flats),
    }


def registered_columns(district: DistrictMap, flats: Flats, registered: np.ndarray) -> dict[str, pa.Array]:
    """The population's registered-address columns (``REGISTERED_FIELDS``).

    Args:
        district: the map.
        flats: one registered flat per person (anything for people not registered here).
        registered: whether each person is registered here.

    Returns:
        Column name to values, null for people not registered here.
    """
    none = pa.nulls(len(registered), pa.string())
    mask = pa.array(registered)
    return {
        "registered_dwelling_key": pc.if_else(mask, district.dwelling_keys(flats), none),
        "registered_address": pc.if_else(mask, canonical_addresses(district, flats), none),
        "registered_division_code": pc.if_else(mask, district.community_codes(flats), none),
    }


TRUTH_PLACE_COLUMNS = ("dwelling_key", "household_key", "grid_code")
"""Place columns of the truth: each record's person's flat, household and grid (where they live now)."""


def with_place_truth(truth: pa.Table, population: pa.Table) -> pa.Table:
    """The truth rows with their person's dwelling, household and grid, from the population.

    Args:
        truth: ``source_system, source_record_id, person_key`` (place columns, if any, are redone).
        population: the residents as they are now.

    Returns:
        The truth with ``TRUTH_PLACE_COLUMNS`` (null for rows without a person).
    """
    truth = truth.select(["source_system", "source_record_id", "person_key"])
    position = pc.index_in(truth.column("person_key"), value_set=population.column("person_key"))
    for name in TRUTH_PLACE_COLUMNS:
        truth = truth.append_column(name, population.column(name).take(position))
    return truth
