"""Resolve identities across every source's staged records, under stable resident ids.

The one way in is `resolve_identities`: build the matching frame, score candidate pairs with the
Fellegi-Sunter model, cluster under the over-merging guards and reviewers' decisions, give
clusters stable resident ids, then build golden records, conflicts, link explanations and the
review list, all in the identity store (`store`).

A run costs what changed since the previous one: it updates the store in place, deriving the
matching frame only for changed records, scoring only the pairs touching them, clustering again
only the connected components they touch, naming only those components' clusters, and building
golden rows and conflicts only for residents whose records changed. Each of these steps is local,
so the result is the one a full recomputation gives (``tests/integration/test_identity_incremental.py``
checks it). A full run (first run, changed rules, retrained model, too many changes) builds a new
store with the same steps over every record.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.canonical import staged_schema
from pipelines.keys import Keyring
from pipelines.layout import WarehouseLayout, scratch_directory, staging_directory
from pipelines.places.register import PLACE_COLUMNS, PLACES_FILE, places_folder
from pipelines.resolve.changes import (
    CONTENT_COLUMNS,
    PLACE_HASH,
    RECORD_STATE_SQL,
    find_affected,
    find_changes,
    hash_sql,
    issued_in_store,
    update_record_states,
)
from pipelines.resolve.clustering import GUARD_COLUMNS, Clustering, cluster_records, exclusive_tokens
from pipelines.resolve.config import MatchingConfig, matching_config
from pipelines.resolve.events import explain_events, gather_evidence
from pipelines.resolve.features import (
    INPUT_COLUMNS,
    MatchingFrame,
    build_matching_frame,
    frame_definition,
    frame_keys,
    record_ref,
    run_sql,
    run_with_rows,
    sql_text,
    update_matching_frame,
)
from pipelines.resolve.golden import GoldenRules, golden_records, settle_households
from pipelines.resolve.ids import ID_EVENT_COLUMNS, assign_resident_ids, settled_clusters
from pipelines.resolve.matching import (
    PAIRS_TABLE,
    fitting_model,
    score_changed_pairs,
    score_every_pair,
    train,
)
from pipelines.resolve.model import TrainedModel
from pipelines.resolve.review import DECISION_SCHEMA, read_decisions, review_view_sql
from pipelines.resolve.store import (
    MODEL_DIR,
    OUTPUT_ORDER,
    PreviousState,
    fingerprint,
    read_output,
    run_of,
    store_file,
    write_meta,
)
from pipelines.stage import RECORDS, current_state_dir, staged_lineage

log = logging.getLogger(__name__)

OUTPUTS = tuple(OUTPUT_ORDER)
# DuckDB's share of this process: the whole flow must stay within 4 GB at a million residents, so
# DuckDB gets what the step's Python side leaves (matching holds little in Python; clustering and
# the steps after it hold pairs and assignments). Beyond it DuckDB spills to a scratch folder.
DUCKDB_SETTINGS = {"memory_limit": "1GB", "preserve_insertion_order": "false"}
DUCKDB_MEMORY_BY_STEP = {"frame": "1500MB", "match": "2GB"}
# Above this share of changed records, a full run is as cheap and simpler.
MAX_INCREMENTAL_SHARE = 0.3


@dataclass(frozen=True)
class Resolution:
    """The outputs of one identity-resolution run, in the identity store of ``folder``.

    They are ``resident`` (one golden row per person), ``resident_source_link`` (per source
    record: its resident, rule, score, batch, model), ``resident_conflict`` (disagreements between
    sources about one person), ``resident_id_event`` (merges and splits of resident ids, all runs),
    ``resident_link_explanation`` (per scored pair at or above the review threshold: per comparison
    the level and its match weight, the probability, and whether the records ended up as one
    resident) and ``match_review`` (pairs for clerical review, with any reviewer decision). A later
    run updates or replaces the store; reading a replaced run's output is an error, never another
    run's data.

    Attributes:
        folder: The folder holding the identity store.
        run_id: The run that wrote them.
        matching_mode: ``full`` or ``incremental`` (how this run went); not published.
        timings: Wall and CPU seconds per step of this run; not published.
        work: How much this run derived, compared and reclustered; not published.
    """

    folder: Path
    run_id: str
    matching_mode: str = field(default="full", compare=False)
    timings: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False)
    work: dict[str, int] = field(default_factory=dict, compare=False)

    def database(self, name: str) -> Path:
        """The database file holding output ``name`` (one of ``OUTPUTS``), checked to hold this run."""
        if name not in OUTPUTS:
            raise KeyError(f"{name} is not an output of identity resolution ({', '.join(OUTPUTS)})")
        holder = run_of(self.folder)
        if holder != self.run_id:
            raise FileNotFoundError(
                f"{self.folder} holds the outputs of {holder or 'no run'}, no longer those of {self.run_id}"
            )
        return store_file(self.folder)

    def table(self, name: str) -> pa.Table:
        """An output, read whole, in a fixed row order."""
        self.database(name)
        return read_output(self.folder, name)


@dataclass(frozen=True)
class PreviousIdentities:
    """What the live snapshot says about resident ids (empty before the first publish).

    Attributes:
        run_id: The run that published it (None before the first publish).
        links: ``resident_source_link``, or its Parquet file (read only when a run needs it: a
            run that updates the identity store in place does not).
        id_events: ``resident_id_event``, or its Parquet file.
    """

    links: pa.Table | Path
    id_events: pa.Table | Path
    run_id: str | None = None

    def links_table(self) -> pa.Table:
        """``source_system, source_record_id, resident_id`` of every published link."""
        columns = ["source_system", "source_record_id", "resident_id"]
        return (
            self.links.select(columns)
            if isinstance(self.links, pa.Table)
            else pq.read_table(self.links, columns=columns)
        )

    def events_table(self) -> pa.Table:
        """Every published id event."""
        events = self.id_events if isinstance(self.id_events, pa.Table) else pq.read_table(self.id_events)
        return events.cast(event_schema())


def register_staged_records(
    connection: duckdb.DuckDBPyConnection, layout: WarehouseLayout, sources: list[str]
) -> None:
    """Make the current staged records of every source the view ``records`` (read from Parquet
    by DuckDB as it needs them, never held whole in memory), each with its places from the place
    register (``PLACE_COLUMNS``: null where the register has none, or there is no register)."""
    folders = [current_state_dir(layout, source) for source in sources]
    files = [str(folder / RECORDS) for folder in folders if folder is not None]
    if not files:
        empty = staged_schema().empty_table()
        for name in PLACE_COLUMNS:
            empty = empty.append_column(name, pa.array([], pa.string()))
        connection.register("records", empty)
        return
    listed = ", ".join(sql_text(name) for name in files)
    register = places_folder(layout) / PLACES_FILE
    if register.exists():
        run_sql(connection, f"attach if not exists {sql_text(str(register))} as places (read_only)")
        placed = "places.record_place"
    else:
        nulls = ", ".join(f"cast(null as varchar) as {name}" for name in PLACE_COLUMNS)
        placed = f"(select cast(null as varchar) as unique_id, {nulls} where false)"
    run_sql(
        connection,
        f"""
        create or replace temp view records as
        select s.*, {", ".join(f"p.{name}" for name in PLACE_COLUMNS)}
        from read_parquet([{listed}]) s
        left join {placed} p on p.unique_id = {record_ref("s")}
        """,
    )


def resolve_identities(
    layout: WarehouseLayout,
    sources: list[str],
    previous: PreviousIdentities,
    run_id: str,
    config: MatchingConfig | None = None,
    incremental: bool = True,
    keys: Keyring | None = None,
    golden_rules: GoldenRules | None = None,
) -> Resolution:
    """Match records into residents, keep resident ids stable, build golden records and conflicts.

    Args:
        layout: The warehouse directory (staged states and reviewer decisions are read from it;
            the identity store is ``layout.resolved``).
        sources: The source systems to resolve across.
        previous: The live snapshot's identities.
        run_id: The current run.
        config: The matching configuration; ``schemas/matching.yaml`` by default.
        incremental: Update the store of the previous run in place where it allows (the result is
            the same either way; False recomputes everything but still reuses a fitting model).
        keys: The installation's keyring (new resident ids are keyed); loaded from the settings
            when None.
        golden_rules: How golden records are built (the contracts' priorities); every source
            equal by default.

    Returns:
        The resolution, in ``layout.resolved``.
    """
    config = config or matching_config()
    golden_rules = golden_rules or GoldenRules()
    lineages = {source: staged_lineage(layout, source) for source in sorted(sources)}
    rules = fingerprint(config.fingerprint, golden_rules, lineages, frame_definition())
    state = PreviousState.read(layout.resolved, rules)
    id_key = (keys or Keyring.load()).key("resident_id")
    run = _Run(config, read_decisions(layout), run_id, rules, sources, layout, id_key, golden_rules)
    # The store follows the published snapshot: after a run whose publish was refused, the
    # next run starts again from what was published.
    if incremental and state.usable and state.model is not None and state.run_id == previous.run_id:
        resolution = run.update(state.model)
        if resolution is not None:
            return resolution
    return run.build_anew(previous, state.model)


class _StartAnew(Exception):
    """Too much changed, or the model no longer fits: the run resolves everything anew."""


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Run:
    """One resolution run: its inputs, and the steps in order (over every record, or in place over
    what changed)."""

    config: MatchingConfig
    decisions: pd.DataFrame
    run_id: str
    rules: str
    sources: list[str]
    layout: WarehouseLayout
    id_key: bytes = field(repr=False)
    golden_rules: GoldenRules
    timings: dict[str, tuple[float, float]] = field(default_factory=dict)
    work: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str, connection: duckdb.DuckDBPyConnection | None = None) -> Iterator[None]:
        """Time a step, with DuckDB capped at the step's declared share of memory."""
        wall, cpu = time.perf_counter(), _cpu_seconds()
        if connection is not None:
            limit = DUCKDB_MEMORY_BY_STEP.get(name, DUCKDB_SETTINGS["memory_limit"])
            connection.execute("set memory_limit = $limit", {"limit": limit}).fetchall()
        yield
        self.timings[name] = (round(time.perf_counter() - wall, 3), round(_cpu_seconds() - cpu, 3))

    @contextmanager
    def connect(self, database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to a store, with the staged records as the view ``records``."""
        with scratch_directory(self.layout.root) as spill:
            connection = duckdb.connect(
                str(database), config={**DUCKDB_SETTINGS, "temp_directory": str(spill)}
            )
            try:
                register_staged_records(connection, self.layout, self.sources)
                yield connection
            finally:
                connection.close()

    def _scan_current(self, connection: duckdb.DuckDBPyConnection) -> None:
        run_sql(
            connection,
            f"""
            create or replace temp table current_records as
            select {record_ref("r")} as unique_id, r.source_system, r.source_record_id, r.batch_id,
                   r.record_hash, {PLACE_HASH} as place_hash, {hash_sql(INPUT_COLUMNS, "r")} as input_hash,
                   {hash_sql(CONTENT_COLUMNS, "r")} as content_hash
            from records r
            """,
        )

    def build_anew(self, previous: PreviousIdentities, model: TrainedModel | None) -> Resolution:
        """Resolve every record into a new store, swapped in for the old one when complete."""
        with (
            staging_directory(self.layout.resolved) as folder,
            self.connect(store_file(folder)) as connection,
        ):
            with self.step("frame", connection):
                self._scan_current(connection)
                frame = build_matching_frame(connection, "records", self.config.max_block_key_frequency)
            with self.step("match", connection):
                reused = fitting_model(connection, frame, model, self.config)
                model = reused or train(connection, frame, self.config, self.run_id)
                compared = score_every_pair(connection, frame, model, self.config)
            with self.step("cluster", connection):
                pairs = connection.sql(f"from {PAIRS_TABLE}").to_arrow_table()
                clustering = cluster_records(frame_keys(connection), pairs, self.decisions, self.config)
                del pairs
                self._keep_assignments(connection, clustering)
                run_sql(connection, "create table guard_log as select * from fresh_guard_log")
            with self.step("ids", connection):
                links, published_events = previous.links_table(), previous.events_table()
                run_with_rows(connection, "create temp table prior_links as from incoming_rows", links)
                events = self._name_clusters(connection, _issued_among(links, published_events))
                del links
                run_sql(
                    connection,
                    f"create table record_state as {RECORD_STATE_SQL.format(assigned='assignments')}",
                )
            with self.step("golden", connection):
                resident, conflicts = self._golden(connection, "records", "record_state")
                _create(connection, "resident", resident)
                settle_households(connection)
                _create(connection, "resident_conflict", conflicts)
                del resident, conflicts
            with self.step("explain", connection):
                events = self._event_reasons(connection, events)
                _create(connection, "resident_id_event", pa.concat_tables([published_events, events]))
                self._finish(connection, model.model_id)
            model.save(folder / MODEL_DIR)
        self.work = {
            "records": frame.num_rows,
            "derived_frame_rows": frame.derived,
            "changed_records": frame.num_rows,
            "compared_pairs": compared,
            "reclustered_records": frame.num_rows,
        }
        log.info("resolution (full, model %s): %s", "reused" if reused else "trained", self.timings)
        return Resolution(self.layout.resolved, self.run_id, "full", self.timings, self.work)

    def update(self, model: TrainedModel) -> Resolution | None:
        """Update the previous run's store in place for what changed, in one transaction: a
        reader sees the previous run or this one, and a failed run leaves the store as it was.

        Returns:
            The resolution; None (the store untouched) when too much changed or the model no
            longer fits the data, so that everything must be resolved anew.
        """
        with self.connect(store_file(self.layout.resolved)) as connection:
            connection.execute("begin transaction")
            try:
                compared, frame = self._update(connection, model)
            except _StartAnew:
                connection.execute("rollback")
                return None
            with self.step("commit"):
                connection.execute("commit")
        self.work |= {
            "records": frame.num_rows,
            "derived_frame_rows": frame.derived,
            "compared_pairs": compared,
        }
        log.info("resolution (incremental): %s", self.timings)
        return Resolution(self.layout.resolved, self.run_id, "incremental", self.timings, self.work)

    def _update(
        self, connection: duckdb.DuckDBPyConnection, model: TrainedModel
    ) -> tuple[int, MatchingFrame]:
        """The steps of `update`; return the pairs compared and the frame."""
        with self.step("frame", connection):
            find_changes(connection)
            touched = connection.sql(
                "select (select count(*) from rederived) + (select count(*) from removed)"
            ).fetchall()[0][0]
            records = connection.sql("select count(*) from record_state").fetchall()[0][0]
            if touched > MAX_INCREMENTAL_SHARE * max(records, 1):
                raise _StartAnew
            frame = update_matching_frame(
                connection, "changed_rows", "rederived", "removed", self.config.max_block_key_frequency
            )
        if fitting_model(connection, frame, model, self.config) is None:
            raise _StartAnew
        with self.step("match", connection):
            compared = score_changed_pairs(connection, frame, model, self.config)
        with self.step("cluster", connection):
            changed, reclustered = find_affected(
                connection, frame, _decision_table(self.decisions), self.config
            )
            self.work |= {"changed_records": changed, "reclustered_records": reclustered}
            pairs = connection.sql(
                f"""
                from {PAIRS_TABLE}
                where record_l in (select unique_id from affected)
                  and record_r in (select unique_id from affected)
                """
            ).to_arrow_table()
            clustering = cluster_records(
                frame_keys(connection, "affected"), pairs, self.decisions, self.config
            )
            self._keep_assignments(connection, clustering)
            run_sql(
                connection,
                "delete from guard_log where component_key in (select component_key from seeded_components)",
            )
            run_sql(connection, "insert into guard_log by name select * from fresh_guard_log")
        with self.step("ids", connection):
            run_sql(
                connection,
                "create temp table prior_links as "
                "select source_system, source_record_id, resident_id from previous_members",
            )
            events = self._name_clusters(connection, issued_in_store(connection))
            update_record_states(connection)
        with self.step("golden", connection):
            self._update_golden(connection)
        with self.step("explain", connection):
            events = self._event_reasons(connection, events)
            run_with_rows(connection, "insert into resident_id_event by name from incoming_rows", events)
            self._finish(connection, model.model_id)
        return compared, frame

    @staticmethod
    def _keep_assignments(connection: duckdb.DuckDBPyConnection, clustering: Clustering) -> None:
        """Temp tables ``assignments`` and ``fresh_guard_log`` of a clustering."""
        run_with_rows(
            connection,
            "create or replace temp table assignments as from incoming_rows",
            clustering.assignments,
        )
        run_with_rows(
            connection,
            "create or replace temp table fresh_guard_log as from incoming_rows",
            _guard_table(clustering.guard_log),
        )

    def _name_clusters(
        self, connection: duckdb.DuckDBPyConnection, issued: Callable[[list[str]], set[str]]
    ) -> pa.Table:
        """Temp table ``cluster_ids`` (a stable resident id per cluster of ``assignments``), given
        ``prior_links`` (the previous ids of every record those clusters held before); return
        this run's id events."""
        clusters = connection.sql(
            "select c.source_system, c.source_record_id, a.cluster_key "
            "from assignments a join current_records c using (unique_id)"
        ).to_arrow_table()
        prior = connection.sql("from prior_links").to_arrow_table()
        settled = settled_clusters(connection, clusters, prior)
        open_clusters = clusters.filter(
            pc.invert(pc.is_in(clusters.column("cluster_key"), settled.column("cluster_key")))
        )
        open_prior = prior.filter(
            pc.invert(pc.is_in(prior.column("resident_id"), settled.column("resident_id")))
        )
        cluster_ids, events = assign_resident_ids(
            open_clusters.to_pandas(), open_prior.to_pandas(), issued, self.run_id, self.id_key
        )
        named = pa.concat_tables(
            [
                settled,
                pa.Table.from_pandas(cluster_ids, preserve_index=False)
                .select(["cluster_key", "resident_id"])
                .cast(settled.schema),
            ]
        )
        run_with_rows(connection, "create or replace temp table cluster_ids as from incoming_rows", named)
        return pa.Table.from_pandas(events, schema=event_schema(), preserve_index=False)

    def _update_golden(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Build again the golden rows and conflicts of residents whose records changed."""
        run_sql(
            connection,
            """
            create or replace temp table touched_residents as
            select resident_id from previous_members
            union select resident_id from restaged where content_changed
            union select i.resident_id from assignments a join cluster_ids i using (cluster_key)
            """,
        )
        for table in ("resident", "resident_conflict"):
            run_sql(
                connection,
                f"delete from {table} where resident_id in (select resident_id from touched_residents)",
            )
        run_sql(
            connection,
            "create or replace temp table touched_states as "
            "select * from record_state semi join touched_residents using (resident_id)",
        )
        resident, conflicts = self._golden(connection, "records", "touched_states")
        for table, rows in (("resident", resident), ("resident_conflict", conflicts)):
            run_with_rows(connection, f"insert into {table} by name from incoming_rows", rows)
        settle_households(connection)

    def _golden(
        self, connection: duckdb.DuckDBPyConnection, records: str, states: str
    ) -> tuple[pa.Table, pa.Table]:
        run_sql(
            connection,
            f"""
            create or replace temp table linked_records as
            select r.*, s.resident_id from {records} r join {states} s on s.unique_id = {record_ref("r")}
            """,
        )
        try:
            return golden_records(connection, "linked_records", self.sources, self.golden_rules)
        finally:
            run_sql(connection, "drop table linked_records")

    def _event_reasons(self, connection: duckdb.DuckDBPyConnection, events: pa.Table) -> pa.Table:
        """The events with the rule, guard or reviewer decision behind each."""
        if events.num_rows == 0:
            return events
        frame = events.to_pandas()
        ids = pa.table(
            {"resident_id": pa.array(sorted(set(frame["resident_id"]) | set(frame["related_resident_id"])))}
        )
        run_with_rows(
            connection,
            f"""
            create or replace temp table involved as
            select unique_id from record_state semi join event_ids using (resident_id)
            union select {record_ref("p")} from prior_links p semi join event_ids using (resident_id)
            """,
            ids,
            name="event_ids",
        )
        now = connection.sql(
            "select unique_id, resident_id from record_state semi join involved using (unique_id)"
        ).to_arrow_table()
        before = connection.sql(
            f"select * from prior_links p where {record_ref('p')} in (select unique_id from involved)"
        ).to_arrow_table()
        pairs = connection.sql(
            f"""
            from {PAIRS_TABLE}
            where record_l in (select unique_id from involved) or record_r in (select unique_id from involved)
            """
        ).to_arrow_table()
        keys = frame_keys(connection, "involved")
        tokens = pa.table(
            {"unique_id": keys.column("unique_id"), "token": exclusive_tokens(keys, self.config)}
        )
        tokens = tokens.filter(pc.is_valid(tokens.column("token")))
        guard_log = (
            connection.sql("from guard_log order by component_key, record_l, record_r, guard")
            .to_arrow_table()
            .to_pandas()
        )
        evidence = gather_evidence(frame, now, before, pairs, tokens, self.decisions, guard_log)
        explained = explain_events(connection, frame, before, "record_state", evidence, self.config)
        return pa.Table.from_pandas(explained, schema=event_schema(), preserve_index=False)

    def _finish(self, connection: duckdb.DuckDBPyConnection, model_id: str) -> None:
        """Record the run, store the decisions obeyed, (re)define the output views."""
        write_meta(connection, self.run_id, self.rules, model_id)
        run_with_rows(
            connection,
            "create or replace table decisions as from incoming_rows",
            _decision_table(self.decisions),
        )
        run_sql(
            connection,
            """
            create or replace view resident_source_link as
            select source_system, source_record_id, resident_id, match_rule,
                   cast(match_score as double) as match_score, batch_id,
                   (select model_id from meta) as model_id
            from record_state
            """,
        )
        run_sql(
            connection,
            f"""
            create or replace view resident_link_explanation as
            select p.*, l.resident_id as resident_id_l, r.resident_id as resident_id_r,
                   l.resident_id = r.resident_id as is_same_resident
            from {PAIRS_TABLE} p
            join record_state l on l.unique_id = p.record_l
            join record_state r on r.unique_id = p.record_r
            """,
        )
        review = review_view_sql(self.config, PAIRS_TABLE, "record_state", "guard_log", "decisions")
        run_sql(connection, f"create or replace view match_review as {review}")


def _create(connection: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    run_with_rows(connection, f"create or replace table {name} as from incoming_rows", rows)


def _issued_among(links: pa.Table, events: pa.Table) -> Callable[[list[str]], set[str]]:
    """Which of some ids the published links and events have issued (kept as a set)."""
    issued = set(pc.unique(links.column("resident_id")).to_pylist())
    for column in ("resident_id", "related_resident_id"):
        issued |= {i for i in pc.unique(events.column(column)).to_pylist() if i}
    return lambda ids: issued.intersection(ids)


def _decision_table(decisions: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(
        decisions[DECISION_SCHEMA.names], schema=DECISION_SCHEMA, preserve_index=False
    )


def _guard_table(guard_log: pd.DataFrame) -> pa.Table:
    schema = pa.schema(
        [
            *((name, pa.float64() if name.startswith("match_") else pa.string()) for name in GUARD_COLUMNS),
            ("component_key", pa.string()),
        ]
    )
    columns = {name: guard_log[name].tolist() for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


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
