"""Score candidate record pairs with the trained model, in full or for changed records only.

A scored pair keeps, per comparison, the level reached and its match weight, so that every link can
be explained. An incremental run scores only pairs that touch a new or changed record (within the
changed records, and changed against unchanged) and keeps the earlier scores of the other pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.resolve.config import MatchingConfig

PAIR_KEY = ("record_l", "record_r")


@dataclass(frozen=True)
class ScoredPairs:
    """Scored pairs at or above the review threshold and how they were obtained.

    Attributes:
        pairs: ``record_l < record_r``, ``match_probability``, ``match_weight`` and per comparison
            ``<name>_level`` (label) and ``<name>_weight``.
        mode: ``full`` or ``incremental``.
        scored_records: Records whose pairs were (re)scored in this run.
    """

    pairs: pa.Table
    mode: str
    scored_records: int


def _tf_lookup(connection: duckdb.DuckDBPyConnection, frame: str, column: str) -> pa.Table:
    return connection.sql(
        f"""
        select {column}, count(*) / sum(count(*)) over () as tf_{column}
        from {frame} where {column} is not null group by {column}
        """
    ).to_arrow_table()


def register_term_frequencies(
    linker: Any, connection: duckdb.DuckDBPyConnection, frame: str, config: MatchingConfig
) -> None:
    """Give the linker term-frequency tables computed over the whole current frame."""
    columns = {
        level.tf_adjustment_column
        for comparison in config.comparisons
        for level in comparison.levels
        if level.tf_adjustment_column
    }
    for column in sorted(columns):
        lookup = linker._db_api.register(_tf_lookup(connection, frame, column), table_name=f"tf_{column}")
        linker.table_management.register_term_frequency_lookup(lookup, column)


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


def score_all(linker: Any, config: MatchingConfig) -> pa.Table:
    """Score every candidate pair of the linker's records.

    Args:
        linker: A linker holding the trained model and the whole matching frame.
        config: The matching configuration.

    Returns:
        Explained pairs at or above the review threshold.
    """
    predictions = linker.inference.predict(
        threshold_match_probability=config.thresholds.review, warning_mode="never"
    )
    try:
        return explain_pairs(linker._db_api.duckdb_con, predictions.physical_name, config)
    finally:
        predictions.drop_table_from_database_and_remove_from_cache()


def score_changes(linker: Any, changed: pa.Table, unchanged: pa.Table, config: MatchingConfig) -> pa.Table:
    """Score only the pairs that touch a changed record.

    Args:
        linker: A linker holding the trained model (and term frequencies of the whole frame).
        changed: Matching-frame rows of new and changed records.
        unchanged: Matching-frame rows of every other current record.
        config: The matching configuration.

    Returns:
        Explained pairs at or above the review threshold.
    """
    db_api = linker._db_api
    changed_df = db_api.register(changed, table_name="changed_records")
    unchanged_df = db_api.register(unchanged, table_name="unchanged_records")
    threshold = config.thresholds.review
    within = linker.inference.predict_within(
        changed_df, threshold_match_probability=threshold, warning_mode="never"
    )
    between = linker.inference.predict_between(
        changed_df, unchanged_df, threshold_match_probability=threshold, warning_mode="never"
    )
    connection = db_api.duckdb_con
    try:
        return pa.concat_tables(
            [
                explain_pairs(connection, within.physical_name, config),
                explain_pairs(connection, between.physical_name, config),
            ]
        )
    finally:
        within.drop_table_from_database_and_remove_from_cache()
        between.drop_table_from_database_and_remove_from_cache()
