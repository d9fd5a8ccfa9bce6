"""Load department tables into any SQLAlchemy database: SQLite files by default, PostgreSQL, MariaDB.

Tables are created from the systems' column specs (VARCHAR with lengths, DATETIME, NUMERIC), so
every database gets the same declared schema. Rows go in chunks inside one transaction; on SQLite
the chunks go straight to the driver's ``executemany`` (a million rows in a few seconds).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from pipelines.demo.strings import format_time
from pipelines.demo.systems import DepartmentSystem, SourceTable

CHUNK_ROWS = 20_000
TIMESTAMP_TEXT = "%Y-%m-%d %H:%M:%S"


def sa_table(system: DepartmentSystem, metadata: sa.MetaData | None = None) -> sa.Table:
    """The SQLAlchemy table of a department system.

    Args:
        system: the department system.
        metadata: the metadata to attach it to; a new one if None.

    Returns:
        The table, with its primary key (only an index on the key column when the system has rows
        without a key or with a repeated one), column comments, an index on the updated column, and
        utf8mb4 with binary collation on MariaDB/MySQL (so 'x' and 'X' stay different).
    """
    declared = system.declares_primary_key
    columns = [
        sa.Column(
            spec.name,
            spec.sql_type(),
            primary_key=declared and spec.name == system.primary_key,
            comment=spec.comment,
        )
        for spec in system.columns
    ]
    table = sa.Table(
        system.table,
        metadata or sa.MetaData(),
        *columns,
        comment=system.title,
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    sa.Index(f"ix_{system.table}_{system.updated_column.lower()}", table.c[system.updated_column])
    if not declared:
        sa.Index(f"ix_{system.table}_{system.primary_key.lower()}", table.c[system.primary_key])
    return table


def _python_values(values: pa.Array) -> list[Any]:
    if pa.types.is_timestamp(values.type):
        return list(format_time(values, TIMESTAMP_TEXT).to_pylist())
    return list(values.to_pylist())


def _row_chunks(data: pa.Table) -> Iterator[list[tuple[Any, ...]]]:
    for batch in data.to_batches(max_chunksize=CHUNK_ROWS):
        yield list(zip(*(_python_values(batch.column(i)) for i in range(batch.num_columns)), strict=True))


def execute_many(
    connection: sa.Connection, statement: sa.Insert | sa.Update, data: pa.Table, names: list[str]
) -> None:
    """Run one statement for every row of ``data``, in chunks.

    Timestamps go as ``YYYY-MM-DD HH:MM:SS`` text, which every dialect accepts, so SQLite files get
    one format whether rows were inserted or updated. On SQLite the rows go straight to the driver's
    ``executemany``; elsewhere through SQLAlchemy (which batches them into multi-row statements).

    Args:
        connection: an open connection inside a transaction.
        statement: an insert or update with one bound parameter per column of ``data``.
        data: the rows.
        names: the parameter name of each column of ``data``.
    """
    if connection.dialect.name == "sqlite":
        compiled = statement.compile(dialect=connection.dialect)
        in_order = data.select([names.index(name) for name in compiled.positiontup or []])
        for rows in _row_chunks(in_order):
            connection.exec_driver_sql(str(compiled), rows)
        return
    for rows in _row_chunks(data):
        connection.execute(statement, [dict(zip(names, row, strict=True)) for row in rows])


def insert_rows(connection: sa.Connection, table: sa.Table, data: pa.Table) -> int:
    """Insert rows in chunks.

    Args:
        connection: an open connection inside a transaction.
        table: the target table.
        data: rows whose columns are the table's.

    Returns:
        The number of rows inserted.
    """
    execute_many(connection, table.insert(), data, data.column_names)
    return data.num_rows


def update_rows(connection: sa.Connection, system: DepartmentSystem, changes: pa.Table) -> int:
    """Rewrite some columns of existing rows, found by primary key.

    Args:
        connection: an open connection inside a transaction.
        system: the department system whose table changes.
        changes: the primary-key column plus the columns to set.

    Returns:
        The number of rows updated.
    """
    table = sa_table(system)
    key = system.primary_key
    names = ["record_key" if name == key else f"new_{name}" for name in changes.column_names]
    statement = (
        table.update()
        .where(table.c[key] == sa.bindparam("record_key"))
        .values({name: sa.bindparam(f"new_{name}") for name in changes.column_names if name != key})
    )
    execute_many(connection, statement, changes, names)
    return changes.num_rows


def _in_key_order(data: pa.Table, key: str) -> pa.Table:
    """The rows sorted by primary key (appending to the key's B-tree is much faster than inserting)."""
    keys = data.column(key)
    if len(keys) < 2 or pc.all(pc.less(keys[:-1], keys[1:])).as_py():
        return data
    return data.sort_by(key)


def write_table(engine: sa.Engine, source: SourceTable, replace: bool = True) -> int:
    """Write one department table in one transaction, rows in primary-key order.

    Args:
        engine: the database.
        source: the rows and their system.
        replace: drop and recreate the table first; otherwise append to it.

    Returns:
        The number of rows written.
    """
    table = sa_table(source.system)
    rows = _in_key_order(source.data, source.system.primary_key)
    with engine.begin() as connection:
        if not replace:
            return insert_rows(connection, table, rows)
        table.drop(connection, checkfirst=True)
        indexes, table.indexes = set(table.indexes), set()
        table.create(connection)
        count = insert_rows(connection, table, rows)
        for index in indexes:  # built once after the load, not row by row
            index.create(connection)
        return count


def _write_to(url: str, sources: Sequence[SourceTable], replace: bool) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        return {source.system.source: write_table(engine, source, replace) for source in sources}
    finally:
        engine.dispose()


def write_systems(
    systems: Sequence[SourceTable], url_by_source: Mapping[str, str], replace: bool = True
) -> dict[str, int]:
    """Write department tables, each to the database its source is mapped to.

    Each database is written by its own thread (SQLite and the drivers release the GIL while the
    database works, so four files load faster together); tables sharing a database go one by one.

    Args:
        systems: the tables to write.
        url_by_source: SQLAlchemy URL per source system (``sqlite:///…``, ``postgresql+psycopg2://…``,
            ``mysql+pymysql://…``).
        replace: replace existing tables (the default) or append to them.

    Returns:
        Rows written per source, in the order of ``systems``.

    Raises:
        KeyError: a table's source has no URL.
    """
    by_url: dict[str, list[SourceTable]] = {}
    for source in systems:
        by_url.setdefault(url_by_source[source.system.source], []).append(source)
    with ThreadPoolExecutor(max_workers=max(len(by_url), 1)) as pool:
        written = [pool.submit(_write_to, url, sources, replace) for url, sources in by_url.items()]
        counts = {name: rows for future in written for name, rows in future.result().items()}
    return {source.system.source: counts[source.system.source] for source in systems}
