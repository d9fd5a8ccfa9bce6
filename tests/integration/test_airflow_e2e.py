"""A real Airflow (api-server, scheduler, dag-processor; metadata on this machine's PostgreSQL) syncs the
demo sources when triggered through the REST API, runs the Asset-scheduled publish by itself, and
publishes the warehouse; once with the LocalExecutor and once with the CeleryExecutor and a worker.

Everything started is stopped by process group in the fixture's teardown, also when the test fails.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from pipelines.airflow_local import (
    AirflowSetup,
    Component,
    airflow_environment,
    free_port,
    start_components,
    stop_components,
    wait_until_healthy,
)
from pipelines.layout import WarehouseLayout
from pipelines.publish import read_published
from pipelines.runs import read_run_summaries
from pipelines.settings import DEFAULT_SOURCES_DIR
from tests.dags.runs import metadata_copy, migrated_template

pytestmark = [pytest.mark.airflow, pytest.mark.services, pytest.mark.slow]

REDIS = ("127.0.0.1", 6379)
SOURCES = ["civil_affairs", "grid", "public_security", "social_security"]
SYNC_DAGS = [f"gridsync_sync_{s}" for s in SOURCES]
PUBLISH_DAG = "gridsync_publish"
RUN_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, service_unavailable: Callable[[str, Exception], NoReturn]
) -> Iterator[str]:
    """A metadata database migrated once for this module, copied by each test."""
    home = tmp_path_factory.mktemp("e2e-template")
    with migrated_template(home, "gridsync_airflow_e2e_template", service_unavailable) as name:
        yield name


@pytest.fixture(scope="module")
def manual_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's contracts without their cron schedules.

    Unpausing a cron DAG starts its latest interval too; without schedules only the REST triggers
    start syncs, which halves the work (the schedules themselves are checked in tests/dags).
    """
    sources = tmp_path_factory.mktemp("e2e-sources")
    for contract in DEFAULT_SOURCES_DIR.glob("*.yaml"):
        lines = contract.read_text(encoding="utf-8").splitlines(keepends=True)
        (sources / contract.name).write_text("".join(x for x in lines if not x.startswith("schedule:")))
    return sources


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The four demo systems (SQLite, 300 residents) and the variables their contracts read."""
    from pipelines.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("e2e-demo"), residents=300, seed=5).environment()


class Api:
    """The Airflow REST API (v2) of the api-server under test."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base_url}/api/v2{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.load(reply)

    def runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.call("GET", "/dags/~/dagRuns?limit=100")["dag_runs"]
        return runs


@pytest.fixture
def airflow(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    template: str,
    demo_env: dict[str, str],
    manual_sources: Path,
    service_unavailable: Callable[[str, Exception], NoReturn],
) -> Iterator[tuple[AirflowSetup, list[Component]]]:
    """Airflow started on free ports with its own home, metadata database and warehouse; stopped after."""
    executor = request.param
    if executor == "celery":
        try:
            socket.create_connection(REDIS, timeout=5).close()
        except OSError as problem:
            service_unavailable("Redis at 127.0.0.1:6379", problem)
    with metadata_copy(template) as database_url:
        yield from _started_airflow(executor, database_url, tmp_path, demo_env, manual_sources)


def _started_airflow(
    executor: str, database_url: str, tmp_path: Path, demo_env: dict[str, str], manual_sources: Path
) -> Iterator[tuple[AirflowSetup, list[Component]]]:
    """Start Airflow's components on ``database_url``; yield them; stop them and check none is left."""
    setup = AirflowSetup(
        home=tmp_path / "airflow-home",
        database_url=database_url,
        port=free_port(),
        log_server_port=free_port(),
        executor=executor,
        broker_url=f"redis://{REDIS[0]}:{REDIS[1]}/0",
        queue=f"gridsync-test-{uuid.uuid4().hex[:8]}",
        all_admins=True,
        secret_key=uuid.uuid4().hex,
        extra_env={
            **demo_env,
            "GRIDSYNC_SOURCES_DIR": str(manual_sources),
            "GRIDSYNC_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
            "GRIDSYNC_SYNC_RETRY_DELAY_SECONDS": "2",
        },
    )
    components = ["api-server", "scheduler", "dag-processor"] + (
        ["celery-worker"] if executor == "celery" else []
    )
    started = start_components(setup, airflow_environment(setup, dict(os.environ)), components)
    try:
        yield setup, started
    finally:
        stop_components(started, grace_seconds=10)
        for component in started:
            with pytest.raises(ProcessLookupError):
                os.killpg(component.process.pid, 0)  # nothing of the group is left


def _wait_for(what: str, check: Any, timeout: float, logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; logs in {logs}")


@pytest.mark.parametrize("airflow", ["local", "celery"], indirect=True)
def test_triggered_syncs_lead_to_an_asset_scheduled_publish(
    airflow: tuple[AirflowSetup, list[Component]],
) -> None:
    """Unpause and trigger the four syncs over REST; the publish DAG runs by itself and publishes all four."""
    setup, started = airflow
    logs = setup.home
    started_at = time.monotonic()
    wait_until_healthy(setup, started, timeout=180)
    healthy_after = time.monotonic() - started_at
    api = Api(setup.base_url)
    expected = sorted([*SYNC_DAGS, PUBLISH_DAG])
    _wait_for(
        "the DAGs to be parsed",
        lambda: sorted(d["dag_id"] for d in api.call("GET", "/dags")["dags"]) == expected,
        120,
        logs,
    )
    for dag_id in expected:
        api.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    triggered_at = time.monotonic()
    for dag_id in SYNC_DAGS:
        api.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})

    def settled() -> list[dict[str, Any]] | None:
        runs = api.runs()
        failed = [r for r in runs if r["state"] == "failed"]
        assert not failed, f"failed runs: {[(r['dag_id'], r['dag_run_id']) for r in failed]}; logs in {logs}"
        syncs = [r for r in runs if r["dag_id"] in SYNC_DAGS]
        synced = sorted({r["dag_id"] for r in syncs if r["state"] == "success"})
        publishes = [r for r in runs if r["dag_id"] == PUBLISH_DAG]
        done = all(r["state"] == "success" for r in syncs + publishes)
        if synced == SYNC_DAGS and publishes and done:
            layout = WarehouseLayout(Path(setup.extra_env["GRIDSYNC_WAREHOUSE_DIR"]))
            batches = read_published(layout, "load_batch")
            if batches is not None and sorted(set(batches.column("source_system").to_pylist())) == SOURCES:
                return publishes
        return None

    publishes = _wait_for("the syncs and the publish to succeed", settled, RUN_TIMEOUT_SECONDS, logs)
    print(
        f"{setup.executor}: healthy after {healthy_after:.0f}s, "
        f"published {time.monotonic() - triggered_at:.0f}s after the trigger"
    )
    assert {r["run_type"] for r in publishes} == {"asset_triggered"}, (
        "the publish DAG was never triggered by hand"
    )
    layout = WarehouseLayout(Path(setup.extra_env["GRIDSYNC_WAREHOUSE_DIR"]))
    residents = read_published(layout, "resident")
    links = read_published(layout, "resident_source_link")
    assert residents is not None and links is not None
    assert 0 < residents.num_rows < links.num_rows
    assert sorted(set(links.column("source_system").to_pylist())) == SOURCES
    if setup.executor == "celery":  # the tasks really went through the broker to the worker
        run_id = urllib.parse.quote(publishes[0]["dag_run_id"])
        tis = api.call("GET", f"/dags/{PUBLISH_DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
        assert {ti["queue"] for ti in tis} == {setup.queue}
        worker_log = next(c.log_path for c in started if c.name == "celery-worker").read_text()
        assert "execute_workload" in worker_log and "succeeded" in worker_log
    summaries = [s for s in read_run_summaries(layout) if s["origin"].startswith("airflow:")]
    assert any(s["published"] and sorted(s["batches"]) == SOURCES for s in summaries)
