"""Resolve identities across every source's staged records, under stable resident ids."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.layout import WarehouseLayout, staging_directory
from pipelines.resolve.deterministic import cluster_by_id_number
from pipelines.resolve.golden import build_residents, find_conflicts
from pipelines.resolve.ids import ID_EVENT_COLUMNS, assign_resident_ids
from pipelines.stage import read_state

log = logging.getLogger(__name__)

OUTPUTS = ("resident", "resident_source_link", "resident_conflict", "resident_id_event")


@dataclass(frozen=True)
class Resolution:
    """The outputs of one identity-resolution run, as written to ``resolved/``."""

    resident: pa.Table
    resident_source_link: pa.Table
    resident_conflict: pa.Table
    resident_id_event: pa.Table

    def write(self, folder: Path) -> None:
        """Write each output as ``<name>.parquet`` into ``folder``."""
        for name in OUTPUTS:
            pq.write_table(getattr(self, name), folder / f"{name}.parquet", compression="zstd")

    @classmethod
    def read(cls, folder: Path) -> Resolution:
        """Read the outputs written by :meth:`write`."""
        return cls(**{name: pq.read_table(folder / f"{name}.parquet") for name in OUTPUTS})


@dataclass(frozen=True)
class PreviousIdentities:
    """What the live snapshot says about resident ids (empty before the first publish)."""

    links: pa.Table
    id_events: pa.Table

    @property
    def issued_ids(self) -> set[str]:
        """Every resident id issued so far, alive or retired."""
        ids = set(self.links.column("resident_id").to_pylist())
        for column in ("resident_id", "related_resident_id"):
            ids |= {i for i in self.id_events.column(column).to_pylist() if i}
        return ids


def staged_records(layout: WarehouseLayout, sources: list[str]) -> pa.Table:
    """The current staged records of every source, in one table."""
    return pa.concat_tables([read_state(layout, source).records for source in sources])


def resolve_identities(
    layout: WarehouseLayout,
    sources: list[str],
    previous: PreviousIdentities,
    run_id: str,
) -> Resolution:
    """Match records into residents, keep resident ids stable, build golden records and conflicts.

    Args:
        layout: The warehouse directory (staged states are read from it; results written to it).
        sources: The source systems to resolve across.
        previous: Links and id events of the live snapshot.
        run_id: The current run.

    Returns:
        The resolution, also written to ``layout.resolved``.
    """
    connection = duckdb.connect()
    try:
        resolution = _resolve(connection, staged_records(layout, sources), sources, previous, run_id)
    finally:
        connection.close()
    with staging_directory(layout.resolved) as folder:
        resolution.write(folder)
    return resolution


def _resolve(
    connection: duckdb.DuckDBPyConnection,
    records: pa.Table,
    sources: list[str],
    previous: PreviousIdentities,
    run_id: str,
) -> Resolution:
    connection.register("records", records)
    clusters = cluster_by_id_number(connection, "records")
    cluster_ids, events = assign_resident_ids(
        clusters.select(["source_system", "source_record_id", "cluster_key"]).to_pandas(),
        previous.links.select(["source_system", "source_record_id", "resident_id"]).to_pandas(),
        previous.issued_ids,
        run_id,
    )
    connection.register("clusters", clusters)
    connection.register("cluster_ids", pa.Table.from_pandas(cluster_ids, preserve_index=False))
    links = connection.sql(
        """
        select c.source_system, c.source_record_id, i.resident_id, c.match_rule, c.match_score,
               r.batch_id
        from clusters c
        join cluster_ids i using (cluster_key)
        join records r using (source_system, source_record_id)
        order by c.source_system, c.source_record_id
        """
    ).to_arrow_table()
    connection.register("links", links)
    connection.execute(
        "create temp view linked_records as "
        "select r.*, l.resident_id from records r join links l "
        "using (source_system, source_record_id)"
    )
    new_events = pa.Table.from_pandas(events, preserve_index=False, schema=_event_schema())
    return Resolution(
        resident=build_residents(connection, "linked_records", sources),
        resident_source_link=links,
        resident_conflict=find_conflicts(connection, "linked_records"),
        resident_id_event=pa.concat_tables([previous.id_events.cast(_event_schema()), new_events]),
    )


def _event_schema() -> pa.Schema:
    types = {"records": pa.int64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in ID_EVENT_COLUMNS])


def empty_previous() -> PreviousIdentities:
    """The previous identities of a warehouse that was never published."""
    links = pa.table(
        {
            "source_system": pa.array([], pa.string()),
            "source_record_id": pa.array([], pa.string()),
            "resident_id": pa.array([], pa.string()),
        }
    )
    return PreviousIdentities(links=links, id_events=_event_schema().empty_table())
