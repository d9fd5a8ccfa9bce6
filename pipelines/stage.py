"""Stage: apply a source's landed batches to its staged state (canonical records + quarantine).

A full-snapshot batch replaces the state (its changes against the previous state are counted); an
incremental batch is merged on the primary key. Each applied batch yields a new state folder, made
visible in one rename, and the source's ``CURRENT`` pointer then moves to it. Staging the same batch
again rebuilds the same state (idempotent).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.canonical import FINDING_SCHEMA, QUARANTINE_SCHEMA, staged_schema
from pipelines.contracts import SourceContract
from pipelines.extract import BatchManifest, landed_batches
from pipelines.layout import WarehouseLayout, read_json, staging_directory, write_json_atomically
from pipelines.standardize.records import StagedBatch, standardize_batch

log = logging.getLogger(__name__)

RECORDS, QUARANTINE, FINDINGS = "records.parquet", "quarantine.parquet", "findings.parquet"
STATE = "state.json"


@dataclass(frozen=True)
class StageResult:
    """What staging did to one source.

    Attributes:
        source_system: The source.
        batch_id: The newest applied batch (the state's version).
        applied: Batches applied by this call (empty when the state was already current).
        records: Staged records in the state.
        quarantined: Quarantined rows in the state.
        findings: Findings in the state.
        inserted: Records new in this call's batches.
        updated: Records whose raw values changed.
        deleted: Records gone from a full snapshot.
    """

    source_system: str
    batch_id: str
    applied: tuple[str, ...]
    records: int
    quarantined: int
    findings: int
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class StagedState:
    """The three tables of a source's staged state."""

    records: pa.Table
    quarantine: pa.Table
    findings: pa.Table


def current_state_dir(layout: WarehouseLayout, source: str) -> Path | None:
    """The folder of a source's current staged state, or None before its first batch."""
    pointer = read_json(layout.staged(source) / "CURRENT")
    return None if pointer is None else layout.staged(source) / pointer["batch_id"]


def read_state(layout: WarehouseLayout, source: str, batch_id: str | None = None) -> StagedState:
    """Read a source's current staged state, or its state as of an applied batch (empty tables
    before its first batch)."""
    folder = current_state_dir(layout, source) if batch_id is None else layout.staged(source) / batch_id
    if folder is None:
        return StagedState(
            staged_schema().empty_table(),
            QUARANTINE_SCHEMA.empty_table(),
            FINDING_SCHEMA.empty_table(),
        )
    return StagedState(
        pq.read_table(folder / RECORDS, schema=staged_schema()),
        pq.read_table(folder / QUARANTINE, schema=QUARANTINE_SCHEMA),
        pq.read_table(folder / FINDINGS, schema=FINDING_SCHEMA),
    )


def staged_lineage(layout: WarehouseLayout, source: str) -> str | None:
    """The lineage of a source's staged state: kept while batches are applied on top of it, new
    when the state is built again from nothing (so rows of batches applied before may differ, for
    example standardized by newer code). None before the first batch."""
    pointer = read_json(layout.staged(source) / "CURRENT")
    return None if pointer is None else pointer.get("lineage")


def applied_batches(layout: WarehouseLayout, source: str) -> list[str]:
    """Batch ids applied to a source's staged state, oldest first (superseded ones left out)."""
    pointer = read_json(layout.staged(source) / "CURRENT")
    return [] if pointer is None else list(pointer["applied"])


def superseded_batches(layout: WarehouseLayout, source: str) -> list[str]:
    """Batches that were applied, then replaced by a batch that read their rows again."""
    pointer = read_json(layout.staged(source) / "CURRENT")
    return [] if pointer is None else list(pointer.get("superseded", []))


def standardize_landed(contract: SourceContract, batch_dir: Path, batch_id: str) -> StagedBatch:
    """Standardize every Parquet part of a landing batch, one part at a time (bounded memory).

    Args:
        contract: The source contract.
        batch_dir: The landing batch folder.
        batch_id: Its id.

    Returns:
        The batch's staged records, quarantine and findings; a key repeated across parts is
        quarantined like one repeated inside a part.
    """
    paths = sorted(batch_dir.glob("part-*.parquet"))
    parts = _standardize_parts_in_parallel(contract, paths, batch_id)
    if not parts:
        return StagedBatch(
            staged_schema().empty_table(),
            QUARANTINE_SCHEMA.empty_table(),
            FINDING_SCHEMA.empty_table(),
        )
    batch = StagedBatch(
        pa.concat_tables([p.records for p in parts]),
        pa.concat_tables([p.quarantine for p in parts]),
        pa.concat_tables([p.findings for p in parts]),
    )
    return _quarantine_keys_repeated_across_parts(batch)


def standardize_part(contract: SourceContract, path: Path, batch_id: str) -> StagedBatch:
    """Standardize one Parquet part of a landing batch."""
    return standardize_batch(contract, pq.read_table(path).to_pandas(), batch_id)


def _standardize_parts_in_parallel(
    contract: SourceContract, paths: list[Path], batch_id: str
) -> list[StagedBatch]:
    """Standardize parts on every core; inline for one part or inside a daemon worker (Celery)."""
    workers = min(len(paths), os.cpu_count() or 1)
    if workers < 2 or multiprocessing.current_process().daemon:
        return [standardize_part(contract, path, batch_id) for path in paths]
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(standardize_part, repeat(contract), paths, repeat(batch_id)))


def _quarantine_keys_repeated_across_parts(batch: StagedBatch) -> StagedBatch:
    ids = batch.records.column("source_record_id")
    counts = pc.value_counts(ids)
    repeated = {item["values"].as_py() for item in counts if item["counts"].as_py() > 1}
    if not repeated:
        return batch
    seen: set[str] = set()
    keep = []
    for record_id in ids.to_pylist():
        keep.append(record_id not in seen)
        seen.add(record_id)
    mask = pa.array(keep)
    dropped = batch.records.filter(pc.invert(mask))
    rows = [
        {
            "source_system": row["source_system"],
            "source_record_id": row["source_record_id"],
            "batch_id": row["batch_id"],
            "rule": "duplicate_primary_key",
            "column": None,
            "reason": "primary key repeated in batch",
            "raw_values": row["attributes"],
        }
        for row in dropped.to_pylist()
    ]
    quarantine = pa.concat_tables([batch.quarantine, pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)])
    return StagedBatch(batch.records.filter(mask), quarantine, batch.findings)


def _without_ids(table: pa.Table, ids: pa.Array) -> pa.Table:
    return table.filter(pc.invert(pc.is_in(table.column("source_record_id"), value_set=ids)))


def merge_batch(state: StagedState, batch: StagedBatch, mode: str) -> StagedState:
    """Apply a staged batch to a source's state.

    Args:
        state: The state before the batch.
        batch: The standardized batch.
        mode: ``full`` replaces the state; ``incremental`` replaces the batch's keys and keeps
            the rest (rows quarantined without a key replace nothing: they are added).

    Returns:
        The new state.
    """
    if mode == "full":
        return StagedState(batch.records, batch.quarantine, batch.findings)
    keys = pc.unique(
        pa.concat_arrays(
            [
                batch.records.column("source_record_id").combine_chunks(),
                batch.quarantine.column("source_record_id").combine_chunks(),
            ]
        )
    )
    touched = keys.filter(pc.not_equal(pc.utf8_trim_whitespace(keys), ""))  # drops null and blank keys
    return StagedState(
        pa.concat_tables([_without_ids(state.records, touched), batch.records]),
        pa.concat_tables([_without_ids(state.quarantine, touched), batch.quarantine]),
        pa.concat_tables([_without_ids(state.findings, touched), batch.findings]),
    )


def count_changes(before: pa.Table, after: pa.Table, mode: str) -> dict[str, int]:
    """Count inserted, updated and (for full snapshots) deleted records between two states."""
    old = dict(
        zip(
            before.column("source_record_id").to_pylist(),
            before.column("record_hash").to_pylist(),
            strict=True,
        )
    )
    new = dict(
        zip(
            after.column("source_record_id").to_pylist(),
            after.column("record_hash").to_pylist(),
            strict=True,
        )
    )
    inserted = sum(1 for key in new if key not in old)
    updated = sum(1 for key, digest in new.items() if key in old and old[key] != digest)
    deleted = sum(1 for key in old if key not in new) if mode == "full" else 0
    return {"inserted": inserted, "updated": updated, "deleted": deleted}


# Rows of a newly applied batch come last in each file; row groups this size let a reader of one
# batch skip the rest by their statistics.
ROW_GROUP_ROWS = 65_536


def _write_state(folder: Path, state: StagedState) -> None:
    for table, name in ((state.records, RECORDS), (state.quarantine, QUARANTINE), (state.findings, FINDINGS)):
        pq.write_table(table, folder / name, compression="zstd", row_group_size=ROW_GROUP_ROWS)


def stage_source(
    contract: SourceContract,
    layout: WarehouseLayout,
    on_batch: Callable[[BatchManifest], None] | None = None,
) -> StageResult:
    """Apply every landed batch of a source that its staged state does not hold yet.

    Args:
        contract: The source contract.
        layout: The warehouse directory.
        on_batch: Called before each batch is standardized (progress display).

    Returns:
        What was applied and the state's counts.
    """
    source = contract.name
    applied = applied_batches(layout, source)
    superseded = superseded_batches(layout, source)
    done = set(applied) | set(superseded)
    pending = [b for b in landed_batches(layout, source) if b.batch_id not in done]
    state = read_state(layout, source)
    lineage = (staged_lineage(layout, source) if applied else None) or uuid.uuid4().hex
    changes = {"inserted": 0, "updated": 0, "deleted": 0}
    for manifest in pending:
        if on_batch is not None:
            on_batch(manifest)
        batch = standardize_landed(contract, layout.batch_dir(source, manifest.batch_id), manifest.batch_id)
        base = _state_before(layout, source, applied, manifest, state)
        superseded += applied[len(base.applied) :]
        applied = base.applied
        new_state = merge_batch(base.state, batch, manifest.mode)
        for key, count in count_changes(state.records, new_state.records, manifest.mode).items():
            changes[key] += count
        state = new_state
        applied.append(manifest.batch_id)
        _commit_state(layout, source, manifest, state, (applied, superseded), lineage)
    batch_id = applied[-1] if applied else ""
    return StageResult(
        source_system=source,
        batch_id=batch_id,
        applied=tuple(b.batch_id for b in pending),
        records=state.records.num_rows,
        quarantined=state.quarantine.num_rows,
        findings=state.findings.num_rows,
        **changes,
    )


@dataclass(frozen=True)
class _Base:
    """The state a batch is merged into, and the batches it holds."""

    state: StagedState
    applied: list[str]


def _state_before(
    layout: WarehouseLayout, source: str, applied: list[str], manifest: BatchManifest, state: StagedState
) -> _Base:
    """The current state, or, for a batch that reads held batches again, the state before the
    first of them (the held batches' rows, keyless ones included, are replaced by the new read)."""
    again = [applied.index(batch) for batch in manifest.supersedes if batch in applied]
    if not again:
        return _Base(state, list(applied))
    kept = applied[: min(again)]
    log.info("source %s: batch %s supersedes %s", source, manifest.batch_id, applied[min(again) :])
    return _Base(read_state(layout, source, kept[-1]) if kept else _empty_state(), kept)


def _empty_state() -> StagedState:
    return StagedState(
        staged_schema().empty_table(), QUARANTINE_SCHEMA.empty_table(), FINDING_SCHEMA.empty_table()
    )


def _commit_state(
    layout: WarehouseLayout,
    source: str,
    manifest: BatchManifest,
    state: StagedState,
    batches: tuple[list[str], list[str]],
    lineage: str,
) -> None:
    """Write the state folder for a batch, then move the source's CURRENT pointer to it.

    ``batches`` are the applied batches and the superseded ones."""
    applied, superseded = batches
    pointer = {
        "batch_id": manifest.batch_id,
        "applied": applied,
        "superseded": superseded,
        "lineage": lineage,
    }
    with staging_directory(layout.staged(source) / manifest.batch_id) as folder:
        _write_state(folder, state)
        write_json_atomically(folder / STATE, {"batch": asdict(manifest)} | pointer)
    write_json_atomically(layout.staged(source) / "CURRENT", pointer)
    log.info("source %s: staged batch %s", source, manifest.batch_id)
