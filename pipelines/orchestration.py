"""The Airflow-facing side of gridsync: what the DAG files declare and what their tasks call.

Two kinds of function live here. Parse-time ones (:func:`sync_dag_specs`, :func:`task_defaults`)
read only the contracts' YAML headers and the settings, so a DAG file stays cheap to parse. Run-time
ones (:func:`extract_batch`, :func:`stage_batch`, :func:`publish_staged`, :func:`alert_on_failure`)
import the heavy modules in their bodies; each DAG task calls exactly one of them. None of them
needs Airflow except :func:`airflow_connection_url`, which asks Airflow for a ``conn_id``.

Credentials: a URL resolved from an Airflow connection is passed to the extract as an argument,
never put into the environment, an XCom, a log line or the warehouse; every message that might
quote one goes through :func:`pipelines.alerts.redact`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pipelines.alerts import Alert, send_alert
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.contracts import SourceContract

log = logging.getLogger(__name__)

SYNC_DAG_PREFIX = "gridsync_sync_"
PUBLISH_DAG_ID = "gridsync_publish"
MAX_RETRY_DELAY = dt.timedelta(hours=1)

# Airflow connection types and the SQLAlchemy driver gridsync reads them with.
_DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "sqlite": "sqlite",
}


@dataclass(frozen=True)
class SyncDagSpec:
    """What a sync DAG is generated from: the header of one source contract.

    Attributes:
        source: The contract's ``name`` (the source system).
        title: The contract's ``title``.
        owner: The department that owns the data (the DAG's owner).
        schedule: The contract's cron ``schedule``, or None for manual/backfill only.
        path: The contract file.
    """

    source: str
    title: str
    owner: str
    schedule: str | None
    path: Path

    @property
    def dag_id(self) -> str:
        """The sync DAG's id."""
        return f"{SYNC_DAG_PREFIX}{self.source}"

    @property
    def asset_name(self) -> str:
        """Name of the Airflow Asset for the source's staged batch."""
        return f"gridsync_staged_{self.source}"

    @property
    def asset_uri(self) -> str:
        """URI of the Airflow Asset for the source's staged batch."""
        return f"gridsync://staged/{self.source}"


def _contract_paths(sources_dir: Path) -> list[Path]:
    return sorted(sources_dir.glob("*.yaml")) + sorted(sources_dir.glob("*.yml"))


class ContractHeaderError(ValueError):
    """A contract lacks what its DAG needs (name, title, owner), or two contracts share a name.

    Raised while DAG files are parsed; the full validation of :mod:`pipelines.contracts` (which
    needs the heavier canonical model) runs in the sync task.
    """


def _read_header(path: Path) -> SyncDagSpec:
    """Read the keys a DAG needs from a contract, naming the file and key when one is missing."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as problem:
        raise ContractHeaderError(f"{path}: cannot read contract: {problem}") from None
    if not isinstance(document, dict):
        raise ContractHeaderError(f"{path}: a contract is a mapping of keys")
    missing = [key for key in ("name", "title", "owner") if not document.get(key)]
    if missing:
        raise ContractHeaderError(f"{path}: key {missing[0]!r} is missing")
    schedule = document.get("schedule")
    return SyncDagSpec(
        source=str(document["name"]),
        title=str(document["title"]),
        owner=str(document["owner"]),
        schedule=str(schedule) if schedule else None,
        path=path,
    )


def sync_dag_specs(sources_dir: Path) -> list[SyncDagSpec]:
    """One spec per contract file, sorted by source name (cheap: YAML headers only).

    Args:
        sources_dir: The folder of source contracts.

    Returns:
        The specs; empty when the folder holds no contract.

    Raises:
        ContractHeaderError: A contract cannot be read, lacks name/title/owner, or repeats a name.
    """
    specs = [_read_header(path) for path in _contract_paths(sources_dir)]
    names = [spec.source for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ContractHeaderError(f"{sources_dir}: source name {repeated[0]!r} is used twice")
    return sorted(specs, key=lambda spec: spec.source)


def task_defaults(settings: Settings, owner: str) -> dict[str, Any]:
    """``default_args`` of every gridsync DAG: owner, retries with backoff, the alert callback.

    Args:
        settings: Retry count and first delay come from here.
        owner: The DAG's owner (the department for a sync DAG).

    Returns:
        Keyword arguments for every task of the DAG.
    """
    return {
        "owner": owner,
        "retries": settings.sync_retries,
        "retry_delay": dt.timedelta(seconds=settings.sync_retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": MAX_RETRY_DELAY,
        "on_failure_callback": alert_on_failure,
    }


def source_of_dag(dag_id: str) -> str | None:
    """The source system a sync DAG id belongs to, or None for other DAGs."""
    return dag_id.removeprefix(SYNC_DAG_PREFIX) if dag_id.startswith(SYNC_DAG_PREFIX) else None


# Run time ------------------------------------------------------------------------------------


def sqlalchemy_url_from_connection(
    conn_type: str,
    host: str | None,
    login: str | None,
    password: str | None,
    port: int | None,
    schema: str | None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Build the SQLAlchemy URL of an Airflow connection's fields.

    ``extra`` may name the driver explicitly (``{"sqlalchemy_driver": "postgresql+psycopg2"}``).
    For ``sqlite`` the file path is the connection's ``host`` (or ``schema``).

    Returns:
        The URL, password included: hand it to the extract, never to a log.
    """
    import sqlalchemy as sa

    driver = (extra or {}).get("sqlalchemy_driver") or _DRIVERS.get(conn_type, conn_type)
    if driver.startswith("sqlite"):
        return str(sa.URL.create(driver, database=host or schema))
    url = sa.URL.create(driver, username=login or None, password=password or None, host=host, port=port)
    url = url.set(database=schema or None)
    return url.render_as_string(hide_password=False)


def airflow_connection_url(source: str, conn_id: str) -> str:
    """Ask Airflow for a connection and return its SQLAlchemy URL.

    Raises:
        ExtractError: The connection is not defined; the message names the source and conn_id.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from pipelines.extract import ExtractError

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ExtractError(f"source {source}: Airflow connection {conn_id!r} is not defined") from None
    return sqlalchemy_url_from_connection(
        conn.conn_type or "",
        conn.host,
        conn.login,
        conn.password,
        conn.port,
        conn.schema,
        conn.extra_dejson,
    )


def contract_named(source: str, sources_dir: Path) -> SourceContract:
    """Load and validate the contract of one source (other contracts are not validated).

    Raises:
        ContractError: No contract in the folder has that name, or it is invalid.
    """
    from pipelines.contracts import ContractError, load_contract

    for spec in sync_dag_specs(sources_dir):
        if spec.source == source:
            return load_contract(spec.path)
    raise ContractError(f"{sources_dir}: no source contract named {source!r}")


def extract_batch(source: str, settings: Settings | None = None) -> dict[str, Any]:
    """Land a new batch of one source (the ``extract`` task of its sync DAG).

    A ``conn_id`` contract is resolved through Airflow here; a ``connection`` contract through the
    environment. A failure is recorded for the next publish's summary and raised again.

    Args:
        source: The source system.
        settings: The installation's settings; read from the environment when None.

    Returns:
        The batch (id, mode, rows, checksum, whether it is new), without any credential.
    """
    from pipelines.flow import extract_landing
    from pipelines.layout import WarehouseLayout
    from pipelines.runs import one_line, record_sync_status

    settings = settings or Settings.from_env()
    layout = WarehouseLayout(settings.warehouse_dir)
    try:
        contract = contract_named(source, settings.sources_dir)
        url = airflow_connection_url(source, contract.conn_id) if contract.conn_id else None
    except Exception as failure:
        record_sync_status(layout, source, one_line(failure))
        raise
    batch = extract_landing(contract, layout, settings.environ, url=url)
    return {
        "source_system": source,
        "batch_id": batch.batch_id,
        "mode": batch.mode,
        "row_count": batch.row_count,
        "checksum": batch.checksum,
        "is_new": batch.is_new,
    }


def stage_batch(source: str, settings: Settings | None = None) -> dict[str, Any]:
    """Apply a source's landed batches to its staged state (the ``stage`` task of its sync DAG).

    It holds the warehouse's publish lock while it does, so it waits for a publish in progress.

    Args:
        source: The source system.
        settings: The installation's settings; read from the environment when None.

    Returns:
        The staged state's batch and counts.
    """
    from pipelines.flow import apply_landed
    from pipelines.layout import WarehouseLayout
    from pipelines.runs import one_line, record_sync_status

    settings = settings or Settings.from_env()
    layout = WarehouseLayout(settings.warehouse_dir)
    try:
        contract = contract_named(source, settings.sources_dir)
    except Exception as failure:
        record_sync_status(layout, source, one_line(failure))
        raise
    staged = apply_landed(contract, layout)
    return {
        "source_system": source,
        "batch_id": staged.batch_id,
        "applied": list(staged.applied),
        "records": staged.records,
        "quarantined": staged.quarantined,
        "findings": staged.findings,
    }


def publish_staged(
    airflow_run_id: str, force: bool = False, settings: Settings | None = None
) -> dict[str, Any]:
    """Resolve identities, validate and publish every staged source (the publish DAG's task).

    It takes the one publish path (:func:`pipelines.flow.publish_run`), as the command line does.
    Each source contributes its last good staged batch; a source whose latest sync failed is
    named in the summary with the batch it was published from. When every staged batch is
    already in the live snapshot nothing is written (a rerun or a second asset event), unless
    ``force``.

    Args:
        airflow_run_id: The Airflow run; the summary is ``runs/run-<time>-airflow-<run id>.json``.
        force: Publish even when nothing changed since the live snapshot.
        settings: The installation's settings; read from the environment when None.

    Returns:
        The run summary: snapshot, whether it is new, batches per source, stale sources.

    Raises:
        FileNotFoundError: No source has been staged yet.
        AirflowFailException: A blocking data-quality check failed (no retry; the last good
            snapshot stays live and the run summary says why).
    """
    from pipelines.flow import RunSummary, new_run_id, publish_run
    from pipelines.quality.gate import QualityGateFailed

    settings = settings or Settings.from_env()
    origin = f"airflow:{airflow_run_id}"
    summary = RunSummary(run_id=new_run_id(origin), origin=origin)
    try:
        publish_run(settings, summary, force=force)
    except QualityGateFailed as blocked:
        from airflow.sdk.exceptions import AirflowFailException  # the Airflow task fails without retry

        raise AirflowFailException(str(blocked)) from blocked
    result = {
        "run_id": summary.run_id,
        "snapshot_id": summary.snapshot_id,
        "published": summary.published,
        "sources": summary.batches,
        "stale_sources": summary.stale_sources,
        "failures": summary.failures,
        "residents": summary.residents,
        "links": summary.links,
        "conflicts": summary.conflicts,
    }
    _log_publish(result)
    return result


def _log_publish(result: Mapping[str, Any]) -> None:
    verb = "published" if result["published"] else "unchanged, still live:"
    log.info("gridsync: %s snapshot %s", verb, result["snapshot_id"])
    for source, batch in result["stale_sources"].items():
        log.warning(
            "gridsync: source %s published from its last good batch %s (latest sync failed: %s)",
            source,
            batch,
            result["failures"][source],
        )


def alert_on_failure(context: Mapping[str, Any]) -> None:
    """Airflow ``on_failure_callback``: send an alert naming the source and the reason.

    Called once a task has failed for good (after its retries). The source is the sync DAG's,
    or the failure's ``source_system`` attribute when a publish is blocked by one source's data.
    """
    ti = context["ti"]
    failure = context.get("exception")
    source = (
        source_of_dag(ti.dag_id)
        or getattr(failure, "source_system", None)
        or getattr(getattr(failure, "__cause__", None), "source_system", None)
    )
    alert = Alert(
        step="publish" if ti.dag_id == PUBLISH_DAG_ID else "sync",
        source=source,
        reason=str(failure).splitlines()[0] if failure else "unknown failure",
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        try_number=ti.try_number,
    )
    send_alert(alert, Settings.from_env().alert_webhook_url)
