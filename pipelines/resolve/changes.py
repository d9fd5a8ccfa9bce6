"""What an incremental run changes in the identity store, found with SQL over the store's tables.

Which staged records were delivered again, added or removed since the previous run
(`find_changes`), which records the change may move to another resident (`find_affected`: the
previous connected components it touches), and their new record states (`update_record_states`).
Everything here reads the whole population only through joins on narrow columns; what it keeps
follows the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import duckdb
import pyarrow as pa

from pipelines.canonical import staged_schema
from pipelines.places.register import PLACE_COLUMNS
from pipelines.resolve.config import MatchingConfig
from pipelines.resolve.features import (
    FRAME_TABLE,
    INPUT_COLUMNS,
    MatchingFrame,
    record_ref,
    run_sql,
    run_with_rows,
    sql_text,
)
from pipelines.resolve.matching import SCORED_TABLE


def hash_sql(columns: Iterable[str], alias: str) -> str:
    """SQL hashing the named columns of a table alias."""
    return f"hash({', '.join(f'{alias}.{name}' for name in columns)})"


# The staged fields a golden record and conflicts read (all but the batch): their hash tells which
# residents to build again. The matching inputs' hash tells which frame rows to derive again.
CONTENT_COLUMNS = (*(name for name in staged_schema().names if name != "batch_id"), *PLACE_COLUMNS)
# A record's places (from the place register) change without its source delivering it again (an
# alias learnt, a grid found): their narrow hash is compared for every record.
PLACE_HASH = f"hash({', '.join(PLACE_COLUMNS)})"

# Record states of the clustered records ({assigned}), named (``cluster_ids``).
RECORD_STATE_SQL = """
select c.unique_id, c.source_system, c.source_record_id, c.batch_id, a.component_key, a.cluster_key,
       a.match_rule, cast(a.match_score as double) as match_score, c.record_hash, c.place_hash,
       c.input_hash, c.content_hash, i.resident_id
from {assigned} a join current_records c using (unique_id) join cluster_ids i using (cluster_key)
"""


def find_changes(connection: duckdb.DuckDBPyConnection) -> None:
    """Temp tables of what changed since the previous run: ``changed_rows`` (every staged column,
    the hashes and the previous hashes of the records new or delivered again since, and the
    references of removed ones), ``rederived`` (records whose matching inputs are new or changed)
    and ``removed``.

    A staged row changes only when its source delivers the record again (a new batch or record
    hash), so a join on those narrow columns finds them, and only they are read whole and hashed.
    A source staged anew from nothing (its rows may have been standardized differently) has a new
    lineage, which makes the next run resolve everything anew."""
    run_sql(
        connection,
        f"""
        create or replace temp table delivered as
        select s.unique_id as previous, {record_ref("r")} as unique_id,
               s.input_hash as previous_input_hash, s.content_hash as previous_content_hash
        from (select source_system, source_record_id, batch_id, record_hash, {PLACE_HASH} as place_hash
              from records) r
        full join (select unique_id, batch_id, record_hash, place_hash, input_hash, content_hash
                   from record_state) s
            on s.unique_id = {record_ref("r")}
        where s.unique_id is null or r.source_system is null
           or r.batch_id is distinct from s.batch_id or r.record_hash is distinct from s.record_hash
           or r.place_hash is distinct from s.place_hash
        """,
    )
    new_batches = [
        row[0]
        for row in connection.sql(
            "select distinct batch_id from records except select distinct batch_id from record_state"
        ).fetchall()
    ]
    # Delivered rows come in batches applied since (the store's rules include each source's staged
    # lineage), which a batch filter finds reading only their row groups; should a row lie
    # elsewhere, every row is read.
    _read_delivered_rows(connection, _in_list("r.batch_id", new_batches))
    delivered = connection.sql(
        "select (select count(*) from delivered where unique_id is not null), "
        "(select count(*) from changed_rows where not removed)"
    ).fetchall()[0]
    if delivered[0] != delivered[1]:
        _read_delivered_rows(connection, "true")
    run_sql(
        connection,
        "create or replace temp table rederived as select unique_id from changed_rows "
        "where not removed and input_hash is distinct from previous_input_hash",
    )
    run_sql(
        connection,
        "create or replace temp table removed as select unique_id from changed_rows where removed",
    )


def find_affected(
    connection: duckdb.DuckDBPyConnection, frame: MatchingFrame, decisions: pa.Table, config: MatchingConfig
) -> tuple[int, int]:
    """Temp tables of the records whose links may have changed.

    ``seeds``: changed or removed records, the other end of their newly scored pairs, holders
    of their exclusive document numbers, and records whose reviewer decision changed.
    ``seeded_components``: the previous components holding a seed; ``previous_members``: their
    previous record states; ``affected``: the current records among them, new records and
    current seeds (each is clustered again with all of its previous component);
    ``current_records``: reference, batch and hashes of the affected and changed records.
    """
    exclusive = exclusive_sql(config)
    run_with_rows(
        connection,
        f"""
        create or replace temp table seeds as
        with changed_numbers as (
            select id_type || ':' || id_key as token from {frame.changed} where {exclusive}
        ),
        changed_decisions as (
            (select record_l, record_r, decision from decisions_now
             except select record_l, record_r, decision from decisions)
            union all
            (select record_l, record_r, decision from decisions
             except select record_l, record_r, decision from decisions_now)
        )
        select unique_id from {frame.changed}
        union select unique_id from {frame.removed}
        union select record_l from {SCORED_TABLE}
        union select record_r from {SCORED_TABLE}
        union select unique_id from {FRAME_TABLE}
              where {exclusive} and id_type || ':' || id_key in (select token from changed_numbers)
        union select record_l from changed_decisions
        union select record_r from changed_decisions
        """,
        decisions,
        name="decisions_now",
    )
    run_sql(
        connection,
        "create or replace temp table seeded_components as "
        "select distinct component_key from record_state semi join seeds using (unique_id)",
    )
    run_sql(
        connection,
        "create or replace temp table previous_members as "
        "select * from record_state semi join seeded_components using (component_key)",
    )
    run_sql(
        connection,
        f"""
        create or replace temp table affected as
        select unique_id from previous_members anti join removed using (unique_id)
        union select unique_id from changed_rows where previous_input_hash is null and not removed
        union select unique_id from seeds semi join {FRAME_TABLE} using (unique_id)
        """,
    )
    run_sql(
        connection,
        """
        create or replace temp table current_records as
        select unique_id, source_system, source_record_id, batch_id, record_hash, place_hash, input_hash,
               content_hash
        from changed_rows where not removed
        union all
        select unique_id, source_system, source_record_id, batch_id, record_hash, place_hash, input_hash,
               content_hash
        from record_state semi join affected using (unique_id) anti join changed_rows using (unique_id)
        """,
    )
    changed = connection.sql(f"select count(*) from {frame.changed}").fetchall()[0][0]
    affected = connection.sql("select count(*) from affected").fetchall()[0][0]
    return int(changed), int(affected)


def update_record_states(connection: duckdb.DuckDBPyConnection) -> None:
    """Replace the record states of the reclustered records, and of records delivered again
    that keep their cluster (``restaged``: new hashes and batch); drop removed records."""
    run_sql(
        connection,
        """
        create or replace temp table restaged as
        select s.unique_id, s.component_key, s.cluster_key, s.match_rule, s.match_score, s.resident_id,
               c.content_hash is distinct from s.content_hash as content_changed
        from record_state s join changed_rows c using (unique_id)
        anti join affected a using (unique_id)
        where not c.removed
        """,
    )
    run_sql(
        connection,
        """
        delete from record_state where unique_id in (
            select unique_id from previous_members union all select unique_id from restaged
        )
        """,
    )
    run_sql(
        connection,
        f"insert into record_state by name {RECORD_STATE_SQL.format(assigned='assignments')}",
    )
    run_sql(
        connection,
        """
        insert into record_state by name
        select c.unique_id, c.source_system, c.source_record_id, c.batch_id, r.component_key,
               r.cluster_key, r.match_rule, r.match_score, c.record_hash, c.place_hash, c.input_hash,
               c.content_hash, r.resident_id
        from restaged r join current_records c using (unique_id)
        """,
    )


def _read_delivered_rows(connection: duckdb.DuckDBPyConnection, among: str) -> None:
    """``changed_rows`` from the staged rows matching ``among`` (SQL on ``r.``) and ``delivered``."""
    run_sql(
        connection,
        f"""
        create or replace temp table changed_rows as
        select r.*, {record_ref("r")} as unique_id, {PLACE_HASH} as place_hash,
               {hash_sql(INPUT_COLUMNS, "r")} as input_hash,
               {hash_sql(CONTENT_COLUMNS, "r")} as content_hash, false as removed,
               d.previous_input_hash, d.previous_content_hash
        from records r join delivered d on d.unique_id = {record_ref("r")}
        where {among}
        union all by name
        select previous as unique_id, true as removed from delivered where unique_id is null
        """,
    )


def _in_list(column: str, values: list[str]) -> str:
    """SQL: ``column`` is one of ``values`` (false for none)."""
    if not values:
        return "false"
    return f"{column} in ({', '.join(sql_text(value) for value in values)})"


def exclusive_sql(config: MatchingConfig) -> str:
    """SQL: the frame row holds a valid number of an exclusive document type."""
    types = ", ".join(sql_text(t) for t in config.exclusive_id_types) or "null"
    return f"coalesce(id_is_valid, false) and id_type in ({types})"


def issued_in_store(connection: duckdb.DuckDBPyConnection) -> Callable[[list[str]], set[str]]:
    """Which of some ids the store's residents and events have issued (looked up in the store,
    before this run changes it)."""

    def issued(ids: list[str]) -> set[str]:
        connection.register("candidate_ids", pa.table({"resident_id": pa.array(ids, pa.string())}))
        try:
            rows = connection.sql(
                """
                select resident_id from record_state semi join candidate_ids using (resident_id)
                union select resident_id from resident_id_event semi join candidate_ids using (resident_id)
                union select related_resident_id from resident_id_event
                where related_resident_id in (select resident_id from candidate_ids)
                """
            )
            return {row[0] for row in rows.fetchall()}
        finally:
            connection.unregister("candidate_ids")

    return issued
