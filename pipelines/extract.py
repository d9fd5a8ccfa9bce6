"""Extract: pull a source's rows into an immutable landing batch of Parquet with a manifest.

Rows are streamed in chunks, so memory stays bounded whatever the table size. Values land as text,
exactly as the source holds them (landing is raw; staging parses). A batch folder appears in one
step when it is complete; an unchanged source lands no new batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from pipelines.contracts import SourceContract
from pipelines.layout import (
    WarehouseLayout,
    move_into_place,
    read_json,
    scratch_directory,
    write_json_atomically,
)
from pipelines.quality.holds import held_batches

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
MANIFEST = "manifest.json"


class ExtractError(RuntimeError):
    """A source could not be read; the message names the source, host and table."""


@dataclass(frozen=True)
class BatchManifest:
    """What one landing batch holds.

    Attributes:
        batch_id: ``<UTC time>-<checksum prefix>``, unique per source.
        source_system: The contract's name.
        mode: ``full`` (whole table) or ``incremental`` (rows past the watermark).
        row_count: Rows in the batch.
        checksum: SHA-256 over the batch's Arrow data, in primary-key order.
        watermark_low: The stored watermark the batch started from (incremental only).
        watermark_high: The largest incremental value in the batch (incremental only).
        extracted_at: When the extraction finished (UTC, ISO text).
        parts: Parquet file names inside the batch folder.
        columns: The source columns landed.
        is_new: False when the source had no change and the previous batch was returned.
        supersedes: Landed batches this one reads again (they were held back by a blocking check):
            staging replaces them by this one.
    """

    batch_id: str
    source_system: str
    mode: str
    row_count: int
    checksum: str
    watermark_low: str | None
    watermark_high: str | None
    extracted_at: str
    parts: tuple[str, ...]
    columns: tuple[str, ...]
    is_new: bool = True
    supersedes: tuple[str, ...] = ()

    @classmethod
    def read(cls, batch_dir: Path) -> BatchManifest:
        """Read the manifest of a landed batch."""
        document = read_json(batch_dir / MANIFEST)
        if document is None:
            raise FileNotFoundError(f"{batch_dir}: no {MANIFEST}")
        document["parts"] = tuple(document["parts"])
        document["columns"] = tuple(document["columns"])
        document["supersedes"] = tuple(document.get("supersedes", ()))
        document["is_new"] = True
        return cls(**document)


def landed_batches(layout: WarehouseLayout, source: str) -> list[BatchManifest]:
    """Every complete landing batch of a source, oldest first."""
    landing = layout.landing(source)
    if not landing.exists():
        return []
    folders = sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [BatchManifest.read(folder) for folder in folders if (folder / MANIFEST).exists()]


def describe_url(url: str) -> str:
    """A URL's dialect, host and database, without credentials, for messages and logs."""
    parsed = make_url(url)
    where = f"{parsed.host}:{parsed.port}" if parsed.host else (parsed.database or "")
    database = f"/{parsed.database}" if parsed.host and parsed.database else ""
    return f"{parsed.get_backend_name()}://{where}{database}"


def _source_select(contract: SourceContract, watermark: str | None) -> sa.Select[Any]:
    """The SELECT of a contract's columns, past the watermark, ordered for a stable checksum."""
    columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in contract.source_columns]
    if contract.table is not None:
        relation: sa.FromClause = sa.table(contract.table, *columns)
    else:
        relation = sa.text(contract.query or "").columns(*columns).subquery("source_query")
    statement = sa.select(*(relation.c[name] for name in contract.source_columns))
    if contract.incremental_column and watermark is not None:
        statement = statement.where(relation.c[contract.incremental_column] > watermark)
    order = [relation.c[contract.primary_key]]
    if contract.incremental_column:
        order.insert(0, relation.c[contract.incremental_column])
    return statement.order_by(*order)


def _as_text(value: Any) -> str | None:
    """Render a source value as landing text; dates in ISO form, None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _column_as_text(values: Sequence[Any]) -> pa.Array:
    """A column as landing text; text columns take Arrow's C path, others are rendered value by value."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_as_text(value) for value in values], pa.string())


def _chunk_as_arrow(chunk: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*chunk, strict=True)) if chunk else [() for _ in schema]
    return pa.Table.from_arrays([_column_as_text(column) for column in columns], schema=schema)


def _stream_rows(
    contract: SourceContract, url: str, watermark: str | None
) -> Iterator[Sequence[Sequence[Any]]]:
    """Yield the source's rows in chunks of at most ``CHUNK_ROWS``, on a server-side cursor."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(
                _source_select(contract, watermark)
            )
            yield from result.partitions(CHUNK_ROWS)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class ResumePoint:
    """Where an incremental extraction starts.

    Attributes:
        watermark: Rows past it are pulled (None: every row).
        supersedes: Landed batches read again from there (held back by a blocking check).
    """

    watermark: str | None
    supersedes: tuple[str, ...] = ()


def resume_point(layout: WarehouseLayout, source: str) -> ResumePoint:
    """After the newest landed batch; while a batch is held back by a blocking check, after the
    batch landed before the first held one, so that rows the source corrects are pulled again even
    when their update time did not advance."""
    batches = landed_batches(layout, source)
    held = held_batches(layout, source)
    first = next((i for i, batch in enumerate(batches) if batch.batch_id in held), len(batches))
    marks = [b.watermark_high for b in batches[:first] if b.watermark_high]
    return ResumePoint(marks[-1] if marks else None, tuple(b.batch_id for b in batches[first:]))


def extract_source(
    contract: SourceContract,
    layout: WarehouseLayout,
    environ: Mapping[str, str],
    url: str | None = None,
) -> BatchManifest:
    """Land the source's new rows as one immutable batch.

    With an ``incremental_column``, only rows past the stored watermark are pulled; otherwise the
    whole table is pulled and staging compares it with the previous snapshot. A source with no
    change lands nothing and returns its newest batch with ``is_new=False``.

    Args:
        contract: The source contract.
        layout: The warehouse directory.
        environ: Environment that the contract's ``${VAR}`` references resolve against.
        url: The source's SQLAlchemy URL when the caller resolved it already (an Airflow
            ``conn_id``); credentials stay out of the environment. Read from the contract if None.

    Returns:
        The manifest of the new batch (or of the newest one when nothing changed).

    Raises:
        ExtractError: The source is unreachable, or its table or a column does not exist.
    """
    url = url or contract.connection_url(environ)
    start = resume_point(layout, contract.name) if contract.incremental_column else ResumePoint(None)
    try:
        return _land_batch(contract, layout, url, start)
    except SQLAlchemyError as failure:
        reason = str(getattr(failure, "orig", None) or failure).splitlines()[0]
        raise ExtractError(
            f"source {contract.name}: cannot read {contract.relation} at {describe_url(url)}: {reason}"
        ) from None


def _land_batch(
    contract: SourceContract, layout: WarehouseLayout, url: str, start: ResumePoint
) -> BatchManifest:
    with scratch_directory(layout.landing(contract.name)) as folder:
        written = _write_parts(contract, url, start.watermark, folder)
        previous = landed_batches(layout, contract.name)
        if _is_unchanged(contract, previous, written, start):
            return BatchManifest(**{**asdict(previous[-1]), "is_new": False})
        manifest = _manifest(contract, start, written)
        write_json_atomically(folder / MANIFEST, asdict(manifest))
        move_into_place(folder, layout.batch_dir(contract.name, manifest.batch_id))
    log.info("source %s: landed batch %s (%d rows)", contract.name, manifest.batch_id, written.rows)
    return manifest


@dataclass
class _WrittenParts:
    parts: list[str]
    rows: int
    checksum: str
    high: Any


def _write_parts(contract: SourceContract, url: str, watermark: str | None, folder: Path) -> _WrittenParts:
    """Stream the source into Parquet parts; track the checksum and the incremental maximum."""
    columns = contract.source_columns
    schema = pa.schema([(name, pa.string()) for name in columns])
    mark = columns.index(contract.incremental_column) if contract.incremental_column else None
    digest, parts, rows, high = hashlib.sha256(), [], 0, None
    for index, chunk in enumerate(_stream_rows(contract, url, watermark)):
        table = _chunk_as_arrow(chunk, schema)
        parts.append(f"part-{index:05d}.parquet")
        pq.write_table(table, folder / parts[-1], compression="zstd")
        digest.update(_ipc_bytes(table))
        rows += table.num_rows
        if mark is not None:
            high = max([row[mark] for row in chunk if row[mark] is not None] + ([high] if high else []))
    return _WrittenParts(parts, rows, digest.hexdigest(), high)


def _manifest(contract: SourceContract, start: ResumePoint, written: _WrittenParts) -> BatchManifest:
    extracted_at = dt.datetime.now(dt.UTC)
    watermark = start.watermark
    return BatchManifest(
        batch_id=f"{extracted_at:%Y%m%dT%H%M%S%fZ}-{written.checksum[:8]}",
        source_system=contract.name,
        mode="incremental" if contract.incremental_column else "full",
        row_count=written.rows,
        checksum=written.checksum,
        watermark_low=watermark,
        watermark_high=_as_text(written.high) if written.high is not None else watermark,
        extracted_at=extracted_at.isoformat(),
        parts=tuple(written.parts),
        columns=tuple(contract.source_columns),
        supersedes=start.supersedes,
    )


def _is_unchanged(
    contract: SourceContract, previous: list[BatchManifest], written: _WrittenParts, start: ResumePoint
) -> bool:
    """Nothing new: no row past the watermark, or the same rows as the newest batch read from the
    same watermark (a held batch read again, not corrected yet)."""
    if not previous:
        return False
    newest = previous[-1]
    same_read = newest.watermark_low == start.watermark and newest.checksum == written.checksum
    if contract.incremental_column and not start.supersedes:
        return written.rows == 0
    return same_read if contract.incremental_column else newest.checksum == written.checksum


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
