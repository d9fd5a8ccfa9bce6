"""Generate the demo districts' maps once: division tables and building registers.

Usage: ``.venv/bin/python scripts/make_demo_geography.py`` (writes the files below; run it again
only to change the maps, and commit what it writes).

For each demo district it writes

- ``schemas/divisions/<district>.csv``: the reference table of divisions a deployment ships
  (``code,name,level,parent_code``; province, city, district, the real sub-districts (街道) with their
  statistical division codes, and generated communities (社区, 12-digit codes) and grids (网格,
  community code + 3-digit grid number));
- the district's building register for the demo generator (``pipelines/demo/profiles/<name>-buildings.csv``
  or the profile folder of a held-out district): one row per building, with its grid, its
  compound (小区) name and road address (三阳路27号), or, for old streets' houses without a compound,
  only a road and number; its units (单元), floors and flats per floor.

Every grid is a set of whole buildings of one community, packed in compound order until it holds
about 300 to 600 flats (the households a grid worker looks after). Names are drawn from the
stems below with a fixed seed per district, so the output is the same on every machine.
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHINESE_DIGITS = "零一二三四五六七八九"


@dataclass(frozen=True)
class Street:
    """A real sub-district (街道) with its statistical code suffix and some of its real roads."""

    number: str
    name: str
    roads: tuple[str, ...]
    old: bool = False  # old town: houses without a compound along its roads


@dataclass(frozen=True)
class District:
    """What the generator needs to know of a district."""

    key: str
    code: str
    name: str
    streets: tuple[Street, ...]
    community_stems: tuple[str, ...]
    compound_stems: tuple[str, ...]
    compound_suffixes: tuple[str, ...]
    work_units: tuple[str, ...]
    buildings_file: Path
    communities_per_street: tuple[int, int] = (8, 13)
    seed: int = 0


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


WUCHANG = District(
    key="wuchang",
    code="420106",
    name="武昌区",
    streets=(
        Street("001", "积玉桥街道", _words("和平大道 临江大道 中山路 新河街 积玉桥横街"), old=True),
        Street("002", "杨园街道", _words("和平大道 铁机路 杨园南路 友谊大道 杨园西路")),
        Street("003", "徐家棚街道", _words("徐东大街 秦园路 团结路 三层楼 和平大道")),
        Street("005", "粮道街道", _words("粮道街 昙华林路 胭脂路 得胜桥 候补街 戈甲营"), old=True),
        Street("006", "中华路街道", _words("中华路 民主路 解放路 自由路 大成路"), old=True),
        Street("007", "黄鹤楼街道", _words("武珞路 彭刘杨路 司门口 长春街 民主路"), old=True),
        Street("008", "紫阳街道", _words("紫阳路 复兴路 武昌路 张之洞路 起义街"), old=True),
        Street("009", "白沙洲街道", _words("白沙洲大道 武金堤路 白沙一路 白沙二路 青菱路")),
        Street("010", "首义路街道", _words("首义路 彭刘杨路 复兴路 中山路 阅马场路"), old=True),
        Street("011", "中南路街道", _words("中南路 中北路 宝通寺路 洪山路 武珞路")),
        Street("012", "水果湖街道", _words("东湖路 水果湖路 东亭路 中北路 八一路")),
        Street("013", "珞珈山街道", _words("八一路 珞珈山路 东湖南路 珞喻路")),
        Street("014", "石洞街道", _words("雄楚大道 石牌岭路 丁字桥路 中南二路")),
        Street("015", "南湖街道", _words("南湖路 文治街 丁字桥南路 武南路 宝安路")),
    ),
    community_stems=_words(
        "临江 和平 新河 水岸 丽岛 中山 紫阳 首义 大成 长虹 保安 解放 文昌 平湖 东亭 武泰 南苑 晒湖 "
        "宝通 楚材 复兴 民主 得胜 友谊 翠园 松竹 怡景 沙湖 梅苑 华锦 秦园 新生 团结 幸福 和谐 阳光 "
        "滨江 锦绣 白鹭 凤凰 昙华 胭脂 候补 戈甲 彭刘 积玉 铁机 杨园 徐东 三层 白沙 青菱 南湖 文治"
    ),
    compound_stems=_words(
        "万达 保利 中海 绿地 融创 金地 复地 福星 百瑞 南国 东湖 长江 江南 水岸 翠微 紫阳 梅园 桃源 "
        "学府 锦江 名都 华城 世纪 阳光 书香 星光 文苑 花城 天悦 碧桂 翠苑 锦绣 景园 丽水 青山 秀湖 "
        "金色 东方 御景 晴川 龙湾 珞珈 楚天 中建 招商 万科 恒大 金茂 新城 华润 美林 丽景 都市 博雅 尚文"
    ),
    compound_suffixes=_words("花园 小区 公寓 家园 新村 华府 雅苑 城 国际 名邸 花苑 庭院 佳园 公馆 广场"),
    work_units=_words(
        "武锅 武重 省财政厅 铁四院 长航 湖北日报 武昌车辆厂 省建三 市二医院 武汉水运 省电力 "
        "湖大 武昌造船厂 省粮食厅 中南设计院 市自来水公司 武昌火车站 省图书馆 华中师大 军区"
    ),
    buildings_file=ROOT / "pipelines" / "demo" / "profiles" / "wuchang-buildings.csv",
    seed=420106,
)

DISTRICTS = {d.key: d for d in (WUCHANG,)}
PROVINCE = ("42", "湖北省")
CITY = ("4201", "武汉市")


@dataclass
class Building:
    """One row of the building register."""

    community: str
    compound: str
    road: str
    road_number: int
    building: int | None
    units: int
    floors: int
    doors: int
    grid: str = ""

    @property
    def flats(self) -> int:
        return self.units * self.floors * self.doors


@dataclass
class Roads:
    """House numbers handed out along each road of a street: odd on one side, even on the other."""

    next_number: dict[str, int] = field(default_factory=dict)

    def number(self, rng: random.Random, road: str) -> int:
        current = self.next_number.get(road, rng.randrange(1, 12))
        self.next_number[road] = current + rng.choice((2, 2, 4, 6, 8))
        return current


def chinese_number(value: int) -> str:
    """1 → 一, 12 → 十二, 23 → 二十三 (grid names)."""
    tens, ones = divmod(value, 10)
    text = ("" if tens == 1 else CHINESE_DIGITS[tens]) + "十" if tens else ""
    return text + (CHINESE_DIGITS[ones] if ones or not tens else "")


def _compound_buildings(
    rng: random.Random, community: str, name: str, road: str, number: int, old: bool
) -> list[Building]:
    """A compound: old ones are six or seven floors and many stairwells, new ones towers."""
    if old:  # built before 2000: walk-ups
        count, floors, units, doors = rng.randint(3, 16), rng.choice((5, 6, 7)), rng.randint(2, 5), 2
    else:
        count, floors, units = rng.randint(2, 14), rng.randint(11, 33), rng.randint(1, 3)
        doors = rng.choice((2, 4))
    return [
        Building(community, name, road, number, index + 1, units, floors, doors) for index in range(count)
    ]


def _houses(rng: random.Random, community: str, roads: Roads, street: Street) -> list[Building]:
    """Old-town houses standing on a road with only a house number (no compound, no building number)."""
    houses = []
    for _ in range(rng.randint(6, 30)):
        road = rng.choice(street.roads)
        houses.append(
            Building(
                community,
                "",
                road,
                roads.number(rng, road),
                None,
                rng.choice((1, 1, 1, 2)),
                rng.randint(2, 7),
                rng.randint(1, 3),
            )  # fmt: skip
        )
    return houses


def _community(
    rng: random.Random, street: Street, code: str, roads: Roads, names: CompoundNames
) -> list[Building]:
    count = rng.choices((1, 2, 3, 4, 5, 6, 7, 8), weights=(18, 12, 14, 14, 12, 10, 10, 10))[0]
    buildings: list[Building] = []
    for _ in range(count):
        road, old = rng.choice(street.roads), rng.random() < 0.45
        name = names.work_unit() if old and rng.random() < 0.3 else names.compound()
        buildings += _compound_buildings(rng, code, name, road, roads.number(rng, road), old)
    if street.old and rng.random() < 0.8:
        buildings += _houses(rng, code, roads, street)
    return buildings


def _grids(rng: random.Random, community: str, buildings: list[Building]) -> list[str]:
    """Pack whole buildings, in order, into grids of about 300 to 600 flats; return the grid codes."""
    codes, flats, target = [f"{community}001"], 0, rng.randint(300, 600)
    for building in buildings:
        if flats and flats + building.flats > target:
            codes.append(f"{community}{len(codes) + 1:03d}")
            flats, target = 0, rng.randint(300, 600)
        building.grid = codes[-1]
        flats += building.flats
    return codes


class CompoundNames:
    """Names of compounds, each used once in a district: estates, and old work units' quarters."""

    def __init__(self, rng: random.Random, district: District) -> None:
        self.estates = [
            stem + suffix for stem in district.compound_stems for suffix in district.compound_suffixes
        ]
        self.quarters = [
            unit + suffix for unit in district.work_units for suffix in ("宿舍", "家属院", "小区", "生活区")
        ]
        rng.shuffle(self.estates)
        rng.shuffle(self.quarters)

    def compound(self) -> str:
        return self.estates.pop()

    def work_unit(self) -> str:
        return self.quarters.pop() if self.quarters else self.estates.pop()


def _community_names(rng: random.Random, district: District) -> list[str]:
    names = [stem + side for stem in district.community_stems for side in ("", "东", "西", "南", "北", "新")]
    rng.shuffle(names)
    return [name + "社区" for name in names]


def generate(district: District) -> tuple[list[tuple[str, str, str, str]], list[Building]]:
    """The division rows and the buildings of one district."""
    rng = random.Random(district.seed)
    rows = [
        (PROVINCE[0], PROVINCE[1], "province", ""),
        (CITY[0], CITY[1], "city", PROVINCE[0]),
        (district.code, district.name, "district", CITY[0]),
    ]
    community_names = _community_names(rng, district)
    compound_names = CompoundNames(rng, district)
    buildings: list[Building] = []
    for street in district.streets:
        street_code = district.code + street.number
        rows.append((street_code, street.name, "street", district.code))
        roads = Roads()
        for number in range(1, rng.randint(*district.communities_per_street) + 1):
            code, name = f"{street_code}{number:03d}", community_names.pop()
            rows.append((code, name, "community", street_code))
            in_community = _community(rng, street, code, roads, compound_names)
            for index, grid in enumerate(_grids(rng, code, in_community)):
                rows.append((grid, f"{name}第{chinese_number(index + 1)}网格", "grid", code))
            buildings += in_community
    return rows, buildings


def write(district: District) -> None:
    """Write the district's division table and building register."""
    rows, buildings = generate(district)
    divisions = ROOT / "schemas" / "divisions" / f"{district.code}.csv"
    divisions.parent.mkdir(parents=True, exist_ok=True)
    with divisions.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("code", "name", "level", "parent_code"))
        writer.writerows(rows)
    with district.buildings_file.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ("grid_code", "compound", "road", "road_number", "building", "units", "floors", "doors")
        )
        for b in buildings:
            writer.writerow(
                (b.grid, b.compound, b.road, b.road_number, b.building or "", b.units, b.floors, b.doors)
            )
    grids = sum(1 for row in rows if row[2] == "grid")
    flats = sum(b.flats for b in buildings)
    print(
        f"{district.name}: {len(rows)} divisions ({grids} grids), {len(buildings)} buildings, {flats:,} flats"
    )


def main() -> None:
    """Write the maps of the districts asked for (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("districts", nargs="*", help=f"some of {sorted(DISTRICTS)}; all when none is given")
    chosen = parser.parse_args().districts or sorted(DISTRICTS)
    unknown = sorted(set(chosen) - set(DISTRICTS))
    if unknown:
        parser.error(f"unknown districts {unknown}; known: {sorted(DISTRICTS)}")
    for key in chosen:
        write(DISTRICTS[key])


if __name__ == "__main__":
    main()
