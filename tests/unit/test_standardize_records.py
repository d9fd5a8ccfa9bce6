"""Staging reads what a contract declares: name parts, address kinds, grid codes, programmes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from pipelines.contracts import load_contract
from pipelines.standardize.records import standardize_batch

CONTRACT = """
name: assistance
title: Assistance register
owner: Civil affairs
connection: sqlite:///unused.db
table: recipients
primary_key: rec_no
fields:
  family_name: xing
  given_name: ming
  address: {column: home, kind: registered}
  grid_code: wgbm
  household_number: hh
programmes:
  - programme: {column: kind, codes: {A: subsistence_allowance, B: destitute_support}}
    status: {column: state, codes: {正常发放: active, 暂停发放: suspended}}
    since: {column: start, format: "%Y%m%d"}
  - programme: elderly_allowance
    status: {value: active}
"""

RAW = pd.DataFrame(
    {
        "rec_no": ["1", "2", "3"],
        "xing": ["张", "MARTIN", "李"],
        "ming": ["伟", "Ivan", None],
        "home": ["武汉市武昌区临江社区3栋", None, "x"],
        "wgbm": ["4201 0600 1001 001", None, None],
        "hh": [" 420106-0001 ", None, None],
        "kind": ["A", "C", None],
        "state": ["正常发放", "暂停发放", "停发了"],
        "start": ["20200101", "2020-13-01", None],
    }
)


def stage(tmp_path: Path) -> tuple[list[dict], list[dict]]:
    path = tmp_path / "assistance.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    batch = standardize_batch(load_contract(path), RAW, "b1", today=dt.date(2026, 12, 1))
    return batch.records.to_pylist(), batch.findings.to_pylist()


def test_name_parts_are_joined_by_script(tmp_path: Path) -> None:
    """Han names join family and given name without a space; others as 'given family'."""
    records, _ = stage(tmp_path)
    assert [r["name"] for r in records] == ["张伟", "IVAN MARTIN", "李"]


def test_a_registered_address_is_staged_as_registered(tmp_path: Path) -> None:
    """An address of kind registered lands in registered_address, codes lose their spaces."""
    first = stage(tmp_path)[0][0]
    assert (first["address"], first["registered_address"]) == (None, "武汉市武昌区临江社区3栋")
    assert (first["grid_code"], first["household_number"]) == ("420106001001001", "4201060001")


def test_programmes_follow_the_contracts_code_maps(tmp_path: Path) -> None:
    """Each record lists its programmes with canonical statuses; unlisted codes are findings."""
    records, findings = stage(tmp_path)
    assert records[0]["programmes"] == [
        {"programme": "subsistence_allowance", "status": "active", "since": dt.date(2020, 1, 1)},
        {"programme": "elderly_allowance", "status": "active", "since": None},
    ]
    # 'C' is no listed programme: only the constant one remains, and the code is reported.
    assert records[1]["programmes"] == [{"programme": "elderly_allowance", "status": "active", "since": None}]
    assert records[2]["programmes"] == [{"programme": "elderly_allowance", "status": "active", "since": None}]
    reported = {(f["source_record_id"], f["rule"], f["column"]) for f in findings}
    assert {
        ("2", "unlisted_code", "kind"),
        ("3", "unlisted_code", "state"),
        ("2", "unparseable_date", "start"),
    } <= reported


def test_addresses_are_parsed_and_unplaceable_ones_reported(tmp_path: Path) -> None:
    """Each address is staged with its parts and keys; one naming no building is a finding that
    keeps the text."""
    records, findings = stage(tmp_path)
    parts = records[0]["registered_address_parts"]
    assert (parts["district_code"], parts["community"], parts["building"], parts["status"]) == (
        "420106",
        "临江社区",
        "3",
        "building",
    )
    assert parts["building_key"] == "420106|临江社区|3"
    assert records[0]["address_parts"] is None
    unplaced = [f for f in findings if f["rule"] == "address_not_placed"]
    assert [(f["source_record_id"], f["column"], f["value"]) for f in unplaced] == [("3", "home", "x")]
