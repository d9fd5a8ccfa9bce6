"""The data a source's checks run on: every row the publish brings in from it, as one pandas frame.

That is every row of the batches first published by the snapshot being made (a batch held back
earlier and published now included); for a source with no new batch, its last published batches.

Tables come as :data:`~pipelines.publish.TableData` (mostly Parquet files); only the columns and
rows the checks need are read from them.

Kept records bring their canonical columns; quarantined rows come along with only their lineage
(canonical columns null, ``is_quarantined`` true), so a check's denominator is every row the source
sent. Beside the columns, the frame carries what the checks need from elsewhere in the run: one
flag per row-level rule (from findings and quarantine), one per cross-source conflict field (from
``resident_conflict``), and the batch's age in hours.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.canonical import staged_field_name
from pipelines.publish import StoredTable, TableData
from pipelines.quality.spec import CheckSpec

# Staged columns derived from a canonical field: a check on them needs that field mapped.
_DERIVED_FROM = {
    "id_number_raw": "id_number",
    "id_status": "id_number",
    "id_number_masked": "id_number",
    "name_raw": "name",
    "name_pinyin": "name",
}
_LINEAGE = ("source_system", "source_record_id", "batch_id")  # every table of rows has them


def rule_flag_column(rule_id: str) -> str:
    """The frame column that is True on rows failing a row-level rule."""
    return f"fails__{rule_id}"


def disagreement_column(field: str) -> str:
    """The frame column that is True on records whose resident's sources disagree on a field."""
    return f"disagrees__{field}"


BATCH_AGE_COLUMN = "batch_age_hours"
LINKED_COLUMN = "is_linked_in_batch"
KEPT_FLAG = "is_quarantined"


@dataclass(frozen=True)
class BatchFrame:
    """The rows of one source batch, ready for validation.

    Attributes:
        source_system: The source.
        batch_id: Its newest staged batch.
        extracted_at: When that batch was extracted (UTC, ISO text).
        frame: Records and quarantined rows with rule and disagreement flags.
    """

    source_system: str
    batch_id: str
    extracted_at: str
    frame: pd.DataFrame


def column_names(data: TableData) -> list[str]:
    """The columns of a table, in memory or on disk."""
    if isinstance(data, StoredTable):
        return data.column_names()
    return data.column_names if isinstance(data, pa.Table) else pq.read_schema(data[0]).names


def read_rows(data: TableData, columns: Sequence[str], where: pc.Expression | None = None) -> pa.Table:
    """The named columns of the rows matching ``where``; from files, only those columns are read
    (all of them from a database table when ``where`` is given)."""
    if isinstance(data, StoredTable):
        data = data.read(None if where is not None else columns)
    dataset = ds.dataset(data) if isinstance(data, pa.Table) else ds.dataset([str(p) for p in data])
    return dataset.to_table(columns=list(columns), filter=where)


@dataclass(frozen=True)
class Delivery:
    """The batches of a source that one snapshot first published.

    Attributes:
        batch_ids: Those batches.
        batch_id: The newest of them (check results are filed under it).
        extracted_at: When the newest was extracted (UTC, ISO text).
    """

    batch_ids: tuple[str, ...]
    batch_id: str
    extracted_at: str


def latest_delivery(load_batch: TableData, source: str) -> Delivery | None:
    """The batches of a source first published by the newest snapshot that published any of its
    batches (the one being made, during a run), or None before its first batch."""
    published = (pc.field("source_system") == source) & (pc.field("status") == "published")
    rows = read_rows(load_batch, ["batch_id", "extracted_at", "snapshot_id"], published).to_pylist()
    if not rows:
        return None
    newest_snapshot = max(row["snapshot_id"] or "" for row in rows)
    delivered = [row for row in rows if (row["snapshot_id"] or "") == newest_snapshot]
    newest = max(delivered, key=lambda row: (row["extracted_at"], row["batch_id"]))
    ids = tuple(sorted(row["batch_id"] for row in delivered))
    return Delivery(ids, newest["batch_id"], newest["extracted_at"])


def link_frame(source_record: TableData, resident_source_link: TableData) -> pd.DataFrame:
    """Every staged record and every link, matched on the record: ``is_linked_in_batch`` is True
    when the record has a link of its own batch (a record without a link, a link of another batch
    and a link without a record are False).

    Args:
        source_record: The staged records about to be published.
        resident_source_link: The crosswalk about to be published.

    Returns:
        One row per record or link: ``source_system, source_record_id, batch_id``, the flag.
    """
    records = read_rows(source_record, list(_LINEAGE))
    links = read_rows(resident_source_link, list(_LINEAGE)).rename_columns(
        ["source_system", "source_record_id", "link_batch_id"]
    )
    joined = records.join(links, keys=["source_system", "source_record_id"], join_type="full outer")
    linked = pc.fill_null(pc.equal(joined["batch_id"], joined["link_batch_id"]), False)
    batch = pc.coalesce(joined["batch_id"], joined["link_batch_id"])
    return pa.table(
        {
            "source_system": joined["source_system"],
            "source_record_id": joined["source_record_id"],
            "batch_id": batch,
            LINKED_COLUMN: linked,
        }
    ).to_pandas()


def checked_column(check: CheckSpec) -> str | None:
    """The staged column a check reads (None for rule and freshness checks)."""
    if check.expect == "agree":
        return check.field
    return check.column


def is_applicable(check: CheckSpec, mapped_fields: set[str]) -> bool:
    """False when a check reads a canonical column the source does not map."""
    column = checked_column(check)
    if column is None or column in _LINEAGE:
        return True
    canonical = {staged_field_name(f): f for f in mapped_fields}
    return column in canonical or _DERIVED_FROM.get(column) in mapped_fields


def _conflict_keys(resident_conflict: TableData, field: str) -> set[str]:
    """``source:record`` keys of every record involved in a disagreement on ``field``."""
    values = read_rows(resident_conflict, ["values"], pc.field("field") == field)["values"]
    keys: set[str] = set()
    for document in values.to_pylist():
        keys.update(json.loads(document))
    return keys


def batch_frame(
    tables: Mapping[str, TableData],
    source: str,
    checks: tuple[CheckSpec, ...],
    now: dt.datetime,
) -> BatchFrame | None:
    """Build the validation frame of what the publish brings in from a source (``latest_delivery``).

    Args:
        tables: The run's warehouse tables (``source_record``, ``quarantine``, ``dq_finding``,
            ``resident_conflict``, ``load_batch``).
        source: The source system.
        checks: The source's checks (they decide which flag columns are built).
        now: The validation time (UTC), for the batch age.

    Returns:
        The frame, or None when the source has no staged batch.
    """
    delivery = latest_delivery(tables["load_batch"], source)
    if delivery is None:
        return None
    batch_id, extracted_at = delivery.batch_id, delivery.extracted_at
    wanted = set(_LINEAGE) | {column for c in checks if (column := checked_column(c))}
    of_batch = (pc.field("source_system") == source) & pc.field("batch_id").isin(delivery.batch_ids)
    staged = [c for c in column_names(tables["source_record"]) if c in wanted]
    records = read_rows(tables["source_record"], staged, of_batch).to_pandas()
    quarantined = read_rows(tables["quarantine"], [*_LINEAGE, "rule"], of_batch).to_pandas()
    rules = sorted({c.rule for c in checks if c.expect == "rule_pass" and c.rule})
    findings = read_rows(
        tables["dq_finding"], ["source_record_id", "rule"], of_batch & pc.field("rule").isin(rules)
    )
    frame = pd.concat(
        [
            records.assign(**{KEPT_FLAG: False}),
            quarantined[["source_system", "source_record_id", "batch_id"]].assign(**{KEPT_FLAG: True}),
        ],
        ignore_index=True,
    )
    kept = ~frame[KEPT_FLAG].astype(bool)
    for rule_id in rules:
        found = set(findings.filter(pc.equal(findings["rule"], rule_id))["source_record_id"].to_pylist())
        in_records = frame["source_record_id"].isin(found) & kept
        in_quarantine = pd.Series(False, index=frame.index)
        in_quarantine[~kept] = (quarantined["rule"] == rule_id).to_numpy()
        frame[rule_flag_column(rule_id)] = in_records | in_quarantine
    for field in sorted({c.field for c in checks if c.expect == "agree" and c.field}):
        keys = _conflict_keys(tables["resident_conflict"], field)
        involved = (frame["source_system"] + ":" + frame["source_record_id"]).isin(keys)
        known = frame[field].notna() if field in frame.columns else pd.Series(False, index=frame.index)
        frame[disagreement_column(field)] = involved.astype(object).where(known, None)
    age = now - dt.datetime.fromisoformat(extracted_at)
    frame[BATCH_AGE_COLUMN] = round(age.total_seconds() / 3600, 3)
    return BatchFrame(source, batch_id, extracted_at, frame)
