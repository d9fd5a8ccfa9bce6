"""The demo district's geography and the region codes that appear in its residents' IDs.

The district is 武汉市武昌区 (420106) with its fourteen real sub-districts (街道); communities
(社区) and housing compounds (小区) inside them are generated once from a fixed seed, so every
demo, whatever its own seed, has the same map. Division codes follow the 12-digit 统计用区划代码
layout: district (6) + sub-district (3) + community (3).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


PROVINCE = "湖北省"
CITY = "武汉市"
DISTRICT = "武昌区"
DISTRICT_CODE = "420106"
CITY_AREA_CODE = "027"

STREETS = (
    "积玉桥街道",
    "杨园街道",
    "徐家棚街道",
    "粮道街道",
    "中华路街道",
    "黄鹤楼街道",
    "紫阳街道",
    "白沙洲街道",
    "首义路街道",
    "中南路街道",
    "水果湖街道",
    "珞珈山街道",
    "石洞街道",
    "南湖街道",
)
_COMMUNITY_STEMS = _words(
    "临江 和平 新河 水岸 丽岛 中山 紫阳 首义 大成 长虹 保安 解放 文昌 平湖 东亭 武泰 南苑 晒湖 "
    "宝通 楚材 复兴 民主 得胜 友谊 翠园 松竹 怡景 沙湖 梅苑 华锦 秦园 新生 团结 幸福 和谐 阳光 "
    "滨江 锦绣 白鹭 凤凰"
)
_COMMUNITY_SUFFIXES = ("", "东", "西", "南", "北")
_COMPOUND_STEMS = _words(
    "万达 保利 中海 绿地 融创 金地 复地 福星 百瑞 南国 东湖 长江 江南 水岸 翠微 紫阳 梅园 桃源 "
    "学府 锦江 名都 华城 世纪 阳光 书香 星光 文苑 花城 天悦 碧桂"
)
_COMPOUND_SUFFIXES = ("花园", "小区", "公寓", "家园", "新村", "华府", "雅苑", "城", "国际", "名邸")
_COMMUNITIES_PER_STREET = (10, 15)
_COMPOUNDS_PER_COMMUNITY = (6, 13)
_GEOGRAPHY_SEED = 420106

# Where registered residents' ID numbers were issued: mostly this district, then the rest of
# Wuhan, then other Hubei cities (people who moved their hukou here).
REGISTERED_REGIONS = {
    "420106": 55,
    "420102": 6,
    "420103": 5,
    "420104": 4,
    "420105": 4,
    "420107": 4,
    "420111": 6,
    "420112": 2,
    "420113": 1,
    "420114": 2,
    "420115": 3,
    "420116": 3,
    "420117": 2,
    "420902": 1,
    "421002": 0.5,
    "420502": 0.5,
    "421102": 0.5,
    "420602": 0.5,
}
# Where migrants' (流动人口) ID numbers were issued: other Hubei cities and other provinces.
MIGRANT_REGIONS = {
    "420902": 6,
    "421002": 5,
    "420502": 4,
    "421102": 6,
    "420602": 4,
    "422801": 3,
    "429004": 3,
    "421222": 2,
    "421023": 2,
    "420222": 2,
    "421381": 2,
    "410102": 4,
    "411302": 4,
    "430102": 4,
    "430602": 3,
    "360102": 3,
    "340102": 3,
    "500101": 4,
    "510104": 3,
    "610102": 2,
    "440106": 2,
    "320102": 2,
    "150102": 1,
    "540102": 1,
}
# Uyghur and Kazakh residents' IDs come from Xinjiang.
XINJIANG_REGIONS = {"650102": 4, "653101": 3, "654002": 2}

MOBILE_PREFIXES = _words(
    "130 131 132 133 134 135 136 137 138 139 147 150 151 152 153 155 156 157 158 159 166 173 "
    "176 177 178 180 181 182 183 185 186 187 188 189 191 198 199"
)


@dataclass(frozen=True)
class Geography:
    """Communities and compounds of the district, as parallel arrays.

    Attributes:
        community_name: e.g. ``临江社区``.
        community_code: 12-digit division code of each community.
        community_street: index into ``STREETS`` of each community.
        compound_name: e.g. ``万达华府``.
        compound_community: index into the community arrays of each compound.
    """

    community_name: tuple[str, ...]
    community_code: tuple[str, ...]
    community_street: np.ndarray
    compound_name: tuple[str, ...]
    compound_community: np.ndarray


def _community_names(rng: np.random.Generator, count: int) -> list[str]:
    names = [s + x for x in _COMMUNITY_SUFFIXES for s in _COMMUNITY_STEMS]
    picked = rng.choice(len(names), size=count, replace=False)
    return [names[i] + "社区" for i in picked]


def _compound_names(rng: np.random.Generator, count: int) -> list[str]:
    picked = rng.choice(len(_COMPOUND_STEMS) * len(_COMPOUND_SUFFIXES), size=count, replace=False)
    return [_COMPOUND_STEMS[i // 10] + _COMPOUND_SUFFIXES[i % 10] for i in picked]


@functools.cache
def district_geography() -> Geography:
    """The fixed map of the demo district.

    Returns:
        Its communities (with division codes) and housing compounds.
    """
    rng = np.random.default_rng(_GEOGRAPHY_SEED)
    per_street = rng.integers(*_COMMUNITIES_PER_STREET, size=len(STREETS))
    street_of = np.repeat(np.arange(len(STREETS)), per_street)
    number_in_street = np.concatenate([np.arange(1, k + 1) for k in per_street])
    codes = tuple(
        f"{DISTRICT_CODE}{s + 1:03d}{n:03d}" for s, n in zip(street_of, number_in_street, strict=True)
    )
    per_community = rng.integers(*_COMPOUNDS_PER_COMMUNITY, size=len(codes))
    compounds = [name for k in per_community for name in _compound_names(rng, int(k))]
    return Geography(
        community_name=tuple(_community_names(rng, len(codes))),
        community_code=codes,
        community_street=street_of,
        compound_name=tuple(compounds),
        compound_community=np.repeat(np.arange(len(codes)), per_community),
    )
