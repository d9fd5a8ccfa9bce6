"""The place register's tables as a snapshot publishes them (``warehouse/marts/places_*.sql``
shape them into ``building``, ``dwelling``, ``household``, ``grid`` and the grid marts)."""

from __future__ import annotations

import pyarrow as pa

from pipelines.places.divisions import COLUMNS, load_divisions
from pipelines.places.register import PlaceRegister
from pipelines.publish import StoredTable, TableData

# Register tables published as they are (the marts read and reshape the first three).
REGISTER_TABLES = ("place_building", "place_dwelling", "place_household", "place_alias")


def division_table() -> pa.Table:
    """The division reference of ``schemas/divisions/`` (``code, name, level, parent_code``)."""
    divisions = list(load_divisions())
    return pa.table(
        {
            "code": pa.array([d.code for d in divisions], pa.string()),
            "name": pa.array([d.name for d in divisions], pa.string()),
            "level": pa.array([d.level for d in divisions], pa.string()),
            "parent_code": pa.array([d.parent_code for d in divisions], pa.string()),
        }
    ).select(list(COLUMNS))


def place_tables(register: PlaceRegister) -> dict[str, TableData]:
    """The base tables of a snapshot's places.

    Args:
        register: This run's place register.

    Returns:
        The register's tables, ``source_record_place`` (each source record's building, flat,
        grid and household) and ``division`` (the division reference).
    """
    tables: dict[str, TableData] = {name: StoredTable(register.database, name) for name in REGISTER_TABLES}
    tables["source_record_place"] = StoredTable(register.database, "record_place")
    tables["division"] = division_table()
    return tables
