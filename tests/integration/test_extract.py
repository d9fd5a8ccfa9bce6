"""Extract: streamed, immutable landing batches with manifests, watermarks and clear errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import extract
from pipelines.contracts import SourceContract
from pipelines.extract import ExtractError, extract_source, landed_batches
from pipelines.layout import WarehouseLayout


def contract(**overrides: object) -> SourceContract:
    spec: dict[str, object] = {
        "name": "roster",
        "title": "roster",
        "owner": "test",
        "connection": "${ROSTER_URL}",
        "table": "people",
        "primary_key": "pid",
        "fields": {"name": "nm"},
    }
    return SourceContract.model_validate(spec | overrides)


@pytest.fixture
def source(tmp_path: Path) -> tuple[dict[str, str], Path]:
    database = tmp_path / "roster.sqlite"
    connection = sqlite3.connect(database)
    connection.execute("create table people (pid integer primary key, nm text, version integer)")
    connection.executemany(
        "insert into people values (?, ?, ?)", [(i, f"name {i}", i % 7) for i in range(1, 251)]
    )
    connection.commit()
    connection.close()
    return {"ROSTER_URL": f"sqlite:///{database}"}, database


def test_large_table_lands_in_bounded_chunks_in_key_order(
    source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 100-row chunks, 250 rows land as three parts, as text, in primary-key order."""
    environ, _ = source
    monkeypatch.setattr(extract, "CHUNK_ROWS", 100)
    layout = WarehouseLayout(tmp_path / "wh")
    manifest = extract_source(contract(), layout, environ)
    assert (manifest.row_count, len(manifest.parts), manifest.mode) == (250, 3, "full")
    folder = layout.batch_dir("roster", manifest.batch_id)
    table = pq.read_table([folder / part for part in manifest.parts])
    assert table.column("pid").to_pylist() == [str(i) for i in range(1, 251)]
    assert table.schema.field("pid").type == "string"


def test_unchanged_full_snapshot_lands_nothing_and_a_change_lands_a_batch(source, tmp_path: Path) -> None:
    """Same content gives the same checksum and no new batch; one changed row gives a new one."""
    environ, database = source
    layout = WarehouseLayout(tmp_path / "wh")
    first = extract_source(contract(), layout, environ)
    again = extract_source(contract(), layout, environ)
    assert (again.is_new, again.batch_id, again.checksum) == (False, first.batch_id, first.checksum)
    connection = sqlite3.connect(database)
    connection.execute("update people set nm = 'renamed' where pid = 5")
    connection.commit()
    connection.close()
    changed = extract_source(contract(), layout, environ)
    assert changed.is_new and changed.checksum != first.checksum
    assert [b.batch_id for b in landed_batches(layout, "roster")] == [first.batch_id, changed.batch_id]


def test_incremental_source_pulls_only_rows_past_the_numeric_watermark(source, tmp_path: Path) -> None:
    """The watermark is the typed maximum (10 > 9), not the text maximum ('9' > '10')."""
    environ, database = source
    connection = sqlite3.connect(database)
    connection.execute("update people set version = pid")
    connection.commit()
    layout = WarehouseLayout(tmp_path / "wh")
    incremental = contract(incremental_column="version")
    first = extract_source(incremental, layout, environ)
    assert (first.row_count, first.watermark_high) == (250, "250")
    connection.execute("insert into people values (251, 'new', 251)")
    connection.execute("update people set version = 252 where pid = 3")
    connection.commit()
    connection.close()
    second = extract_source(incremental, layout, environ)
    rows = pq.read_table(layout.batch_dir("roster", second.batch_id) / second.parts[0])
    assert sorted(rows.column("pid").to_pylist()) == ["251", "3"]
    assert (second.watermark_low, second.watermark_high) == ("250", "252")
    assert extract_source(incremental, layout, environ).is_new is False


def test_query_source_lands_the_query_result(source, tmp_path: Path) -> None:
    """A contract with `query` instead of `table` lands exactly the query's rows."""
    environ, _ = source
    layout = WarehouseLayout(tmp_path / "wh")
    query = contract(table=None, query="select pid, nm from people where pid <= 10")
    manifest = extract_source(query, layout, environ)
    assert manifest.row_count == 10


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"table": "missing_table"}, r"source roster: cannot read missing_table at sqlite://.*roster.sqlite"),
        ({"fields": {"name": "no_such_column"}}, r"source roster: cannot read people .*no_such_column"),
    ],
)
def test_errors_name_source_table_and_column(source, tmp_path: Path, overrides, expected) -> None:
    """A missing table or column fails with the source, the table and the database named."""
    environ, _ = source
    layout = WarehouseLayout(tmp_path / "wh")
    with pytest.raises(ExtractError, match=expected):
        extract_source(contract(**overrides), layout, environ)
    assert landed_batches(layout, "roster") == []
    assert [p.name for p in layout.landing("roster").iterdir()] == []


def test_unreachable_server_names_host_but_not_password(tmp_path: Path) -> None:
    """A closed port fails naming the source and host; the password never appears."""
    environ = {"ROSTER_URL": "postgresql+psycopg2://officer:s3cret@127.0.0.1:1/register"}
    with pytest.raises(ExtractError) as raised:
        extract_source(contract(), WarehouseLayout(tmp_path / "wh"), environ)
    message = str(raised.value)
    assert "source roster" in message and "127.0.0.1:1" in message
    assert "s3cret" not in message
