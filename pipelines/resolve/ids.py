"""Stable resident ids: a cluster keeps the id its records had before; merges and splits are logged.

Each previous ``resident_id`` goes to the one new cluster holding most of its records (ties go to
the smaller cluster key). A cluster that wins several previous ids keeps the one it holds most
records of and records the others as merged into it; a cluster that wins none gets a new id, and if
some of its records had an id before, the move is logged as a split. A new id is derived from the
cluster's smallest record reference, so ids never depend on row order, and no id ever issued is
issued again. New ids are keyed digests (HMAC under the installation's ``resident_id`` key), so
they cannot be computed from source data by anyone without the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import duckdb
import pandas as pd
import pyarrow as pa

ID_EVENT_COLUMNS = ["run_id", "event", "resident_id", "related_resident_id", "records", "reason"]


def new_resident_id(record_ref: str, key: bytes, salt: int = 0) -> str:
    """Derive a resident id from a record reference (``source:record_id``) under a secret key.

    Args:
        record_ref: The smallest record reference of the cluster.
        key: The installation's ``resident_id`` key (``Keyring.key``).
        salt: Bumped when the derived id was issued before.

    Returns:
        An id like ``R3F9A0C2B7D41E6``.
    """
    digest = hmac.new(key, f"{record_ref}#{salt}".encode(), hashlib.sha256).hexdigest()
    return "R" + digest[:15].upper()


def _votes(clusters: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """How many records of each previous resident id each new cluster holds."""
    joined = clusters.merge(previous, on=["source_system", "source_record_id"], how="inner")
    votes = joined.groupby(["previous_id", "cluster_key"], as_index=False).size()
    return votes.rename(columns={"size": "records"})


def _inheritance(votes: pd.DataFrame) -> pd.DataFrame:
    """Which cluster wins each previous id, and which won id each cluster keeps."""
    winners = votes.sort_values(
        ["previous_id", "records", "cluster_key"], ascending=[True, False, True]
    ).drop_duplicates("previous_id")
    ranked = winners.sort_values(["cluster_key", "records", "previous_id"], ascending=[True, False, True])
    ranked["keeps"] = ~ranked.duplicated("cluster_key")
    return ranked


def assign_resident_ids(
    clusters: pd.DataFrame,
    previous_links: pd.DataFrame,
    issued: Callable[[list[str]], set[str]],
    run_id: str,
    key: bytes,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give each cluster a resident id, stable across runs.

    Args:
        clusters: ``source_system, source_record_id, cluster_key`` for every record to name.
        previous_links: ``source_system, source_record_id, resident_id`` of the previous run, for
            every previous id those records held (all of its records).
        issued: Which of the given ids were issued before (they are never issued again).
        run_id: The current run, recorded on events.
        key: The key new ids are derived under.

    Returns:
        ``(cluster_ids, events)``: ``cluster_key, resident_id`` per cluster, and the merge and
        split events of this run (columns ``ID_EVENT_COLUMNS``).
    """
    previous = previous_links.rename(columns={"resident_id": "previous_id"})[
        ["source_system", "source_record_id", "previous_id"]
    ]
    ranked = _inheritance(_votes(clusters, previous))
    kept = ranked[ranked["keeps"]][["cluster_key", "previous_id"]]
    refs = (
        clusters.assign(ref=clusters["source_system"] + ":" + clusters["source_record_id"])
        .groupby("cluster_key", as_index=False)["ref"]
        .min()
    )
    cluster_ids = refs.merge(kept, on="cluster_key", how="left")
    cluster_ids["resident_id"] = cluster_ids["previous_id"]
    unnamed = cluster_ids["resident_id"].isna()
    cluster_ids.loc[unnamed, "resident_id"] = _fresh_ids(
        cluster_ids.loc[unnamed, "ref"].tolist(), issued, key
    )
    events = _merge_events(ranked, cluster_ids, run_id) + _split_events(
        clusters, previous, cluster_ids, run_id
    )
    return cluster_ids[["cluster_key", "resident_id"]], pd.DataFrame(events, columns=ID_EVENT_COLUMNS)


_SETTLED = """
with now as (
    select c.cluster_key, p.resident_id
    from clusters c left join previous p using (source_system, source_record_id)
),
by_cluster as (
    select cluster_key, count(*) as records, count(resident_id) as with_id,
           count(distinct resident_id) as ids, min(resident_id) as resident_id
    from now group by cluster_key
),
by_id as (select resident_id, count(*) as records from previous group by resident_id)
select c.cluster_key, c.resident_id
from by_cluster c join by_id i using (resident_id)
where c.ids = 1 and c.with_id = c.records and i.records = c.records
"""


def settled_clusters(
    connection: duckdb.DuckDBPyConnection, clusters: pa.Table, previous_links: pa.Table
) -> pa.Table:
    """Clusters holding exactly the records of one previous resident id, and that id.

    Such a cluster keeps its id with no event whatever else happens in the run, so only the
    other clusters need `assign_resident_ids`, which then decides exactly what it would decide
    over every cluster.

    Args:
        connection: The run's DuckDB connection (its memory cap and spill folder apply).
        clusters: ``source_system, source_record_id, cluster_key`` for every record.
        previous_links: ``source_system, source_record_id, resident_id`` of the previous run.

    Returns:
        ``cluster_key, resident_id`` of the settled clusters.
    """
    connection.register("clusters", clusters)
    connection.register("previous", previous_links)
    try:
        return connection.sql(_SETTLED).to_arrow_table()
    finally:
        connection.unregister("clusters")
        connection.unregister("previous")


def _fresh_ids(refs: list[str], issued: Callable[[list[str]], set[str]], key: bytes) -> list[str]:
    """A new id per cluster reference, none issued before nor twice now (salted until free)."""
    ids: list[str] = [""] * len(refs)
    salts, pending, taken = [0] * len(refs), list(range(len(refs))), set[str]()
    while pending:
        candidates = [new_resident_id(refs[i], key, salts[i]) for i in pending]
        clashing = issued(candidates)
        waiting = []
        for position, candidate in zip(pending, candidates, strict=True):
            if candidate in clashing or candidate in taken:
                salts[position] += 1
                waiting.append(position)
            else:
                ids[position] = candidate
                taken.add(candidate)
        pending = waiting
    return ids


def _merge_events(ranked: pd.DataFrame, cluster_ids: pd.DataFrame, run_id: str) -> list[dict]:
    retired = ranked[~ranked["keeps"]].merge(cluster_ids[["cluster_key", "resident_id"]], on="cluster_key")
    return [
        {
            "run_id": run_id,
            "event": "merged",
            "resident_id": row.previous_id,
            "related_resident_id": row.resident_id,
            "records": int(row.records),
            "reason": f"{row.previous_id} merged into {row.resident_id}: records matched as one person",
        }
        for row in retired.itertuples()
    ]


def _split_events(
    clusters: pd.DataFrame, previous: pd.DataFrame, cluster_ids: pd.DataFrame, run_id: str
) -> list[dict]:
    now = clusters.merge(cluster_ids[["cluster_key", "resident_id"]], on="cluster_key")
    moved = now.merge(previous, on=["source_system", "source_record_id"])
    moved = moved[moved["previous_id"] != moved["resident_id"]]
    # A record leaving an id that lives on is a split; leaving a retired id is part of a merge.
    moved = moved[moved["previous_id"].isin(set(cluster_ids["resident_id"]))]
    pairs = moved.groupby(["previous_id", "resident_id"], as_index=False).size()
    return [
        {
            "run_id": run_id,
            "event": "split",
            "resident_id": row.previous_id,
            "related_resident_id": row.resident_id,
            "records": int(row.size),
            "reason": f"{row.size} record(s) of {row.previous_id} now judged another person",
        }
        for row in pairs.itertuples()
    ]
