"""The whole flow, step by step: sync each source, resolve identities, publish, summarize.

There is one way to publish, :func:`publish_run`, and every entry calls it: ``gridsync run`` and
the demo (through :func:`run_flow`), ``gridsync reconcile`` and Airflow's publish task. Under the
warehouse's publish lock it applies landed batches to the staged states (when the run syncs),
resolves identities, validates and publishes, minting the snapshot id once; whatever happens, it
leaves a frozen run summary in ``runs/``. A step added to the flow is added in
:func:`reconcile_and_publish`, and every entry runs it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.canonical import programmes
from pipelines.contracts import SourceContract, load_contracts
from pipelines.extract import BatchManifest, extract_source, landed_batches
from pipelines.grants import load_grants, source_carriers
from pipelines.keys import Keyring
from pipelines.layout import WarehouseLayout, publish_lock, source_lock
from pipelines.places.publish import place_tables
from pipelines.places.register import learn_places
from pipelines.publish import (
    MARTS_DIR,
    Snapshot,
    SnapshotNotFound,
    StoredTable,
    TableData,
    current_snapshot,
    new_snapshot_id,
    publish_snapshot,
    read_published,
)
from pipelines.quality.gate import (
    QualityGateFailed,
    QualityOutcome,
    quality_tables,
    validate_run,
    warm_up,
)
from pipelines.quality.holds import hold_batches, released_batches, settle_holds
from pipelines.resolve.config import matching_config
from pipelines.resolve.golden import GoldenRules
from pipelines.resolve.resolution import OUTPUTS as RESOLUTION_OUTPUTS
from pipelines.resolve.resolution import (
    PreviousIdentities,
    Resolution,
    empty_previous,
    resolve_identities,
)
from pipelines.resolve.review import decisions_path
from pipelines.runs import (
    RunSummary,
    SyncResult,
    failed_syncs,
    mark_started,
    new_run_id,
    one_line,
    record_sync_status,
    report_crashed_runs,
    timed,
    write_run_summary,
)
from pipelines.settings import DEFAULT_GRANTS_DIR, PROJECT_ROOT, Settings
from pipelines.stage import (
    FINDINGS,
    QUARANTINE,
    RECORDS,
    StageResult,
    applied_batches,
    current_state_dir,
    stage_source,
    superseded_batches,
)

__all__ = [
    "NothingToPublish",
    "RunSummary",
    "SyncResult",
    "apply_landed",
    "extract_landing",
    "new_run_id",
    "publish_run",
    "run_flow",
    "sync_source",
]

log = logging.getLogger(__name__)

SCHEMAS_DIR = PROJECT_ROOT / "schemas"

Progress = Callable[[str], None]


class NothingToPublish(FileNotFoundError):
    """No source of the warehouse has a staged batch yet."""


def extract_landing(
    contract: SourceContract,
    layout: WarehouseLayout,
    environ: Mapping[str, str],
    url: str | None = None,
) -> BatchManifest:
    """Land a source's new rows (outside the publish lock: a landing batch is immutable and a
    publish never reads landing); a failure is recorded for the next publish's summary.

    Args:
        contract: The source contract.
        layout: The warehouse directory.
        environ: Environment for the contract's ``${VAR}`` references.
        url: The source's URL when the caller resolved it (an Airflow ``conn_id``).

    Returns:
        The landed batch (or the newest one when the source did not change).
    """
    try:
        with source_lock(layout, contract.name):
            return extract_source(contract, layout, environ, url=url)
    except Exception as failure:
        record_sync_status(layout, contract.name, one_line(failure))
        raise


def apply_landed(contract: SourceContract, layout: WarehouseLayout) -> StageResult:
    """Apply a source's landed batches to its staged state, holding the publish lock (a publish
    must not see a source's staged state change under it).

    Args:
        contract: The source contract.
        layout: The warehouse directory.

    Returns:
        What staging applied.
    """
    try:
        with publish_lock(layout):
            staged = stage_source(contract, layout)
    except Exception as failure:
        record_sync_status(layout, contract.name, one_line(failure))
        raise
    record_sync_status(layout, contract.name, None)
    return staged


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
    batch = extract_landing(contract, layout, environ)
    say(f"{contract.name}: {batch.row_count} rows in batch {batch.batch_id}, standardizing")
    return SyncResult(source_system=contract.name, batch=batch, staged=apply_landed(contract, layout))


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


def load_batch_table(layout: WarehouseLayout, sources: list[str], snapshot_id: str) -> pa.Table:
    """Lineage of every landed batch: watermarks, counts, checksum, status, first snapshot.

    A batch is ``landed`` (not applied to the staged state), ``published`` (in this snapshot or an
    earlier one) or ``superseded`` (applied, then replaced before any snapshot held it: a held
    batch read again, or a full snapshot followed by another before a publish).

    Args:
        layout: The warehouse directory.
        sources: Source systems to list.
        snapshot_id: The id of the snapshot being published (for newly published batches).

    Returns:
        One row per landed batch.
    """
    published = read_published(layout, "load_batch")
    first_snapshot: dict[str, str] = {}
    if published is not None:
        for row in published.select(["batch_id", "status", "snapshot_id"]).to_pylist():
            if row["status"] == "published" and row["snapshot_id"]:
                first_snapshot[row["batch_id"]] = row["snapshot_id"]
    rows = []
    for source in sources:
        rows += _batch_rows(layout, source, snapshot_id, first_snapshot)
    return pa.Table.from_pylist(rows, schema=_LOAD_BATCH_SCHEMA)


def _batch_status(
    batch_id: str,
    applied: list[str],
    superseded: set[str],
    first_snapshot: Mapping[str, str],
    snapshot_id: str,
) -> tuple[str, str | None]:
    """A batch's status and first snapshot, before looking at its rows."""
    if batch_id in first_snapshot:
        return "published", first_snapshot[batch_id]
    if batch_id in superseded:
        return "superseded", None
    if batch_id in applied:
        return "published", snapshot_id
    return "landed", None


def _batch_rows(
    layout: WarehouseLayout, source: str, snapshot_id: str, first_snapshot: Mapping[str, str]
) -> list[dict[str, object]]:
    """The ``load_batch`` rows of one source."""
    applied = applied_batches(layout, source)
    superseded = set(superseded_batches(layout, source))
    records = _count_by_batch(layout, source, RECORDS)
    quarantined = _count_by_batch(layout, source, QUARANTINE)
    releases = released_batches(layout, source)
    rows: list[dict[str, object]] = []
    for batch in landed_batches(layout, source):
        batch_id = batch.batch_id
        status, first = _batch_status(batch_id, applied, superseded, first_snapshot, snapshot_id)
        if status == "published" and first == snapshot_id:
            # an applied batch whose every row a later one replaced before any publish
            in_state = batch_id in records or batch_id in quarantined or applied[-1] == batch_id
            status, first = ("published", first) if in_state else ("superseded", None)
        release = releases.get(batch_id)
        rows.append(
            {
                "source_system": source,
                "batch_id": batch_id,
                "mode": batch.mode,
                "watermark_low": batch.watermark_low,
                "watermark_high": batch.watermark_high,
                "row_count": batch.row_count,
                "staged_rows": records.get(batch_id, 0),
                "quarantined_rows": quarantined.get(batch_id, 0),
                "checksum": batch.checksum,
                "extracted_at": batch.extracted_at,
                "status": status,
                "snapshot_id": first,
                "released_by": release.released_by if release else None,
                "release_note": release.note if release else None,
            }
        )
    return rows


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
        ("released_by", pa.string()),
        ("release_note", pa.string()),
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
    layout: WarehouseLayout, sources: list[str], resolution: Resolution, snapshot_id: str
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
        "load_batch": load_batch_table(layout, sources, snapshot_id),
    }


def declared_tables(contracts: Sequence[SourceContract]) -> dict[str, TableData]:
    """Tables of what contracts and schemas declare, for marts to read: ``source_contract`` (each
    source's title, owner and whether it is a grid roster) and ``programme``."""
    declared = list(programmes().values())
    return {
        "source_contract": pa.table(
            {
                "source_system": pa.array([c.name for c in contracts], pa.string()),
                "title": pa.array([c.title for c in contracts], pa.string()),
                "owner": pa.array([c.owner for c in contracts], pa.string()),
                "is_roster": pa.array([c.roster for c in contracts], pa.bool_()),
            }
        ),
        "programme": pa.table(
            {
                "programme": pa.array([p.name for p in declared], pa.string()),
                "title": pa.array([p.title for p in declared], pa.string()),
                "pays_person": pa.array([p.pays_person for p in declared], pa.bool_()),
                "groups": pa.array([list(p.groups) for p in declared], pa.list_(pa.string())),
            }
        ),
    }


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


def staged_sources(layout: WarehouseLayout, contracts: Sequence[SourceContract]) -> list[str]:
    """Sources that have a staged state (a source that never synced is left out)."""
    return [c.name for c in contracts if applied_batches(layout, c.name)]


@contextmanager
def recorded_run(layout: WarehouseLayout, summary: RunSummary) -> Iterator[RunSummary]:
    """Record a run: a start marker now, its frozen summary when it ends, however it ends (a
    blocked publish and any other failure are named in it, then raised again)."""
    mark_started(layout, summary)
    try:
        yield summary
    except QualityGateFailed as blocked:
        summary.blocked = str(blocked)
        raise
    except BaseException as failure:
        summary.error = one_line(failure)
        raise
    finally:
        write_run_summary(layout, summary)


def publish_run(
    settings: Settings,
    summary: RunSummary | None = None,
    sync: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> RunSummary:
    """The one way to publish: sync (when asked), then under the publish lock apply the landed
    batches, resolve, validate and publish; the run summary is written however the run ends.

    Args:
        settings: Where the contracts, grants and warehouse are, and the environment that
            contracts' ``${VAR}`` references resolve against.
        summary: The run's summary, when the caller started it (an Airflow run names its origin).
        sync: Extract and apply every source first (a source that fails is reported, the
            others go on).
        force: Publish even when the live snapshot was made from exactly these inputs.
        progress: Called with a line of text as steps start.

    Returns:
        The run summary (also in ``runs/<run_id>.json``).

    Raises:
        QualityGateFailed: A blocking check failed; the previous snapshot stays live.
        NothingToPublish: No source has a staged batch (and no sync failure explains why).
    """
    layout = WarehouseLayout(settings.warehouse_dir)
    summary = summary or RunSummary(run_id=new_run_id())
    with recorded_run(layout, summary):
        contracts = load_contracts(settings.sources_dir)
        landed = _extract_sources(contracts if sync else [], layout, settings.environ, summary, progress)
        with publish_lock(layout):
            report_crashed_runs(layout, summary.run_id)
            _apply_sources(landed, layout, summary, progress)
            _publish_staged(layout, contracts, settings, summary, force, progress)
    return summary


def _extract_sources(
    contracts: Sequence[SourceContract],
    layout: WarehouseLayout,
    environ: Mapping[str, str],
    summary: RunSummary,
    progress: Progress | None,
) -> list[tuple[SourceContract, BatchManifest]]:
    """Land each source; a failing source is reported and the others go on."""
    landed = []
    for contract in contracts:
        if progress:
            progress(f"{contract.name}: extracting {contract.relation}")
        with timed(summary, f"sync {contract.name}"):
            try:
                landed.append((contract, extract_landing(contract, layout, environ)))
            except Exception as failure:  # noqa: BLE001 - one source's failure must not stop others
                summary.failures[contract.name] = one_line(failure)
                log.error("%s", failure)
    return landed


def _apply_sources(
    landed: list[tuple[SourceContract, BatchManifest]],
    layout: WarehouseLayout,
    summary: RunSummary,
    progress: Progress | None,
) -> None:
    """Apply each landed source to its staged state (the caller holds the publish lock)."""
    for contract, batch in landed:
        if progress:
            progress(f"{contract.name}: {batch.row_count} rows in batch {batch.batch_id}, standardizing")
        with timed(summary, f"sync {contract.name}"):
            try:
                staged = apply_landed(contract, layout)
            except Exception as failure:  # noqa: BLE001 - one source's failure must not stop others
                summary.failures[contract.name] = one_line(failure)
                log.error("%s", failure)
                continue
        summary.syncs.append(SyncResult(source_system=contract.name, batch=batch, staged=staged))


def _publish_staged(
    layout: WarehouseLayout,
    contracts: Sequence[SourceContract],
    settings: Settings,
    summary: RunSummary,
    force: bool,
    progress: Progress | None,
) -> None:
    """Publish the staged sources unless the live snapshot already holds exactly these inputs."""
    names = [c.name for c in contracts]
    sources = staged_sources(layout, contracts)
    summary.failures = failed_syncs(layout, names) | summary.failures
    if not sources:
        if summary.failures:
            return
        raise NothingToPublish(f"{layout.root}: no staged source to publish yet (sync a source first)")
    summary.batches = {name: applied_batches(layout, name)[-1] for name in sources}
    summary.stale_sources = {n: summary.batches[n] for n in summary.failures if n in summary.batches}
    inputs = publish_inputs(layout, sources, settings.sources_dir, settings.grants_dir)
    live = None if force else live_snapshot_holds(layout, inputs)
    if live is not None:
        summary.unchanged = True
        _count_snapshot(summary, live)
        return
    if progress:
        progress(f"resolving identities across {', '.join(sources)}")
    chosen = [c for c in contracts if c.name in set(sources)]
    keys = Keyring.load(settings)
    _count_snapshot(
        summary, reconcile_and_publish(layout, chosen, summary, settings.grants_dir, inputs, keys)
    )
    summary.published = True


def _count_snapshot(summary: RunSummary, snapshot: Snapshot) -> None:
    summary.snapshot_id = snapshot.snapshot_id
    summary.residents = snapshot.table_rows.get("resident", 0)
    summary.links = snapshot.table_rows.get("resident_source_link", 0)
    summary.conflicts = snapshot.table_rows.get("resident_conflict", 0)


def reconcile_and_publish(
    layout: WarehouseLayout,
    contracts: Sequence[SourceContract],
    summary: RunSummary,
    grants_dir: Path,
    inputs: str | None = None,
    keys: Keyring | None = None,
) -> Snapshot:
    """Resolve identities over the staged sources, run the quality checks, publish a snapshot.

    The steps of :func:`publish_run` once it holds the publish lock (call that, not this).

    Args:
        layout: The warehouse directory.
        contracts: The contracts of the sources with a staged state.
        summary: Filled with step times and check results.
        grants_dir: Folder of department grants.
        inputs: Fingerprint of the inputs (``publish_inputs``), kept in the snapshot's manifest.
        keys: The installation's keyring (resident ids, department pseudonyms); loaded from the
            environment's settings when None.

    Returns:
        The published snapshot.

    Raises:
        QualityGateFailed: A blocking check failed; nothing was published.
    """
    sources = [c.name for c in contracts]
    keys = keys or Keyring.load()
    warm_up()
    with timed(summary, "places"):
        register = learn_places(layout, sources, matching_config().exclusive_id_types)
    with timed(summary, "resolve"):
        resolution = resolve_identities(
            layout,
            sources,
            previous_identities(layout),
            summary.run_id,
            keys=keys,
            golden_rules=GoldenRules.from_contracts(contracts),
        )
    snapshot_id = new_snapshot_id()
    tables = (
        warehouse_tables(layout, sources, resolution, snapshot_id)
        | place_tables(register)
        | declared_tables(contracts)
    )
    with timed(summary, "validate"):
        outcome = validate_run(tables, contracts, summary.run_id)
    summary.quality = [asdict(result) for result in outcome.results]
    _hold_or_release(layout, _new_batches(tables["load_batch"], snapshot_id), outcome, summary)
    with timed(summary, "publish"):
        tables |= quality_tables(outcome, read_published(layout, "dq_result"))
        grants = load_grants(grants_dir)
        carriers = source_carriers(contracts)
        snapshot = publish_snapshot(
            layout, tables, summary.run_id, grants, inputs, snapshot_id, carriers, keys
        )
    settle_holds(layout, _settled_batches(tables["load_batch"]))
    return snapshot


def _new_batches(load_batch: TableData, snapshot_id: str) -> dict[str, list[str]]:
    """Per source, the batches snapshot ``snapshot_id`` (being made) publishes for the first time."""
    assert isinstance(load_batch, pa.Table)
    batches: dict[str, list[str]] = {}
    for row in load_batch.select(["source_system", "batch_id", "snapshot_id"]).to_pylist():
        if row["snapshot_id"] == snapshot_id:
            batches.setdefault(row["source_system"], []).append(row["batch_id"])
    return batches


def _settled_batches(load_batch: TableData) -> dict[str, list[str]]:
    """Per source, the batches a published snapshot settled (published or superseded)."""
    assert isinstance(load_batch, pa.Table)
    settled: dict[str, list[str]] = {}
    for row in load_batch.select(["source_system", "batch_id", "status"]).to_pylist():
        if row["status"] != "landed":
            settled.setdefault(row["source_system"], []).append(row["batch_id"])
    return settled


def _hold_or_release(
    layout: WarehouseLayout, new: Mapping[str, list[str]], outcome: QualityOutcome, summary: RunSummary
) -> None:
    """Stop the publish on a failed blocking check, holding back the failing sources' new batches;
    a source whose new batches a person released is let through.

    Raises:
        QualityGateFailed: A blocking check failed and was not released.
    """
    released = {
        source for source, batches in new.items() if set(batches) <= set(released_batches(layout, source))
    }
    blocking = [f for f in outcome.blocking_failures if f.source_system not in released]
    summary.released = {
        s: new[s] for s in released if any(f.source_system == s for f in outcome.blocking_failures)
    }
    if not blocking:
        return
    failure = QualityGateFailed(blocking)
    held = {f.source_system: new[f.source_system] for f in blocking if f.source_system in new}
    hold_batches(layout, held, summary.run_id, str(failure))
    summary.held = held
    raise failure


def run_flow(
    sources_dir: Path,
    warehouse_dir: Path,
    environ: Mapping[str, str],
    progress: Progress | None = None,
    grants_dir: Path = DEFAULT_GRANTS_DIR,
    origin: str = "cli",
) -> RunSummary:
    """Run the whole flow once for every contract in ``sources_dir``.

    A source that fails to sync is reported and the others go on; the publish then uses that
    source's last good staged batch, and the summary says so. A blocked publish is reported in
    the summary, not raised.

    Args:
        sources_dir: Folder of source contracts.
        warehouse_dir: The warehouse directory.
        environ: Environment for the contracts' ``${VAR}`` references.
        progress: Called with a line of text as steps start.
        grants_dir: Folder of department grants.
        origin: Who runs it (``cli``, ``demo``), kept in the summary.

    Returns:
        The run summary (also written to ``runs/<run_id>.json``).
    """
    # Paths and the contracts' environment as given; the rest (secrets, limits) from the process.
    settings = replace(
        Settings.from_env(),
        sources_dir=sources_dir,
        warehouse_dir=warehouse_dir,
        grants_dir=grants_dir,
        environ=environ,
    )
    summary = RunSummary(run_id=new_run_id(origin), origin=origin)
    try:
        publish_run(settings, summary, sync=True, progress=progress)
    except QualityGateFailed as blocked:
        log.error("%s", blocked)
    return summary
