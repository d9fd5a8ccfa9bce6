"""The place register on literal records: which addresses are one flat, building and grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.canonical import staged_schema
from pipelines.layout import WarehouseLayout
from pipelines.places.register import PlaceRegister, build_place_register
from pipelines.standardize.addresses import AddressParser, parse_addresses

PARSER = AddressParser(home_district="420102")
ID_A, ID_B, ID_C = "11010519491231002X", "110105194912310011", "420102198001011234"


def record(ref: str, address: str | None = None, **fields: Any) -> dict[str, Any]:
    """A staged record ``source:id`` at ``address``; ``person`` gives it a trusted citizen ID."""
    source, _, record_id = ref.partition(":")
    person = fields.pop("person", None)
    return {
        "source_system": source,
        "source_record_id": record_id,
        "address": address,
        "id_type": "cn_resident_id" if person else None,
        "id_status": "valid" if person else "missing",
        "id_number": person,
        **fields,
    }


def register(tmp_path: Path, *records: dict[str, Any]) -> PlaceRegister:
    """Build a register in ``tmp_path`` from the records (addresses through the real parser)."""
    schema = staged_schema()
    rows = [{name: r.get(name) for name in schema.names if not name.endswith("_parts")} for r in records]
    table = pa.Table.from_pylist(rows, schema=pa.schema([f for f in schema if not f.name.endswith("_parts")]))
    for field in ("address", "registered_address"):
        parts = parse_addresses(table.column(field), PARSER)
        table = table.append_column(
            f"{field}_parts",
            pa.StructArray.from_arrays([c.combine_chunks() for c in parts.columns], names=parts.column_names),
        )
    connection = duckdb.connect()
    connection.register("records", table)
    return build_place_register(WarehouseLayout(tmp_path), "records", connection, ["cn_resident_id"])


def places(built: PlaceRegister) -> dict[str, dict[str, Any]]:
    """Each record's row of ``record_place``, by ``source:id``."""
    return {row["unique_id"]: row for row in built.table("record_place").to_pylist()}


def same_flat(placed: dict[str, dict[str, Any]], *refs: str) -> bool:
    flats = {placed[ref]["dwelling_id"] for ref in refs}
    return len(flats) == 1 and None not in flats


def test_a_compound_and_its_road_number_named_together_are_one_place(tmp_path: Path) -> None:
    """One address naming compound and road number joins the two ways of writing the flat."""
    placed = places(
        register(
            tmp_path,
            record("a:1", "三阳路27号翠苑城4栋2单元803室"),
            record("a:2", "翠苑城4栋2单元803"),
            record("b:1", "武汉市江岸区三阳路27号4幢2单元803"),
            record("b:2", "三阳路27号4栋2单元804"),
        )
    )
    assert same_flat(placed, "a:1", "a:2", "b:1")
    assert placed["b:2"]["building_id"] == placed["a:1"]["building_id"]
    assert placed["b:2"]["dwelling_id"] != placed["a:1"]["dwelling_id"]


def test_one_person_at_one_flat_under_two_names_joins_them(tmp_path: Path) -> None:
    """A person holding one ID, written at the same flat under two compound names, makes the names
    one compound; without the shared ID they stay apart."""
    placed = places(
        register(
            tmp_path,
            record("a:1", "中山大道39号4栋1单元601室", person=ID_A),
            record("b:1", "兴业花园4栋1单元601", person=ID_A),
            record("b:2", "兴业花园7栋2单元1102"),
            record("c:1", "中山大道39号7栋2单元1102室"),
            record("c:2", "汉口公馆7栋2单元1102室"),
        )
    )
    assert same_flat(placed, "a:1", "b:1")
    assert same_flat(placed, "b:2", "c:1")
    assert placed["c:2"]["dwelling_id"] != placed["c:1"]["dwelling_id"]


def test_a_single_person_does_not_join_two_common_compounds(tmp_path: Path) -> None:
    """One person at '花城佳园' in one system and '华城佳园' in another joins a rare spelling to
    a common name, but not two compounds both written often."""
    common = [record(f"x:{i}", f"华城佳园{i}栋1单元101") for i in range(1, 7)]
    other = [record(f"y:{i}", f"花城佳园{i}栋1单元101") for i in range(1, 7)]
    placed = places(
        register(
            tmp_path,
            *common,
            *other,
            record("a:1", "华城佳园3栋2单元1601", person=ID_B),
            record("b:1", "花城佳园3栋2单元1601", person=ID_B),
            record("a:2", "华城佳园5栋1单元902", person=ID_C),
            record("b:2", "华诚佳园5栋1单元902", person=ID_C),
        )
    )
    assert placed["a:1"]["dwelling_id"] != placed["b:1"]["dwelling_id"]
    assert same_flat(placed, "a:2", "b:2")


def test_a_community_written_for_its_flats(tmp_path: Path) -> None:
    """A community whose addresses name one compound stands for it; in a community of several
    compounds a flat is the one compound's that has that flat number."""
    placed = places(
        register(
            tmp_path,
            record("a:1", "后湖社区翠苑城2栋1单元302"),
            record("a:2", "后湖社区2栋1单元302"),
            record("b:1", "兴业社区锦绣景园4栋1单元1302"),
            record("b:2", "兴业社区万达华府4栋1单元601"),
            record("b:3", "兴业社区4-1-1302"),
        )
    )
    assert same_flat(placed, "a:1", "a:2")
    assert same_flat(placed, "b:1", "b:3")
    assert placed["b:3"]["dwelling_id"] != placed["b:2"]["dwelling_id"]


def test_a_flat_without_its_unit_takes_the_only_unit_with_that_room(tmp_path: Path) -> None:
    """'9幢1701室' is 9-2-1701 when unit 2 is the building's only unit with a room 1701."""
    placed = places(
        register(
            tmp_path,
            record("a:1", "翠苑城9幢2单元1701室"),
            record("a:2", "翠苑城9幢1单元1702室"),
            record("b:1", "翠苑城9幢1701室"),
        )
    )
    assert same_flat(placed, "a:1", "b:1")


def test_grids_come_from_the_records_that_name_them(tmp_path: Path) -> None:
    """A building lies in the grid its records name; a building no record names takes its
    compound's grid when the compound lies in one grid; elsewhere no grid is guessed."""
    grid = "420102001001003"
    placed = places(
        register(
            tmp_path,
            record("g:1", "翠苑城2栋1单元302", grid_code=grid),
            record("g:2", "翠苑城2栋2单元402", grid_code=grid),
            record("s:1", "翠苑城5栋1单元101"),
            record("s:2", "汉口公馆1栋1单元101"),
        )
    )
    assert [placed[ref]["place_grid_code"] for ref in ("g:1", "s:1", "s:2")] == [grid, grid, None]


def test_ids_stay_put_when_a_later_run_learns_an_alias(tmp_path: Path) -> None:
    """A rebuilt register keeps every building and flat id; when two keys are found to be one
    building it keeps the id most of them had."""
    first = [
        record("a:1", "翠苑城4栋2单元803室"),
        record("a:2", "翠苑城4栋2单元901室"),
        record("b:1", "三阳路27号4栋2单元803"),
    ]
    before = places(register(tmp_path, *first))
    again = places(register(tmp_path, *first))
    assert {k: v["dwelling_id"] for k, v in again.items()} == {k: v["dwelling_id"] for k, v in before.items()}
    after = places(register(tmp_path, *first, record("c:1", "三阳路27号翠苑城4栋2单元803")))
    assert same_flat(after, "a:1", "b:1", "c:1")
    assert after["a:1"]["dwelling_id"] == before["a:1"]["dwelling_id"]
    assert after["a:2"]["building_id"] == before["a:2"]["building_id"]


def test_households_from_the_register_and_from_sharing_a_flat(tmp_path: Path) -> None:
    """A household number (户号) is one registered household; a flat's residents outside any have
    the flat's household."""
    built = register(
        tmp_path,
        record("h:1", registered_address="翠苑城4栋2单元803室", household_number="4201020001"),
        record("h:2", registered_address="翠苑城4栋2单元803室", household_number="4201020001"),
        record("g:1", "汉口公馆1栋1单元101"),
        record("g:2", "汉口公馆1栋1单元101"),
    )
    placed = places(built)
    assert placed["h:1"]["household_id"] == placed["h:2"]["household_id"] is not None
    assert placed["g:1"]["co_household_id"] == placed["g:2"]["co_household_id"] is not None
    kinds = {row["household_id"]: row["kind"] for row in built.table("place_household").to_pylist()}
    assert kinds[placed["h:1"]["household_id"]] == "registered"
    assert kinds[placed["g:1"]["co_household_id"]] == "co_residence"
