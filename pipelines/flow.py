"""The whole flow, step by step: sync each source, resolve identities, publish, summarize.

The command line, the Airflow DAGs and the tests call these functions; each step reads what the
previous one persisted, so any step can be rerun alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.contracts import SourceContract, load_contracts
from pipelines.extract import BatchManifest, extract_source, landed_batches
from pipelines.grants import load_grants
from pipelines.layout import WarehouseLayout, publish_lock, write_json_atomically
from pipelines.publish import (
    MARTS_DIR,
    Snapshot,
    SnapshotNotFound,
    StoredTable,
    TableData,
    current_snapshot,
    publish_snapshot,
    read_published,
)
from pipelines.quality.gate import (
    QualityGateFailed,
    contracts_of,
    quality_tables,
    validate_run,
    warm_up,
)
from pipelines.resolve.resolution import OUTPUTS as RESOLUTION_OUTPUTS
from pipelines.resolve.resolution import (
    PreviousIdentities,
    Resolution,
    empty_previous,
    resolve_identities,
)
from pipelines.resolve.review import decisions_path
from pipelines.settings import DEFAULT_GRANTS_DIR, DEFAULT_SOURCES_DIR, PROJECT_ROOT
from pipelines.stage import (
    FINDINGS,
    QUARANTINE,
    RECORDS,
    StageResult,
    applied_batches,
    current_state_dir,
    stage_source,
)

log = logging.getLogger(__name__)

SCHEMAS_DIR = PROJECT_ROOT / "schemas"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SyncResult:
    """One source's sync: the batch landed (or reused) and the staging that followed."""

    source_system: str
    batch: BatchManifest
    staged: StageResult


@dataclass
class RunSummary:
    """What one run did, for the console, the run log and the auditors."""

    run_id: str
    syncs: list[SyncResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    stale_sources: dict[str, str] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    residents: int = 0
    links: int = 0
    conflicts: int = 0
    snapshot_id: str | None = None
    blocked: str | None = None
    quality: list[dict[str, object]] = field(default_factory=list)
    unchanged: bool = False

    @property
    def succeeded(self) -> bool:
        """True when every source synced and a snapshot was published."""
        return not self.failures and self.snapshot_id is not None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form of the summary."""
        return asdict(self) | {"succeeded": self.succeeded}


def new_run_id() -> str:
    """A run id from the current UTC time."""
    return dt.datetime.now(dt.UTC).strftime("run-%Y%m%dT%H%M%S%fZ")


@contextmanager
def timed(summary: RunSummary, step: str) -> Iterator[None]:
    """Add the wall time of a step to the summary."""
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        summary.step_seconds[step] = summary.step_seconds.get(step, 0.0) + round(elapsed, 3)


def sync_source(
    contract: SourceContract,
    layout: WarehouseLayout,
    environ: Mapping[str, str],
    progress: Progress | None = None,
) -> SyncResult:
    """Extract a source into a landing batch and apply it to the staged state.

    Args:
        contract: The source contract.
        layout: The warehouse directory.
        environ: Environment for the contract's ``${VAR}`` references.
        progress: Called with a line of text as steps start.

    Returns:
        The landed batch and the staging result.
    """
    say = progress or log.info
    say(f"{contract.name}: extracting {contract.relation}")
    batch = extract_source(contract, layout, environ)
    say(f"{contract.name}: {batch.row_count} rows in batch {batch.batch_id}, standardizing")
    staged = stage_source(contract, layout)
    return SyncResult(source_system=contract.name, batch=batch, staged=staged)


def previous_identities(layout: WarehouseLayout) -> PreviousIdentities:
    """Links and id events of the live snapshot (empty before the first publish); the files are
    read only if the run needs them."""
    try:
        snapshot = current_snapshot(layout)
    except SnapshotNotFound:
        return empty_previous()
    links, events = snapshot.parquet("resident_source_link"), snapshot.parquet("resident_id_event")
    if not links.exists() or not events.exists():
        return empty_previous()
    return PreviousIdentities(links=links, id_events=events, run_id=snapshot.run_id)


def load_batch_table(layout: WarehouseLayout, sources: list[str], snapshot_hint: str) -> pa.Table:
    """Lineage of every landed batch: watermarks, counts, checksum, status, first snapshot.

    Args:
        layout: The warehouse directory.
        sources: Source systems to list.
        snapshot_hint: The id of the snapshot being published (for newly published batches).

    Returns:
        One row per landed batch.
    """
    published = read_published(layout, "load_batch")
    first_snapshot = {}
    if published is not None:
        first_snapshot = dict(
            zip(
                published.column("batch_id").to_pylist(),
                published.column("snapshot_id").to_pylist(),
                strict=True,
            )
        )
    rows = []
    for source in sources:
        applied = set(applied_batches(layout, source))
        records = _count_by_batch(layout, source, RECORDS)
        quarantined = _count_by_batch(layout, source, QUARANTINE)
        for batch in landed_batches(layout, source):
            is_staged = batch.batch_id in applied
            rows.append(
                {
                    "source_system": source,
                    "batch_id": batch.batch_id,
                    "mode": batch.mode,
                    "watermark_low": batch.watermark_low,
                    "watermark_high": batch.watermark_high,
                    "row_count": batch.row_count,
                    "staged_rows": records.get(batch.batch_id, 0),
                    "quarantined_rows": quarantined.get(batch.batch_id, 0),
                    "checksum": batch.checksum,
                    "extracted_at": batch.extracted_at,
                    "status": "published" if is_staged else "landed",
                    "snapshot_id": first_snapshot.get(batch.batch_id)
                    or (snapshot_hint if is_staged else None),
                }
            )
    return pa.Table.from_pylist(rows, schema=_LOAD_BATCH_SCHEMA)


_LOAD_BATCH_SCHEMA = pa.schema(
    [
        ("source_system", pa.string()),
        ("batch_id", pa.string()),
        ("mode", pa.string()),
        ("watermark_low", pa.string()),
        ("watermark_high", pa.string()),
        ("row_count", pa.int64()),
        ("staged_rows", pa.int64()),
        ("quarantined_rows", pa.int64()),
        ("checksum", pa.string()),
        ("extracted_at", pa.string()),
        ("status", pa.string()),
        ("snapshot_id", pa.string()),
    ]
)


def _count_by_batch(layout: WarehouseLayout, source: str, file: str) -> dict[str, int]:
    """Rows per batch in one file of a source's staged state (its batch ids only are read)."""
    folder = current_state_dir(layout, source)
    if folder is None:
        return {}
    table = pq.read_table(folder / file, columns=["batch_id"])
    counts = table.group_by("batch_id").aggregate([("batch_id", "count")])
    return dict(
        zip(
            counts.column("batch_id").to_pylist(),
            counts.column("batch_id_count").to_pylist(),
            strict=True,
        )
    )


def warehouse_tables(
    layout: WarehouseLayout, sources: list[str], resolution: Resolution, snapshot_hint: str
) -> dict[str, TableData]:
    """Every base table of a snapshot: the identity store's outputs and the staged states' files.

    Validation and publish read them a few columns or rows at a time, so no table is held whole in
    memory; only ``load_batch`` (one row per batch) is built here.
    """
    states = [folder for source in sources if (folder := current_state_dir(layout, source)) is not None]
    staged = {"source_record": RECORDS, "quarantine": QUARANTINE, "dq_finding": FINDINGS}
    return {
        **{name: StoredTable(resolution.database(name), name) for name in RESOLUTION_OUTPUTS},
        **{table: tuple(folder / file for folder in states) for table, file in staged.items()},
        "load_batch": load_batch_table(layout, sources, snapshot_hint),
    }


def reconcile_and_publish(
    layout: WarehouseLayout,
    sources: list[str],
    run_id: str,
    summary: RunSummary | None = None,
    grants_dir: Path = DEFAULT_GRANTS_DIR,
    sources_dir: Path = DEFAULT_SOURCES_DIR,
    inputs: str | None = None,
) -> Snapshot:
    """Resolve identities over the staged sources, run the quality checks, publish a snapshot.

    Args:
        layout: The warehouse directory.
        sources: Source systems with a staged state.
        run_id: The current run.
        summary: Filled with step times, counts and check results when given.
        grants_dir: Folder of department grants.
        sources_dir: Folder of source contracts (their ``checks:`` and schedules).
        inputs: Fingerprint of the inputs (``publish_inputs``), kept in the snapshot's manifest.

    Returns:
        The published snapshot.

    Raises:
        QualityGateFailed: A blocking check failed; nothing was published, the previous snapshot
            stays live, and the run summary (with the reason) is written to ``runs/``.
    """
    summary = summary or RunSummary(run_id=run_id)
    warm_up()
    with timed(summary, "resolve"):
        resolution = resolve_identities(layout, sources, previous_identities(layout), run_id)
    hint = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    tables = warehouse_tables(layout, sources, resolution, hint)
    with timed(summary, "validate"):
        outcome = validate_run(tables, contracts_of(sources_dir, sources), run_id)
    summary.quality = [asdict(result) for result in outcome.results]
    if outcome.blocking_failures:
        summary.blocked = str(QualityGateFailed(outcome.blocking_failures))
        write_json_atomically(layout.runs / f"{run_id}.json", summary.as_dict())
        outcome.raise_if_blocked()
    with timed(summary, "publish"):
        tables |= quality_tables(outcome, read_published(layout, "dq_result"))
        snapshot = publish_snapshot(layout, tables, run_id, load_grants(grants_dir), inputs)
    summary.residents = snapshot.table_rows["resident"]
    summary.links = snapshot.table_rows["resident_source_link"]
    summary.conflicts = snapshot.table_rows["resident_conflict"]
    summary.snapshot_id = snapshot.snapshot_id
    return snapshot


def publish_inputs(layout: WarehouseLayout, sources: list[str], sources_dir: Path, grants_dir: Path) -> str:
    """Fingerprint of everything a snapshot is made from.

    The staged batches of each source, the reviewer decisions, the contracts, the grants, the
    declared rules and models (``schemas/*.yaml``) and the warehouse SQL: when none of them changed,
    a new snapshot would hold what the live one holds.

    Args:
        layout: The warehouse directory.
        sources: Source systems with a staged state.
        sources_dir: Folder of source contracts.
        grants_dir: Folder of department grants.

    Returns:
        A SHA-256 hex digest.
    """
    digest = hashlib.sha256()
    for source in sorted(sources):
        digest.update(f"{source}:{','.join(applied_batches(layout, source))}\n".encode())
    files = [
        decisions_path(layout),
        *sorted(sources_dir.glob("*.y*ml")),
        *sorted(grants_dir.glob("*.yaml")),
        *sorted(SCHEMAS_DIR.glob("*.yaml")),
        *sorted(MARTS_DIR.glob("*.sql")),
    ]
    for path in files:
        if path.is_file():
            digest.update(f"{path.name}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def live_snapshot_holds(layout: WarehouseLayout, inputs: str) -> Snapshot | None:
    """The live snapshot when it was made from exactly these inputs, else None."""
    try:
        live = current_snapshot(layout)
    except SnapshotNotFound:
        return None
    return live if live.inputs == inputs else None


def staged_sources(layout: WarehouseLayout, contracts: list[SourceContract]) -> list[str]:
    """Sources that have a staged state (a source that never synced is left out)."""
    return [c.name for c in contracts if applied_batches(layout, c.name)]


def run_flow(
    sources_dir: Path,
    warehouse_dir: Path,
    environ: Mapping[str, str],
    progress: Progress | None = None,
    grants_dir: Path = DEFAULT_GRANTS_DIR,
) -> RunSummary:
    """Run the whole flow once for every contract in ``sources_dir``.

    A source that fails to sync is reported and the others go on; the publish then uses that
    source's last good staged batch, and the summary says so.

    Args:
        sources_dir: Folder of source contracts.
        warehouse_dir: The warehouse directory.
        environ: Environment for the contracts' ``${VAR}`` references.
        progress: Called with a line of text as steps start.
        grants_dir: Folder of department grants.

    Returns:
        The run summary (also written to ``runs/<run_id>.json``).
    """
    layout = WarehouseLayout(warehouse_dir)
    contracts = load_contracts(sources_dir)
    summary = RunSummary(run_id=new_run_id())
    for contract in contracts:
        with timed(summary, f"sync {contract.name}"):
            try:
                summary.syncs.append(sync_source(contract, layout, environ, progress))
            except Exception as failure:  # noqa: BLE001 - one source's failure must not stop others
                summary.failures[contract.name] = str(failure)
                log.error("%s", failure)
    sources = staged_sources(layout, contracts)
    for name in summary.failures:
        if name in sources:
            summary.stale_sources[name] = applied_batches(layout, name)[-1]
    with publish_lock(layout):
        inputs = publish_inputs(layout, sources, sources_dir, grants_dir)
        live = live_snapshot_holds(layout, inputs)
        if live is not None:
            summary.unchanged, summary.snapshot_id = True, live.snapshot_id
            summary.residents = live.table_rows.get("resident", 0)
            summary.links = live.table_rows.get("resident_source_link", 0)
            summary.conflicts = live.table_rows.get("resident_conflict", 0)
        elif sources:
            if progress:
                progress(f"resolving identities across {', '.join(sources)}")
            try:
                reconcile_and_publish(
                    layout, sources, summary.run_id, summary, grants_dir, sources_dir, inputs
                )
            except QualityGateFailed as blocked:
                log.error("%s", blocked)
    write_json_atomically(layout.runs / f"{summary.run_id}.json", summary.as_dict())
    return summary
