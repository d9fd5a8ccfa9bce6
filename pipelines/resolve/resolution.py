"""Resolve identities across every source's staged records, under stable resident ids.

The one way in is `resolve_identities`: build the matching frame, score candidate pairs with the
Fellegi-Sunter model (reused and scored incrementally when possible), cluster under the
over-merging guards and reviewers' decisions, give clusters stable resident ids, then build golden
records, conflicts, link explanations and the review list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.layout import WarehouseLayout, staging_directory
from pipelines.resolve.clustering import Clustering, cluster_records
from pipelines.resolve.config import MatchingConfig, matching_config
from pipelines.resolve.features import build_matching_frame
from pipelines.resolve.golden import build_residents, find_conflicts
from pipelines.resolve.ids import ID_EVENT_COLUMNS, assign_resident_ids
from pipelines.resolve.matching import Matching, MatchingState, match_records
from pipelines.resolve.review import read_decisions, review_list
from pipelines.stage import read_state

log = logging.getLogger(__name__)

OUTPUTS = (
    "resident",
    "resident_source_link",
    "resident_conflict",
    "resident_id_event",
    "resident_link_explanation",
    "match_review",
)


@dataclass(frozen=True)
class Resolution:
    """The outputs of one identity-resolution run, as written to ``resolved/``.

    Attributes:
        resident: One row per resolved person (golden record).
        resident_source_link: One row per source record: its resident, rule, score, batch, model.
        resident_conflict: One row per disagreement between sources about one person.
        resident_id_event: One row per merge or split of resident ids, all runs.
        resident_link_explanation: One row per scored record pair at or above the review
            threshold: per comparison the level reached and its match weight, the probability,
            and whether the two records ended up as one resident.
        match_review: One row per record pair for clerical review (uncertain band, guard
            decisions), with any reviewer decision.
        matching: What the matching step leaves for the next run (model, scores); not published.
        matching_mode: ``full`` or ``incremental`` (how this run scored pairs); not published.
    """

    resident: pa.Table
    resident_source_link: pa.Table
    resident_conflict: pa.Table
    resident_id_event: pa.Table
    resident_link_explanation: pa.Table
    match_review: pa.Table
    matching: MatchingState | None = field(default=None, compare=False)
    matching_mode: str = field(default="full", compare=False)

    def write(self, folder: Path) -> None:
        """Write each output as ``<name>.parquet`` into ``folder``, and the matching state."""
        for name in OUTPUTS:
            pq.write_table(getattr(self, name), folder / f"{name}.parquet", compression="zstd")
        if self.matching is not None:
            self.matching.write(folder)

    @classmethod
    def read(cls, folder: Path) -> Resolution:
        """Read the outputs written by :meth:`write`."""
        tables = {name: pq.read_table(folder / f"{name}.parquet") for name in OUTPUTS}
        return cls(**tables, matching=MatchingState.read(folder))


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
    config: MatchingConfig | None = None,
) -> Resolution:
    """Match records into residents, keep resident ids stable, build golden records and conflicts.

    Args:
        layout: The warehouse directory (staged states, reviewer decisions and the previous
            matching state are read from it; results written to ``resolved/``).
        sources: The source systems to resolve across.
        previous: Links and id events of the live snapshot.
        run_id: The current run.
        config: The matching configuration; ``schemas/matching.yaml`` by default.

    Returns:
        The resolution, also written to ``layout.resolved``.
    """
    connection = duckdb.connect()
    try:
        resolution = _resolve(
            connection,
            staged_records(layout, sources),
            sources,
            previous,
            run_id,
            _Inputs(config or matching_config(), MatchingState.read(layout.resolved), read_decisions(layout)),
        )
    finally:
        connection.close()
    with staging_directory(layout.resolved) as folder:
        resolution.write(folder)
    return resolution


@dataclass(frozen=True)
class _Inputs:
    config: MatchingConfig
    state: MatchingState
    decisions: pd.DataFrame


def _resolve(
    connection: duckdb.DuckDBPyConnection,
    records: pa.Table,
    sources: list[str],
    previous: PreviousIdentities,
    run_id: str,
    inputs: _Inputs,
) -> Resolution:
    config = inputs.config
    connection.register("records", records)
    frame = build_matching_frame(connection, "records", config.max_block_key_frequency)
    matching = match_records(connection, frame, inputs.state, config, run_id)
    pairs = matching.state.pairs.to_pandas() if matching.state.pairs is not None else pd.DataFrame()
    frame_columns = frame.select(
        ["unique_id", "source_system", "source_record_id", "id_type", "id_key", "id_is_valid"]
    )
    clustering = cluster_records(frame_columns.to_pandas(), pairs, inputs.decisions, config)
    links, events = _resident_links(
        connection, frame_columns.to_pandas(), clustering, previous, run_id, matching
    )
    connection.register("links", links)
    connection.execute(
        "create temp view linked_records as "
        "select r.*, l.resident_id from records r join links l "
        "using (source_system, source_record_id)"
    )
    residents = _residents_by_record(links)
    new_events = pa.Table.from_pandas(events, preserve_index=False, schema=_event_schema())
    resident = build_residents(connection, "linked_records", sources)
    connection.register("resident_golden", resident)
    return Resolution(
        resident=resident,
        resident_source_link=links,
        resident_conflict=find_conflicts(connection, "linked_records", "resident_golden"),
        resident_id_event=pa.concat_tables([previous.id_events.cast(_event_schema()), new_events]),
        resident_link_explanation=_explanations(matching, residents),
        match_review=review_list(
            pairs if len(pairs) else _empty_pairs(),
            clustering.guard_log,
            residents,
            inputs.decisions,
            config,
        ),
        matching=matching.state,
        matching_mode=matching.mode,
    )


def _resident_links(
    connection: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    clustering: Clustering,
    previous: PreviousIdentities,
    run_id: str,
    matching: Matching,
) -> tuple[pa.Table, pd.DataFrame]:
    """The crosswalk (one row per record) under stable ids, and this run's id events."""
    clusters = frame[["unique_id", "source_system", "source_record_id"]].merge(
        clustering.assignments, on="unique_id"
    )
    cluster_ids, events = assign_resident_ids(
        clusters[["source_system", "source_record_id", "cluster_key"]],
        previous.links.select(["source_system", "source_record_id", "resident_id"]).to_pandas(),
        previous.issued_ids,
        run_id,
    )
    clusters = clusters.merge(cluster_ids, on="cluster_key")
    model_id = matching.state.model.model_id if matching.state.model else None
    connection.register(
        "clusters",
        clusters[["source_system", "source_record_id", "resident_id", "match_rule", "match_score"]],
    )
    links = connection.sql(
        """
        select c.source_system, c.source_record_id, c.resident_id, c.match_rule,
               cast(c.match_score as double) as match_score, r.batch_id, $model_id as model_id
        from clusters c join records r using (source_system, source_record_id)
        order by c.source_system, c.source_record_id
        """,
        params={"model_id": model_id},
    ).to_arrow_table()
    connection.unregister("clusters")
    return links, events


def _residents_by_record(links: pa.Table) -> pd.Series:
    frame = links.select(["source_system", "source_record_id", "resident_id"]).to_pandas()
    refs = frame["source_system"] + ":" + frame["source_record_id"]
    return pd.Series(frame["resident_id"].to_numpy(), index=refs.to_numpy())


def _explanations(matching: Matching, residents: pd.Series) -> pa.Table:
    """Scored pairs with the residents their records ended up in."""
    pairs = matching.state.pairs
    if pairs is None:
        return pa.table({})
    left = residents.reindex(pairs.column("record_l").to_pylist()).to_numpy()
    right = residents.reindex(pairs.column("record_r").to_pylist()).to_numpy()
    explained = (
        pairs.append_column("resident_id_l", pa.array(left, pa.string()))
        .append_column("resident_id_r", pa.array(right, pa.string()))
        .append_column("is_same_resident", pa.array(left == right, pa.bool_()))
    )
    return explained.sort_by([("record_l", "ascending"), ("record_r", "ascending")])


def _empty_pairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_l": pd.Series(dtype=object),
            "record_r": pd.Series(dtype=object),
            "match_probability": pd.Series(dtype=float),
            "match_weight": pd.Series(dtype=float),
        }
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
