"""Chinese addresses: one flat written many ways, parsed into typed parts and keys.

Sources write one flat as '三阳路27号4栋2单元803室', '武汉市江岸区三阳路27号4幢2单元803',
'翠苑城9幢1701室', '后湖社区2栋1单元302', '锦绣景园4-1-1302', with or without the province, city,
district, street (街道/镇/乡) and community (社区/村), with full-width digits and Chinese numerals.
`AddressParser.parse` reads one text into `AddressParts`:

1. Cleaning: NFKC (full-width digits and letters), one form of the marker characters (號 棟 單 層),
   upper-case letters, no spaces or punctuation; bracketed notes are kept aside in ``rest``.
2. Divisions, from the left: provinces, cities and counties of the national GB/T 2260 table
   (`pipelines.places.national`) and, when a district's reference is given, its streets and
   communities, by full or short name ('武昌', '积玉桥'); then names ending in 街道, 镇/乡 (after a
   county), 社区/居委会/村委会, or 村 before a number.
3. The flat, from the right: building (栋 幢 号楼 座 号 楼 #), unit (单元 单 门), floor (楼 层) and
   room (室 号 房 户 or a bare number), or the dash forms 4-1-1302 (building-unit-room) and 4-1302
   (building-room). Chinese numerals before a marker are numbers (三栋, 十二单元, 二〇一室).
4. Between them: a road and its number (三阳路27号, 中山大道39号), then the compound (小区) name.
   An 'N号' directly after a road is the road number, not a building ('三阳路27号803').

Nothing is dropped: text that fits no part is kept in ``rest`` and named in ``reason``, which the
staging step turns into a finding. `parse_addresses` applies the parser once per distinct value of
a column (about 1.5 million distinct addresses for a million residents).

Keys name a building and a flat within its locality:
``building_key = '<locality>|<anchor>|<building>'`` and
``flat_key = '<locality>|<anchor>|<building>|<unit>|<room>'``, e.g. '420106|万达华府|3|2|1502'.
The locality is the district's code; else the city's or the province's when the text names no
district; else, when the text names no place outside it, the parser's home district; else ''. The
anchor is the compound without a trailing 小区, else road and number ('三阳路27号'), else the road,
else the community; a missing building or unit is empty. A flat written by compound in one source
and by road number in another gets two keys: which anchors are aliases is learned from the data by
the place register, not guessed here.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.places.divisions import LEVELS, Division, Divisions
from pipelines.places.national import PLACEHOLDER_CITY, national_divisions
from pipelines.standardize import as_text, is_placeholder

ADDRESS_STATUSES = ("flat", "building", "partial", "unparsed", "missing")


class AddressParts(NamedTuple):
    """One address after standardization.

    Every part is None when the text does not give it. Codes come from the division tables (a
    district named alone also gets its city and province); names are the tables' full names when
    recognised there, else as written with the suffix normalized (社区居委会 → 社区). Numbers are
    canonical text: digits without leading zeros, Chinese numerals read ('三' → '3').

    Attributes:
        text: The cleaned text that was parsed (NFKC, upper case, no spaces or punctuation).
        province: e.g. '湖北省'.
        province_code: 2-digit GB/T 2260 code, e.g. '42'.
        city: e.g. '武汉市'; None under a province's placeholder city (仙桃市 is county level).
        city_code: 4-digit code, e.g. '4201'.
        district: County-level division, e.g. '武昌区'.
        district_code: 6-digit code, e.g. '420106'.
        street: 街道, 镇 or 乡, e.g. '积玉桥街道'.
        street_code: 9-digit code, from the division reference.
        community: 社区 or 村, e.g. '临江社区'.
        community_code: 12-digit code, from the division reference.
        road: e.g. '三阳路', '中山大道'.
        road_number: The number on the road, e.g. '27' (from 27号), '39-1'.
        compound: The housing compound (小区) as written, e.g. '万达华府', '望京西园三区'.
        building: Building number or letter, e.g. '3', 'A'.
        unit: Unit (单元/门) number, e.g. '2'.
        floor: Floor number when written (8楼, 8层), e.g. '8'.
        room: Room number, e.g. '1502'.
        rest: Text that fits no part (notes in brackets, '附近'), or None.
        status: One of ADDRESS_STATUSES: 'flat' (flat_key known), 'building' (building_key
            known, no room), 'partial' (some parts but no building key), 'unparsed' (nothing
            recognised), 'missing' (empty or a placeholder such as '不详', '无固定住所').
        reason: What keeps the address from being a complete flat, or what was left over, in
            English; None for a complete flat with nothing left over.
        building_key: '<locality>|<anchor>|<building>', e.g. '420106|万达华府|3'.
        flat_key: '<locality>|<anchor>|<building>|<unit>|<room>', e.g. '420106|万达华府|3|2|1502'.
    """

    text: str
    province: str | None = None
    province_code: str | None = None
    city: str | None = None
    city_code: str | None = None
    district: str | None = None
    district_code: str | None = None
    street: str | None = None
    street_code: str | None = None
    community: str | None = None
    community_code: str | None = None
    road: str | None = None
    road_number: str | None = None
    compound: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    rest: str | None = None
    status: str = "unparsed"
    reason: str | None = None
    building_key: str | None = None
    flat_key: str | None = None


ADDRESS_PARTS: tuple[str, ...] = AddressParts._fields
_PARTS_TYPE = pa.struct([(name, pa.string()) for name in ADDRESS_PARTS])
_SCANNED_LEVELS = ("province", "city", "district", "street", "community")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}
_CJK = "\u3400-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{_CJK}]")

# Cleaning.
_MARKER_VARIANT_PAIRS = (
    ("號", "号"), ("棟", "栋"), ("單", "单"), ("層", "层"),
    ("門", "门"), ("區", "区"), ("鎮", "镇"), ("鄉", "乡"),
    ("—", "-"), ("–", "-"), ("‐", "-"), ("‑", "-"), ("~", "-"), ("_", "-"), ("/", "-"), ("﹟", "#"),
)  # fmt: skip
_MARKER_VARIANTS = str.maketrans(dict(_MARKER_VARIANT_PAIRS))
_VARIANT = "[號棟單層門區鎮鄉—–‐‑~_/﹟]"
_HAS_VARIANT = re.compile(_VARIANT)
_OPENING = "[(\\[{【〔<《]"
_HAS_OPENING = re.compile(_OPENING)
_BRACKETED = re.compile(f"{_OPENING}([^)\\]}}】〕>》]*)[)\\]}}】〕>》]")
# Spaces and punctuation, written so that Python's re and RE2 (pyarrow) read the class alike.
_PUNCTUATION_PATTERN = (
    "[ \t\n\r\f\v\u00a0\u2028\u2029\u200b\u3000\ufeff"
    ",，、。.;；:：'\"“”‘’!！?？·*`\\\\|(){}\\[\\]<>【】〔〕《》]+"
)
_PUNCTUATION = re.compile(_PUNCTUATION_PATTERN)
_COUNTRY = ("中华人民共和国", "中国")
_COUNTRY_PATTERN = "^(?:中华人民共和国)?(?:中国)?"
_NO_ADDRESS = frozenset({"无固定住所", "无固定居所", "地址不详", "住址不详", "待查", "无地址"})
# Words that place the address near something rather than at it ('三阳路27号附近').
_NOISE_WORDS = ("附近", "旁边", "对面", "隔壁", "周边", "一带", "后面", "背后", "楼下", "旁")

# Divisions written without a table entry, by their suffix.
_STREET = re.compile(f"([{_CJK}]{{2,6}}?)(街道办事处|街道办|街道)")
_TOWN = re.compile(f"([{_CJK}]{{2,5}}?)(镇|乡)(?![路街道巷村])")
_COMMUNITY_SUFFIXES = "社区居民委员会|社区居委会|居民委员会|村民委员会|居委会|村委会|社区"
_COMMUNITY = re.compile(f"([{_CJK}]{{2,8}}?)({_COMMUNITY_SUFFIXES})")
_VILLAGE = re.compile(f"([{_CJK}]{{2,6}}?)(村)(?=\\d|[零〇一二两三四五六七八九十]+组|$)")
_CANONICAL_SUFFIX = {"街道办事处": "街道", "街道办": "街道", "社区居民委员会": "社区", "社区居委会": "社区",
                     "居民委员会": "社区", "居委会": "社区", "村民委员会": "村", "村委会": "村"}  # fmt: skip
# Without its parent before it, a short division name ('武昌', '东湖') followed by one of these
# characters begins a compound or place name (东湖花园, 武昌新城), not a division.
_NAME_CONTINUES = frozenset("花小公家新华雅城国名苑园府庭居阁湾邸院广村里桥")
_ROAD_SUFFIXES = ("大道", "大街", "路", "街", "巷", "胡同", "弄", "道")
_ROAD_SUFFIX = f"(?:{'|'.join(_ROAD_SUFFIXES)})"
_ROAD_LAST_CHARACTERS = frozenset(suffix[-1] for suffix in _ROAD_SUFFIXES)

# The flat. Its characters: digits, building letters, markers, and Chinese numerals (三栋).
_NUMERAL_CHARS = "零〇一二两三四五六七八九十百千"
_HAS_NUMERAL = re.compile(f"[{_NUMERAL_CHARS}]")
_NUMERAL_RUN = re.compile(f"[{_NUMERAL_CHARS}]+")
# In the text before the flat, numerals are read only before a marker ('七号院', '三组').
_NUMERAL_BEFORE_MARKER = re.compile(f"[{_NUMERAL_CHARS}]+(?=号楼|栋|幢|座|单元|单|门|楼|层|室|号|户|房|组)")
_NUMERAL_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                   "八": 8, "九": 9}  # fmt: skip
_NUMERAL_UNITS = {"十": 10, "百": 100, "千": 1000}
_MARK_CHARS = "号楼栋幢座单元门层室房户#-"
_RUN_CHARS = f"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ{_NUMERAL_CHARS}{_MARK_CHARS}"
_ROOM_MARK = "(?:室|号|房|户)?"
_FLAT = re.compile(
    rf"(?P<db>\d{{1,4}}[A-Z]?|[A-Z]\d{{0,2}})-(?P<du>\d{{1,2}})-(?P<dr>\d{{1,5}}[A-Z]?){_ROOM_MARK}"
    rf"|(?P<eb>\d{{1,4}}[A-Z]?|[A-Z]\d{{0,2}})-(?P<er>\d{{3,5}}[A-Z]?){_ROOM_MARK}"
    r"|(?:(?P<b>\d{1,4}[A-Z]?|[A-Z]\d{0,2})(?P<bm>号楼|栋|幢|座|楼|号|#)-?)?"
    r"(?:(?P<u>\d{1,2})(?:(?:单元|单|门)-?|-))?"
    r"(?:(?P<f>\d{1,3})(?:楼|层|F)-?)?"
    rf"(?:(?P<r>\d{{1,5}}[A-Z]?){_ROOM_MARK})?"
)
_FLAT_START = re.compile("(?<![0-9A-Z])[0-9A-Z]")
_FLAT_MARKS = "室号房户层楼栋幢座元门"
# Text after a flat ('1502室张三'): it follows a flat marker or digit and holds neither.
_TRAILING_TEXT = re.compile(f"(?<=[{_FLAT_MARKS}\\d])[^\\d{_FLAT_MARKS}-]+$")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_MOBILE_LENGTH = 11
_ROAD_NUMBER = re.compile(r"\d+(?:-\d+)?(?:号院|号(?!楼)|弄)")

# The road.
_MAY_HAVE_ROAD = re.compile("[路街巷弄道胡]")
_ROAD = re.compile(
    f"(?P<road>[{_CJK}A-Z0-9]{{0,12}}?[{_CJK}]{_ROAD_SUFFIX})(?P<num>\\d+(?:-\\d+)?)(?:号院|号(?!楼)|弄)"
)
_ENDS_WITH_ROAD = re.compile(f"[{_CJK}]{_ROAD_SUFFIX}$")
_MAX_ROAD_ONLY = 12
_GENERIC_COMPOUND_SUFFIX = "小区"
_VILLAGE_GROUP = re.compile(r"\d+组")
_MIN_NAME = 2

_Row = tuple[Any, ...]
# A flat: building, unit, floor, room.
_Flat = tuple[str | None, str | None, str | None, str | None]
_NO_FLAT: _Flat = (None, None, None, None)
# What precedes the flat: the parts from province to compound (13 values), the keys' beginning
# ('<locality>|<anchor>|', None without an anchor), whether the anchor is a road number (a
# building key without building), whether anything was recognised, and text not understood.
_Head = tuple[tuple[str | None, ...], str | None, bool, bool, str | None]
_NO_DIVISIONS: tuple[str | None, ...] = (None,) * 10
_NO_PLACE: tuple[str | None, ...] = (None,) * 8  # road … room, and rest
_HEAD_CACHE = 1 << 17
_FLAT_CACHE = 1 << 16


@dataclass(frozen=True, slots=True)
class _Name:
    """A division name in the scan index: the name, whether it is a short name, and the divisions
    it names with their level's rank, in order of preference."""

    text: str
    short: bool
    ranked: tuple[tuple[Division, int], ...]


class AddressParser:
    """Parses addresses with the national division table and, optionally, a district's reference.

    Args:
        divisions: A division reference (`pipelines.places.divisions.load_divisions`) whose streets
            and communities are then recognised by full or short name; None to parse with the
            national table and name patterns only.
        home_district: The 6-digit code of the district whose sources are parsed; the keys of
            addresses that name no place outside it use it as locality. By default the reference's
            district when it holds exactly one.
    """

    def __init__(self, divisions: Divisions | None = None, home_district: str | None = None) -> None:
        national = national_divisions()
        self.reference = divisions
        self.divisions = national if divisions is None else national.merged(divisions)
        self.home_district = home_district or _single_district(divisions)
        home = self.divisions.get(self.home_district)
        chain = (home, *self.divisions.ancestors(home.code)) if home is not None else ()
        self._home_chain = frozenset(d.code for d in chain)
        self._index = _name_index(self.divisions, self._preference)
        self._chains: dict[str, tuple[tuple[str | None, ...], str]] = {}
        self._cached_row = lru_cache(maxsize=1 << 16)(self.parse_row)
        self._cached_head = lru_cache(maxsize=_HEAD_CACHE)(self._head)

    def __reduce__(self) -> tuple[type[AddressParser], tuple[Divisions | None, str | None]]:
        # Its caches do not pickle: a copy sent to a worker process is built anew from the same
        # reference (about 0.2 s).
        return AddressParser, (self.reference, self.home_district)

    def parse(self, raw: object) -> AddressParts:
        """Parse one address (the last 65,536 distinct texts are cached).

        Args:
            raw: The source value; None, NaN, blank text and placeholders ('不详', '无固定住所')
                give status 'missing'.

        Returns:
            The address's parts, status, reason and keys.
        """
        text = as_text(raw)
        return AddressParts._make(_MISSING_ROW if text is None else self._cached_row(text))

    def parse_row(self, raw_text: str) -> _Row:
        """Parse one address text into a plain tuple, the fields of `AddressParts` in order.

        The batch path uses this form: building a tuple costs a fraction of a named one. What
        precedes the flat and the flat itself are each parsed once per distinct text and cached,
        as a district's addresses repeat both ('…万达华府' before many flats, '3栋2单元1502室'
        after many compounds).

        Args:
            raw_text: The address, not blank.

        Returns:
            The values of `AddressParts`, in ADDRESS_PARTS order.
        """
        text, rest = _clean(raw_text)
        return self._parse_clean(text, rest, raw_text)

    def _parse_clean(self, text: str, rest: list[str], raw_text: str) -> _Row:
        if not text or text in _NO_ADDRESS or ((len(text) < 8 or text.isascii()) and is_placeholder(text)):
            return (text, *_NO_DIVISIONS, *_NO_PLACE, "missing", f"placeholder {raw_text!r}", None, None)
        head, flat = _split_flat(_without_noise(text, rest), rest)
        parsed_head = self._cached_head(head)
        if parsed_head[4]:
            rest.insert(0, parsed_head[4])
        return _row(text, parsed_head, flat, "".join(rest) or None)

    def _head(self, head: str) -> _Head:
        """Divisions, road and compound from the text before the flat."""
        found, position = self._scan(head, 0, None)
        divisions, locality = self._chain(found)
        if divisions[6] is None and divisions[8] is None and ("街道" in head or "镇" in head or "乡" in head):
            street, position, deeper = self._named_street(head, position, found)
            if deeper is not None:
                divisions, locality = self._chain(deeper)
            if street is not None:
                divisions = (*divisions[:6], street, None, *divisions[8:])
        if divisions[8] is None and ("社区" in head or "委" in head or "村" in head):
            community, position = _named_community(head, position)
            if community is not None:
                divisions = (*divisions[:8], community, None)
        road, road_number, compound, left = _road_and_compound(head[position:])
        anchor = _anchor(compound, road, road_number, divisions[8])
        prefix = None if anchor is None else f"{locality}|{anchor}|"
        recognised = any(divisions) or road is not None or compound is not None
        at_road_number = compound is None and road_number is not None
        return (*divisions, road, road_number, compound), prefix, at_road_number, recognised, left

    def _scan(self, text: str, position: int, deepest: Division | None) -> tuple[Division | None, int]:
        """Divisions named one after another from ``position``: the deepest one and where they end."""
        index = self._index
        while True:
            names = index.get(text[position : position + _MIN_NAME])
            hit = None if names is None else self._division_at(text, position, names, deepest)
            if hit is None:
                return deepest, position
            deepest, position = hit[0], position + hit[1]

    def _division_at(
        self, text: str, position: int, names: tuple[_Name, ...], deepest: Division | None
    ) -> tuple[Division, int] | None:
        rank, code = (-1, "") if deepest is None else (_RANK[deepest.level], deepest.code)
        for name in names:
            if not text.startswith(name.text, position):
                continue
            after = position + len(name.text)
            for division, division_rank in name.ranked:
                if division_rank <= rank or not division.code.startswith(code):
                    continue
                if not name.short or self._short_name_fits(text, after, division, deepest):
                    return division, len(name.text)
        return None

    def _preference(self, division: Division) -> tuple[int, int, str]:
        """Among divisions of one name: the highest level, then the nearest the home district, then
        the lowest code (朝阳区 is 110105 in Beijing before 220104 in Changchun)."""
        return _RANK[division.level], -_common_prefix(division.code, self.home_district or ""), division.code

    def _short_name_fits(self, text: str, after: int, division: Division, deepest: Division | None) -> bool:
        """Whether a name written without its suffix ('武昌', '临江') means that division here.

        It does when a division under it follows. Otherwise a short street or community name must
        be followed by a number or nothing ('临江3栋') and not end like a road ('首义路94号' is the
        road); a short province, city or county name must come after its parent or belong to the
        home district, and not begin a road name ('中山大道', '汉阳大道'), nor, without its parent,
        a compound name ('东湖花园').
        """
        rank, code = _RANK[division.level], division.code
        for name in self._index.get(text[after : after + _MIN_NAME], ()):
            if text.startswith(name.text, after) and any(
                r > rank and d.code.startswith(code) for d, r in name.ranked
            ):
                return True
        following = text[after : after + 1]
        if division.level in ("street", "community"):
            # 首义路 (of 首义路街道) before a number is the road of that name, not the street
            named_like_road = text[after - 1] in _ROAD_LAST_CHARACTERS
            return not named_like_road and (not following or following.isdigit())
        if text.startswith(_ROAD_SUFFIXES, after):
            return False
        if deepest is not None:
            return True
        return division.code in self._home_chain and following not in _NAME_CONTINUES

    def _named_street(
        self, text: str, position: int, found: Division | None
    ) -> tuple[str | None, int, Division | None]:
        """A street that no table holds, by its suffix; then table divisions that may follow it."""
        match = _STREET.match(text, position) if "街道" in text else None
        after_county = found is not None and found.level == "district"
        if match is None and after_county and ("镇" in text or "乡" in text):
            match = _TOWN.match(text, position)
        if match is None:
            return None, position, None
        street = match.group(1) + _CANONICAL_SUFFIX.get(match.group(2), match.group(2))
        deeper, position = self._scan(text, match.end(), found)
        return street, position, deeper if deeper is not found else None

    def _chain(self, deepest: Division | None) -> tuple[tuple[str | None, ...], str]:
        """Names and codes from province to community above ``deepest``, and the key's locality."""
        code = "" if deepest is None else deepest.code
        chain = self._chains.get(code)
        if chain is None:
            chain = self._chains[code] = self._build_chain(deepest)
        return chain

    def _build_chain(self, deepest: Division | None) -> tuple[tuple[str | None, ...], str]:
        levels: dict[str, Division] = {}
        if deepest is not None:
            for division in (deepest, *self.divisions.ancestors(deepest.code)):
                levels[division.level] = division
        values: list[str | None] = []
        for level in _SCANNED_LEVELS:
            at_level = levels.get(level)
            if at_level is None or (level == "city" and at_level.name == PLACEHOLDER_CITY):
                values += [None, None]
            else:
                values += [at_level.name, at_level.code]
        return tuple(values), self._locality(levels)

    def _locality(self, levels: dict[str, Division]) -> str:
        if "district" in levels:
            return levels["district"].code
        named = levels.get("city") or levels.get("province")
        if self.home_district and (named is None or named.code in self._home_chain):
            return self.home_district
        return "" if named is None else named.code


def _row(text: str, head: _Head, flat: _Flat, left: str | None) -> _Row:
    parts, prefix, at_road_number, recognised, _ = head
    building, unit, floor, room = flat
    building_key = flat_key = None
    if prefix is not None and (building is not None or at_road_number):
        building_key = prefix + (building or "")
        if room is not None:
            flat_key = f"{building_key}|{unit or ''}|{room}"
    if flat_key is not None:
        status = "flat"
    elif building_key is not None:
        status = "building"
    elif recognised or building or room:
        status = "partial"
    else:
        status = "unparsed"
    reason = None if status == "flat" and left is None else _reason(status, text, flat, prefix, left)
    return (text, *parts, building, unit, floor, room, left, status, reason, building_key, flat_key)


_MISSING_ROW: _Row = ("", *_NO_DIVISIONS, *_NO_PLACE, "missing", "no address", None, None)


def parse_address(raw: object, parser: AddressParser | None = None) -> AddressParts:
    """Parse one address with a parser, or with the national table alone.

    Args:
        raw: The address text (None, NaN and blanks give status 'missing').
        parser: An `AddressParser` built with a district's division reference; by default one
            that knows only the national province/city/county table.

    Returns:
        The address's parts.
    """
    return (parser or default_parser()).parse(raw)


def parse_addresses(values: Any, parser: AddressParser | None = None) -> pa.Table:
    """Parse a column of addresses, each distinct value once.

    Args:
        values: Address texts: a pyarrow Array or ChunkedArray, a pandas Series, or a sequence of
            str/None.
        parser: As for `parse_address`.

    Returns:
        One row per value, in order, with one string column per name in ADDRESS_PARTS; a null
        value gives a row of nulls, a blank one status 'missing'.
    """
    encoded = pc.utf8_trim_whitespace(_string_array(values)).dictionary_encode()
    parser = parser or default_parser()
    raw_texts = encoded.dictionary
    cleaned, bracketed = _clean_column(raw_texts)
    rows = [
        _MISSING_ROW if not raw else parser.parse_row(raw) if has_note else parser._parse_clean(text, [], raw)
        for raw, text, has_note in zip(
            raw_texts.to_pylist(), cleaned.to_pylist(), bracketed.to_pylist(), strict=True
        )
    ]
    parts = pa.array(rows, _PARTS_TYPE)  # from tuples: a fifth of the cost of one array per part
    return pa.Table.from_struct_array(parts.take(encoded.indices))


def _clean_column(texts: pa.Array) -> tuple[pa.Array, pa.Array]:
    """`_clean` for a whole column in Arrow, and which texts hold a bracketed note (those are
    cleaned in Python, which keeps the note)."""
    text = pc.utf8_upper(pc.utf8_normalize(texts, "NFKC"))
    if pc.any(pc.match_substring_regex(text, _VARIANT)).as_py():
        for variant, canonical in _MARKER_VARIANT_PAIRS:
            text = pc.replace_substring(text, variant, canonical)
    bracketed = pc.match_substring_regex(text, _OPENING)
    text = pc.utf8_trim(pc.replace_substring_regex(text, _PUNCTUATION_PATTERN, ""), "-")
    return pc.replace_substring_regex(text, _COUNTRY_PATTERN, "", max_replacements=1), bracketed


@lru_cache(maxsize=1)
def default_parser() -> AddressParser:
    """The parser without a division reference (the national province/city/county table only)."""
    return AddressParser()


def chinese_numeral_value(numeral: str) -> int | None:
    """Read a Chinese numeral: '三' → 3, '十二' → 12, '一百零一' → 101, '二〇一' → 201.

    Args:
        numeral: Characters from 零〇一二两三四五六七八九十百千.

    Returns:
        The number, read digit by digit when there is no 十/百/千 ('二〇一' → 201); None for text
        with other characters.
    """
    if not numeral or any(ch not in _NUMERAL_DIGITS and ch not in _NUMERAL_UNITS for ch in numeral):
        return None
    if not any(ch in _NUMERAL_UNITS for ch in numeral):
        return int("".join(str(_NUMERAL_DIGITS[ch]) for ch in numeral))
    total, digit = 0, None
    for ch in numeral:
        if ch in _NUMERAL_DIGITS:
            digit = _NUMERAL_DIGITS[ch]
        else:
            total += (1 if digit is None else digit) * _NUMERAL_UNITS[ch]
            digit = None
    return total + (digit or 0)


def _clean(raw: str) -> tuple[str, list[str]]:
    """NFKC, one form of each marker, upper case, no spaces or punctuation; bracketed notes aside.

    `_clean_column` does the same to a column in Arrow; the tests hold them to the same result.
    """
    text = raw if unicodedata.is_normalized("NFKC", raw) else unicodedata.normalize("NFKC", raw)
    if _HAS_VARIANT.search(text):
        text = text.translate(_MARKER_VARIANTS)
    text = text.upper()
    rest: list[str] = []
    if not text.isalnum():
        notes = _BRACKETED.findall(text)
        if notes:
            text = _BRACKETED.sub("", text)
            rest = [cleaned for note in notes if (cleaned := _PUNCTUATION.sub("", note))]
        text = _PUNCTUATION.sub("", text).strip("-")
    if text.startswith(_COUNTRY):
        text = text.removeprefix(_COUNTRY[0]).removeprefix(_COUNTRY[1])
    return text, rest


def _named_community(text: str, position: int) -> tuple[str | None, int]:
    """A community or village that no table holds, by its suffix (梅园新村 is a compound)."""
    match = _COMMUNITY.match(text, position) if "社区" in text or "委" in text else None
    if match is None and "村" in text:
        match = _VILLAGE.match(text, position)
    if match is None or match.group(1).endswith("新"):
        return None, position
    return match.group(1) + _CANONICAL_SUFFIX.get(match.group(2), match.group(2)), match.end()


def _without_noise(text: str, rest: list[str]) -> str:
    """The text without words that place it near something ('附近'), which go to ``rest``."""
    while text.endswith(_NOISE_WORDS):
        word = next(w for w in _NOISE_WORDS if text.endswith(w))
        rest.insert(0, word)
        text = text[: -len(word)]
    return text


def _split_flat(text: str, rest: list[str]) -> tuple[str, _Flat]:
    """The text before the flat, and the flat read from the end of the text."""
    if (
        len(text) > _MOBILE_LENGTH
        and text[-_MOBILE_LENGTH:].isdigit()
        and _MOBILE.match(text[-_MOBILE_LENGTH:])
    ):
        rest.append(text[-_MOBILE_LENGTH:])  # a phone number typed after the address
        text = text[:-_MOBILE_LENGTH]
    # The run of flat characters that ends the text, from its first digit, letter or numeral on.
    # (str.rstrip scans from the end in C: a regex search would scan the whole text.)
    run = text[len(text.rstrip(_RUN_CHARS)) :].lstrip(_MARK_CHARS)
    if run and run.strip(_NUMERAL_CHARS):  # '张三' ends in a numeral, not a flat
        before = text[: len(text) - len(run)]
        kept, flat = _read_flat(run, before.endswith(_ROAD_SUFFIXES))
        return before + kept, flat
    trailing = _TRAILING_TEXT.search(text)
    if trailing is not None:  # '…1502室张三': a flat, then text
        head, flat = _split_flat(text[: trailing.start()], [])
        if flat[0] is not None or flat[1] is not None:
            rest.append(trailing.group())
            return head, flat
    return text, _NO_FLAT


@lru_cache(maxsize=_FLAT_CACHE)
def _read_flat(run: str, after_road: bool) -> tuple[str, _Flat]:
    """Read a run of flat characters ('3栋2单元1502室', '二〇一室', '27号803' after a road).

    Returns:
        What belongs before the flat (a road's number, a number that begins no flat), and the flat.
    """
    if _HAS_NUMERAL.search(run):
        run = _NUMERAL_RUN.sub(_numeral_digits, run)
    kept = ""
    number = _ROAD_NUMBER.match(run) if after_road else None
    if number is not None:
        kept, run = number.group(), run[number.end() :]
    start = _FLAT_START.search(run)
    while start is not None:
        match = _FLAT.fullmatch(run, start.start())
        if match is not None:
            flat = _flat_of(match) if number is None or start.start() else _at_road_number(match)
            return kept + run[: start.start()], flat
        start = _FLAT_START.search(run, start.start() + 1)
    return kept + run, _NO_FLAT


def _at_road_number(match: re.Match[str]) -> _Flat:
    """A flat right after a road number: the number names the building, so '2-201' is unit 2 room
    201 and '502号' is room 502 (elsewhere building 2 room 201, and building 502)."""
    if match.group("eb") is not None:
        return None, _number(match.group("eb")), None, _number(match.group("er"))
    building, unit, floor, room = _flat_of(match)
    if match.group("bm") == "号" and unit is None and floor is None and room is None:
        return None, None, None, building
    return building, unit, floor, room


def _flat_of(match: re.Match[str]) -> _Flat:
    db, du, dr, eb, er, b, bm, u, f, r = match.groups()
    if db is not None:
        return _number(db), _number(du), None, _number(dr)
    if eb is not None:
        return _number(eb), None, None, _number(er)
    building, unit, floor, room = _number(b), _number(u), _number(f), _number(r)
    if bm == "楼" and u is None and f is None and building and room and building.isdigit():
        # '8楼803' and '8楼3号': floor 8 when the room starts with it or is a door number, else building 8
        if room.startswith(building) and len(room) == len(building) + 2:
            return None, None, building, room
        if len(room) <= 2 and room.isdigit():
            return None, None, building, f"{building}{room:0>2}"
    if floor is not None and room is not None and len(room) <= 2 and room.isdigit():
        room = f"{floor}{room:0>2}"  # '15楼2号': door 2 of floor 15 is room 1502
    return building, unit, floor, room


def _road_and_compound(middle: str) -> tuple[str | None, str | None, str | None, str | None]:
    """Road, road number, compound and text not understood, from what follows the divisions."""
    if _HAS_NUMERAL.search(middle):
        middle = _NUMERAL_BEFORE_MARKER.sub(_numeral_digits, middle)
    road = road_number = None
    match = _ROAD.match(middle) if _MAY_HAVE_ROAD.search(middle) else None
    if match is not None:
        road, road_number, middle = match.group("road"), match.group("num"), middle[match.end() :]
    elif middle and len(middle) <= _MAX_ROAD_ONLY and _ENDS_WITH_ROAD.search(middle):
        return middle, None, None, None  # a road without number, then the building ('三阳路4栋')
    middle = middle.strip("-")
    if middle and not _HAS_CJK.search(middle):
        return road, road_number, None, middle
    return road, road_number, middle or None, None


def _number(text: str | None) -> str | None:
    """A building, unit, floor or room number without leading zeros ('0803' → '803')."""
    if text is None or text[0] != "0":
        return text
    return text.lstrip("0") or "0"


def _numeral_digits(match: re.Match[str]) -> str:
    value = chinese_numeral_value(match.group())
    return match.group() if value is None else str(value)


def _anchor(
    compound: str | None, road: str | None, road_number: str | None, community: str | None
) -> str | None:
    """What the building numbers count within: compound, else road number, else road, else community."""
    if compound:
        if community and _VILLAGE_GROUP.fullmatch(compound):
            return community + compound  # 张家村3组: a village group is numbered within its village
        generic = compound.endswith(_GENERIC_COMPOUND_SUFFIX) and len(compound) >= _MIN_NAME + 2
        return compound[:-2] if generic else compound
    if road and road_number:
        return f"{road}{road_number}号"
    return road or community


def _reason(status: str, text: str, flat: _Flat, anchor: str | None, left: str | None) -> str | None:
    """What keeps an address from being a complete flat (``anchor``: the keys' beginning, if any)."""
    reasons = []
    if status == "unparsed":
        reasons.append(f"no division, road, compound or flat recognised in {text!r}")
    elif anchor is None and (flat[0] or flat[3]):
        reasons.append("no compound, road or community before the building and room")
    elif status == "partial":
        reasons.append("no building number")
    elif status == "building":
        reasons.append("no room number")
    if left:
        reasons.append(f"not understood: {left!r}")
    return "; ".join(reasons) or None


def _common_prefix(left: str, right: str) -> int:
    length = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        length += 1
    return length


def _single_district(divisions: Divisions | None) -> str | None:
    if divisions is None:
        return None
    districts = {d.code[:6] for d in divisions if _RANK[d.level] >= _RANK["district"]}
    return districts.pop() if len(districts) == 1 else None


def _name_index(
    divisions: Divisions, preference: Callable[[Division], tuple[int, int, str]]
) -> dict[str, tuple[_Name, ...]]:
    """Names of provinces down to communities by their first two characters, longest first."""
    index: defaultdict[str, list[_Name]] = defaultdict(list)
    for name, named in divisions.names():
        scanned = [d for d in named if d.level in _SCANNED_LEVELS]
        if len(name) < _MIN_NAME or not scanned:
            continue
        full = tuple(d for d in scanned if d.name == name)
        short = tuple(d for d in scanned if d.name != name)
        for group, is_short in ((full, False), (short, True)):
            if group:
                ranked = tuple((d, _RANK[d.level]) for d in sorted(group, key=preference))
                index[name[:_MIN_NAME]].append(_Name(name, is_short, ranked))
    return {key: tuple(sorted(names, key=lambda n: (-len(n.text), n.short))) for key, names in index.items()}


def _string_array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks().cast(pa.string())
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    if hasattr(values, "to_numpy"):  # a pandas Series
        return pa.array(values, pa.string(), from_pandas=True)
    return pa.array([as_text(value) for value in values], pa.string())
