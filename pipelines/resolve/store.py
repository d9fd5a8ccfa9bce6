"""The identity store: what identity resolution keeps between runs, and what it publishes from.

One DuckDB database file, ``resolved/identity.duckdb``, beside the trained model
(``resolved/model/``). Its tables:

- ``frame``: the matching frame, one row per record (`features`);
- ``pairs``: every scored pair at or above the review threshold, with its explanation (`matching`);
- ``record_state``: per record its component, cluster, rule, score, content hash, batch and
  resident id;
- ``guard_log``, ``decisions``: the clustering's guard decisions and the reviewer decisions it
  obeyed;
- ``resident``, ``resident_conflict``, ``resident_id_event``: golden records, conflicts, id events;
- ``meta``: the store's format, the run that last wrote it, its rules' fingerprint, the model id;

and the views ``resident_source_link``, ``resident_link_explanation`` and ``match_review`` over
them. Validation and publish read the outputs (`OUTPUT_ORDER`) straight from the store.

A full run writes a new store beside the old one and swaps the folder in one rename. An
incremental run updates the store in place, in one transaction: a reader sees the previous run or
this one, never half of it, and a failed run leaves the store as it was.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.resolve.model import TrainedModel

STORE_FORMAT = 5
STORE_FILE, MODEL_DIR = "identity.duckdb", "model"

# The published outputs, each with the order `read_output` gives its rows in.
OUTPUT_ORDER = {
    "resident": "resident_id",
    "resident_source_link": "source_system, source_record_id",
    "resident_conflict": "resident_id, field, conflict_type",
    "resident_id_event": "run_id, event, resident_id, related_resident_id",
    "resident_link_explanation": "record_l, record_r",
    "match_review": "match_probability desc, record_l, record_r",
}


def store_file(folder: Path) -> Path:
    """The identity store's database file in a resolution folder."""
    return folder / STORE_FILE


def fingerprint(*documents: Any) -> str:
    """A short hash of JSON-serializable documents (configurations, rules)."""
    text = json.dumps(documents, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _meta(folder: Path) -> dict[str, Any]:
    """The store's ``meta`` row (empty when there is no store or it is not one of ours)."""
    path = store_file(folder)
    if not path.exists():
        return {}
    try:
        with duckdb.connect(str(path), read_only=True) as connection:
            row = connection.execute("select format, run_id, rules, model_id from meta").fetchone()
    except duckdb.CatalogException:  # not a store this code wrote: the run resolves anew
        return {}
    return dict(zip(("format", "run_id", "rules", "model_id"), row, strict=True)) if row else {}


def run_of(folder: Path) -> str | None:
    """The run whose outputs and state ``folder`` holds (None when it holds none)."""
    return _meta(folder).get("run_id")


def read_output(folder: Path, name: str) -> pa.Table:
    """An output of the store in ``folder``, read whole in its `OUTPUT_ORDER`."""
    with duckdb.connect(str(store_file(folder)), read_only=True) as connection:
        return connection.sql(f"select * from {name} order by {OUTPUT_ORDER[name]}").to_arrow_table()


def write_meta(connection: duckdb.DuckDBPyConnection, run_id: str, rules: str, model_id: str) -> None:
    """Record in the store which run wrote it, under which rules and model."""
    connection.execute(
        "create or replace table meta (format integer, run_id varchar, rules varchar, model_id varchar)"
    )
    connection.execute("insert into meta values (?, ?, ?, ?)", [STORE_FORMAT, run_id, rules, model_id])


@dataclass(frozen=True)
class PreviousState:
    """What the previous run left in ``resolved/``.

    Attributes:
        folder: The ``resolved/`` folder.
        model: The trained model (None when there is none or its format is old).
        run_id: The run that wrote the store (None when there is none).
        usable: Whether the store may be updated in place (same format and rules).
    """

    folder: Path
    model: TrainedModel | None
    run_id: str | None
    usable: bool

    @classmethod
    def read(cls, folder: Path, rules: str) -> PreviousState:
        """Open the state in ``folder``; ``rules`` is the current rules' `fingerprint`."""
        meta = _meta(folder)
        usable = meta.get("format") == STORE_FORMAT and meta.get("rules") == rules
        return cls(folder, TrainedModel.load(folder / MODEL_DIR), meta.get("run_id"), usable)
