"""Read-only queries against the live snapshot, whole or as one department's grant allows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.layout import WarehouseLayout
from pipelines.publish import current_snapshot

_LOCKED_DOWN = {"enable_external_access": False, "lock_configuration": True}


class QueryError(ValueError):
    """The query failed; the message is DuckDB's, prefixed with the snapshot it ran on."""


def department_database(snapshot_folder: Path, department: str) -> Path:
    """The database holding only what a department's grant gives it."""
    return snapshot_folder / "departments" / f"{department}.duckdb"


def open_snapshot(layout: WarehouseLayout, department: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the live snapshot read-only, with file access disabled.

    Args:
        layout: The warehouse directory.
        department: When given, only that department's granted (and masked) tables are visible.

    Returns:
        A connection; the caller closes it.

    Raises:
        QueryError: The department has no grant in this snapshot.
    """
    snapshot = current_snapshot(layout)
    database = snapshot.database
    if department is not None:
        database = department_database(snapshot.folder, department)
        if not database.exists():
            raise QueryError(f"department {department!r} has no grant in snapshot {snapshot.snapshot_id}")
    return duckdb.connect(str(database), read_only=True, config=dict(_LOCKED_DOWN))


def run_query(layout: WarehouseLayout, sql: str, department: str | None = None) -> pa.Table:
    """Run one read-only SQL query against the live snapshot.

    Args:
        layout: The warehouse directory.
        sql: The query.
        department: Restrict to a department's grant.

    Returns:
        The result.

    Raises:
        QueryError: The query failed (syntax, unknown table, an attempt to write, file access).
    """
    connection = open_snapshot(layout, department)
    try:
        relation = connection.sql(sql)
        return pa.table({}) if relation is None else relation.to_arrow_table()
    except duckdb.Error as failure:
        scope = f"department {department}: " if department else ""
        raise QueryError(scope + str(failure).splitlines()[0]) from None
    finally:
        connection.close()
