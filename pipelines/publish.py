"""Publish: write a complete warehouse snapshot, then make it live in one atomic step.

A snapshot is a folder ``snapshots/<snapshot_id>/`` holding ``gridsync.duckdb`` and one Parquet file
per table. The ``CURRENT`` file names the live snapshot and is replaced with ``os.replace``, so a
reader sees the previous snapshot or the new one, never a mix; a failure before that leaves the
previous snapshot live. Older snapshots are kept for a while so running queries are not cut off.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.grants import Grant, SourceCarriers, write_department_databases
from pipelines.keys import Keyring
from pipelines.layout import (
    WarehouseLayout,
    read_json,
    scratch_directory,
    staging_directory,
    write_json_atomically,
)
from pipelines.quality_rules import quality_rules
from pipelines.retention import Retention

log = logging.getLogger(__name__)

DATABASE = "gridsync.duckdb"
MARTS_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "marts"
# DuckDB's share while publishing: what does not fit spills to a scratch folder of the warehouse.
MEMORY_LIMIT = "1GB"


@dataclass(frozen=True)
class StoredTable:
    """A table or view of a DuckDB database file (the identity store's outputs)."""

    database: Path
    table: str

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The table's named columns (all by default)."""
        selected = ", ".join(f'"{name}"' for name in columns) if columns is not None else "*"
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.sql(f"select {selected} from {self.table}").to_arrow_table()

    def column_names(self) -> list[str]:
        """The table's columns."""
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.table(self.table).columns


TableData: TypeAlias = pa.Table | tuple[Path, ...] | StoredTable
"""A base table handed to validation and publish: built in memory (small tables), its Parquet files
on disk (staged states) or a table of a DuckDB database (the identity store's outputs); those on
disk are read a few columns or rows at a time."""


class SnapshotNotFound(FileNotFoundError):
    """The warehouse has no published snapshot yet."""


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot.

    Attributes:
        snapshot_id: Its id (UTC time of publication).
        run_id: The run that published it.
        folder: Where it lives.
        table_rows: Rows per table.
        created_at: When it was published (UTC, ISO text).
        inputs: Fingerprint of what the snapshot was made from (see ``flow.publish_inputs``).
    """

    snapshot_id: str
    run_id: str
    folder: Path
    table_rows: dict[str, int]
    created_at: str
    inputs: str | None = None

    @property
    def database(self) -> Path:
        """The snapshot's DuckDB file."""
        return self.folder / DATABASE

    def parquet(self, table: str) -> Path:
        """The Parquet file of one table."""
        return self.folder / "parquet" / f"{table}.parquet"


def current_snapshot(layout: WarehouseLayout) -> Snapshot:
    """The live snapshot.

    Raises:
        SnapshotNotFound: Nothing was published in this warehouse yet.
    """
    pointer = read_json(layout.current_pointer)
    if pointer is None:
        raise SnapshotNotFound(f"{layout.root}: no published snapshot (run `gridsync run` first)")
    folder = layout.snapshots / pointer["snapshot_id"]
    manifest = read_json(folder / "manifest.json")
    return Snapshot(**{**manifest, "folder": folder})


def new_snapshot_id() -> str:
    """A new snapshot id: the UTC time, to the microsecond (ids sort in publication order)."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}"


def quality_rule_table() -> pa.Table:
    """The declared quality rules as a table (auditors read rule definitions beside results)."""
    rules = [asdict(rule) for rule in quality_rules().values()]
    return pa.Table.from_pylist(rules)


def duckdb_config(spill: Path) -> dict[str, str]:
    """Settings of a publishing DuckDB connection: bounded memory, spilling into ``spill``."""
    return {"memory_limit": MEMORY_LIMIT, "temp_directory": str(spill)}


def _load_table(connection: duckdb.DuckDBPyConnection, name: str, data: TableData) -> None:
    if isinstance(data, pa.Table):
        connection.register(f"incoming_{name}", data)
        connection.execute(f"create table {name} as select * from incoming_{name}")
        connection.unregister(f"incoming_{name}")
    elif isinstance(data, StoredTable):
        quoted = str(data.database).replace("'", "''")
        connection.execute(f"attach '{quoted}' as stored_source (read_only)")
        try:
            connection.execute(f"create table {name} as select * from stored_source.{data.table}")
        finally:
            connection.execute("detach stored_source")
    else:
        connection.read_parquet([str(path) for path in data]).create(name)


def _write_tables(folder: Path, tables: Mapping[str, TableData], config: Mapping[str, str]) -> dict[str, int]:
    (folder / "parquet").mkdir()
    connection = duckdb.connect(str(folder / DATABASE), config=dict(config))
    try:
        for name, data in tables.items():
            _load_table(connection, name, data)
        for mart in sorted(MARTS_DIR.glob("*.sql")):
            connection.execute(mart.read_text(encoding="utf-8"))
        names = [row[0] for row in connection.execute("show tables").fetchall()]
        rows = {}
        for name in names:
            target = folder / "parquet" / f"{name}.parquet"
            quoted = str(target).replace("'", "''")
            connection.execute(f"copy {name} to '{quoted}' (format parquet, compression zstd)")
            rows[name] = connection.execute(f"select count(*) from {name}").fetchall()[0][0]
        connection.execute("checkpoint")
    finally:
        connection.close()
    return rows


def publish_snapshot(
    layout: WarehouseLayout,
    tables: Mapping[str, TableData],
    run_id: str,
    grants: Sequence[Grant] = (),
    inputs: str | None = None,
    snapshot_id: str | None = None,
    carriers: Mapping[str, SourceCarriers] | None = None,
    keys: Keyring | None = None,
) -> Snapshot:
    """Write all tables as a new snapshot and make it live.

    Args:
        layout: The warehouse directory.
        tables: Base tables by name (the SQL marts in ``warehouse/marts`` are built on top); DuckDB
            reads those given as Parquet files itself, within its memory limit.
        run_id: The run publishing it.
        grants: Department grants; each gets a database of what it may see.
        inputs: Fingerprint of the snapshot's inputs, kept in its manifest.
        snapshot_id: The id minted for it (``new_snapshot_id``) when its tables name it already
            (``load_batch``); a new one by default.
        carriers: What each source's record keys and columns hold (from the contracts); a source
            not listed has its record keys pseudonymised and its delivered values withheld.
        keys: The keyring department pseudonyms derive from; loaded from the settings when None.

    Returns:
        The new live snapshot.
    """
    created_at = dt.datetime.now(dt.UTC)
    snapshot_id = snapshot_id or new_snapshot_id()
    final = layout.snapshots / snapshot_id
    with scratch_directory(layout.snapshots) as spill, staging_directory(final) as folder:
        config = duckdb_config(spill)
        table_rows = _write_tables(folder, {**tables, "quality_rule": quality_rule_table()}, config)
        if grants:
            write_department_databases(
                folder, folder / DATABASE, grants, config, carriers or {}, keys or Keyring.load()
            )
        manifest = {
            "snapshot_id": snapshot_id,
            "run_id": run_id,
            "table_rows": table_rows,
            "created_at": created_at.isoformat(),
            "inputs": inputs,
        }
        write_json_atomically(folder / "manifest.json", manifest)
    write_json_atomically(layout.current_pointer, {"snapshot_id": snapshot_id})
    log.info("published snapshot %s", snapshot_id)
    _retire_old_snapshots(layout)
    return Snapshot(
        snapshot_id=snapshot_id,
        run_id=run_id,
        folder=final,
        table_rows=table_rows,
        created_at=created_at.isoformat(),
        inputs=inputs,
    )


def _retire_old_snapshots(layout: WarehouseLayout) -> None:
    """Remove the snapshots the retention rule no longer keeps (``retention.Retention``: the newest
    ones and the last of each recent day; the live one is always among them)."""
    folders = sorted(p for p in layout.snapshots.iterdir() if p.is_dir() and p.name[0] != ".")
    kept = Retention.from_settings().kept([f.name for f in folders], dt.datetime.now(dt.UTC))
    for folder in folders:
        if folder.name not in kept:
            shutil.rmtree(folder, ignore_errors=True)


def read_published(layout: WarehouseLayout, table: str) -> pa.Table | None:
    """A table of the live snapshot, or None when nothing is published or the table is absent."""
    try:
        path = current_snapshot(layout).parquet(table)
    except SnapshotNotFound:
        return None
    return pq.read_table(path) if path.exists() else None
