"""Score candidate record pairs with the trained model, in full or for changed records only.

Candidate pairs come from the blocking rules of ``schemas/matching.yaml``, generated here in
DuckDB (as Splink would) so that an incremental run can ask for exactly the pairs that touch a
new or changed record; Splink then scores the pairs it is given. A scored pair keeps, per
comparison, the level reached and its match weight, so that every link can be explained.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from pipelines.resolve.config import MatchingConfig
from pipelines.resolve.features import run_sql

PAIR_KEY = ("record_l", "record_r")


def tf_columns(config: MatchingConfig) -> list[str]:
    """The columns whose term frequencies adjust a comparison level."""
    return sorted(
        {
            level.tf_adjustment_column
            for comparison in config.comparisons
            for level in comparison.levels
            if level.tf_adjustment_column
        }
    )


def term_frequencies(
    connection: duckdb.DuckDBPyConnection, frame: str, config: MatchingConfig
) -> dict[str, pa.Table]:
    """Count each term-frequency column's values over ``frame`` (kept with the trained model).

    Args:
        connection: DuckDB connection holding the frame.
        frame: The frame's relation name.
        config: The matching configuration (which levels use term frequencies).

    Returns:
        Column name → ``<column>, tf_<column>`` sorted by value.
    """
    return {
        column: connection.sql(
            f"""
            select {column}, count(*) / sum(count(*)) over () as tf_{column}
            from {frame} where {column} is not null group by {column} order by {column}
            """
        ).to_arrow_table()
        for column in tf_columns(config)
    }


def register_term_frequencies(linker: Any, tables: dict[str, pa.Table]) -> None:
    """Give the linker the model's term-frequency tables."""
    for column, table in sorted(tables.items()):
        lookup = linker._db_api.register(table, table_name=f"tf_{column}")
        linker.table_management.register_term_frequency_lookup(lookup, column)


def _rule_pairs(rule: str, index: int, preceding: list[str], left: str, right: str) -> str:
    """Pairs a rule generates that no earlier rule does (Splink's de-duplication)."""
    earlier = " or ".join(f"coalesce(({p}), false)" for p in preceding)
    return f"""
        select '{index}' as match_key, l.unique_id as join_key_l, r.unique_id as join_key_r
        from {left} as l join {right} as r on ({rule})
        where l.unique_id < r.unique_id {f"and not ({earlier})" if earlier else ""}
        """


def blocked_pairs_sql(rules: tuple[str, ...], frame: str, changed: str | None = None) -> str:
    """SQL of the candidate pairs: all of them, or only those touching a ``changed`` record.

    Args:
        rules: Blocking rules on ``l.`` and ``r.`` columns; a pair is a candidate when any holds.
        frame: Relation of every current record's matching-frame row.
        changed: Relation of the changed records' frame rows (a subset of ``frame``), or None.

    Returns:
        A query giving ``match_key, join_key_l, join_key_r`` with ``join_key_l < join_key_r``.
    """
    parts = []
    for index, rule in enumerate(rules):
        preceding = list(rules[:index])
        if changed is None:
            parts.append(_rule_pairs(rule, index, preceding, frame, frame))
        else:
            parts.append(_rule_pairs(rule, index, preceding, changed, frame))
            parts.append(_rule_pairs(rule, index, preceding, frame, changed))
    return (" union " if changed is not None else " union all ").join(parts)


def explain_pairs(
    connection: duckdb.DuckDBPyConnection, predictions: str, config: MatchingConfig
) -> pa.Table:
    """Turn Splink predictions into explained pairs (labels and weights per comparison).

    Args:
        connection: DuckDB connection holding ``predictions`` (with intermediate columns).
        predictions: Relation name.
        config: The configuration whose comparisons produced the predictions.

    Returns:
        The pairs, ordered so that ``record_l < record_r``.
    """
    columns = []
    for comparison, labels in config.level_labels().items():
        cases = " ".join(f"when {gamma} then '{label}'" for gamma, label in labels.items())
        columns.append(f"case gamma_{comparison} {cases} end as {comparison}_level")
        columns.append(f"round({_weight(comparison, config)}, 3) as {comparison}_weight")
    return connection.sql(
        f"""
        select least(unique_id_l, unique_id_r) as record_l,
               greatest(unique_id_l, unique_id_r) as record_r,
               match_probability, round(match_weight, 3) as match_weight,
               {", ".join(columns)}
        from {predictions}
        """
    ).to_arrow_table()


def _weight(comparison: str, config: MatchingConfig) -> str:
    """The comparison's match weight (log2 Bayes factor), term-frequency adjustment included."""
    spec = next(c for c in config.comparisons if c.name == comparison)
    uses_tf = any(level.tf_adjustment_column for level in spec.levels)
    return f"mw_{comparison} + mw_tf_adj_{comparison}" if uses_tf else f"mw_{comparison}"


def score_pairs(
    linker: Any, frame: str, config: MatchingConfig, changed: str | None = None
) -> tuple[pa.Table, int]:
    """Score the candidate pairs of the linker's records, or only those touching changed records.

    Args:
        linker: A linker holding the trained model and the whole matching frame.
        frame: Name of the matching frame in the linker's DuckDB connection.
        config: The matching configuration (blocking rules, review threshold).
        changed: Name of a relation of the changed records' frame rows; None scores every pair.

    Returns:
        Explained pairs at or above the review threshold, and how many pairs were compared.
    """
    db_api = linker._db_api
    connection = db_api.duckdb_con
    run_sql(
        connection,
        "create or replace temp table blocked_pairs as "
        + blocked_pairs_sql(config.blocking_rules, frame, changed),
    )
    compared = int(connection.sql("select count(*) from blocked_pairs").fetchall()[0][0])
    blocked = db_api.register("blocked_pairs", table_name="blocked_pairs_for_predict")
    linker.table_management.register_blocked_pairs_for_predict(blocked)
    predictions = linker.inference.predict(
        threshold_match_probability=config.thresholds.review, warning_mode="never"
    )
    try:
        return explain_pairs(connection, predictions.physical_name, config), compared
    finally:
        predictions.drop_table_from_database_and_remove_from_cache()
        run_sql(connection, "drop table if exists blocked_pairs")
