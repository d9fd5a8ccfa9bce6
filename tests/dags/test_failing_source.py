"""A sync whose source is unreachable fails naming source and host, retries, alerts, changes nothing live."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from webhook import webhook_server

from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout
from pipelines.orchestration import publish_staged
from pipelines.settings import DEFAULT_SOURCES_DIR, Settings
from pipelines.stage import applied_batches
from tests.dags.runs import DagRuns, make_dag_runs

pytestmark = [pytest.mark.airflow, pytest.mark.services, pytest.mark.slow]

UNREACHABLE = "postgresql+psycopg2://gridsync:not-a-real-password@127.0.0.1:1/grid"


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_unreachable_source_fails_after_retry_alerts_and_leaves_the_warehouse(
    tmp_path: Path, metadata_url: str, demo_systems: dict[str, str]
) -> None:
    """Grid at 127.0.0.1:1 fails twice, one alert names grid and host; the publish reports grid as stale."""
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("grid", "public_security"):
        shutil.copy(DEFAULT_SOURCES_DIR / f"{name}.yaml", sources)
    env = {k: v for k, v in demo_systems.items() if k in ("GRID_URL", "PUBLIC_SECURITY_URL")}
    first = run_flow(sources, tmp_path / "warehouse", env)
    assert first.succeeded, first.failures
    layout = WarehouseLayout(tmp_path / "warehouse")
    before = _tree(layout.root)
    good_batch = applied_batches(layout, "grid")[-1]

    with webhook_server() as (url, alerts):
        runs: DagRuns = make_dag_runs(
            tmp_path,
            metadata_url,
            sources,
            {**env, "GRID_URL": UNREACHABLE, "GRIDSYNC_ALERT_WEBHOOK_URL": url},
        )
        run = runs.run({"dag_id": "gridsync_sync_grid"})[0]

    assert run["state"] == "failed"
    assert run["tasks"]["extract"] == {"state": "failed", "try_number": 2}, "one retry, then failed"
    assert run["tasks"]["stage"]["state"] == "upstream_failed"
    assert "source grid: cannot read wg_syrk at postgresql://127.0.0.1:1/grid" in runs.output
    assert "not-a-real-password" not in runs.output
    assert len(alerts) == 1, "one alert, after the last retry"
    assert alerts[0]["step"] == "sync" and alerts[0]["source"] == "grid"
    assert "127.0.0.1:1" in alerts[0]["reason"] and "not-a-real-password" not in str(alerts[0])
    assert alerts[0]["text"].startswith("gridsync: sync of source grid failed (gridsync_sync_grid.extract")
    changed = {k for k in _tree(layout.root) if before.get(k) != _tree(layout.root)[k]}
    assert changed == {"sync_status/grid.json"}, "only the failure record is new"

    summary = publish_staged("after-grid-failed", force=True, settings=Settings.from_env(runs.env))
    assert summary["published"] is True
    assert summary["stale_sources"] == {"grid": good_batch}
    assert "127.0.0.1:1" in summary["failures"]["grid"]
    assert summary["sources"]["grid"] == good_batch
