"""Staged records from literal raw values, through the real standardizers (for resolve tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from pipelines.canonical import staged_schema
from pipelines.places.register import PLACE_COLUMNS
from pipelines.standardize.id_number import normalize_id_number
from pipelines.standardize.names import name_pinyin, normalize_name
from pipelines.standardize.phones import normalize_phone


def staged_record(ref: str, **raw: Any) -> dict[str, Any]:
    """One staged record; ``ref`` is ``source:id``; raw ``id_number``, ``name``, ``phone`` etc."""
    source, _, record_id = ref.partition(":")
    number = normalize_id_number(raw.get("id_number"), raw.get("id_type"))
    name = normalize_name(raw.get("name"))
    birth = raw.get("birth_date")
    return {
        "source_system": source,
        "source_record_id": record_id,
        "batch_id": "b1",
        "id_type": number.id_type,
        "id_number": number.value,
        "id_number_raw": raw.get("id_number"),
        "id_status": raw.get("id_status", number.status),
        "id_number_masked": number.masked,
        "name": name,
        "name_raw": raw.get("name"),
        "name_pinyin": name_pinyin(name),
        "gender": raw.get("gender", "U"),
        "birth_date": dt.date.fromisoformat(birth) if birth else None,
        "phone": normalize_phone(raw["phone"]) if raw.get("phone") else None,
        "address": raw.get("address"),
        "registered_address": raw.get("registered_address"),
        "is_deceased": raw.get("is_deceased"),
        "programmes": raw.get("programmes"),
        **{name: raw.get(name) for name in PLACE_COLUMNS},
        "record_hash": raw.get("record_hash", repr(sorted(raw.items()))),
    }


def staged_table(records: list[dict[str, Any]]) -> pa.Table:
    """Staged records as an Arrow table in the staged schema, with the place register's columns
    (given as ``building_id``, ``dwelling_id`` … in a record, else null)."""
    schema = staged_schema()
    for name in PLACE_COLUMNS:
        schema = schema.append(pa.field(name, pa.string()))
    return pa.Table.from_pylist(records, schema=schema)
