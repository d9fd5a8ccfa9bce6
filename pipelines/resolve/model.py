"""The Fellegi-Sunter model (Splink on DuckDB): trained without labels, saved, versioned, reused.

Training is the costly part of a run (u-sampling above all), so a trained model is kept under
``resolved/model/`` with the configuration it was trained under and the shape of the data it saw.
A later run reuses it while both are unchanged; a new source, a field a source starts or stops
filling, a tenfold change in size or any edit of ``schemas/matching.yaml`` retrains.

The term frequencies (how common each name is) are part of the model: counted over the records it
was trained on and kept with it. A pair's score is then a function of the model and the two
records only, so scoring just the pairs that touch changed records gives exactly what scoring
every pair again would. A value the model never saw gets no term-frequency adjustment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.resolve.config import MatchingConfig

log = logging.getLogger(__name__)

MODEL_FILE, META_FILE = "model.json", "meta.json"
# Bumped when what a saved model holds changes; a model saved under another format is retrained.
MODEL_FORMAT = 4
# Columns whose fill rate per source is part of the data's shape.
SHAPE_COLUMNS = ("id_key", "id_mask", "name", "birth_date", "gender", "phone", "address_key")


@dataclass(frozen=True)
class TrainedModel:
    """A trained model with what it was trained under.

    Attributes:
        settings: Splink settings with trained m, u and prior (``save_model_to_json`` form).
        config_fingerprint: Fingerprint of the MatchingConfig it was trained under.
        data_shape: Shape of the matching frame it was trained on (see `data_shape`).
        trained_in_run: The run that trained it.
        term_frequencies: Per term-frequency column, ``<column>, tf_<column>`` sorted by value.
        model_id: A version id derived from the trained parameters and term frequencies.
    """

    settings: dict[str, Any]
    config_fingerprint: str
    data_shape: str
    trained_in_run: str
    term_frequencies: dict[str, pa.Table]
    model_id: str

    @classmethod
    def trained(
        cls,
        settings: dict[str, Any],
        config: MatchingConfig,
        shape: str,
        run_id: str,
        term_frequencies: dict[str, pa.Table],
    ) -> TrainedModel:
        """A newly trained model, its version id derived from what it holds."""
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
        for column in sorted(term_frequencies):
            for array in term_frequencies[column].columns:
                digest.update(json.dumps(array.to_pylist(), ensure_ascii=False).encode())
        model_id = "M" + digest.hexdigest()[:12].upper()
        return cls(settings, config.fingerprint, shape, run_id, term_frequencies, model_id)

    def fits(self, config: MatchingConfig, shape: str) -> bool:
        """Tell whether the model can be reused for this configuration and data shape."""
        return self.config_fingerprint == config.fingerprint and self.data_shape == shape

    def save(self, folder: Path) -> None:
        """Write the model and its metadata into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MODEL_FILE).write_text(json.dumps(self.settings, indent=1), encoding="utf-8")
        for column, table in self.term_frequencies.items():
            pq.write_table(table, folder / f"tf_{column}.parquet")
        meta = {
            "format": MODEL_FORMAT,
            "model_id": self.model_id,
            "config_fingerprint": self.config_fingerprint,
            "data_shape": self.data_shape,
            "trained_in_run": self.trained_in_run,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> TrainedModel | None:
        """Read a model written by :meth:`save`; None when there is none."""
        if not (folder / MODEL_FILE).exists() or not (folder / META_FILE).exists():
            return None
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != MODEL_FORMAT:
            return None
        return cls(
            settings=json.loads((folder / MODEL_FILE).read_text(encoding="utf-8")),
            config_fingerprint=meta["config_fingerprint"],
            data_shape=meta["data_shape"],
            trained_in_run=meta["trained_in_run"],
            model_id=meta["model_id"],
            term_frequencies={
                path.stem.removeprefix("tf_"): pq.read_table(path) for path in folder.glob("tf_*.parquet")
            },
        )


def data_shape(connection: duckdb.DuckDBPyConnection, frame: str) -> str:
    """Describe the matching frame coarsely: sources, which fields each fills, size in decades.

    Args:
        connection: DuckDB connection holding the frame.
        frame: The frame's relation name.

    Returns:
        A short text such as ``grid[name,phone]~4|public_security[id_key,name]~4``.
    """
    fills = ", ".join(f"count({c}) > 0.01 * count(*) as {c}" for c in SHAPE_COLUMNS)
    rows = connection.sql(
        f"select source_system, count(*), {fills} from {frame} group by 1 order by 1"
    ).fetchall()
    parts = []
    for source, count, *filled in rows:
        fields = ",".join(c for c, f in zip(SHAPE_COLUMNS, filled, strict=True) if f)
        parts.append(f"{source}[{fields}]~{round(math.log10(max(count, 1)))}")
    return "|".join(parts)


def new_linker(connection: duckdb.DuckDBPyConnection, frame: str, settings: dict) -> Any:
    """A Splink linker deduplicating the DuckDB table ``frame`` on this connection."""
    from splink import DuckDBAPI, Linker

    # Splink warns about levels its EM sample did not see; the model keeps the u-based defaults
    # for those, and the run log should not be flooded with it.
    logging.getLogger("splink").setLevel(logging.ERROR)
    db_api = DuckDBAPI(connection=connection)
    records = db_api.register(frame, table_name=frame)
    return Linker(records, settings, log_level=None)


def train_model(linker: Any, config: MatchingConfig, records: int) -> dict[str, Any]:
    """Train m, u and the prior without labels; return the trained Splink settings.

    Args:
        linker: A linker built with ``config.splink_settings()``.
        config: The matching configuration (training rules, sample sizes, seed).
        records: How many records the linker's frame holds (bounds the random pairs sampled).

    Returns:
        The trained settings, as ``save_model_to_json`` gives them, with `discount_matches_from_u`
        and `bound_unseen_u` applied.
    """
    from splink.internals.exceptions import EMTrainingException  # no public home in Splink 5

    training = config.training
    linker.training.estimate_probability_two_random_records_match(
        list(training.prior_rules), recall=training.prior_recall
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=training.u_max_pairs, seed=config.seed)
    for rule in training.em_blocking_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, max_pairs=training.em_max_pairs, estimate_without_term_frequencies=True
            )
        except EMTrainingException as nothing_to_learn:
            # A small or sparse population may hold no pair the rule blocks (no shared ID number):
            # the comparisons that session would train keep what the other sessions learnt.
            log.warning("EM training on %r skipped: %s", rule, str(nothing_to_learn).splitlines()[0])
    sampled = min(training.u_max_pairs, records * (records - 1) / 2)
    trained = dict(linker.misc.save_model_to_json())
    return bound_unseen_u(discount_matches_from_u(trained, training.prior_recall, sampled), sampled)


def discount_matches_from_u(
    settings: dict[str, Any], prior_recall: float, sampled_pairs: float
) -> dict[str, Any]:
    """Take the matches out of each level's u: random sampling measures it over all pairs.

    A random pair is a match with probability p, so it reaches a level with probability
    ``p * m + (1 - p) * u``, and that sum is what the sample counts. Where matches are about as
    common among random pairs as a level's agreements among non-matches (a small population in
    which most people have two records; a level as rare as the same document number) the count
    is mostly matches, u is overstated and agreement weighs too little. u is solved from the sum,
    with p taken as the share of pairs the prior rules find (matches for certain: a lower bound, so
    no more is taken out than the sample surely holds), and never below what no sample of this
    size can tell from zero (``3 / sampled_pairs``, as in `bound_unseen_u`). In a large population
    p is tiny and u hardly moves. Levels with term frequencies weigh each value by its frequency
    instead, so this changes their weight only for values the model has not seen.

    Args:
        settings: Trained settings (``save_model_to_json`` form) with the prior, m and u.
        prior_recall: The recall the prior rules were assumed to have (``training.prior_recall``).
        sampled_pairs: How many random pairs u was estimated on.

    Returns:
        The settings, u updated in place.
    """
    matches = float(settings["probability_two_random_records_match"]) * prior_recall
    floor = 3.0 / max(sampled_pairs, 3.0)
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or m is None or u is None:
                continue
            level["u_probability"] = max((u - matches * m) / (1 - matches), min(u, floor))
    return settings


def bound_unseen_u(settings: dict[str, Any], sampled_pairs: float) -> dict[str, Any]:
    """Give each level that no random pair reached ``u = 3 / sampled_pairs``.

    A level never seen among N random pairs has u at most about 3/N (the rule of three's 95% upper
    bound). Left unset, Splink falls back to a generic default u, so the level's weight would
    depend on whether one lucky random pair happened to reach it.
    """
    bound = 3.0 / max(sampled_pairs, 3.0)
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level") and level.get("u_probability") is None:
                level["u_probability"] = bound
    return settings
