"""Correction lists (校核纠错清单): per source, its records with problems, to send back to the owner.

One CSV per source (UTF-8 with BOM, so Excel shows the Chinese headers), one row per problem of a
record: rejected rows (quarantine), kept rows with findings (invalid or masked ID numbers, unlisted
codes, dates disagreeing with the ID number ...), rows failing a column check (duplicates of an ID
number within the source), and records whose values disagree with another department's record of
the same resident.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

# Header: canonical name / 中文, so both the department clerk and a script can read it.
COLUMNS = {
    "source_record_id": "记录主键 / record key",
    "batch_id": "批次 / batch",
    "problem_kind": "问题类别 / kind",
    "problem": "问题 / problem",
    "column": "字段 / column",
    "value": "当前值 / value",
    "detail": "说明 / detail",
}
KIND_LABELS = {
    "quarantine": "拒收 rejected",
    "finding": "数据问题 finding",
    "check": "校验未通过 check",
    "conflict": "跨部门不一致 conflict",
}

_ROW_PROBLEMS = """
select source_system, source_record_id, batch_id, 'quarantine' as problem_kind, rule as problem,
       "column", null as value, reason || ' | ' || coalesce(raw_values, '') as detail
from quarantine
union all
select source_system, source_record_id, batch_id, 'finding', rule, "column", value, reason
from dq_finding
union all
select f.source_system, f.source_record_id, f.batch_id, 'check', f.check_id, f."column", f.value,
       coalesce(r.description, '')
from dq_check_failure as f
left join dq_result as r
    on r.source_system = f.source_system and r.batch_id = f.batch_id
    and r.check_id = f.check_id
where f.source_system in (select distinct source_system from source_record)
"""


@dataclass(frozen=True)
class CorrectionList:
    """One department's correction file."""

    source_system: str
    path: Path
    rows: int
    records: int


def _conflict_rows(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One row per record involved in a cross-source disagreement, naming the other values."""
    rows = []
    conflicts = connection.execute(
        'select resident_id, field, conflict_type, "values" from resident_conflict'
        " order by resident_id, field, conflict_type"
    ).fetchall()
    for resident_id, field, conflict_type, document in conflicts:
        values: dict[str, Any] = json.loads(document)
        # Keys are ``source:record`` for disagreements between records; a resident-level
        # conflict (golden birth date vs ID number) names fields instead and goes to no department.
        for key, value in values.items():
            if ":" not in key:
                continue
            source, record_id = key.split(":", 1)
            others = ", ".join(f"{k}={v}" for k, v in values.items() if k != key)
            rows.append(
                {
                    "source_system": source,
                    "source_record_id": record_id,
                    "batch_id": None,
                    "problem_kind": "conflict",
                    "problem": conflict_type,
                    "column": field,
                    "value": value,
                    "detail": f"resident {resident_id}; other records: {others}",
                }
            )
    return rows


def correction_rows(database: Path) -> dict[str, list[dict[str, Any]]]:
    """Every problem of every source record in a snapshot, grouped by source.

    Args:
        database: The snapshot's DuckDB file.

    Returns:
        ``{source: [row, ...]}`` sorted by record key.
    """
    connection = duckdb.connect(str(database), read_only=True)
    try:
        cursor = connection.execute(_ROW_PROBLEMS)
        names = [c[0] for c in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        rows += _conflict_rows(connection)
        sources = [
            r[0] for r in connection.execute("select distinct source_system from load_batch").fetchall()
        ]
    finally:
        connection.close()
    grouped: dict[str, list[dict[str, Any]]] = {source: [] for source in sorted(sources)}
    for row in rows:
        grouped.setdefault(row["source_system"], []).append(row)
    for source_rows in grouped.values():
        source_rows.sort(key=lambda r: (str(r["source_record_id"]), r["problem_kind"], r["problem"]))
    return grouped


def write_correction_lists(database: Path, folder: Path) -> list[CorrectionList]:
    """Write one CSV per source into ``folder``.

    Args:
        database: The snapshot's DuckDB file.
        folder: Where ``<source>.csv`` files go (created if missing).

    Returns:
        What was written, per source.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source, rows in correction_rows(database).items():
        path = folder / f"{source}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS.values())
            for row in rows:
                labelled = row | {"problem_kind": KIND_LABELS[row["problem_kind"]]}
                writer.writerow(["" if labelled[c] is None else labelled[c] for c in COLUMNS])
        records = len({row["source_record_id"] for row in rows})
        written.append(CorrectionList(source, path, len(rows), records))
    return written
