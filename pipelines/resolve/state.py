"""What one resolution run leaves in ``resolved/`` for the next, so that the next costs what changed.

Besides the published outputs, a run keeps: the trained model, the matching frame (one row per
record, with the hash of the staged fields it was derived from), each record's component, cluster,
rule, score, resident id and content hash (``records.parquet``), the guard log, and the reviewer
decisions it obeyed. The scored pairs are the explanation table without its resident columns. A
state written under another configuration, survivorship or state format is not reused (the model
may still be, see `model.TrainedModel.fits`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.resolve.model import TrainedModel

STATE_FORMAT = 2
META_FILE, FRAME_FILE, RECORDS_FILE = "state.json", "frame.parquet", "records.parquet"
GUARDS_FILE, DECISIONS_FILE, MODEL_DIR = "guard_log.parquet", "decisions.parquet", "model"
EXPLANATION_FILE = "resident_link_explanation.parquet"
RESIDENT_COLUMNS = ("resident_id_l", "resident_id_r", "is_same_resident")


def output_file(folder: Path, name: str) -> Path:
    """Where a run's output ``name`` (``resident``, ``resident_source_link`` …) lies in ``folder``."""
    return folder / f"{name}.parquet"


def run_of(folder: Path) -> str | None:
    """The run whose outputs and state ``folder`` holds (None when it holds none)."""
    meta_path = folder / META_FILE
    if not meta_path.exists():
        return None
    return json.loads(meta_path.read_text(encoding="utf-8")).get("run_id")


def fingerprint(*documents: Any) -> str:
    """A short hash of JSON-serializable documents (configurations, rules)."""
    text = json.dumps(documents, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PreviousState:
    """A previous run's state, read lazily from its folder.

    Attributes:
        folder: The ``resolved/`` folder.
        model: The trained model (None when there is none or its format is old).
        usable: Whether the rest of the state may be reused (same format and rules).
    """

    folder: Path
    model: TrainedModel | None
    usable: bool

    @classmethod
    def read(cls, folder: Path, rules: str) -> PreviousState:
        """Open the state in ``folder``; ``rules`` is the current rules' `fingerprint`."""
        meta_path = folder / META_FILE
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        files = (FRAME_FILE, RECORDS_FILE, GUARDS_FILE, DECISIONS_FILE, EXPLANATION_FILE)
        usable = (
            meta.get("format") == STATE_FORMAT
            and meta.get("rules") == rules
            and all((folder / name).exists() for name in files)
        )
        return cls(folder=folder, model=TrainedModel.load(folder / MODEL_DIR), usable=usable)

    @property
    def frame_path(self) -> Path | None:
        """The previous matching frame (None when the state is not usable)."""
        return self.folder / FRAME_FILE if self.usable else None

    def pairs(self) -> PreviousPairs | None:
        """The previous scored pairs (None when the state is not usable)."""
        return PreviousPairs(self.folder / EXPLANATION_FILE) if self.usable else None

    def records(self) -> pa.Table:
        """``unique_id, component_key, cluster_key, match_rule, match_score, content_hash, resident_id``."""
        return pq.read_table(self.folder / RECORDS_FILE)

    def guard_log(self) -> pd.DataFrame:
        """The previous guard log (with ``component_key``)."""
        return pq.read_table(self.folder / GUARDS_FILE).to_pandas()

    def decisions(self) -> pa.Table:
        """The reviewer decisions the previous run obeyed (``record_l, record_r, decision``)."""
        return pq.read_table(self.folder / DECISIONS_FILE)

    def output(self, name: str) -> pa.Table:
        """A published output of the previous run (``resident``, ``resident_conflict`` …)."""
        return pq.read_table(output_file(self.folder, name))


@dataclass(frozen=True)
class PreviousPairs:
    """The previous run's scored pairs, on disk: the explanation table without its resident columns."""

    path: Path

    def without(self, connection: duckdb.DuckDBPyConnection, gone: pa.Array) -> pa.Table:
        """The pairs neither of whose records is in ``gone`` (changed or removed records), read by
        DuckDB so that the others never reach memory."""
        connection.register("gone_records", pa.table({"unique_id": gone}))
        try:
            return connection.sql(
                f"""
                select * exclude ({", ".join(RESIDENT_COLUMNS)})
                from read_parquet($path)
                where record_l not in (select unique_id from gone_records)
                  and record_r not in (select unique_id from gone_records)
                """,
                params={"path": str(self.path)},
            ).to_arrow_table()
        finally:
            connection.unregister("gone_records")


@dataclass(frozen=True)
class NextState:
    """What this run leaves for the next (written next to the outputs)."""

    run_id: str
    rules: str
    model: TrainedModel
    records: pa.Table
    guard_log: pd.DataFrame
    decisions: pa.Table

    def write(self, folder: Path) -> None:
        """Write the state into a resolution output folder (the run wrote the frame there already)."""
        self.model.save(folder / MODEL_DIR)
        pq.write_table(self.records, folder / RECORDS_FILE, compression="zstd")
        pq.write_table(_guard_table(self.guard_log), folder / GUARDS_FILE)
        pq.write_table(self.decisions, folder / DECISIONS_FILE)
        meta = {
            "format": STATE_FORMAT,
            "run_id": self.run_id,
            "rules": self.rules,
            "model_id": self.model.model_id,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _guard_table(guard_log: pd.DataFrame) -> pa.Table:
    schema = pa.schema(
        [
            ("record_l", pa.string()),
            ("record_r", pa.string()),
            ("match_probability", pa.float64()),
            ("match_weight", pa.float64()),
            ("guard", pa.string()),
            ("reason", pa.string()),
            ("component_key", pa.string()),
        ]
    )
    columns = {name: guard_log[name].tolist() for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)
