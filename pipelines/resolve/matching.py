"""Probabilistic matching of one run: reuse or train the model, then score in full or incrementally.

A reused model scores a pair the same whichever run scores it (term frequencies are part of the
model), so a run keeps the earlier scores of pairs whose two records have unchanged matching-frame
rows, and scores only the candidate pairs that touch a new or changed record. The result is the
one a full rescoring would give, at a cost that follows the change.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb

from pipelines.resolve.config import MatchingConfig
from pipelines.resolve.features import MatchingFrame, run_sql, run_with_rows
from pipelines.resolve.model import TrainedModel, data_shape, new_linker, train_model
from pipelines.resolve.scoring import block_pairs, predict_pairs, register_term_frequencies, term_frequencies

log = logging.getLogger(__name__)

# The identity store's table of scored pairs at or above the review threshold.
PAIRS_TABLE = "pairs"
# The relation of the pairs scored in this run (all of ``PAIRS_TABLE`` after a full scoring).
SCORED_TABLE = "scored_pairs"
# Memory of the side connection scoring the pairs of changed records.
SIDE_MEMORY = "1GB"


def fitting_model(
    connection: duckdb.DuckDBPyConnection,
    frame: MatchingFrame,
    model: TrainedModel | None,
    config: MatchingConfig,
) -> TrainedModel | None:
    """The previous model when it fits the configuration and the frame's shape, else None."""
    if model is None:
        return None
    return model if model.fits(config, data_shape(connection, frame.table)) else None


def train(
    connection: duckdb.DuckDBPyConnection, frame: MatchingFrame, config: MatchingConfig, run_id: str
) -> TrainedModel:
    """Train on the frame in a fixed row order, so that the same records give the same model."""
    shape = data_shape(connection, frame.table)
    run_sql(
        connection, f"create or replace temp table training_frame as from {frame.table} order by unique_id"
    )
    frequencies = term_frequencies(connection, "training_frame", config)
    linker = new_linker(connection, "training_frame", config.splink_settings())
    register_term_frequencies(linker, frequencies)
    settings = train_model(linker, config, frame.num_rows)
    linker.table_management.delete_tables_created_by_splink_from_db()
    for name in (f"tf_{column}" for column in frequencies):
        connection.unregister(name)
    run_sql(connection, "drop table training_frame")
    return TrainedModel.trained(settings, config, shape, run_id, frequencies)


def score_every_pair(
    connection: duckdb.DuckDBPyConnection, frame: MatchingFrame, model: TrainedModel, config: MatchingConfig
) -> int:
    """Score every candidate pair into ``PAIRS_TABLE``; return how many were compared."""
    compared = block_pairs(connection, config, frame.table)
    linker = _linker(connection, frame.table, model)
    try:
        predict_pairs(linker, config, f"table {PAIRS_TABLE}")
    finally:
        linker.table_management.delete_tables_created_by_splink_from_db()
        run_sql(connection, "drop table blocked_pairs")
    run_sql(connection, f"create or replace temp view {SCORED_TABLE} as from {PAIRS_TABLE}")
    log.info("matching: every pair scored, %d compared", compared)
    return compared


def score_changed_pairs(
    connection: duckdb.DuckDBPyConnection, frame: MatchingFrame, model: TrainedModel, config: MatchingConfig
) -> int:
    """Replace in ``PAIRS_TABLE`` the pairs touching a changed or removed record by the scores of
    the candidate pairs touching a changed one (also left in ``SCORED_TABLE``); return how many
    pairs were compared.

    The candidate pairs are found in ``connection``; Splink scores them on a side connection that
    holds only their records' frame rows, so that ``connection`` can keep one transaction open
    (Splink probes for tables with statements that fail, which would abort it).
    """
    assert frame.changed is not None and frame.removed is not None
    gone = f"select unique_id from {frame.changed} union all select unique_id from {frame.removed}"
    run_sql(connection, f"delete from {PAIRS_TABLE} where record_l in ({gone}) or record_r in ({gone})")
    compared = block_pairs(connection, config, frame.table, frame.changed)
    blocked = connection.sql("from blocked_pairs").to_arrow_table()
    rows = connection.sql(
        f"""
        from {frame.table} where unique_id in (
            select join_key_l from blocked_pairs union select join_key_r from blocked_pairs
        )
        """
    ).to_arrow_table()
    run_sql(connection, "drop table blocked_pairs")
    with duckdb.connect(config={"memory_limit": SIDE_MEMORY}) as side:
        for name, table in (("blocked_pairs", blocked), (frame.table, rows)):
            run_with_rows(side, f"create table {name} as from incoming_rows", table)
        del blocked, rows
        linker = _linker(side, frame.table, model)
        predict_pairs(linker, config, f"table {SCORED_TABLE}")
        scored = side.sql(f"from {SCORED_TABLE}").to_arrow_table()
    run_with_rows(connection, f"create or replace temp table {SCORED_TABLE} as from incoming_rows", scored)
    run_sql(connection, f"insert into {PAIRS_TABLE} by name select * from {SCORED_TABLE}")
    log.info("matching: pairs of changed records scored, %d compared", compared)
    return compared


def _linker(connection: duckdb.DuckDBPyConnection, frame: str, model: TrainedModel) -> Any:
    linker = new_linker(connection, frame, model.settings)
    register_term_frequencies(linker, model.term_frequencies)
    return linker
