"""The figures of an auditors' report, read from one warehouse snapshot and the run log.

Every figure comes from the snapshot's own tables (``dq_result``, ``quarantine``, ``dq_finding``,
``resident``, ``resident_source_link``, ``resident_conflict``, ``load_batch``), so a report can be
rebuilt later from the snapshot it describes and its counts equal the warehouse's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipelines.layout import WarehouseLayout, read_json
from pipelines.publish import Snapshot
from pipelines.quality.spec import DIMENSIONS

EXAMPLES_PER_RULE = 5

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class RunEntry:
    """One run of the run log (``runs/<run_id>.json``), as the index lists it."""

    run_id: str
    succeeded: bool
    snapshot_id: str | None
    blocked: str | None
    failures: dict[str, str]
    residents: int
    failed_checks: Rows
    error: str | None = None
    origin: str = "cli"

    @classmethod
    def read(cls, path: Path) -> RunEntry:
        """Read a run summary file."""
        document = read_json(path)
        failed = [c for c in document.get("quality", []) if not c.get("is_passed", True)]
        return cls(
            run_id=document["run_id"],
            succeeded=bool(document.get("succeeded")),
            snapshot_id=document.get("snapshot_id"),
            blocked=document.get("blocked"),
            failures=document.get("failures", {}),
            residents=int(document.get("residents") or 0),
            failed_checks=failed,
            error=document.get("error"),
            origin=document.get("origin") or "cli",
        )


@dataclass(frozen=True)
class ReportFigures:
    """Everything the report shows, for one snapshot."""

    snapshot: dict[str, Any]
    sources: list[str]
    scorecard: dict[str, dict[str, dict[str, Any]]]
    checks: Rows
    trends: dict[str, Rows]
    quarantine_by_rule: Rows
    quarantine_examples: dict[str, Rows]
    findings_by_rule: Rows
    totals: dict[str, int]
    identity: dict[str, Any]
    places: dict[str, Any] = field(default_factory=dict)
    runs: list[RunEntry] = field(default_factory=list)


def read_runs(layout: WarehouseLayout) -> list[RunEntry]:
    """Every run summary of a warehouse, newest first."""
    paths = sorted(layout.runs.glob("run-*.json"), reverse=True) if layout.runs.exists() else []
    return [RunEntry.read(path) for path in paths]


_TOTALS = {
    "source_rows": "source_record",
    "quarantined": "quarantine",
    "findings": "dq_finding",
    "residents": "resident",
    "links": "resident_source_link",
    "conflicts": "resident_conflict",
    "dq_result_rows": "dq_result",
}


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(_rows(connection, f'select count(*) as n from "{table}"')[0]["n"])


def _rows(connection: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> Rows:
    cursor = connection.execute(sql, list(params))
    names = [column[0] for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _newest_checks(connection: duckdb.DuckDBPyConnection) -> Rows:
    """Expectation results of each source's newest checked batch (and the newest warehouse run)."""
    return _rows(
        connection,
        """
        with ranked as (
            select *, dense_rank() over (
                partition by source_system
                order by coalesce(extracted_at, validated_at) desc, batch_id desc
            ) as recency
            from dq_result where check_kind = 'expectation'
        )
        select source_system, batch_id, check_id, dimension, severity, expectation, "column",
               threshold, checked_rows, failed_rows, pass_rate, is_passed, observed_value,
               description
        from ranked where recency = 1
        order by source_system, dimension, check_id
        """,
    )


def scorecard(checks: Rows) -> dict[str, dict[str, dict[str, Any]]]:
    """Per source and dimension: checks passed, the lowest pass rate, and the worst failure.

    Args:
        checks: Results of the newest batch per source.

    Returns:
        ``{source: {dimension: {"passed", "total", "min_pass_rate", "status"}}}``; status is
        ``ok``, ``warn`` or ``block``.
    """
    card: dict[str, dict[str, dict[str, Any]]] = {}
    for check in checks:
        cell = card.setdefault(check["source_system"], {}).setdefault(
            check["dimension"], {"passed": 0, "total": 0, "min_pass_rate": 1.0, "status": "ok"}
        )
        cell["total"] += 1
        cell["passed"] += int(bool(check["is_passed"]))
        cell["min_pass_rate"] = min(cell["min_pass_rate"], float(check["pass_rate"]))
        if not check["is_passed"] and check["severity"] == "block":
            cell["status"] = "block"
        elif not check["is_passed"] and cell["status"] == "ok":
            cell["status"] = "warn"
    return card


def _trends(connection: duckdb.DuckDBPyConnection) -> dict[str, Rows]:
    """Per source, per checked batch in time order: mean pass rate of each dimension."""
    rows = _rows(
        connection,
        """
        select source_system, batch_id, coalesce(extracted_at, validated_at) as checked_at,
               dimension, avg(pass_rate) as pass_rate, count(*) filter (not is_passed) as failed
        from dq_result where check_kind = 'expectation'
        group by all order by source_system, checked_at, batch_id, dimension
        """,
    )
    trends: dict[str, Rows] = {}
    for row in rows:
        trends.setdefault(row["source_system"], []).append(row)
    return trends


def _quarantine_examples(connection: duckdb.DuckDBPyConnection) -> dict[str, Rows]:
    rows = _rows(
        connection,
        """
        select * from (
            select source_system, rule, source_record_id, batch_id, reason, raw_values,
                   row_number() over (partition by source_system, rule
                                      order by source_record_id nulls first) as n
            from quarantine
        ) where n <= ? order by source_system, rule, n
        """,
        EXAMPLES_PER_RULE,
    )
    examples: dict[str, Rows] = {}
    for row in rows:
        row["raw_values"] = _short_raw(row["raw_values"])
        examples.setdefault(f"{row['source_system']}/{row['rule']}", []).append(row)
    return examples


def _short_raw(raw: str | None) -> str:
    """Raw values as ``column=value`` text (the report shows them as the source sent them)."""
    if not raw:
        return ""
    values = json.loads(raw)
    return "; ".join(f"{k}={v}" for k, v in values.items()) if isinstance(values, dict) else raw


def _identity(connection: duckdb.DuckDBPyConnection, tables: set[str]) -> dict[str, Any]:
    per_source = _rows(
        connection,
        """
        with sizes as (select resident_id, count(*) as records,
                              count(distinct source_system) as sources
                       from resident_source_link group by resident_id)
        select l.source_system, count(*) as records,
               count(*) filter (where s.sources > 1) as matched_across_sources,
               count(*) filter (where s.records > 1) as matched_any,
               round(count(*) filter (where s.sources > 1) / count(*), 4) as match_rate
        from resident_source_link l join sizes s using (resident_id)
        group by l.source_system order by l.source_system
        """,
    )
    cluster_sizes = _rows(
        connection,
        """
        select least(records, 6) as size, count(*) as residents from (
            select resident_id, count(*) as records from resident_source_link group by all
        ) group by all order by size
        """,
    )
    rules = _rows(
        connection,
        "select match_rule, count(*) as links from resident_source_link group by all order by 2 desc",
    )
    conflicts = _rows(
        connection,
        "select field, count(*) as residents from resident_conflict group by all order by 2 desc",
    )
    review_tables = sorted(t for t in tables if "review" in t)
    uncertain = sum(_rows(connection, f'select count(*) as n from "{t}"')[0]["n"] for t in review_tables)
    return {
        "per_source": per_source,
        "cluster_sizes": cluster_sizes,
        "match_rules": rules,
        "conflicts": conflicts,
        "uncertain_links": uncertain,
        "uncertain_source": ", ".join(review_tables) or None,
    }


def _places(connection: duckdb.DuckDBPyConnection, tables: set[str]) -> dict[str, Any]:
    """Where residents were placed, the streets' grid figures and the rosters' open items."""
    if not {"grid_summary", "roster_reconciliation", "resident"} <= tables:
        return {}
    placed = _rows(
        connection,
        """
        select count(*) as residents,
               count(*) filter (where dwelling_id is not null) as in_a_flat,
               count(*) filter (where grid_code is not null) as in_a_grid,
               count(*) filter (where place_basis = 'registered address') as by_registration,
               count(*) filter (where lives_apart_from_registration) as living_apart
        from resident where not coalesce(is_deceased, false)
        """,
    )[0]
    streets = _rows(
        connection,
        """
        select s.street_code, any_value(g.street_name) as street_name, s.residents, s.households,
               s.elderly_living_alone, s.low_income_households, s.missing_from_roster,
               s.deceased_on_roster, s.lives_elsewhere
        from grid_summary s left join grid g on g.street_code = s.street_code
        where s.division_level = 'street'
        group by all order by s.street_code
        """,
    )
    aliases = (
        _rows(connection, "select level, count(*) as aliases from place_alias group by all order by level")
        if "place_alias" in tables
        else []
    )
    return {"placed": placed, "streets": streets, "aliases": aliases}


def read_figures(snapshot: Snapshot, runs: list[RunEntry]) -> ReportFigures:
    """Read every figure of the report from a snapshot.

    Args:
        snapshot: The snapshot the report describes.
        runs: The run log, newest first.

    Returns:
        The report's figures.
    """
    connection = duckdb.connect(str(snapshot.database), read_only=True)
    try:
        tables = {row[0] for row in connection.execute("show tables").fetchall()}
        checks = _newest_checks(connection)
        totals = {name: _count(connection, table) for name, table in _TOTALS.items()}
        return ReportFigures(
            snapshot={
                "snapshot_id": snapshot.snapshot_id,
                "run_id": snapshot.run_id,
                "created_at": snapshot.created_at,
            },
            sources=sorted({c["source_system"] for c in checks} - {"warehouse"}),
            scorecard=scorecard(checks),
            checks=checks,
            trends=_trends(connection),
            quarantine_by_rule=_rows(
                connection,
                "select source_system, rule, count(*) as n from quarantine"
                " group by all order by source_system, n desc, rule",
            ),
            quarantine_examples=_quarantine_examples(connection),
            findings_by_rule=_rows(
                connection,
                "select source_system, rule, severity, count(*) as n from dq_finding"
                " group by all order by source_system, n desc, rule",
            ),
            totals=totals,
            identity=_identity(connection, tables),
            places=_places(connection, tables),
            runs=runs,
        )
    finally:
        connection.close()


__all__ = ["DIMENSIONS", "ReportFigures", "RunEntry", "read_figures", "read_runs", "scorecard"]
