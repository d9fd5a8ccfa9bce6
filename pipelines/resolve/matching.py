"""Probabilistic matching of one run: reuse or train the model, then score in full or incrementally.

What a run leaves for the next one (in ``resolved/``): the trained model, the scored pairs, and the
hash of every record they were scored on. The next run rescores only pairs touching records that
are new or whose raw values changed, and keeps the other scores, so its cost follows the change.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.resolve.config import MatchingConfig
from pipelines.resolve.model import TrainedModel, data_shape, new_linker, train_model
from pipelines.resolve.scoring import register_term_frequencies, score_all, score_changes

log = logging.getLogger(__name__)

PAIRS_FILE, HASHES_FILE, MODEL_DIR = "scored_pairs.parquet", "record_hashes.parquet", "model"
# Above this share of changed records, scoring everything again is as cheap and simpler.
MAX_INCREMENTAL_SHARE = 0.3


@dataclass(frozen=True)
class MatchingState:
    """What one run's matching leaves for the next.

    Attributes:
        model: The trained model (None before the first run).
        pairs: Explained scored pairs (see `scoring.explain_pairs`).
        record_hashes: ``unique_id, record_hash`` of the records the pairs were scored on.
    """

    model: TrainedModel | None
    pairs: pa.Table | None
    record_hashes: pa.Table | None

    def write(self, folder: Path) -> None:
        """Write the state into a resolution output folder."""
        if self.model is not None:
            self.model.save(folder / MODEL_DIR)
        if self.pairs is not None and self.record_hashes is not None:
            pq.write_table(self.pairs, folder / PAIRS_FILE, compression="zstd")
            pq.write_table(self.record_hashes, folder / HASHES_FILE, compression="zstd")

    @classmethod
    def read(cls, folder: Path) -> MatchingState:
        """Read the state a previous run wrote (empty parts when missing)."""
        pairs_path, hashes_path = folder / PAIRS_FILE, folder / HASHES_FILE
        both = pairs_path.exists() and hashes_path.exists()
        return cls(
            model=TrainedModel.load(folder / MODEL_DIR),
            pairs=pq.read_table(pairs_path) if both else None,
            record_hashes=pq.read_table(hashes_path) if both else None,
        )


@dataclass
class Matching:
    """The scored pairs of this run and how they were obtained."""

    state: MatchingState
    mode: str
    model_reused: bool
    changed_records: int
    seconds: dict[str, float] = field(default_factory=dict)


def changed_records(frame: pa.Table, previous_hashes: pa.Table) -> pa.Array:
    """unique_ids of records that are new or whose raw values changed since the previous run."""
    connection = duckdb.connect()
    connection.register("frame", frame.select(["unique_id", "record_hash"]))
    connection.register("previous", previous_hashes)
    changed = connection.sql(
        """
        select f.unique_id from frame f left join previous p using (unique_id)
        where p.record_hash is distinct from f.record_hash
        """
    ).to_arrow_table()
    connection.close()
    return changed.column("unique_id").combine_chunks()


def _kept_pairs(pairs: pa.Table, frame: pa.Table, changed: pa.Array) -> pa.Table:
    """Earlier scores of pairs whose two records are both still present and unchanged."""
    stable = pc.filter(frame.column("unique_id"), pc.invert(pc.is_in(frame.column("unique_id"), changed)))
    keep = pc.and_(pc.is_in(pairs.column("record_l"), stable), pc.is_in(pairs.column("record_r"), stable))
    return pairs.filter(keep)


def match_records(
    connection: duckdb.DuckDBPyConnection,
    frame: pa.Table,
    previous: MatchingState,
    config: MatchingConfig,
    run_id: str,
) -> Matching:
    """Score the candidate pairs of the current records.

    Args:
        connection: DuckDB connection for Splink's work.
        frame: The matching frame of every current record.
        previous: What the previous run left (model, pairs, record hashes).
        config: The matching configuration.
        run_id: The current run (recorded on a newly trained model).

    Returns:
        This run's matching state, with its mode (full / incremental) and step times.
    """
    started = time.perf_counter()
    connection.register("matching_input", frame)
    shape = data_shape(connection, "matching_input")
    reuse = previous.model is not None and previous.model.fits(config, shape)
    settings = previous.model.settings if reuse and previous.model else config.splink_settings()
    linker = new_linker(connection, frame, settings)
    register_term_frequencies(linker, connection, "matching_input", config)
    seconds: dict[str, float] = {}
    model = previous.model
    if not reuse or model is None:
        model = TrainedModel(train_model(linker, config), config.fingerprint, shape, run_id)
        seconds["train"] = round(time.perf_counter() - started, 3)
    changed = _changes(frame, previous) if reuse else None
    scoring_started = time.perf_counter()
    if changed is not None:
        pairs = _score_incrementally(linker, frame, previous, changed, config)
        mode = "incremental"
    else:
        pairs, mode = score_all(linker, config), "full"
    seconds["score"] = round(time.perf_counter() - scoring_started, 3)
    hashes = frame.select(["unique_id", "record_hash"])
    log.info("matching: %s scoring, %d pairs, %s", mode, pairs.num_rows, seconds)
    return Matching(
        state=MatchingState(model=model, pairs=pairs, record_hashes=hashes),
        mode=mode,
        model_reused=reuse,
        changed_records=frame.num_rows if changed is None else len(changed),
        seconds=seconds,
    )


def _changes(frame: pa.Table, previous: MatchingState) -> pa.Array | None:
    """Changed records when an incremental run is possible and worth it, else None."""
    if previous.pairs is None or previous.record_hashes is None:
        return None
    changed = changed_records(frame, previous.record_hashes)
    return changed if len(changed) <= MAX_INCREMENTAL_SHARE * frame.num_rows else None


def _score_incrementally(
    linker: object, frame: pa.Table, previous: MatchingState, changed: pa.Array, config: MatchingConfig
) -> pa.Table:
    assert previous.pairs is not None
    kept = _kept_pairs(previous.pairs, frame, changed)
    if len(changed) == 0:
        return kept
    is_changed = pc.is_in(frame.column("unique_id"), changed)
    fresh = score_changes(linker, frame.filter(is_changed), frame.filter(pc.invert(is_changed)), config)
    return pa.concat_tables([kept, fresh.cast(kept.schema)])
