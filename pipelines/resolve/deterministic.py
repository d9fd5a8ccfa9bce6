"""First-cut matching: records that share a valid normalized identity number are one person."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from pipelines.standardize.records import VALID_ID_STATUSES

MATCH_COLUMNS = ["source_system", "source_record_id", "cluster_key", "match_rule", "match_score"]


def cluster_by_id_number(connection: duckdb.DuckDBPyConnection, records: str) -> pa.Table:
    """Cluster records on ``id_type:id_number`` when the number is usable; others stay alone.

    Args:
        connection: A DuckDB connection where ``records`` is a staged-records relation.
        records: The relation's name.

    Returns:
        One row per record: ``source_system, source_record_id, cluster_key, match_rule,
        match_score``.
    """
    usable = "id_number is not null and id_status in (select unnest($statuses))"
    return connection.sql(
        f"""
        select
            source_system,
            source_record_id,
            case when {usable} then id_type || ':' || id_number
                 else 'record:' || source_system || ':' || source_record_id end as cluster_key,
            case when {usable} then 'same_id_number' else 'single_record' end as match_rule,
            case when {usable} then 1.0 end as match_score
        from {records}
        """,
        params={"statuses": list(VALID_ID_STATUSES)},
    ).to_arrow_table()
