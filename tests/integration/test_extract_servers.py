"""The flow on demo systems held by the PostgreSQL and MariaDB servers gives what SQLite gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.demo import apply_next_day_update, build_demo
from pipelines.demo.departments import default_systems
from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout
from pipelines.query import run_query
from pipelines.settings import DEFAULT_SOURCES_DIR

SYSTEMS = default_systems()

pytestmark = [pytest.mark.services, pytest.mark.slow]

RESIDENTS = 300
RECORDS = (
    "select source_system, source_record_id, id_number, id_status, name, gender, birth_date, phone"
    " from source_record order by all"
)


def staged_records(warehouse: Path) -> list[dict[str, object]]:
    return run_query(WarehouseLayout(warehouse), RECORDS).to_pylist()


@pytest.fixture(scope="module")
def sqlite_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    root = tmp_path_factory.mktemp("sqlite")
    systems = build_demo(root / "systems", residents=RESIDENTS)
    assert run_flow(DEFAULT_SOURCES_DIR, root / "warehouse", systems.environment()).succeeded
    return staged_records(root / "warehouse")


@pytest.mark.parametrize("server", ["postgres_url", "mariadb_url"])
def test_server_sources_stage_exactly_like_sqlite(
    server: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_records: list[dict[str, object]]
) -> None:
    """Every source read from the server stages to the same canonical records as from SQLite."""
    url = request.getfixturevalue(server)
    systems = build_demo(tmp_path / "systems", residents=RESIDENTS, urls={s.source: url for s in SYSTEMS})
    summary = run_flow(DEFAULT_SOURCES_DIR, tmp_path / "warehouse", systems.environment())
    assert summary.succeeded, summary.failures
    assert staged_records(tmp_path / "warehouse") == sqlite_records


@pytest.mark.parametrize("server", ["postgres_url", "mariadb_url"])
def test_server_incremental_source_pulls_only_the_next_day(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """After a next-day update, the incremental source lands only rows past its typed watermark."""
    url = request.getfixturevalue(server)
    systems = build_demo(tmp_path / "systems", residents=RESIDENTS, urls={s.source: url for s in SYSTEMS})
    environ = systems.environment()
    first = run_flow(DEFAULT_SOURCES_DIR, tmp_path / "warehouse", environ)
    apply_next_day_update(tmp_path / "systems", fraction=0.05, urls={s.source: url for s in SYSTEMS})
    second = run_flow(DEFAULT_SOURCES_DIR, tmp_path / "warehouse", environ)
    incremental = [s for s in second.syncs if s.batch.mode == "incremental" and s.batch.is_new]
    assert incremental, "a 5% update changes at least one incremental source"
    for sync in incremental:
        before = next(s for s in first.syncs if s.source_system == sync.source_system)
        assert sync.batch.watermark_low == before.batch.watermark_high
        assert 0 < sync.batch.row_count < before.batch.row_count
        assert sync.staged.records >= before.staged.records
