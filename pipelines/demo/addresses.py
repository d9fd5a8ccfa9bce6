"""Addresses as departments write them: one flat, many texts.

"三阳路27号4栋2单元803室", "武汉市武昌区三阳路27号4幢2单元803", "翠苑城9幢1701室",
"后湖社区2栋1单元302", "锦绣景园4-1-1302", with or without the administrative prefix, with 栋, 幢,
号楼, 座 or #, 单元 or 门, 室, 号, 房 or nothing, four-digit rooms, full-width digits, Chinese numerals
and a mistyped compound name. Each department's mix is its profile's ``AddressStyle``; every form is
drawn per row and the texts are built column-wise with Arrow (a million rows in about a second).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pyarrow as pa

from pipelines.demo.errors import ErrorLog
from pipelines.demo.geography import DistrictMap, Flats
from pipelines.demo.spec import AddressStyle
from pipelines.demo.strings import concat, scatter

Form = TypeVar("Form", bound=str)
FULL_WIDTH = str.maketrans("0123456789-#", "０１２３４５６７８９－＃")
CHINESE_DIGITS = "零一二三四五六七八九"
# characters of compound names that data-entry staff type as another of the same sound
COMPOUND_TYPOS = {
    "园": "圆", "苑": "院", "城": "成", "华": "花", "府": "甫", "景": "锦", "家": "佳", "新": "欣",
    "名": "明", "国": "果", "花": "华", "湖": "胡", "江": "疆", "山": "珊", "水": "永", "都": "督",
    "阳": "杨", "光": "广", "锦": "景", "丽": "立", "雅": "亚", "邸": "底", "公": "工", "寓": "遇",
}  # fmt: skip


def chinese_number(value: int) -> str:
    """Write 1-99 in Chinese numerals: 3 → 三, 12 → 十二, 21 → 二十一.

    Args:
        value: the number.

    Returns:
        Its Chinese numeral (other numbers as digits).
    """
    if not 0 < value < 100:
        return str(value)
    tens, ones = divmod(value, 10)
    text = ("" if tens == 1 else CHINESE_DIGITS[tens]) + "十" if tens else ""
    return text + (CHINESE_DIGITS[ones] if ones else "")


def _mistype_compound(name: str, u: float) -> str:
    positions = [i for i, character in enumerate(name) if character in COMPOUND_TYPOS]
    if not positions:
        return name
    i = positions[int(u * len(positions))]
    return name[:i] + COMPOUND_TYPOS[name[i]] + name[i + 1 :]


def _draw(
    rng: np.random.Generator, weights: Mapping[Form, float], count: int
) -> tuple[list[Form], np.ndarray]:
    """The forms and, per row, the position of the one drawn."""
    forms = list(weights)
    p = np.asarray(list(weights.values()), dtype=np.float64)
    return forms, rng.choice(len(forms), count, p=p / p.sum())


@dataclass
class WrittenAddresses:
    """Address texts and the rows that got each logged variant (``full_width``, ``compound_typo`` …)."""

    text: pa.Array
    variants: dict[str, np.ndarray] = field(default_factory=dict)


PLACE_FORMS = ("compound", "road", "road_compound", "community")


def _texts(strings: list[str], index: np.ndarray) -> pa.Array:
    """Strings from a small table, one per row (a gather: far cheaper than joining columns)."""
    return pa.array(strings, pa.string()).take(pa.array(index, pa.int64()))


class AddressWriter:
    """Writes flats of one district in one department's style.

    Each part of an address (prefix, place, building, unit, room) depends on a few small numbers per
    row (the form drawn, the community or building, the unit, floor and door, a flag or two), so
    every part is taken from a small table of its texts, and the parts are joined once.
    """

    def __init__(self, district: DistrictMap, style: AddressStyle) -> None:
        self.map = district
        self.style = style

    def _prefix(self, rng: np.random.Generator, community: np.ndarray, by_community: np.ndarray) -> pa.Array:
        """What comes before the place: nothing, the district, …, province to community."""
        m = self.map
        head = m.province + m.city + m.district
        streets = [m.street_name[s] for s in m.community_street]
        # a building named by its community does not get the community twice: two texts per form
        named = [(street + name, street) for street, name in zip(streets, m.community_name, strict=True)]
        texts = {
            "none": [("", "")] * len(streets),
            "district": [(m.district, m.district)] * len(streets),
            "city_district": [(m.city + m.district,) * 2] * len(streets),
            "province_city_district": [(head, head)] * len(streets),
            "full_admin": [(head + full, head + bare) for full, bare in named],
            "street_community": named,
            "district_street": [(m.district + street,) * 2 for street in streets],
        }
        forms, drawn = _draw(rng, self.style.prefix, len(community))
        table = [text for form in forms for pair in texts[form] for text in pair]
        return _texts(table, (drawn * len(streets) + community) * 2 + by_community)

    def _place(
        self, rng: np.random.Generator, building: np.ndarray, by_community: np.ndarray
    ) -> tuple[pa.Array, np.ndarray]:
        """The building's place name, and whether each row names its compound (a typo can hit those)."""
        m, count = self.map, len(building)
        compounds = [m.compound_name[c] if c >= 0 else "" for c in m.building_compound]
        roads = [
            f"{road}{number}号" for road, number in zip(m.building_road, m.building_road_number, strict=True)
        ]
        communities = [m.community_name[c] for c in m.building_community(np.arange(len(compounds)))]
        road_compounds = [road + compound for road, compound in zip(roads, compounds, strict=True)]
        table = compounds + roads + road_compounds + communities  # in the order of PLACE_FORMS
        forms, drawn = _draw(rng, self.style.place, count)
        form = np.array([PLACE_FORMS.index(f) for f in forms])[drawn]
        form[m.building_compound[building] < 0] = PLACE_FORMS.index("road")
        form[by_community] = PLACE_FORMS.index("community")
        names_compound = np.isin(form, [PLACE_FORMS.index("compound"), PLACE_FORMS.index("road_compound")])
        return _texts(table, form * len(m.building_key) + building), names_compound

    def _building(
        self, rng: np.random.Generator, flats: Flats, chinese: np.ndarray
    ) -> tuple[pa.Array, np.ndarray]:
        """4栋, 4幢, 四号楼, 4- …; nothing for a house without a compound. Also the dashed rows."""
        m, count = self.map, len(flats.building)
        number = m.building_number[flats.building]
        top = int(number.max(initial=0)) + 1
        forms, drawn = _draw(rng, self.style.building, count)
        table = [
            (
                ""
                if n == 0
                else (chinese_number(n) if ch and form != "dashed" else str(n))
                + ("-" if form == "dashed" else form)
            )
            for form in forms
            for n in range(top)
            for ch in (0, 1)
        ]
        dashed = np.asarray(forms)[drawn] == "dashed" if "dashed" in forms else np.zeros(count, dtype=bool)
        return _texts(table, (drawn * top + number) * 2 + chinese), dashed

    def _unit(
        self, rng: np.random.Generator, flats: Flats, chinese: np.ndarray, dashed: np.ndarray
    ) -> pa.Array:
        """2单元, 二门, 2- (dashed), or nothing (a one-unit building, often)."""
        m, count = self.map, len(flats.building)
        single = m.building_units[flats.building] == 1
        house = m.building_compound[flats.building] < 0
        omitted = single & (rng.random(count) < self.style.single_unit_omitted)
        forms, drawn = _draw(rng, self.style.unit, count)
        top = int(flats.unit.max(initial=0)) + 1
        written = [
            (chinese_number(u) if ch else str(u)) + form
            for form in forms
            for u in range(top)
            for ch in (0, 1)
        ]
        dashed_text = [f"{u}-" for u in range(top)]
        table = written + dashed_text + [""]
        index = (drawn * top + flats.unit) * 2 + chinese
        index = np.where(dashed, len(written) + flats.unit, index)
        index[(dashed & house & single) | (~dashed & omitted)] = len(table) - 1
        return _texts(table, index)

    def _room(self, rng: np.random.Generator, flats: Flats, dashed: np.ndarray) -> pa.Array:
        """803室, 803号, 0803, 8楼3号 …; bare digits after a dashed building-unit."""
        count = len(flats.building)
        padded = (rng.random(count) < self.style.zero_padded_room).astype(np.int64)
        forms, drawn = _draw(rng, self.style.room, count)
        if "none" not in forms:
            forms = [*forms, "none"]
        drawn = np.where(dashed, forms.index("none"), drawn)
        floors, doors = int(flats.floor.max(initial=0)) + 1, int(flats.door.max(initial=0)) + 1

        def text(form: str, floor: int, door: int, pad: int) -> str:
            room = f"{floor * 100 + door:0{4 if pad else 1}d}"
            return f"{floor}楼{door}号" if form == "floor_door" else room + ("" if form == "none" else form)

        table = [
            text(form, floor, door, pad)
            for form in forms
            for floor in range(floors)
            for door in range(doors)
            for pad in (0, 1)
        ]
        return _texts(table, ((drawn * floors + flats.floor) * doors + flats.door) * 2 + padded)

    def write(
        self, rng: np.random.Generator, flats: Flats, by_community: np.ndarray | None = None
    ) -> WrittenAddresses:
        """Write the flats.

        Args:
            rng: the department's random generator.
            flats: the flats, one per row.
            by_community: rows to name by their community whatever the style (buildings of a
                compound only).

        Returns:
            The texts, and the rows written with full-width digits (``full_width``), Chinese
            numerals (``chinese_numerals``) or a mistyped compound name (``compound_typo``).
        """
        m, style, count = self.map, self.style, len(flats.building)
        community = m.building_community(flats.building)
        single = m.community_compounds[community] == 1
        share = np.where(single, style.community_form.single_compound, style.community_form.other)
        named = rng.random(count) < share
        if by_community is not None:
            named[by_community] = True
        by_community = named & (m.building_compound[flats.building] >= 0)
        prefix = self._prefix(rng, community, by_community.astype(np.int64))
        place, names_compound = self._place(rng, flats.building, by_community)
        chinese = (rng.random(count) < style.chinese_numerals).astype(np.int64)
        building, dashed = self._building(rng, flats, chinese)
        unit = self._unit(rng, flats, chinese, dashed)
        room = self._room(rng, flats, dashed)
        text = concat(prefix, place, building, unit, room)
        text, typo = self._mistype(rng, text, flats, names_compound)
        wide = np.flatnonzero(rng.random(count) < style.full_width)
        wide_text = text.take(pa.array(wide, pa.int64())).to_pylist()
        text = scatter(text, wide, [t.translate(FULL_WIDTH) for t in wide_text])
        variants = {
            "chinese_numerals": np.flatnonzero(chinese.astype(bool) & ~dashed),
            "compound_typo": typo,
            "full_width": wide,
        }
        return WrittenAddresses(text, {kind: rows for kind, rows in variants.items() if len(rows)})

    def _mistype(
        self, rng: np.random.Generator, text: pa.Array, flats: Flats, names_compound: np.ndarray
    ) -> tuple[pa.Array, np.ndarray]:
        """Mistype one character of the compound's name in some rows that name it."""
        rows = np.flatnonzero(names_compound & (rng.random(len(names_compound)) < self.style.compound_typo))
        names = [self.map.compound_name[c] for c in self.map.building_compound[flats.building[rows]]]
        old = text.take(pa.array(rows, pa.int64())).to_pylist()
        new = [
            t.replace(name, _mistype_compound(name, u), 1)
            for t, name, u in zip(old, names, rng.random(len(rows)), strict=True)
        ]
        changed = np.array([a != b for a, b in zip(old, new, strict=True)], dtype=bool)
        return scatter(text, rows[changed], [t for t, c in zip(new, changed, strict=True) if c]), rows[
            changed
        ]


def write_addresses(
    district: DistrictMap,
    style: AddressStyle,
    dwelling_keys: pa.Array,
    rng: np.random.Generator,
    log: ErrorLog,
    column: str,
    by_community: np.ndarray | None = None,
) -> pa.Array:
    """Write the flats that dwelling keys name in a department's style, logging the variants.

    Args:
        district: the map.
        style: the department's address style.
        dwelling_keys: one flat per row.
        rng: the department's random generator.
        log: where rows with full-width digits, Chinese numerals or a mistyped compound are recorded.
        column: the address column's name, for the log.
        by_community: rows to name by their community whatever the style.

    Returns:
        The address texts.
    """
    written = AddressWriter(district, style).write(rng, district.flats_of(dwelling_keys), by_community)
    for kind, rows in written.variants.items():
        log.add(column, kind, rows)
    return written.text
