"""The run log: one frozen summary per run, and each source's latest sync outcome.

Every run that takes the publish path (``gridsync run``, ``gridsync reconcile``, Airflow's publish,
the demo) leaves ``runs/<run_id>.json``: published, unchanged, blocked or failed. A summary is
written once, when its run ends, and never replaced. A run killed before it could write one leaves
its start marker (``runs/.<run_id>.started``), which the next run turns into a summary of a crashed
run. Run ids start with ``run-`` and the UTC time, so their files sort in the order runs started.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipelines.alerts import redact
from pipelines.extract import BatchManifest
from pipelines.layout import WarehouseLayout, read_json, write_json_atomically
from pipelines.stage import StageResult

SYNC_STATUS_DIR = "sync_status"
STARTED_SUFFIX = ".started"


@dataclass(frozen=True)
class SyncResult:
    """One source's sync: the batch landed (or reused) and the staging that followed."""

    source_system: str
    batch: BatchManifest
    staged: StageResult


@dataclass
class RunSummary:
    """What one run did, for the console, the run log and the auditors.

    Attributes:
        run_id: ``run-<UTC time>`` (plus ``-<origin>`` for runs started by Airflow).
        origin: Who started the run: ``cli``, ``demo``, ``airflow:<Airflow run id>``.
        started_at: When the run started (UTC, ISO text).
        finished_at: When it ended (UTC, ISO text); None while it runs.
        syncs: The sources synced by this run.
        failures: Sources whose latest sync failed, with the reason.
        stale_sources: Sources published from an older batch because their latest sync failed.
        batches: The newest staged batch of each source the publish read.
        step_seconds: Wall time per step.
        residents: Residents in the live snapshot after the run.
        links: Links in it.
        conflicts: Conflicts in it.
        snapshot_id: The live snapshot after the run (None when nothing was ever published).
        published: Whether this run made a new snapshot live.
        blocked: Why a blocking check stopped the publish.
        held: Batches held back by it, per source (released by ``gridsync release`` or superseded
            by a corrected batch).
        released: Batches published although a blocking check failed on them, because a person
            released them, per source.
        error: Why the run failed otherwise (one line).
        quality: Every check result of the run.
        unchanged: Nothing changed since the live snapshot, which stays live.
    """

    run_id: str
    origin: str = "cli"
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    finished_at: str | None = None
    syncs: list[SyncResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    stale_sources: dict[str, str] = field(default_factory=dict)
    batches: dict[str, str] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    residents: int = 0
    links: int = 0
    conflicts: int = 0
    snapshot_id: str | None = None
    published: bool = False
    blocked: str | None = None
    held: dict[str, list[str]] = field(default_factory=dict)
    released: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    quality: list[dict[str, object]] = field(default_factory=list)
    unchanged: bool = False

    @property
    def succeeded(self) -> bool:
        """True when every source synced and the live snapshot holds this run's data."""
        return not self.failures and not self.blocked and not self.error and self.snapshot_id is not None

    @property
    def status(self) -> str:
        """``published``, ``unchanged``, ``blocked``, ``failed`` or ``running``."""
        if self.error:
            return "failed"
        if self.blocked:
            return "blocked"
        if self.published:
            return "published"
        if self.unchanged:
            return "unchanged"
        return "running" if self.finished_at is None else "failed"

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form of the summary."""
        return asdict(self) | {"succeeded": self.succeeded, "status": self.status}


def new_run_id(origin: str = "cli") -> str:
    """A run id from the current UTC time; a run started by Airflow also names its Airflow run."""
    stamp = dt.datetime.now(dt.UTC).strftime("run-%Y%m%dT%H%M%S%fZ")
    if origin.startswith("airflow:"):
        return f"{stamp}-airflow-{re.sub(r'[^A-Za-z0-9_.-]+', '_', origin.removeprefix('airflow:'))}"
    return stamp


def one_line(failure: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), credentials removed."""
    text = (str(failure).strip().splitlines() or [""])[0] or type(failure).__name__
    return redact(text)


@contextmanager
def timed(summary: RunSummary, step: str) -> Iterator[None]:
    """Add the wall time of a step to the summary."""
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        summary.step_seconds[step] = round(summary.step_seconds.get(step, 0.0) + elapsed, 3)


def summary_path(layout: WarehouseLayout, run_id: str) -> Path:
    """Where a run's summary lies."""
    return layout.runs / f"{run_id}.json"


def _started_path(layout: WarehouseLayout, run_id: str) -> Path:
    return layout.runs / f".{run_id}{STARTED_SUFFIX}"


def mark_started(layout: WarehouseLayout, summary: RunSummary) -> None:
    """Leave a start marker, so that a run killed before its end is still reported."""
    write_json_atomically(_started_path(layout, summary.run_id), summary.as_dict())


def write_run_summary(layout: WarehouseLayout, summary: RunSummary) -> Path:
    """Write a finished run's summary once (an existing summary is never replaced).

    Returns:
        The summary file.
    """
    if summary.finished_at is None:
        summary.finished_at = dt.datetime.now(dt.UTC).isoformat()
    return _write_once(layout, summary.run_id, summary.as_dict())


def _write_once(layout: WarehouseLayout, run_id: str, document: dict[str, Any]) -> Path:
    final = summary_path(layout, run_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(
        json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True, default=str), encoding="utf-8"
    )
    try:
        os.link(temporary, final)  # fails when the summary exists: a summary is frozen
    finally:
        temporary.unlink()
    _started_path(layout, run_id).unlink(missing_ok=True)
    return final


def report_crashed_runs(layout: WarehouseLayout, running: str) -> list[str]:
    """Write the summary of every run that was killed before it wrote its own.

    Call it while holding the publish lock: no run but ``running`` (the caller's) that left a
    marker is still going.

    Returns:
        The ids of the crashed runs.
    """
    crashed = []
    for marker in sorted(layout.runs.glob(f".run-*{STARTED_SUFFIX}")) if layout.runs.exists() else []:
        run_id = marker.name[1 : -len(STARTED_SUFFIX)]
        if run_id == running:
            continue
        document = read_json(marker) or {}
        document |= {
            "run_id": run_id,
            "status": "failed",
            "succeeded": False,
            "published": False,
            "error": document.get("error") or "the run stopped before it finished (killed or crashed)",
            "finished_at": None,
        }
        with suppress(FileExistsError):
            _write_once(layout, run_id, document)
        marker.unlink(missing_ok=True)
        crashed.append(run_id)
    return crashed


def read_run_summaries(layout: WarehouseLayout) -> list[dict[str, Any]]:
    """Every run summary of a warehouse, oldest first."""
    if not layout.runs.exists():
        return []
    return [read_json(path) for path in sorted(layout.runs.glob("run-*.json"))]


def _sync_status_path(layout: WarehouseLayout, source: str) -> Path:
    return layout.root / SYNC_STATUS_DIR / f"{source}.json"


def record_sync_status(layout: WarehouseLayout, source: str, reason: str | None) -> None:
    """Record a source's latest sync outcome (None: succeeded) for the next publish to report."""
    status = {
        "source_system": source,
        "status": "failed" if reason else "succeeded",
        "reason": redact(reason) if reason else None,
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
    write_json_atomically(_sync_status_path(layout, source), status)


def failed_syncs(layout: WarehouseLayout, sources: list[str]) -> dict[str, str]:
    """Sources whose latest sync failed, with the reason."""
    statuses = [read_json(_sync_status_path(layout, source)) for source in sources]
    return {
        status["source_system"]: status["reason"]
        for status in statuses
        if status and status["status"] == "failed"
    }
