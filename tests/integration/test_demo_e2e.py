"""`gridsync demo` as a user runs it: four systems in, one published warehouse out, scored against truth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.evaluate import score_links
from pipelines.layout import WarehouseLayout
from pipelines.query import run_query
from pipelines.settings import PROJECT_ROOT

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
    persons = len(set(truth.column("person_key").to_pylist()))
    assert persons * 0.98 <= residents <= persons * 1.02


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
