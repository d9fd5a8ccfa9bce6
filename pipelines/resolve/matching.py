"""Probabilistic matching of one run: reuse or train the model, then score in full or incrementally.

A reused model scores a pair the same whichever run scores it (term frequencies are part of the
model), so a run keeps the earlier scores of pairs whose two records have unchanged matching-frame
rows, and scores only the candidate pairs that touch a new or changed record. The result is the
one a full rescoring would give, at a cost that follows the change.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from pipelines.resolve.config import MatchingConfig
from pipelines.resolve.features import MatchingFrame, run_sql
from pipelines.resolve.model import TrainedModel, data_shape, new_linker, train_model
from pipelines.resolve.scoring import register_term_frequencies, score_pairs, term_frequencies
from pipelines.resolve.state import PreviousPairs

log = logging.getLogger(__name__)

# Above this share of changed records, scoring everything again is as cheap and simpler.
MAX_INCREMENTAL_SHARE = 0.3


@dataclass
class Matching:
    """The scored pairs of this run and how they were obtained.

    Attributes:
        model: The model the pairs were scored with.
        pairs: Explained scored pairs at or above the review threshold (every current one).
        mode: ``full`` (every candidate pair scored) or ``incremental``.
        model_reused: Whether the previous run's model was reused.
        scored: The pairs scored in this run (all of ``pairs`` in a full run).
        changed_ids: Records whose pairs were scored in this run (empty in a full run: all).
        compared_pairs: Candidate pairs scored in this run.
        seconds: Wall seconds of training and scoring.
    """

    model: TrainedModel
    pairs: pa.Table
    mode: str
    model_reused: bool
    scored: pa.Table
    changed_ids: pa.Array
    compared_pairs: int
    seconds: dict[str, float] = field(default_factory=dict)


def incremental_possible(frame: MatchingFrame, previous_pairs: PreviousPairs | None) -> bool:
    """Whether the previous scores can be kept: known differences, not too many of them."""
    if previous_pairs is None or frame.changed is None:
        return False
    touched = len(frame.changed) + len(frame.removed)
    return touched <= MAX_INCREMENTAL_SHARE * max(frame.num_rows, 1)


def match_records(
    connection: duckdb.DuckDBPyConnection,
    frame: MatchingFrame,
    model: TrainedModel | None,
    previous_pairs: PreviousPairs | None,
    config: MatchingConfig,
    run_id: str,
) -> Matching:
    """Score the candidate pairs of the current records.

    Args:
        connection: DuckDB connection for Splink's work.
        frame: The matching frame of every current record, with its changes.
        model: The previous run's model (reused when it fits the configuration and data).
        previous_pairs: The previous run's scored pairs (kept for unchanged records).
        config: The matching configuration.
        run_id: The current run (recorded on a newly trained model).

    Returns:
        This run's model and scored pairs, with its mode (full / incremental) and step times.
    """
    started = time.perf_counter()
    shape = data_shape(connection, frame.table)
    reuse = model is not None and model.fits(config, shape)
    seconds: dict[str, float] = {}
    if not reuse or model is None:
        model = _train(connection, frame, config, shape, run_id)
        seconds["train"] = round(time.perf_counter() - started, 3)
    linker = new_linker(connection, frame.table, model.settings)
    register_term_frequencies(linker, model.term_frequencies)
    scoring_started = time.perf_counter()
    if reuse and incremental_possible(frame, previous_pairs):
        assert frame.changed is not None and previous_pairs is not None
        pairs, scored, compared = _score_incrementally(connection, linker, frame, previous_pairs, config)
        mode, changed = "incremental", frame.changed
    else:
        pairs, compared = score_pairs(linker, frame.table, config)
        mode, scored, changed = "full", pairs, pa.array([], pa.string())
    seconds["score"] = round(time.perf_counter() - scoring_started, 3)
    linker.table_management.delete_tables_created_by_splink_from_db()
    log.info("matching: %s, %d pairs compared, %d pairs, %s", mode, compared, pairs.num_rows, seconds)
    return Matching(model, pairs, mode, reuse, scored, changed, compared, seconds)


def _train(
    connection: duckdb.DuckDBPyConnection,
    frame: MatchingFrame,
    config: MatchingConfig,
    shape: str,
    run_id: str,
) -> TrainedModel:
    """Train on the frame in a fixed row order, so that the same records give the same model."""
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


def _score_incrementally(
    connection: duckdb.DuckDBPyConnection,
    linker: object,
    frame: MatchingFrame,
    previous_pairs: PreviousPairs,
    config: MatchingConfig,
) -> tuple[pa.Table, pa.Table, int]:
    """Every current pair (kept and newly scored), the newly scored ones, how many were compared."""
    assert frame.changed is not None
    kept = previous_pairs.without(connection, pa.concat_arrays([frame.changed, frame.removed]))
    if len(frame.changed) == 0:
        return kept, kept.schema.empty_table(), 0
    connection.register("changed_ids", pa.table({"unique_id": frame.changed}))
    run_sql(
        connection,
        f"create or replace temp table changed_records as "
        f"from {frame.table} semi join changed_ids using (unique_id)",
    )
    connection.unregister("changed_ids")
    try:
        fresh, compared = score_pairs(linker, frame.table, config, "changed_records")
    finally:
        run_sql(connection, "drop table changed_records")
    fresh = fresh.cast(kept.schema)
    return pa.concat_tables([kept, fresh]), fresh, compared
