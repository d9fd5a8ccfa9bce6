"""Stage: several landing parts standardized on all cores give what one process gives."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipelines import extract, stage
from pipelines.contracts import SourceContract
from pipelines.extract import extract_source
from pipelines.layout import WarehouseLayout

CONTRACT = SourceContract.model_validate(
    {
        "name": "roster",
        "title": "roster",
        "owner": "test",
        "connection": "${ROSTER_URL}",
        "table": "people",
        "primary_key": "pid",
        "fields": {"id_number": "idno", "name": "nm", "phone": "tel"},
    }
)


def test_parallel_parts_equal_inline_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four parts staged in worker processes equal the inline result, row for row."""
    database = tmp_path / "roster.sqlite"
    connection = sqlite3.connect(database)
    connection.execute("create table people (pid text, idno text, nm text, tel text)")
    rows = [
        (f"{i:04d}", "11010519491231002x" if i % 3 else "bad", "張" + chr(0x4E00 + i), "138 1234 5678")
        for i in range(400)
    ]
    connection.executemany("insert into people values (?,?,?,?)", rows)
    connection.commit()
    connection.close()
    monkeypatch.setattr(extract, "CHUNK_ROWS", 100)
    layout = WarehouseLayout(tmp_path / "wh")
    manifest = extract_source(CONTRACT, layout, {"ROSTER_URL": f"sqlite:///{database}"})
    folder = layout.batch_dir("roster", manifest.batch_id)
    paths = sorted(folder.glob("part-*.parquet"))
    assert len(paths) == 4
    parallel = stage._standardize_parts_in_parallel(CONTRACT, paths, manifest.batch_id)
    inline = [stage.standardize_part(CONTRACT, path, manifest.batch_id) for path in paths]
    for mine, theirs in zip(parallel, inline, strict=True):
        assert mine.records.equals(theirs.records)
        assert mine.findings.equals(theirs.findings)
    assert sum(p.records.num_rows for p in parallel) == 400
    assert parallel[0].records.column("name").to_pylist()[:2] == ["张一", "张丁"]


def test_a_state_staged_anew_gets_a_new_lineage(tmp_path: Path) -> None:
    """Batches applied on top keep the state's lineage; staging again from nothing (say, after a
    standardizer fix) gives a new one, which tells identity resolution to start anew."""
    database = tmp_path / "roster.sqlite"
    connection = sqlite3.connect(database)
    connection.execute("create table people (pid text, idno text, nm text, tel text)")
    connection.execute("insert into people values ('1', '11010519491231002x', '张三', '13812345678')")
    connection.commit()
    layout = WarehouseLayout(tmp_path / "wh")
    environ = {"ROSTER_URL": f"sqlite:///{database}"}
    extract_source(CONTRACT, layout, environ)
    stage.stage_source(CONTRACT, layout)
    first = stage.staged_lineage(layout, "roster")
    connection.execute("insert into people values ('2', '110105194912310037', '李四', '13812345679')")
    connection.commit()
    extract_source(CONTRACT, layout, environ)
    stage.stage_source(CONTRACT, layout)
    assert stage.staged_lineage(layout, "roster") == first is not None
    (layout.staged("roster") / "CURRENT").unlink()
    stage.stage_source(CONTRACT, layout)
    assert stage.staged_lineage(layout, "roster") not in {first, None}
    assert len(stage.applied_batches(layout, "roster")) == 2
