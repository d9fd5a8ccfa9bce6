"""Read-only queries against a snapshot, whole or as one department's grant allows, within limits.

A department is named by its declared name only (never a path): its queries open the database its
grant built in the snapshot, read-only, with file access, extensions and configuration changes off.
Only one SELECT statement runs; time, memory, result rows and spill space are limited
(``QueryLimits``), and spilling goes to a scratch folder outside the snapshot, removed afterwards.
Past snapshots are reached by id or by date (time travel) while the retention rule keeps them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.grants import DEPARTMENT_NAME
from pipelines.layout import WarehouseLayout, read_json, scratch_directory
from pipelines.publish import Snapshot, SnapshotNotFound, current_snapshot
from pipelines.settings import QueryLimits

_LOCKED_DOWN: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_persistent_secrets": False,
}
_ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_BATCH_ROWS = 8192


class QueryError(ValueError):
    """The query was refused or failed; the message says why in one line."""


@dataclass(frozen=True)
class QueryResult:
    """A query's answer.

    Attributes:
        table: The rows (at most ``QueryLimits.rows``).
        snapshot_id: The snapshot it ran on.
        truncated: The result had more rows than the limit; ``table`` holds the first ones.
    """

    table: pa.Table
    snapshot_id: str
    truncated: bool


def department_database(snapshot_folder: Path, department: str) -> Path:
    """The database holding only what a department's grant gives it.

    Raises:
        QueryError: The name is not a plain department name (a path, a dot, a slash).
    """
    if not DEPARTMENT_NAME.match(department):
        raise QueryError(f"{department!r} is not a department name")
    return snapshot_folder / "departments" / f"{department}.duckdb"


def departments_of(snapshot: Snapshot) -> list[str]:
    """The departments with a grant in a snapshot."""
    folder = snapshot.folder / "departments"
    return sorted(p.stem for p in folder.glob("*.duckdb")) if folder.is_dir() else []


def kept_snapshots(layout: WarehouseLayout) -> list[Snapshot]:
    """Every snapshot still kept, oldest first."""
    if not layout.snapshots.is_dir():
        return []
    found = []
    for folder in sorted(p for p in layout.snapshots.iterdir() if p.is_dir() and p.name[0] != "."):
        manifest = read_json(folder / "manifest.json")
        if manifest is not None:
            found.append(Snapshot(**{**manifest, "folder": folder}))
    return found


def snapshot_at(layout: WarehouseLayout, when: str | None = None) -> Snapshot:
    """The snapshot named by id, or the one that was live at a date or time (time travel).

    Args:
        layout: The warehouse directory.
        when: A snapshot id, an ISO date (``2026-11-30``: the last snapshot of that day) or time
            (UTC); None for the live snapshot.

    Returns:
        The snapshot.

    Raises:
        SnapshotNotFound: No such snapshot is kept (see the retention rule), or none was live then.
    """
    live = current_snapshot(layout)
    if when is None or when == live.snapshot_id:
        return live
    kept = [s for s in kept_snapshots(layout) if s.snapshot_id <= live.snapshot_id]
    for snapshot in kept:
        if snapshot.snapshot_id == when:
            return snapshot
    moment = _moment(when)
    earlier = [s for s in kept if dt.datetime.fromisoformat(s.created_at) <= moment]
    if not earlier:
        raise SnapshotNotFound(f"{layout.root}: no snapshot kept from {when} (retention keeps {len(kept)})")
    return earlier[-1]


def _moment(when: str) -> dt.datetime:
    """The end of a date, or a time, as an aware UTC datetime."""
    try:
        if len(when) == 10:
            day = dt.date.fromisoformat(when)
            return dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(when)
    except ValueError:
        raise SnapshotNotFound(f"{when!r} is neither a snapshot id nor an ISO date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def database_of(snapshot: Snapshot, department: str | None) -> Path:
    """The database a query opens: the department's (checked to exist) or the whole snapshot's.

    Raises:
        QueryError: The department has no grant in the snapshot.
    """
    if department is None:
        return snapshot.database
    database = department_database(snapshot.folder, department)
    if department not in departments_of(snapshot):
        raise QueryError(f"department {department!r} has no grant in snapshot {snapshot.snapshot_id}")
    return database


@contextmanager
def open_snapshot(
    layout: WarehouseLayout,
    department: str | None = None,
    when: str | None = None,
    limits: QueryLimits | None = None,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, Snapshot]]:
    """Open a snapshot read-only, locked down and limited; the connection closes on exit.

    Args:
        layout: The warehouse directory.
        department: When given, only that department's granted (and masked) tables are visible.
        when: A past snapshot's id or a date (``snapshot_at``); the live one when None.
        limits: Memory and spill limits (time and rows are applied by ``query_snapshot``).

    Yields:
        The connection and the snapshot it reads.

    Raises:
        QueryError: The department is not a declared name or has no grant in the snapshot.
    """
    limits = limits or QueryLimits()
    snapshot = snapshot_at(layout, when)
    database = database_of(snapshot, department)
    with scratch_directory(layout.root / ".query-scratch") as spill:
        config = _LOCKED_DOWN | {
            "memory_limit": limits.memory,
            "temp_directory": str(spill / "spill"),
            "max_temp_directory_size": limits.temp_space,
            "threads": 2,
            "lock_configuration": True,
        }
        connection = duckdb.connect(str(database), read_only=True, config=config)
        try:
            yield connection, snapshot
        finally:
            connection.close()


def _only_select(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = connection.extract_statements(sql)
    except duckdb.Error as failure:
        raise QueryError(str(failure).splitlines()[0]) from None
    if len(statements) != 1:
        raise QueryError(f"give exactly one statement, not {len(statements)}")
    if statements[0].type not in _ALLOWED_STATEMENTS:
        raise QueryError(f"only SELECT queries are allowed, not {statements[0].type.name}")


def _fetch(relation: duckdb.DuckDBPyRelation, rows: int) -> tuple[pa.Table, bool]:
    """At most ``rows`` rows of a result, and whether there were more."""
    reader = relation.to_arrow_reader(_BATCH_ROWS)
    batches, count = [], 0
    for batch in reader:
        batches.append(batch)
        count += batch.num_rows
        if count > rows:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, rows), count > rows


def query_snapshot(
    layout: WarehouseLayout,
    sql: str,
    department: str | None = None,
    when: str | None = None,
    limits: QueryLimits | None = None,
) -> QueryResult:
    """Run one read-only SELECT against a snapshot, within the limits.

    Args:
        layout: The warehouse directory.
        sql: One SELECT (or EXPLAIN) statement.
        department: Restrict to a department's grant.
        when: A past snapshot's id or a date; the live one when None.
        limits: Time, memory, rows and spill space; the defaults when None.

    Returns:
        The result, cut at the row limit (and saying so).

    Raises:
        QueryError: The query was refused (a second statement, not a SELECT, file access), ran out
            of time or memory, or failed; the message is one line.
    """
    limits = limits or QueryLimits()
    scope = f"department {department}: " if department else ""
    with open_snapshot(layout, department, when, limits) as (connection, snapshot):
        _only_select(connection, sql)
        timer = threading.Timer(limits.seconds, connection.interrupt)
        timer.start()
        try:
            relation = connection.sql(sql)
            if relation is None:
                return QueryResult(pa.table({}), snapshot.snapshot_id, False)
            table, truncated = _fetch(relation, limits.rows)
        except duckdb.InterruptException:
            raise QueryError(f"{scope}stopped after the time limit of {limits.seconds:g} s") from None
        except duckdb.Error as failure:
            raise QueryError(scope + str(failure).splitlines()[0]) from None
        finally:
            timer.cancel()
    return QueryResult(table, snapshot.snapshot_id, truncated)


def run_query(
    layout: WarehouseLayout,
    sql: str,
    department: str | None = None,
    when: str | None = None,
    limits: QueryLimits | None = None,
) -> pa.Table:
    """Run one read-only query against the live (or a past) snapshot; its rows.

    Args:
        layout: The warehouse directory.
        sql: The query.
        department: Restrict to a department's grant.
        when: A past snapshot's id or a date.
        limits: The limits; the defaults when None.

    Returns:
        The result (at most ``limits.rows`` rows).

    Raises:
        QueryError: The query was refused or failed.
    """
    return query_snapshot(layout, sql, department, when, limits).table


__all__ = [
    "QueryError",
    "QueryResult",
    "SnapshotNotFound",
    "department_database",
    "departments_of",
    "open_snapshot",
    "query_snapshot",
    "run_query",
    "snapshot_at",
]
