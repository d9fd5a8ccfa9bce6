"""Every way to resolve and publish holds the warehouse's publish lock while it does (the identity
store is updated in place, so two runs at once must not happen)."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import pytest

from pipelines import cli, flow
from pipelines.layout import PUBLISH_LOCK, WarehouseLayout


def lock_state(layout: WarehouseLayout) -> str:
    """Whether another holder could take the lock now."""
    with open(layout.root / PUBLISH_LOCK, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "held"
        fcntl.flock(handle, fcntl.LOCK_UN)
        return "free"


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace resolve-and-publish by a probe of the lock; staged sources by one."""
    states: list[str] = []

    def probe(layout: WarehouseLayout, *_: Any, **__: Any) -> None:
        states.append(lock_state(layout))

    for module in (cli, flow):
        monkeypatch.setattr(module, "reconcile_and_publish", probe)
        monkeypatch.setattr(module, "load_contracts", lambda *_: [])
        monkeypatch.setattr(module, "staged_sources", lambda *_: ["grid"])
    monkeypatch.setattr(cli, "print_summary", lambda *_: None)
    monkeypatch.setattr(flow, "publish_inputs", lambda *_: "inputs")
    monkeypatch.setattr(flow, "live_snapshot_holds", lambda *_: None)
    return states


def test_gridsync_reconcile_holds_the_lock(tmp_path: Path, seen: list[str]) -> None:
    assert cli.main(["reconcile", "--warehouse", str(tmp_path), "--sources", str(tmp_path)]) == 0
    assert seen == ["held"]
    assert lock_state(WarehouseLayout(tmp_path)) == "free"


def test_a_whole_run_holds_the_lock(tmp_path: Path, seen: list[str]) -> None:
    flow.run_flow(tmp_path / "sources", tmp_path / "warehouse", {})
    assert seen == ["held"]
    assert lock_state(WarehouseLayout(tmp_path / "warehouse")) == "free"
