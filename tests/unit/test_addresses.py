"""Chinese address standardization: parts, keys, statuses and the batch API (docs/places.md)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from pipelines.places.divisions import load_divisions
from pipelines.standardize.addresses import (
    ADDRESS_PARTS,
    ADDRESS_STATUSES,
    AddressParser,
    AddressParts,
    chinese_numeral_value,
    parse_address,
    parse_addresses,
)

FIXTURE_DIVISIONS = Path(__file__).resolve().parents[1] / "data" / "divisions"
HUBEI = {"province": "湖北省", "province_code": "42"}
WUHAN = {**HUBEI, "city": "武汉市", "city_code": "4201"}
WUCHANG = {**WUHAN, "district": "武昌区", "district_code": "420106"}
JIANGAN = {**WUHAN, "district": "江岸区", "district_code": "420102"}
LINJIANG = {
    **WUCHANG,
    "street": "积玉桥街道",
    "street_code": "420106001",
    "community": "临江社区",
    "community_code": "420106001001",
}
XINGYE = {
    **WUCHANG,
    "street": "中南路街道",
    "street_code": "420106010",
    "community": "兴业社区",
    "community_code": "420106010001",
}


@pytest.fixture(scope="module")
def reference_parser() -> AddressParser:
    return AddressParser(load_divisions(FIXTURE_DIVISIONS))


def parts(result: AddressParts) -> dict[str, str]:
    """The parts an address was given, without the cleaned text and the reason."""
    return {k: v for k, v in result._asdict().items() if v is not None and k not in ("text", "reason")}


def flat(anchor: str, building: str, unit: str, room: str, locality: str = "") -> dict[str, str]:
    """The status and keys of a flat."""
    building_key = f"{locality}|{anchor}|{building}"
    return {"status": "flat", "building_key": building_key, "flat_key": f"{building_key}|{unit}|{room}"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # The forms named in the issue.
        (
            "三阳路27号4栋2单元803室",
            {
                "road": "三阳路",
                "road_number": "27",
                "building": "4",
                "unit": "2",
                "room": "803",
                **flat("三阳路27号", "4", "2", "803"),
            },
        ),
        (
            "武汉市江岸区三阳路27号4幢2单元803",
            {
                **JIANGAN,
                "road": "三阳路",
                "road_number": "27",
                "building": "4",
                "unit": "2",
                "room": "803",
                **flat("三阳路27号", "4", "2", "803", "420102"),
            },
        ),
        (
            "翠苑城9幢1701室",
            {"compound": "翠苑城", "building": "9", "room": "1701", **flat("翠苑城", "9", "", "1701")},
        ),
        (
            "后湖社区2栋1单元302",
            {
                "community": "后湖社区",
                "building": "2",
                "unit": "1",
                "room": "302",
                **flat("后湖社区", "2", "1", "302"),
            },
        ),
        (
            "锦绣景园4-1-1302",
            {
                "compound": "锦绣景园",
                "building": "4",
                "unit": "1",
                "room": "1302",
                **flat("锦绣景园", "4", "1", "1302"),
            },
        ),
        (
            "湖北省武汉市武昌区积玉桥街道临江社区万达华府3栋2单元1502室",
            {
                **WUCHANG,
                "street": "积玉桥街道",
                "community": "临江社区",
                "compound": "万达华府",
                "building": "3",
                "unit": "2",
                "room": "1502",
                **flat("万达华府", "3", "2", "1502", "420106"),
            },
        ),
        # Full-width digits, Chinese numerals, spaces and punctuation.
        (
            "万达华府３栋２单元１５０２室",
            {
                "compound": "万达华府",
                "building": "3",
                "unit": "2",
                "room": "1502",
                **flat("万达华府", "3", "2", "1502"),
            },
        ),
        (
            "万达华府三栋十二单元二〇一室",
            {
                "compound": "万达华府",
                "building": "3",
                "unit": "12",
                "room": "201",
                **flat("万达华府", "3", "12", "201"),
            },
        ),
        (
            "万达华府十五栋二单元一千零二",
            {
                "compound": "万达华府",
                "building": "15",
                "unit": "2",
                "room": "1002",
                **flat("万达华府", "15", "2", "1002"),
            },
        ),
        (
            "武汉市 武昌区，万达华府 3栋-2单元-1502室",
            {
                **WUCHANG,
                "compound": "万达华府",
                "building": "3",
                "unit": "2",
                "room": "1502",
                **flat("万达华府", "3", "2", "1502", "420106"),
            },
        ),
        (
            "翠苑城09幢0302",
            {"compound": "翠苑城", "building": "9", "room": "302", **flat("翠苑城", "9", "", "302")},
        ),
        # Dash forms: building-unit-room and building-room; a unit written with a dash after 栋.
        (
            "锦绣景园4-1302",
            {"compound": "锦绣景园", "building": "4", "room": "1302", **flat("锦绣景园", "4", "", "1302")},
        ),
        (
            "万达华府3栋1-1502",
            {
                "compound": "万达华府",
                "building": "3",
                "unit": "1",
                "room": "1502",
                **flat("万达华府", "3", "1", "1502"),
            },
        ),
        (
            "万达华府4#2-1302",
            {
                "compound": "万达华府",
                "building": "4",
                "unit": "2",
                "room": "1302",
                **flat("万达华府", "4", "2", "1302"),
            },
        ),
        # 号楼, 座 and lettered buildings; floors when written.
        (
            "万达华府B1-1502",
            {"compound": "万达华府", "building": "B1", "room": "1502", **flat("万达华府", "B1", "", "1502")},
        ),
        (
            "中山路小区5号楼3单元201",
            {
                "compound": "中山路小区",
                "building": "5",
                "unit": "3",
                "room": "201",
                **flat("中山路", "5", "3", "201"),
            },
        ),
        (
            "万达华府A座1502",
            {"compound": "万达华府", "building": "A", "room": "1502", **flat("万达华府", "A", "", "1502")},
        ),
        (
            "万达华府3栋2单元15楼1502",
            {
                "compound": "万达华府",
                "building": "3",
                "unit": "2",
                "floor": "15",
                "room": "1502",
                **flat("万达华府", "3", "2", "1502"),
            },
        ),
        (
            "万达华府8楼803",  # the room number starts with 8: floor 8, no building given
            {"compound": "万达华府", "floor": "8", "room": "803", "status": "partial"},
        ),
        (
            "万达华府3栋2单元15楼2号",  # floor and door: room 1502
            {
                "compound": "万达华府",
                "building": "3",
                "unit": "2",
                "floor": "15",
                "room": "1502",
                **flat("万达华府", "3", "2", "1502"),
            },
        ),
        (
            "万达华府8楼3号",
            {"compound": "万达华府", "floor": "8", "room": "803", "status": "partial"},
        ),
        (
            "万达华府8楼1203",  # it does not: building 8
            {"compound": "万达华府", "building": "8", "room": "1203", **flat("万达华府", "8", "", "1203")},
        ),
        # Compound names holding digits, 号, 路 or 村.
        (
            "阳光100国际新城3栋1单元502",
            {
                "compound": "阳光100国际新城",
                "building": "3",
                "unit": "1",
                "room": "502",
                **flat("阳光100国际新城", "3", "1", "502"),
            },
        ),
        (
            "金地1号院3栋2单元101",
            {
                "compound": "金地1号院",
                "building": "3",
                "unit": "2",
                "room": "101",
                **flat("金地1号院", "3", "2", "101"),
            },
        ),
        (
            "１号公馆３栋２单元５０２",
            {
                "compound": "1号公馆",
                "building": "3",
                "unit": "2",
                "room": "502",
                **flat("1号公馆", "3", "2", "502"),
            },
        ),
        (
            "武昌区梅园新村3栋2单元502",
            {
                **WUCHANG,
                "compound": "梅园新村",
                "building": "3",
                "unit": "2",
                "room": "502",
                **flat("梅园新村", "3", "2", "502", "420106"),
            },
        ),
        # 号 as road number and as room; a road with its number and a compound.
        (
            "三阳路27号803",
            {"road": "三阳路", "road_number": "27", "room": "803", **flat("三阳路27号", "", "", "803")},
        ),
        (
            "三阳路27号4栋2单元803号",
            {
                "road": "三阳路",
                "road_number": "27",
                "building": "4",
                "unit": "2",
                "room": "803",
                **flat("三阳路27号", "4", "2", "803"),
            },
        ),
        (
            "三阳路27号翠苑城9幢1701室",
            {
                "road": "三阳路",
                "road_number": "27",
                "compound": "翠苑城",
                "building": "9",
                "room": "1701",
                **flat("翠苑城", "9", "", "1701"),
            },
        ),
        (
            "中山大道39号4栋1单元601室",  # 中山 is also a city (中山市): not here
            {
                "road": "中山大道",
                "road_number": "39",
                "building": "4",
                "unit": "1",
                "room": "601",
                **flat("中山大道39号", "4", "1", "601"),
            },
        ),
        (
            "彭刘杨路13号2-201",  # after a road number the dashed pair is unit-room: no building number
            {
                "road": "彭刘杨路",
                "road_number": "13",
                "unit": "2",
                "room": "201",
                **flat("彭刘杨路13号", "", "2", "201"),
            },
        ),
        (
            "粮道街13号502号",  # and a lone N号 is the room
            {"road": "粮道街", "road_number": "13", "room": "502", **flat("粮道街13号", "", "", "502")},
        ),
        (
            "光华街3号1单元201",
            {
                "road": "光华街",
                "road_number": "3",
                "unit": "1",
                "room": "201",
                **flat("光华街3号", "", "1", "201"),
            },
        ),
        # Divisions written short, and anywhere in China.
        (
            "湖北武汉武昌中南路街道翠苑城9幢1701室",
            {
                **WUCHANG,
                "street": "中南路街道",
                "compound": "翠苑城",
                "building": "9",
                "room": "1701",
                **flat("翠苑城", "9", "", "1701", "420106"),
            },
        ),
        (
            "北京市朝阳区望京街道望京西园三区312号楼5单元1002",
            {
                "province": "北京市",
                "province_code": "11",
                "city": "北京市",
                "city_code": "1101",
                "district": "朝阳区",
                "district_code": "110105",
                "street": "望京街道",
                "compound": "望京西园三区",
                "building": "312",
                "unit": "5",
                "room": "1002",
                **flat("望京西园三区", "312", "5", "1002", "110105"),
            },
        ),
        (
            "中国广东省深圳市南山区粤海街道科技园社区深圳湾1号T7栋3201",
            {
                "province": "广东省",
                "province_code": "44",
                "city": "深圳市",
                "city_code": "4403",
                "district": "南山区",
                "district_code": "440305",
                "street": "粤海街道",
                "community": "科技园社区",
                "compound": "深圳湾1号",
                "building": "T7",
                "room": "3201",
                **flat("深圳湾1号", "T7", "", "3201", "440305"),
            },
        ),
        (
            "湖北省仙桃市沙嘴街道新华社区5栋201",  # a county-level city under the province: no city
            {
                **HUBEI,
                "district": "仙桃市",
                "district_code": "429004",
                "street": "沙嘴街道",
                "community": "新华社区",
                "building": "5",
                "room": "201",
                **flat("新华社区", "5", "", "201", "429004"),
            },
        ),
        (
            "湖北省黄冈市红安县城关镇张家村三组15号",  # a village house: its number within the village group
            {
                **HUBEI,
                "city": "黄冈市",
                "city_code": "4211",
                "district": "红安县",
                "district_code": "421122",
                "street": "城关镇",
                "community": "张家村",
                "compound": "3组",
                "building": "15",
                "status": "building",
                "building_key": "421122|张家村3组|15",
            },
        ),
        (
            "武汉市东湖花园3栋201",  # 东湖 is a district of Nanchang, not of Wuhan
            {
                **WUHAN,
                "compound": "东湖花园",
                "building": "3",
                "room": "201",
                **flat("东湖花园", "3", "", "201", "4201"),
            },
        ),
        (
            "朝阳区幸福小区2栋101",  # two 朝阳区 (Beijing, Changchun): the lower code without context
            {
                "province": "北京市",
                "province_code": "11",
                "city": "北京市",
                "city_code": "1101",
                "district": "朝阳区",
                "district_code": "110105",
                "compound": "幸福小区",
                "building": "2",
                "room": "101",
                **flat("幸福", "2", "", "101", "110105"),
            },
        ),
    ],
)
def test_address_parts_without_a_reference(raw: str, expected: dict[str, str]) -> None:
    """Each way of writing a flat yields its parts and keys from the national table alone."""
    assert parts(parse_address(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "积玉桥临江社区万达华府3栋2单元1502室",
            {
                **LINJIANG,
                "compound": "万达华府",
                "building": "3",
                "unit": "2",
                "room": "1502",
                **flat("万达华府", "3", "2", "1502", "420106"),
            },
        ),
        (
            "临江3栋2单元1502",  # a community without its suffix, then the building
            {
                **LINJIANG,
                "building": "3",
                "unit": "2",
                "room": "1502",
                **flat("临江社区", "3", "2", "1502", "420106"),
            },
        ),
        (
            "武昌中南路兴业社区4栋1单元601",
            {
                **XINGYE,
                "building": "4",
                "unit": "1",
                "room": "601",
                **flat("兴业社区", "4", "1", "601", "420106"),
            },
        ),
        (
            "兴业4栋1单元601",  # 兴业 is also a county in Guangxi (兴业县)
            {
                **XINGYE,
                "building": "4",
                "unit": "1",
                "room": "601",
                **flat("兴业社区", "4", "1", "601", "420106"),
            },
        ),
        (
            "首义路94号102",  # 首义路 is also the short name of 首义路街道: before a number, the road
            {
                "road": "首义路",
                "road_number": "94",
                "room": "102",
                **flat("首义路94号", "", "", "102", "420106"),
            },
        ),
        (
            "首义路街道首义路94号102",
            {
                **WUCHANG,
                "street": "首义路街道",
                "street_code": "420106009",
                "road": "首义路",
                "road_number": "94",
                "room": "102",
                **flat("首义路94号", "", "", "102", "420106"),
            },
        ),
        (
            "紫阳花园3栋2单元1502",  # a compound named like the community 紫阳社区
            {
                "compound": "紫阳花园",
                "building": "3",
                "unit": "2",
                "room": "1502",
                **flat("紫阳花园", "3", "2", "1502", "420106"),
            },
        ),
        (
            "锦绣景园4-1-1302",  # likewise for 锦绣社区
            {
                "compound": "锦绣景园",
                "building": "4",
                "unit": "1",
                "room": "1302",
                **flat("锦绣景园", "4", "1", "1302", "420106"),
            },
        ),
        (
            "三阳路27号4栋2单元803室",  # no place named: the home district is the key's locality
            {
                "road": "三阳路",
                "road_number": "27",
                "building": "4",
                "unit": "2",
                "room": "803",
                **flat("三阳路27号", "4", "2", "803", "420106"),
            },
        ),
        (
            "武汉市江岸区三阳路27号4幢2单元803",  # another district keeps its own code
            {
                **JIANGAN,
                "road": "三阳路",
                "road_number": "27",
                "building": "4",
                "unit": "2",
                "room": "803",
                **flat("三阳路27号", "4", "2", "803", "420102"),
            },
        ),
        (
            "上海市万达华府3栋2单元1502",  # another city, no district: the city's code
            {
                "province": "上海市",
                "province_code": "31",
                "compound": "万达华府",
                "building": "3",
                "unit": "2",
                "room": "1502",
                **flat("万达华府", "3", "2", "1502", "31"),
            },
        ),
    ],
)
def test_address_parts_with_a_district_reference(
    reference_parser: AddressParser, raw: str, expected: dict[str, str]
) -> None:
    """A district's reference codes its streets and communities, also when written without suffix."""
    assert parts(reference_parser.parse(raw)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "湖北省武汉市武昌区积玉桥街道临江社区万达华府3栋2单元1502室",
        "武昌区积玉桥街道临江社区万达华府3栋2单元1502室",
        "万达华府3栋2单元1502室",
        "万达华府小区3栋2单元1502室",
        "武汉市武昌区万达华府3幢2单元1502",
        "湖北武汉武昌万达华府3号楼2单元1502号",
        "万达华府3-2-1502",
        "万达华府三栋二单元一五〇二室",
        "万达华府３栋２单元１５０２室",
        "万达华府 3栋 2单元 1502室",
        "万达华府3栋2单元1502室(租住)",
    ],
)
def test_one_flat_written_many_ways_gets_one_key(reference_parser: AddressParser, raw: str) -> None:
    """Every spelling of flat 1502 of 万达华府 building 3 unit 2 in the home district has one key."""
    assert reference_parser.parse(raw).flat_key == "420106|万达华府|3|2|1502"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("万达华府3栋2单元1502室", "万达华府3栋1单元1502室"),
        ("万达华府3栋2单元1502室", "万达华府13栋2单元1502室"),
        ("万达华府3栋2单元1502室", "万达华府二期3栋2单元1502室"),
        ("武昌区万达华府3栋2单元1502室", "江岸区万达华府3栋2单元1502室"),
        ("三阳路27号4栋2单元803室", "三阳路29号4栋2单元803室"),
    ],
)
def test_different_flats_get_different_keys(reference_parser: AddressParser, left: str, right: str) -> None:
    """Flats that differ in unit, building, compound phase, district or road number differ in key."""
    assert reference_parser.parse(left).flat_key != reference_parser.parse(right).flat_key


@pytest.mark.parametrize(
    ("raw", "status", "rest", "reason"),
    [
        ("三阳路27号附近", "building", "附近", "no room number; not understood: '附近'"),
        ("万达华府旁", "partial", "旁", "no building number; not understood: '旁'"),
        ("万达华府3栋2单元1502室（租户）", "flat", "租户", "not understood: '租户'"),
        ("万达华府3幢2单元1502室张三", "flat", "张三", "not understood: '张三'"),
        ("万达华府3幢2单元1502 13812345678", "flat", "13812345678", "not understood: '13812345678'"),
        ("3栋2单元1502室", "partial", None, "no compound, road or community before the building and room"),
        ("武昌区", "partial", None, "no building number"),
        (
            "Room 1502",
            "unparsed",
            "ROOM1502",
            "no division, road, compound or flat recognised in 'ROOM1502'; not understood: 'ROOM1502'",
        ),
        ("不详", "missing", None, "placeholder '不详'"),
        ("无固定住所", "missing", None, "placeholder '无固定住所'"),
        ("  ", "missing", None, "no address"),
        (None, "missing", None, "no address"),
        (float("nan"), "missing", None, "no address"),
    ],
)
def test_what_is_not_a_complete_flat_is_said_and_kept(
    raw: object, status: str, rest: str | None, reason: str
) -> None:
    """Imprecise, partly understood and empty addresses get a status, their leftover and a reason."""
    result = parse_address(raw)
    assert (result.status, result.rest, result.reason) == (status, rest, reason)
    assert result.status in ADDRESS_STATUSES


def test_a_complete_flat_has_no_reason() -> None:
    """A flat with nothing left over needs no finding."""
    result = parse_address("万达华府3栋2单元1502室")
    assert (result.status, result.rest, result.reason) == ("flat", None, None)


def test_the_cleaned_text_is_kept() -> None:
    """The parsed text is NFKC, upper case and without spaces or punctuation."""
    assert parse_address(" 万达华府 ａ座，１５０２ ").text == "万达华府A座1502"


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("三", 3),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十一", 21),
        ("两", 2),
        ("一百零一", 101),
        ("二〇一", 201),
        ("一五零二", 1502),
        ("一千零二", 1002),
        ("三楼", None),
        ("", None),
    ],
)
def test_chinese_numerals(numeral: str, value: int | None) -> None:
    """Chinese numerals are read positionally with 十百千 and digit by digit without."""
    assert chinese_numeral_value(numeral) == value


def test_batch_parses_each_distinct_value_once_and_keeps_row_order() -> None:
    """The column result has one row per value, nulls as null rows, and each text parsed once."""
    calls: list[str] = []

    class CountingParser(AddressParser):
        def parse_row(self, raw_text: str) -> tuple[object, ...]:
            calls.append(raw_text)
            return super().parse_row(raw_text)

        def _parse_clean(self, text: str, rest: list[str], raw_text: str) -> tuple[object, ...]:
            calls.append(raw_text)
            return super()._parse_clean(text, rest, raw_text)

    values = ["翠苑城9幢1701室", None, "锦绣景园4-1-1302", "翠苑城9幢1701室", " 翠苑城9幢1701室 ", ""]
    table = parse_addresses(pa.chunked_array([values[:3], values[3:]]), CountingParser())
    assert table.column_names == list(ADDRESS_PARTS)
    assert table.column("flat_key").to_pylist() == [
        "|翠苑城|9||1701",
        None,
        "|锦绣景园|4|1|1302",
        "|翠苑城|9||1701",
        "|翠苑城|9||1701",
        None,
    ]
    assert table.column("status").to_pylist() == ["flat", None, "flat", "flat", "flat", "missing"]
    assert sorted(calls) == ["翠苑城9幢1701室", "锦绣景园4-1-1302"]  # the padded copy is trimmed first


def test_batch_accepts_pandas_and_lists_and_agrees_with_the_scalar_parser() -> None:
    """A pandas Series and a list give the rows `parse_address` gives, however the text is written
    (the batch cleans text in Arrow, the scalar parser in Python)."""
    values = [
        "三阳路27号803",
        "万达华府三栋十二单元二〇一室",
        "不详",
        "中国湖北省武汉市 武昌区，万达华府\u3000３栋—２單元\t1502室",
        "中华人民共和国武昌区万达華府3棟2单元1502號",
        "万达华府a座1502；",
        "\ufeff翠苑城9幢\u200b1701室。",
        "锦绣景园4／1／1302",
        "--万达华府3_2_1502--",
        "万达华府3栋2单元1502室（租住）",
        "万达华府【备注：老人独居】3栋2单元1502室",
        "ROOM 1502, BLDG 3",
    ]
    from_series = parse_addresses(pd.Series(values, dtype=object)).to_pylist()
    from_list = parse_addresses(values).to_pylist()
    expected = [dict(parse_address(v)._asdict()) for v in values]
    assert from_series == from_list == expected


def test_a_parser_sent_to_a_worker_process_parses_alike(reference_parser: AddressParser) -> None:
    """A pickled parser (as staging workers receive it) keeps its reference and home district."""
    copy = pickle.loads(pickle.dumps(reference_parser))
    assert copy.home_district == "420106"
    assert copy.parse("临江3栋2单元1502") == reference_parser.parse("临江3栋2单元1502")
    assert copy.parse("临江3栋2单元1502").community_code == "420106001001"


def test_an_explicit_home_district_is_the_locality_of_addresses_naming_none() -> None:
    """Without a reference, a given home district still keys addresses that name no place."""
    parser = AddressParser(home_district="420102")
    assert parser.parse("三阳路27号4栋2单元803室").flat_key == "420102|三阳路27号|4|2|803"
    assert parser.parse("武昌区三阳路27号4栋2单元803室").flat_key == "420106|三阳路27号|4|2|803"


def test_batch_of_nothing_has_the_columns() -> None:
    """An empty column gives an empty table with every part column."""
    table = parse_addresses(pa.array([], pa.string()))
    assert (table.num_rows, table.column_names) == (0, list(ADDRESS_PARTS))
