"""Golden resident records (each field from its authoritative source) and cross-source conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

SURVIVORSHIP_PATH = Path(__file__).resolve().parents[2] / "schemas" / "survivorship.yaml"


@dataclass(frozen=True)
class Survivorship:
    """Source priority per golden field, and the fields whose disagreement is a conflict."""

    priority: dict[str, tuple[str, ...]]
    conflict_fields: tuple[str, ...]


@cache
def survivorship() -> Survivorship:
    """The declared survivorship rules (``schemas/survivorship.yaml``)."""
    declared = yaml.safe_load(SURVIVORSHIP_PATH.read_text(encoding="utf-8"))
    return Survivorship(
        priority={field: tuple(sources) for field, sources in declared["fields"].items()},
        conflict_fields=tuple(declared["conflict_fields"]),
    )


def _source_ranks(rules: Survivorship, sources: list[str]) -> pa.Table:
    """One row per source with a ``rank_<field>`` column per golden field (lower wins)."""
    columns: dict[str, list[object]] = {"source_system": list[object](sources)}
    for field, order in rules.priority.items():
        columns[f"rank_{field}"] = [
            order.index(source) if source in order else len(order) for source in sources
        ]
    return pa.table(columns)


def build_residents(
    connection: duckdb.DuckDBPyConnection, linked_records: str, sources: list[str]
) -> pa.Table:
    """Build one golden row per resident.

    Args:
        connection: DuckDB connection holding ``linked_records`` (staged records + resident_id).
        linked_records: Relation name.
        sources: Every source system name.

    Returns:
        ``resident_id``, each golden field and ``<field>_source``, ``source_count``, ``record_count``.
    """
    rules = survivorship()
    connection.register("source_rank", _source_ranks(rules, sources))
    picks = []
    for field in rules.priority:
        order = f"[rank_{field}, -coalesce(epoch(updated_at), 0)]"
        present = f"filter (where {field} is not null)"
        picks.append(f"arg_min({field}, {order}) {present} as {field}")
        picks.append(f"arg_min(source_system, {order}) {present} as {field}_source")
    return connection.sql(
        f"""
        select
            resident_id,
            {", ".join(picks)},
            count(distinct source_system) as source_count,
            count(*) as record_count
        from {linked_records} join source_rank using (source_system)
        group by resident_id
        order by resident_id
        """
    ).to_arrow_table()


def find_conflicts(connection: duckdb.DuckDBPyConnection, linked_records: str) -> pa.Table:
    """One row per resident and field where sources hold different values.

    Args:
        connection: DuckDB connection holding ``linked_records``.
        linked_records: Relation name.

    Returns:
        ``resident_id, field, conflict_type, value_count, values`` (JSON: source → value).
    """
    parts = [
        f"""
        select resident_id, '{field}' as field,
               count(distinct {field}) as value_count,
               to_json(map(list(source_system || ':' || source_record_id),
                           list(cast({field} as varchar)))) as "values"
        from {linked_records}
        where {field} is not null
        group by resident_id
        having count(distinct {field}) > 1
        """
        for field in survivorship().conflict_fields
    ]
    return connection.sql(
        f"""
        select resident_id, field, 'sources_disagree' as conflict_type, value_count, "values"
        from ({" union all ".join(parts)})
        order by resident_id, field
        """
    ).to_arrow_table()
