"""`gridsync serve` as departments use it: log in, verify, query and download in real Chromium, all logged."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.access_log import read_access_log
from pipelines.catalogue import build_catalogue
from pipelines.contracts import load_contracts
from pipelines.grants import load_grants
from pipelines.layout import WarehouseLayout
from pipelines.principals import issue_credential
from pipelines.query import open_snapshot
from pipelines.report.browser import live_tab
from pipelines.settings import DEFAULT_GRANTS_DIR, DEFAULT_SOURCES_DIR, PROJECT_ROOT, Settings

pytestmark = pytest.mark.slow
READY = "document.body.dataset.ready === 'yes'"


@pytest.fixture(autouse=True)
def own_secrets(demo_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared demo warehouse was published under the key in ``demo_secrets``."""
    monkeypatch.setenv("GRIDSYNC_SECRETS_DIR", str(demo_secrets))
    monkeypatch.delenv("GRIDSYNC_CREDENTIAL", raising=False)
    return demo_secrets


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(demo_warehouse: Path, demo_secrets: Path) -> Iterator[str]:
    """`gridsync serve` started the way an operator starts it, stopped afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--warehouse", str(demo_warehouse)]
    environment = {**os.environ, "GRIDSYNC_SECRETS_DIR": str(demo_secrets)}
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=environment,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gridsync serve did not start: {process.stderr.read()}") from None
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def api(url: str, path: str, credential: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if credential:
        request.add_header("Authorization", f"Bearer {credential}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read() or b"{}")


def residents(warehouse: Path) -> int:
    with open_snapshot(WarehouseLayout(warehouse)) as (connection, _):
        return int(connection.execute("select count(*) from resident").fetchone()[0])


def resident_ids(warehouse: Path) -> tuple[str, str]:
    with open_snapshot(WarehouseLayout(warehouse)) as (connection, _):
        alive = connection.execute(
            "select id_number from resident where not is_deceased and id_type = 'cn_resident_id' "
            "and id_number is not null order by resident_id limit 1"
        ).fetchone()[0]
        dead = connection.execute(
            "select id_number from resident where is_deceased and id_number is not null "
            "order by resident_id limit 1"
        ).fetchone()[0]
    return alive, dead


def test_an_analyst_logs_in_verifies_queries_and_downloads_in_chromium(
    server: str, demo_warehouse: Path, demo_secrets: Path, tmp_path: Path
) -> None:
    """In Chromium: log in, 核验, query and download within the grant; every access is logged and reported."""
    settings = Settings.from_env({"GRIDSYNC_SECRETS_DIR": str(demo_secrets)})
    analyst = issue_credential(settings, "social_security", "department")
    auditor = issue_credential(settings, "auditor_zhou", "auditor")
    alive, dead = resident_ids(demo_warehouse)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    sql = "select resident_id, id_number, name, birth_date, is_deceased from resident order by resident_id"
    with live_tab(downloads) as tab:
        tab.goto(server + "/")
        tab.wait_until(READY)
        tab.type_into("#credential", analyst)
        tab.click("#login")
        tab.wait_until("!document.getElementById('app').hidden")
        assert tab.evaluate("document.getElementById('who').textContent").startswith("social_security")
        answers = []
        for number in (alive, dead, "11010519491231002X"):
            tab.evaluate("document.getElementById('verify-result').textContent = ''")
            tab.type_into("#verify-id", number)
            tab.type_into("#verify-purpose", "养老金资格认证 pension check")
            tab.click("#verify")
            answers.append(tab.wait_until("document.getElementById('verify-result').textContent"))
        assert answers == [
            "已登记，在世 registered, alive",
            "已登记，已故 registered, deceased",
            "未登记 not registered",
        ]

        tab.type_into("#sql", sql)
        tab.type_into("#query-purpose", "停发核查 stop payments to the deceased")
        tab.click("#run")
        tab.wait_until("document.querySelectorAll('#result tbody tr').length")
        shown = tab.evaluate(
            "[...document.querySelectorAll('#result tbody tr')]"
            ".map(r => [...r.cells].map(c => c.textContent))"
        )
        assert len(shown) == residents(demo_warehouse) > 250
        assert all(row[1].endswith("*" * 12) and row[1][:6].isdigit() for row in shown if len(row[1]) == 18)
        assert alive not in json.dumps(shown, ensure_ascii=False)

        tab.click("#download-csv")
        deadline = time.monotonic() + 30
        while not [p for p in downloads.iterdir() if p.suffix == ".csv"] and time.monotonic() < deadline:
            time.sleep(0.2)
        (downloaded,) = [p for p in downloads.iterdir() if p.suffix == ".csv"]
        with downloaded.open(encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(shown) and {r["id_number"] for r in rows} == {r[1] for r in shown}

        tab.click("#logout")  # the page reloads: wait for the new one, its handlers wired
        tab.wait_until(READY + " && !document.getElementById('login-panel').hidden")
        tab.type_into("#credential", auditor)
        tab.click("#login")
        tab.wait_until("!document.getElementById('audit-panel').hidden")
        tab.click("#load-log")
        tab.wait_until("document.querySelectorAll('#access-log tbody tr').length")
        assert tab.evaluate("document.getElementById('log-status').textContent") == "日志完整 chain intact"
        tab.goto(server + "/report")
        reported = tab.evaluate(
            "[...document.querySelectorAll('#access-log tr.access-entry')].map(r => r.textContent)"
        )
        assert all(url.startswith(server) for url in tab.requests)

    log = [
        e
        for e in read_access_log(WarehouseLayout(demo_warehouse)).to_pylist()
        if e["principal"] == "social_security"
    ]
    actions = [(e["action"], e["outcome"], e["rows"]) for e in log[-6:]]
    assert actions == [
        ("login", "ok", 0),
        ("lookup", "ok", 1),
        ("lookup", "ok", 1),
        ("lookup", "ok", 0),
        ("query", "ok", len(shown)),
        ("download", "ok", len(shown)),
    ]
    assert all(e["purpose"] for e in log[-5:])
    assert {"id_number", "name", "birth_date"} <= set(log[-1]["personal_fields"])
    assert not any(alive in json.dumps(e) for e in log)  # lookups name the resident, never the number
    assert sum("social_security" in row and "download" in row for row in reported) == 1
    assert sum("social_security" in row and "lookup" in row for row in reported) == 3


def test_systems_use_bearer_credentials_within_their_grant(
    server: str, demo_secrets: Path, demo_warehouse: Path
) -> None:
    """A system queries and downloads Parquet with its credential; other roles and strangers are refused."""
    settings = Settings.from_env({"GRIDSYNC_SECRETS_DIR": str(demo_secrets)})
    grid = issue_credential(settings, "grid", "department")
    status, body = api(
        server, "/api/query", grid, {"sql": "select count(*) as n from resident", "purpose": "roster"}
    )
    assert (status, body["rows"]) == (200, [[residents(demo_warehouse)]])
    assert (
        api(server, "/api/query", grid, {"sql": "select * from resident_source_link", "purpose": "x"})[0]
        == 400
    )
    assert api(server, "/api/query", None, {"sql": "select 1", "purpose": "x"})[0] == 401
    assert api(server, "/api/query", "grid.wrong", {"sql": "select 1", "purpose": "x"})[0] == 401
    assert api(server, "/api/access-log", grid)[0] == 403
    request = urllib.request.Request(
        server + "/api/download?sql=select+resident_id,phone+from+resident&purpose=roster&format=parquet"
    )
    request.add_header("Authorization", f"Bearer {grid}")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        table = pq.read_table(__import__("io").BytesIO(response.read()))
    assert table.num_rows == residents(demo_warehouse) and all(
        "****" in p for p in table.column("phone").to_pylist() if p
    )


def test_the_catalogue_matches_the_warehouse_and_every_department_file(demo_warehouse: Path) -> None:
    """The catalogue lists exactly the published columns, and exactly those each department file holds."""
    entries = build_catalogue(load_grants(DEFAULT_GRANTS_DIR), load_contracts(DEFAULT_SOURCES_DIR))
    listed = {(e.table, e.column) for e in entries}
    with open_snapshot(WarehouseLayout(demo_warehouse)) as (connection, _):
        tables = [r[0] for r in connection.execute("show tables").fetchall()]
        real = {(t, r[0]) for t in tables for r in connection.execute(f'describe "{t}"').fetchall()}
    assert real == listed
    for department in [g.department for g in load_grants(DEFAULT_GRANTS_DIR)]:
        with open_snapshot(WarehouseLayout(demo_warehouse), department) as (connection, _):
            granted = [r[0] for r in connection.execute("show tables").fetchall()]
            held = {(t, r[0]) for t in granted for r in connection.execute(f'describe "{t}"').fetchall()}
        seen = {
            (e.table, e.column)
            for e in entries
            if e.departments[department] not in ("not shown", "table not granted")
        }
        assert held == seen, department
    by_column = {(e.table, e.column): e for e in entries}
    assert by_column[("resident", "id_number")].sharing == "有条件共享"
    assert by_column[("resident", "gender")].sharing == "无条件共享"
    assert by_column[("resident", "id_number")].departments["social_security"] == "masked (region only)"
    assert "public_security.GMSFHM" in by_column[("resident", "id_number")].sources


def test_a_duckdb_1x_client_opens_a_department_file(demo_warehouse: Path) -> None:
    """A department file opens in DuckDB 1.5 (a separate uv environment), with its rows and masks intact."""
    with open_snapshot(WarehouseLayout(demo_warehouse), "social_security") as (_, snapshot):
        path = snapshot.folder / "departments" / "social_security.duckdb"
    script = (
        "import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
        "sql = 'select count(*), max(id_number) filter (where length(id_number) = 18) from resident';"
        "print(json.dumps([duckdb.__version__, c.execute(sql).fetchall()[0]]))"
    )
    uv = PROJECT_ROOT / ".tools" / "bin" / "uv"
    finished = subprocess.run(
        [str(uv), "run", "--no-project", "--with", "duckdb==1.5.*", "python", "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    version, (rows, smallest) = json.loads(finished.stdout)
    assert version.startswith("1.5.")
    assert rows == residents(demo_warehouse) and smallest.endswith("*" * 12)
