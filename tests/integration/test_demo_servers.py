"""The demo generator loads its four systems into real PostgreSQL and MariaDB databases."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pipelines.demo import apply_next_day_update, build_demo
from pipelines.demo.departments import default_systems
from pipelines.demo.load import sa_table
from pipelines.demo.systems import DepartmentSystem

SYSTEMS = default_systems()

pytestmark = pytest.mark.services

RESIDENTS = 1_000
SERVERS = ["postgres_url", "mariadb_url"]


def _plain(value: Any) -> Any:
    """One spelling per value whatever the driver returns: text timestamps, float amounts."""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if value is None or isinstance(value, str):
        return value
    return float(value)


def _rows(url: str, system: DepartmentSystem) -> list[tuple[Any, ...]]:
    table = sa_table(system)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = [tuple(_plain(v) for v in row) for row in connection.execute(sa.select(table))]
    finally:
        engine.dispose()
    key = [c.name for c in system.columns].index(system.primary_key)
    # in Python: server collations order text differently; the grid has NULL and repeated keys
    return sorted(rows, key=lambda row: [(value is None, str(value)) for value in (row[key], *row)])


@pytest.mark.parametrize("server", SERVERS)
def test_server_tables_equal_the_sqlite_ones(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Every table read back from the server has the same rows, text byte for byte, as on SQLite."""
    url = request.getfixturevalue(server)
    on_server = build_demo(tmp_path / "server", RESIDENTS, seed=11, urls={s.source: url for s in SYSTEMS})
    on_sqlite = build_demo(tmp_path / "sqlite", RESIDENTS, seed=11)
    assert on_server.row_counts == on_sqlite.row_counts
    for system in SYSTEMS:
        server_rows = _rows(url, system)
        assert len(server_rows) == on_server.row_counts[system.source] > 0
        assert server_rows == _rows(on_sqlite.urls[system.source], system), system.source


@pytest.mark.parametrize("server", SERVERS)
def test_server_tables_have_the_declared_types(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Text columns are VARCHAR with their lengths and update columns are timestamps."""
    url = request.getfixturevalue(server)
    build_demo(tmp_path, RESIDENTS, seed=11, urls={s.source: url for s in SYSTEMS})
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            columns = {c["name"]: c["type"] for c in sa.inspect(connection).get_columns("wg_syrk")}
    finally:
        engine.dispose()
    assert isinstance(columns["GXSJ"], sa.DateTime)
    assert isinstance(columns["XM"], sa.String) and columns["XM"].length == 100
    assert isinstance(columns["ZJHM"], sa.String) and columns["ZJHM"].length == 40


@pytest.mark.parametrize("server", SERVERS)
def test_next_day_update_runs_on_server(server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A daily update changes rows in place and adds rows on a server database, as on SQLite."""
    url = request.getfixturevalue(server)
    urls = {s.source: url for s in SYSTEMS}
    demo = build_demo(tmp_path, RESIDENTS, seed=12, urls=urls)
    update = apply_next_day_update(tmp_path, urls=urls)
    for system in SYSTEMS:
        rows = _rows(url, system)
        stamps = [row[[c.name for c in system.columns].index(system.updated_column)] for row in rows]
        changed_today = sum(stamp.startswith(update.day.isoformat()) for stamp in stamps)
        inserted, updated = update.inserted[system.source], update.updated[system.source]
        assert len(rows) == demo.row_counts[system.source] + inserted
        # a row both moved and renumbered is updated twice but stamped once
        assert inserted + min(updated, 1) <= changed_today <= inserted + updated
