"""Every entry applies landed batches and publishes through the one publish path, holding the
warehouse's publish lock while it does (staged states and the identity store change in place)."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipelines import cli, flow, orchestration
from pipelines.layout import PUBLISH_LOCK, WarehouseLayout, publish_lock
from pipelines.publish import Snapshot
from pipelines.settings import Settings


def lock_state(layout: WarehouseLayout) -> str:
    """Whether another process could take the lock now."""
    with open(layout.root / PUBLISH_LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "held"
        fcntl.flock(handle, fcntl.LOCK_UN)
        return "free"


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace staging and resolve-and-publish by probes of the lock; one source named grid."""
    states: list[str] = []
    grid = SimpleNamespace(name="grid", relation="t", conn_id=None)
    batch = SimpleNamespace(batch_id="b1", row_count=1, is_new=True)

    def stage_probe(_contract: Any, layout: WarehouseLayout) -> Any:
        states.append(f"stage {lock_state(layout)}")
        return SimpleNamespace(batch_id="b1", applied=("b1",), records=1, quarantined=0, findings=0)

    def publish_probe(layout: WarehouseLayout, *_: Any, **__: Any) -> Snapshot:
        states.append(f"publish {lock_state(layout)}")
        return Snapshot("s1", "r1", layout.root, {"resident": 1}, "now")

    monkeypatch.setattr(flow, "stage_source", stage_probe)
    monkeypatch.setattr(flow, "reconcile_and_publish", publish_probe)
    monkeypatch.setattr(flow, "extract_source", lambda *_, **__: batch)
    monkeypatch.setattr(flow, "load_contracts", lambda *_: [grid])
    monkeypatch.setattr(flow, "staged_sources", lambda *_: ["grid"])
    monkeypatch.setattr(flow, "applied_batches", lambda *_: ["b1"])
    monkeypatch.setattr(flow, "publish_inputs", lambda *_: "inputs")
    monkeypatch.setattr(flow, "live_snapshot_holds", lambda *_: None)
    monkeypatch.setattr(cli, "load_contract", lambda *_: grid)
    monkeypatch.setattr(cli, "print_summary", lambda *_: None)
    monkeypatch.setattr(orchestration, "contract_named", lambda *_: grid)
    return states


def test_gridsync_run_applies_and_publishes_under_the_lock(tmp_path: Path, seen: list[str]) -> None:
    assert cli.main(["run", "--warehouse", str(tmp_path), "--sources", str(tmp_path)]) == 0
    assert seen == ["stage held", "publish held"]
    assert lock_state(WarehouseLayout(tmp_path)) == "free"


def test_gridsync_reconcile_publishes_under_the_lock(tmp_path: Path, seen: list[str]) -> None:
    assert cli.main(["reconcile", "--warehouse", str(tmp_path), "--sources", str(tmp_path)]) == 0
    assert seen == ["publish held"]


def test_gridsync_sync_applies_under_the_lock(tmp_path: Path, seen: list[str]) -> None:
    assert cli.main(["sync", str(tmp_path / "grid.yaml"), "--warehouse", str(tmp_path)]) == 0
    assert seen == ["stage held"]


def test_airflow_stage_and_publish_tasks_hold_the_lock(tmp_path: Path, seen: list[str]) -> None:
    settings = Settings(sources_dir=tmp_path, warehouse_dir=tmp_path)
    orchestration.stage_batch("grid", settings)
    result = orchestration.publish_staged("manual__1", settings=settings)
    assert seen == ["stage held", "publish held"]
    assert result["published"] and result["snapshot_id"] == "s1"


def test_a_sync_waits_for_a_publish_in_progress(tmp_path: Path, seen: list[str]) -> None:
    """While another holder has the lock, applying a batch does not start."""
    layout = WarehouseLayout(tmp_path)
    grid = SimpleNamespace(name="grid")
    with publish_lock(layout):
        applying = threading.Thread(target=flow.apply_landed, args=(grid, layout))
        applying.start()
        applying.join(timeout=0.5)
        assert applying.is_alive() and seen == []
    applying.join(timeout=10)
    assert seen == ["stage held"]


def test_the_lock_can_be_taken_again_by_its_holder(tmp_path: Path) -> None:
    layout = WarehouseLayout(tmp_path)
    with publish_lock(layout), publish_lock(layout):
        assert lock_state(layout) == "held"
    assert lock_state(layout) == "free"
