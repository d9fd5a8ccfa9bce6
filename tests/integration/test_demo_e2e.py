"""`gridsync demo` as a user runs it: four systems in, one published warehouse out, scored against truth."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.demo import apply_next_day_update, build_demo
from pipelines.demo.systems import UNUSABLE_RULES
from pipelines.evaluate import score_links
from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout
from pipelines.query import run_query
from pipelines.settings import DEFAULT_SOURCES_DIR, PROJECT_ROOT

pytestmark = pytest.mark.slow

RESIDENTS = 800


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo")
    command = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "demo",
        "--residents",
        str(RESIDENTS),
        "--out",
        str(out),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=600)
    return out, finished


def count(warehouse: Path, sql: str) -> int:
    return int(run_query(WarehouseLayout(warehouse), sql).column(0)[0].as_py())


def test_demo_succeeds_and_says_where_everything_is(demo) -> None:
    """Exit code 0, and the closing lines name the systems, the warehouse database and the report."""
    out, finished = demo
    assert finished.returncode == 0, finished.stderr
    assert f"source systems : {out / 'systems'}" in finished.stdout
    assert str(out / "warehouse" / "snapshots") in finished.stdout and "gridsync.duckdb" in finished.stdout
    report = next(line for line in finished.stdout.splitlines() if "auditors' report" in line)
    assert Path(report.split(": ", 1)[1]).is_file()


def test_every_source_row_is_published_or_quarantined(demo) -> None:
    """Rows landed per source equal the demo's rows, and each is a staged record or a quarantined row."""
    out, _ = demo
    warehouse = out / "warehouse"
    truth = pq.read_table(out / "systems" / "truth.parquet")
    landed = count(warehouse, "select sum(row_count) from load_batch")
    kept = count(warehouse, "select count(*) from source_record")
    rejected = count(warehouse, "select count(*) from quarantine")
    assert landed == truth.num_rows == kept + rejected
    linked = count(warehouse, "select count(*) from resident_source_link")
    assert linked == kept
    residents = count(warehouse, "select count(*) from resident")
    persons = len(set(truth.column("person_key").drop_null().to_pylist()))
    assert persons * 0.98 <= residents <= persons * 1.02


def test_junk_rows_are_quarantined_with_rule_and_reason(demo) -> None:
    """The grid's rows without a key, repeated keys and nameless ID-less rows are all in quarantine."""
    out, finished = demo
    warehouse = out / "warehouse"
    by_rule = run_query(
        WarehouseLayout(warehouse),
        "select rule, any_value(reason) as reason, count(*) as n from quarantine"
        " where source_system = 'grid' group by rule",
    ).to_pylist()
    assert {row["rule"]: row["reason"] for row in by_rule} == {
        "missing_primary_key": "no primary key",
        "duplicate_primary_key": "primary key repeated in batch",
        "unidentifiable_record": "neither a name nor a usable ID number",
    }
    assert all(row["n"] >= 2 for row in by_rule)
    truth = pq.read_table(out / "systems" / "truth.parquet")
    junk = truth.num_rows - len(truth.column("person_key").drop_null())
    assert count(warehouse, "select count(*) from quarantine") == junk
    grid_line = next(line for line in finished.stdout.splitlines() if line.strip().startswith("grid "))
    assert int(grid_line.split()[3]) == sum(row["n"] for row in by_rule)  # the summary's quarantined column


def test_crosswalk_quality_against_ground_truth(demo) -> None:
    """Pairwise precision at least 0.999 and recall at least 0.98 on the demo's ground truth."""
    out, _ = demo
    links = run_query(
        WarehouseLayout(out / "warehouse"),
        "select source_system, source_record_id, resident_id from resident_source_link",
    )
    score = score_links(links, pq.read_table(out / "systems" / "truth.parquet"))
    assert score.true_pairs > RESIDENTS // 2
    assert score.precision >= 0.999
    assert score.recall >= 0.98


def grid_quarantine_by_rule(warehouse: Path) -> dict[str, int]:
    sql = "select rule, count(*) as n from quarantine where source_system = 'grid' group by rule"
    return {row["rule"]: row["n"] for row in run_query(WarehouseLayout(warehouse), sql).to_pylist()}


def keyless_and_repeated_rows(database: Path, stamp: str) -> int:
    """Add grid rows of the next day: one saved without a number, spelt as an earlier keyless row
    is, and a new record exported twice under one number."""
    connection = sqlite3.connect(database)
    (keyless,) = connection.execute(
        "select RYBH from wg_syrk where trim(coalesce(RYBH, '')) = '' limit 1"
    ).fetchone()
    cursor = connection.execute("select * from wg_syrk where RYBH like 'RY%' order by RYBH limit 1")
    template, columns = cursor.fetchone(), [c[0] for c in cursor.description]
    key, updated = columns.index("RYBH"), columns.index("GXSJ")
    added = []
    for number in (keyless, "RY9999999999", "RY9999999999"):
        values = list(template)
        values[key], values[updated] = number, stamp
        added.append(values)
    connection.executemany(f"insert into wg_syrk values ({', '.join('?' * len(columns))})", added)
    connection.commit()
    connection.close()
    return len(added)


def test_next_day_keeps_earlier_quarantine_and_adds_the_new_junk(tmp_path: Path) -> None:
    """A next-day batch with junk rows adds them to quarantine and keeps the earlier keyless rows there."""
    systems = build_demo(tmp_path / "systems", residents=300, seed=7)
    warehouse = tmp_path / "warehouse"
    environ = systems.environment()
    first = run_flow(DEFAULT_SOURCES_DIR, warehouse, environ)
    assert first.succeeded, (first.failures, first.blocked)
    before = grid_quarantine_by_rule(warehouse)
    assert set(before) == set(UNUSABLE_RULES)

    update = apply_next_day_update(tmp_path / "systems", fraction=0.6)  # a batch of 100+ grid rows
    added = keyless_and_repeated_rows(systems.sqlite_paths["grid"], f"{update.day} 18:30:00")
    second = run_flow(DEFAULT_SOURCES_DIR, warehouse, environ)

    assert second.succeeded, (second.failures, second.blocked)
    after = grid_quarantine_by_rule(warehouse)
    assert after["missing_primary_key"] == before["missing_primary_key"] + 1
    assert after["duplicate_primary_key"] == before["duplicate_primary_key"] + 1
    assert after["unidentifiable_record"] == before["unidentifiable_record"]
    with sqlite3.connect(systems.sqlite_paths["grid"]) as connection:
        in_source = connection.execute("select count(*) from wg_syrk").fetchone()[0]
    assert in_source == systems.row_counts["grid"] + update.inserted["grid"] + added
    kept = count(warehouse, "select count(*) from source_record where source_system = 'grid'")
    rejected = count(warehouse, "select count(*) from quarantine where source_system = 'grid'")
    assert kept + rejected == in_source
