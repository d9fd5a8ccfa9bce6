"""Where the demo's residents' ID numbers were issued, and the phone numbers they use.

The district map itself (streets, communities, grids, compounds, buildings) is data, read by
``pipelines.demo.geography``.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CITY_AREA_CODE = "027"

# Where registered residents' ID numbers were issued: mostly their own district (weight 55), then
# the rest of Wuhan, then other Hubei cities (people who moved their hukou here).
OWN_DISTRICT_WEIGHT = 55
REGISTERED_ELSEWHERE = {
    "420102": 6,
    "420103": 5,
    "420104": 4,
    "420105": 4,
    "420106": 6,
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


def registered_regions(district_code: str) -> dict[str, float]:
    """Region codes of registered residents' ID numbers, with weights, for a district.

    Args:
        district_code: the district's division code.

    Returns:
        The district itself first, then the rest of Wuhan and Hubei.
    """
    others = {code: weight for code, weight in REGISTERED_ELSEWHERE.items() if code != district_code}
    return {district_code: OWN_DISTRICT_WEIGHT, **others}
