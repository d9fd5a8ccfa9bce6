"""Resolve identities across every source's staged records, under stable resident ids.

The one way in is `resolve_identities`: build the matching frame, score candidate pairs with the
Fellegi-Sunter model, cluster under the over-merging guards and reviewers' decisions, give
clusters stable resident ids, then build golden records, conflicts, link explanations and the
review list.

A run costs what changed since the previous one (see `state`): the matching frame is derived
again only for changed records, only pairs touching them are scored, only the connected components
they touch are clustered again, only clusters that are not exactly a previous resident go through
id assignment, and only residents whose records changed get new golden rows and conflicts. Each of
these steps is local, so the result is the one a full recomputation gives
(``tests/integration/test_identity_incremental.py`` checks it).
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.canonical import staged_schema
from pipelines.layout import WarehouseLayout, scratch_directory, staging_directory
from pipelines.resolve.clustering import ASSIGNMENT_COLUMNS, Clustering, cluster_records, exclusive_tokens
from pipelines.resolve.config import MatchingConfig, matching_config
from pipelines.resolve.events import explain_events, gather_evidence
from pipelines.resolve.features import (
    RECORD_REF,
    build_matching_frame,
    frame_definition,
    write_frame,
)
from pipelines.resolve.golden import golden_records, survivorship
from pipelines.resolve.ids import ID_EVENT_COLUMNS, assign_resident_ids, settled_clusters
from pipelines.resolve.matching import Matching, match_records
from pipelines.resolve.review import read_decisions, review_list
from pipelines.resolve.state import FRAME_FILE, NextState, PreviousState, fingerprint, output_file, run_of
from pipelines.stage import RECORDS, current_state_dir

log = logging.getLogger(__name__)

OUTPUTS = (
    "resident",
    "resident_source_link",
    "resident_conflict",
    "resident_id_event",
    "resident_link_explanation",
    "match_review",
)
# DuckDB's share of this process: the whole flow must stay within 4 GB at a million residents, so
# DuckDB gets what the step's Python side leaves (matching holds little in Python; clustering and
# the steps after it hold the pairs and record state). Beyond it DuckDB spills to a scratch folder
# inside the warehouse.
DUCKDB_SETTINGS = {"memory_limit": "1GB", "preserve_insertion_order": "false"}
DUCKDB_MEMORY_BY_STEP = {"frame": "1500MB", "match": "2GB"}
# An incremental run holds the previous run's kept pairs in Python while matching.
INCREMENTAL_MATCH_MEMORY = "1GB"


@dataclass(frozen=True)
class Resolution:
    """The outputs of one identity-resolution run: Parquet files in ``resolved/``, read on access.

    Each output is written as soon as it is built, so a run never holds them all in memory. A later
    run replaces the folder; reading a replaced run's output is an error, never another run's data. They
    are ``resident`` (one golden row per person), ``resident_source_link`` (per source record: its
    resident, rule, score, batch, model), ``resident_conflict`` (disagreements between sources about
    one person), ``resident_id_event`` (merges and splits of resident ids, all runs),
    ``resident_link_explanation`` (per scored pair at or above the review threshold: per comparison
    the level and its match weight, the probability, and whether the records ended up as one
    resident) and ``match_review`` (pairs for clerical review, with any reviewer decision).

    Attributes:
        folder: The folder holding ``<output>.parquet`` files.
        run_id: The run that wrote them.
        matching_mode: ``full`` or ``incremental`` (how this run scored pairs); not published.
        timings: Wall and CPU seconds per step of this run; not published.
        work: How much this run derived, compared and reclustered; not published.
    """

    folder: Path
    run_id: str
    matching_mode: str = field(default="full", compare=False)
    timings: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False)
    work: dict[str, int] = field(default_factory=dict, compare=False)

    def path(self, name: str) -> Path:
        """The Parquet file of an output (one of ``OUTPUTS``)."""
        if name not in OUTPUTS:
            raise KeyError(f"{name} is not an output of identity resolution ({', '.join(OUTPUTS)})")
        holder = run_of(self.folder)
        if holder != self.run_id:
            raise FileNotFoundError(
                f"{self.folder} holds the outputs of {holder or 'no run'}, no longer those of {self.run_id}"
            )
        return output_file(self.folder, name)

    def table(self, name: str) -> pa.Table:
        """An output, read whole."""
        return pq.read_table(self.path(name))


@dataclass(frozen=True)
class PreviousIdentities:
    """What the live snapshot says about resident ids (empty before the first publish)."""

    links: pa.Table
    id_events: pa.Table

    @property
    def issued_ids(self) -> set[str]:
        """Every resident id issued so far, alive or retired."""
        ids = set(pc.unique(self.links.column("resident_id")).to_pylist())
        for column in ("resident_id", "related_resident_id"):
            ids |= {i for i in pc.unique(self.id_events.column(column)).to_pylist() if i}
        return ids


def register_staged_records(
    connection: duckdb.DuckDBPyConnection, layout: WarehouseLayout, sources: list[str]
) -> None:
    """Make the current staged records of every source the view ``records`` (read from Parquet
    by DuckDB as it needs them, never held whole in memory)."""
    folders = [current_state_dir(layout, source) for source in sources]
    files = [str(folder / RECORDS) for folder in folders if folder is not None]
    if not files:
        connection.register("records", staged_schema().empty_table())
        return
    connection.read_parquet(files).create_view("records")


def resolve_identities(
    layout: WarehouseLayout,
    sources: list[str],
    previous: PreviousIdentities,
    run_id: str,
    config: MatchingConfig | None = None,
    incremental: bool = True,
) -> Resolution:
    """Match records into residents, keep resident ids stable, build golden records and conflicts.

    Args:
        layout: The warehouse directory (staged states, reviewer decisions and the previous
            run's state are read from it; results written to ``resolved/``).
        sources: The source systems to resolve across.
        previous: Links and id events of the live snapshot.
        run_id: The current run.
        config: The matching configuration; ``schemas/matching.yaml`` by default.
        incremental: Reuse the previous run's state for what did not change (the result is the
            same either way; False recomputes everything but still reuses a fitting model).

    Returns:
        The resolution, also written to ``layout.resolved``.
    """
    config = config or matching_config()
    rules = fingerprint(config.fingerprint, survivorship(), sorted(sources), frame_definition())
    state = PreviousState.read(layout.resolved, rules)
    if not incremental:
        state = PreviousState(state.folder, state.model, usable=False)
    with staging_directory(layout.resolved) as folder, scratch_directory(layout.root) as spill:
        connection = duckdb.connect(config={**DUCKDB_SETTINGS, "temp_directory": str(spill)})
        try:
            register_staged_records(connection, layout, sources)
            run = _Run(connection, config, state, read_decisions(layout), run_id, rules, folder)
            resolution = run.resolve(sources, previous)
        finally:
            connection.close()
    return replace(resolution, folder=layout.resolved)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Run:
    """One resolution run: its inputs, and the steps in order."""

    connection: duckdb.DuckDBPyConnection
    config: MatchingConfig
    state: PreviousState
    decisions: pd.DataFrame
    run_id: str
    rules: str
    folder: Path
    timings: dict[str, tuple[float, float]] = field(default_factory=dict)
    reclustered: int = 0

    @contextmanager
    def step(self, name: str, memory: str | None = None) -> Iterator[None]:
        """Time a step, with DuckDB capped at ``memory`` (by default the step's declared share)."""
        wall, cpu = time.perf_counter(), _cpu_seconds()
        limit = memory or DUCKDB_MEMORY_BY_STEP.get(name, DUCKDB_SETTINGS["memory_limit"])
        self.connection.execute("set memory_limit = $limit", {"limit": limit}).fetchall()
        yield
        self.timings[name] = (round(time.perf_counter() - wall, 3), round(_cpu_seconds() - cpu, 3))

    def resolve(self, sources: list[str], previous: PreviousIdentities) -> Resolution:
        connection = self.connection
        with self.step("frame"):
            frame = build_matching_frame(
                connection, "records", self.config.max_block_key_frequency, self.state.frame_path
            )
            write_frame(connection, self.folder / FRAME_FILE)
        with self.step("match", memory=INCREMENTAL_MATCH_MEMORY if self.state.usable else None):
            matching = match_records(
                connection, frame, self.state.model, self.state.pairs(), self.config, self.run_id
            )
        incremental = matching.mode == "incremental"
        with self.step("cluster"):
            clustering = self._cluster(frame.keys, matching, frame.removed if incremental else None)
        with self.step("ids"):
            record_state, events = self._links(clustering, previous, matching)
        guard_log = clustering.guard_log
        del clustering  # the assignments are in record_state now
        connection.register("record_state", record_state)
        with self.step("golden"):
            resident, conflicts = golden_records(
                connection, "records", "record_state", sources, self.state if incremental else None
            )
            self._write("resident", resident)
            self._write("resident_conflict", conflicts)
            del resident, conflicts
        with self.step("explain"):
            self._write("resident_link_explanation", self._explanations(matching.pairs))
            review = review_list(
                connection, matching.pairs, guard_log, "record_state", self.decisions, self.config
            )
            self._write("match_review", review)
            events = self._event_reasons(events, frame.keys, record_state, previous, matching, guard_log)
            self._write(
                "resident_id_event",
                pa.concat_tables(
                    [
                        previous.id_events.cast(event_schema()),
                        pa.Table.from_pandas(events, schema=event_schema(), preserve_index=False),
                    ]
                ),
            )
        state = NextState(
            self.run_id, self.rules, matching.model, record_state, guard_log, _decision_pairs(self.decisions)
        )
        state.write(self.folder)
        log.info("resolution %s: %s", matching.mode, self.timings)
        return Resolution(
            folder=self.folder,
            run_id=self.run_id,
            matching_mode=matching.mode,
            timings=self.timings,
            work={
                "records": frame.num_rows,
                "derived_frame_rows": frame.derived,
                "changed_records": len(matching.changed_ids) if incremental else frame.num_rows,
                "compared_pairs": matching.compared_pairs,
                "reclustered_records": self.reclustered,
            },
        )

    def _write(self, name: str, table: pa.Table) -> None:
        """Write an output into the run's folder."""
        pq.write_table(table, output_file(self.folder, name), compression="zstd")

    def _cluster(self, frame: pa.Table, matching: Matching, removed: pa.Array | None) -> Clustering:
        """Cluster every record, or (incremental run) only the components changed records touch."""
        if removed is None:
            self.reclustered = frame.num_rows
            return cluster_records(frame, matching.pairs, self.decisions, self.config)
        before = self.state.records().select(ASSIGNMENT_COLUMNS)
        seeds = _seeds(frame, matching, removed, self.decisions, self.state.decisions(), self.config)
        affected = _affected_records(frame.column("unique_id"), before, seeds)
        inside = pc.is_in(frame.column("unique_id"), affected)
        both = pc.and_(
            pc.is_in(matching.pairs.column("record_l"), affected),
            pc.is_in(matching.pairs.column("record_r"), affected),
        )
        fresh = cluster_records(
            frame.filter(inside), matching.pairs.filter(both), self.decisions, self.config
        )
        self.reclustered = fresh.assignments.num_rows
        kept = before.filter(pc.invert(pc.is_in(before.column("unique_id"), affected)))
        kept = kept.filter(pc.is_in(kept.column("unique_id"), frame.column("unique_id")))
        assignments = pa.concat_tables([kept, fresh.assignments.cast(kept.schema)])
        old_guards = self.state.guard_log()
        kept_components = pc.unique(kept.column("component_key"))
        still_kept = pc.is_in(pa.array(old_guards["component_key"], pa.string()), value_set=kept_components)
        old_guards = old_guards[still_kept.to_numpy(zero_copy_only=False)]
        guard_log = pd.concat([old_guards, fresh.guard_log], ignore_index=True)
        guard_log = guard_log.sort_values(["component_key", "record_l", "record_r", "guard"], kind="stable")
        log.info(
            "clustering: %d records in touched components, %d kept",
            int(pc.sum(inside).as_py() or 0),
            kept.num_rows,
        )
        return Clustering(assignments=assignments, guard_log=guard_log.reset_index(drop=True))

    def _links(
        self, clustering: Clustering, previous: PreviousIdentities, matching: Matching
    ) -> tuple[pa.Table, pd.DataFrame]:
        """Write the crosswalk (one row per record) under stable ids; return record state and this
        run's id events."""
        connection = self.connection
        connection.register("assignments", clustering.assignments)
        clusters = connection.sql(
            f"""
            select r.source_system, r.source_record_id, a.cluster_key
            from records r join assignments a on a.unique_id = {RECORD_REF}
            """
        ).to_arrow_table()
        prior = previous.links.select(["source_system", "source_record_id", "resident_id"])
        settled = settled_clusters(connection, clusters, prior)
        open_clusters = clusters.filter(
            pc.invert(pc.is_in(clusters.column("cluster_key"), settled.column("cluster_key")))
        )
        open_prior = prior.filter(
            pc.invert(pc.is_in(prior.column("resident_id"), settled.column("resident_id")))
        )
        cluster_ids, events = assign_resident_ids(
            open_clusters.to_pandas(), open_prior.to_pandas(), previous.issued_ids, self.run_id
        )
        named = pa.concat_tables(
            [
                settled,
                pa.Table.from_pandas(cluster_ids, preserve_index=False)
                .select(["cluster_key", "resident_id"])
                .cast(settled.schema),
            ]
        )
        connection.register("cluster_ids", named)
        content = _content_hash()
        links = connection.sql(
            f"""
            select r.source_system, r.source_record_id, i.resident_id, a.match_rule,
                   cast(a.match_score as double) as match_score, r.batch_id, $model_id as model_id
            from records r
            join assignments a on a.unique_id = {RECORD_REF}
            join cluster_ids i using (cluster_key)
            order by r.source_system, r.source_record_id
            """,
            params={"model_id": matching.model.model_id},
        ).to_arrow_table()
        self._write("resident_source_link", links)
        del links
        record_state = connection.sql(
            f"""
            select a.unique_id, a.component_key, a.cluster_key, a.match_rule,
                   cast(a.match_score as double) as match_score, {content} as content_hash, i.resident_id
            from records r
            join assignments a on a.unique_id = {RECORD_REF}
            join cluster_ids i using (cluster_key)
            """
        ).to_arrow_table()
        for name in ("assignments", "cluster_ids"):
            connection.unregister(name)
        return record_state, events

    def _event_reasons(
        self,
        events: pd.DataFrame,
        frame: pa.Table,
        record_state: pa.Table,
        previous: PreviousIdentities,
        matching: Matching,
        guard_log: pd.DataFrame,
    ) -> pd.DataFrame:
        """The events with the rule, guard or reviewer decision behind each."""
        if events.empty:
            return events
        tokens = pa.table(
            {"unique_id": frame.column("unique_id"), "token": exclusive_tokens(frame, self.config)}
        )
        tokens = tokens.filter(pc.is_valid(tokens.column("token")))
        evidence = gather_evidence(
            events, record_state, previous.links, matching.pairs, tokens, self.decisions, guard_log
        )
        return explain_events(self.connection, events, previous.links, "record_state", evidence, self.config)

    def _explanations(self, pairs: pa.Table) -> pa.Table:
        """Scored pairs with the residents their records ended up in."""
        self.connection.register("scored_pairs", pairs)
        try:
            return self.connection.sql(
                """
                select p.*, l.resident_id as resident_id_l, r.resident_id as resident_id_r,
                       l.resident_id = r.resident_id as is_same_resident
                from scored_pairs p
                join record_state l on l.unique_id = p.record_l
                join record_state r on r.unique_id = p.record_r
                order by p.record_l, p.record_r
                """
            ).to_arrow_table()
        finally:
            self.connection.unregister("scored_pairs")


def _content_hash() -> str:
    """SQL hashing everything a golden record and conflicts read from a staged record."""
    columns = [name for name in staged_schema().names if name != "batch_id"]
    return f"hash({', '.join(f'r.{name}' for name in columns)})"


def _decision_pairs(decisions: pd.DataFrame) -> pa.Table:
    return pa.table(
        {
            "record_l": pa.array(decisions["record_l"].tolist(), pa.string()),
            "record_r": pa.array(decisions["record_r"].tolist(), pa.string()),
            "decision": pa.array(decisions["decision"].tolist(), pa.string()),
        }
    )


def _seeds(
    frame: pa.Table,
    matching: Matching,
    removed: pa.Array,
    decisions: pd.DataFrame,
    decided_before: pa.Table,
    config: MatchingConfig,
) -> pa.Array:
    """Records whose links may have changed: changed or removed records, the other end of their
    newly scored pairs, holders of their exclusive numbers, and records whose decision changed."""
    changed = matching.changed_ids
    parts = [
        changed,
        removed,
        matching.scored.column("record_l").combine_chunks(),
        matching.scored.column("record_r").combine_chunks(),
    ]
    tokens = exclusive_tokens(frame, config)
    changed_tokens = pc.drop_null(tokens.filter(pc.is_in(frame.column("unique_id"), changed)))
    parts.append(frame.column("unique_id").filter(pc.is_in(tokens, changed_tokens)).combine_chunks())
    now = _decision_pairs(decisions)
    keys = ["record_l", "record_r", "decision"]
    differing = pa.concat_tables(
        [
            now.join(decided_before, keys, join_type="left anti"),
            decided_before.join(now, keys, join_type="left anti"),
        ]
    )
    parts += [differing.column("record_l").combine_chunks(), differing.column("record_r").combine_chunks()]
    return pc.unique(pa.concat_arrays([pc.cast(p, pa.string()) for p in parts]))


def _affected_records(uids: pa.ChunkedArray, before: pa.Table, seeds: pa.Array) -> pa.Array:
    """Current records in a previous component holding a seed, new records, and current seeds."""
    seeded = before.filter(pc.is_in(before.column("unique_id"), seeds))
    components = pc.unique(seeded.column("component_key"))
    in_components = before.filter(pc.is_in(before.column("component_key"), components)).column("unique_id")
    new = uids.filter(pc.invert(pc.is_in(uids, before.column("unique_id"))))
    candidates = pa.concat_arrays([in_components.combine_chunks(), new.combine_chunks(), seeds])
    candidates = pc.unique(candidates)
    return candidates.filter(pc.is_in(candidates, uids))


def event_schema() -> pa.Schema:
    """Schema of ``resident_id_event``."""
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
    return PreviousIdentities(links=links, id_events=event_schema().empty_table())
