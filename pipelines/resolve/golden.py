"""Golden resident records (each field from its authoritative source) and cross-source conflicts.

A resident's golden row and conflicts depend only on its own records, so a run builds them again
only for residents whose records changed (the caller chooses them, see `resolution`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    active_benefits: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


@cache
def survivorship() -> Survivorship:
    """The declared survivorship rules (``schemas/survivorship.yaml``)."""
    declared = yaml.safe_load(SURVIVORSHIP_PATH.read_text(encoding="utf-8"))
    return Survivorship(
        priority={name: tuple(sources) for name, sources in declared["fields"].items()},
        conflict_fields=tuple(declared["conflict_fields"]),
        active_benefits={
            source: (rule["attribute"], tuple(str(v) for v in rule["values"]))
            for source, rule in (declared.get("active_benefits") or {}).items()
        },
    )


def _source_ranks(rules: Survivorship, sources: list[str]) -> pa.Table:
    """One row per source: a bit of its own (to count sources cheaply) and a ``rank_<field>``
    column per golden field (lower wins)."""
    columns: dict[str, list[object]] = {
        "source_system": list[object](sources),
        "source_bit": [1 << index for index in range(len(sources))],
    }
    for name, order in rules.priority.items():
        columns[f"rank_{name}"] = [
            order.index(source) if source in order else len(order) for source in sources
        ]
    return pa.table(columns)


# Values that say "not known" (canonical gender U): they neither survive over a known value nor
# disagree with one.
UNKNOWN = {"gender": "U"}


# Records are numbered below this in the order that breaks ties between records of one rank.
_RECORD_ORDER_SPAN = 2**40


def known_value(name: str) -> str:
    """SQL for a field's value with its "not known" marker read as null."""
    return f"nullif({name}, '{UNKNOWN[name]}')" if name in UNKNOWN else name


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
    for name in rules.priority:
        # A field's value comes from its best-ranked source, then the latest update, then the
        # smallest record id (so runs agree): one integer per record and field orders them.
        order = f"rank_{name} * {_RECORD_ORDER_SPAN} + record_order"
        value, known = known_value(name), f"filter (where {known_value(name)} is not null)"
        picked = f"arg_min({value}, {order}) {known}"
        shown = f"coalesce({picked}, '{UNKNOWN[name]}')" if name in UNKNOWN else picked
        picks.append(f"{shown} as {name}, arg_min(source_system, {order}) {known} as {name}_source")
    return connection.sql(
        f"""
        with ordered as (
            select *, row_number() over (
                order by coalesce(epoch(updated_at), 0) desc, source_record_id, source_system
            ) as record_order
            from {linked_records} join source_rank using (source_system)
        )
        select
            resident_id,
            {", ".join(picks)},
            cast(bit_count(bit_or(source_bit)) as bigint) as source_count,
            count(*) as record_count
        from ordered
        group by resident_id
        order by resident_id
        """
    ).to_arrow_table()


def find_conflicts(connection: duckdb.DuckDBPyConnection, linked_records: str, residents: str) -> pa.Table:
    """One row per resident and disagreement between sources.

    Three kinds: a conflict field holding different values (``sources_disagree``); a resident
    recorded as deceased by one source while another pays or insures them
    (``deceased_but_receiving_benefits``, per ``active_benefits``); a golden birth date that is
    not the one the golden citizen ID number encodes (``birth_date_disagrees_with_id_number``).

    Args:
        connection: DuckDB connection holding ``linked_records``.
        linked_records: Relation name.
        residents: Relation name of the golden records (`build_residents`).

    Returns:
        ``resident_id, field, conflict_type, value_count, values`` (JSON: record → value).
    """
    rules = survivorship()
    parts = [_disagreement_sql(name, linked_records) for name in rules.conflict_fields]
    if rules.active_benefits:
        parts.append(_deceased_but_paid_sql(rules, linked_records))
    parts.append(_birth_date_vs_id_sql(residents))
    return connection.sql(
        f"""
        select resident_id, field, conflict_type, value_count, "values"
        from ({" union all ".join(parts)})
        order by resident_id, field, conflict_type
        """
    ).to_arrow_table()


_BY_RECORD = "order by source_system, source_record_id"


def _disagreement_sql(name: str, linked_records: str) -> str:
    # Values are gathered only for the few residents that disagree: counting is cheap, JSON is not.
    value = known_value(name)
    return f"""
        select resident_id, '{name}' as field, 'sources_disagree' as conflict_type,
               count(distinct {value}) as value_count,
               to_json(map(list(source_system || ':' || source_record_id {_BY_RECORD}),
                           list(cast({value} as varchar) {_BY_RECORD}))) as "values"
        from {linked_records}
        where {value} is not null and resident_id in (
            select resident_id from {linked_records} where {value} is not null
            group by resident_id having min({value}) <> max({value})
        )
        group by resident_id
        """


def _deceased_but_paid_sql(rules: Survivorship, linked_records: str) -> str:
    active = " or ".join(
        f"(source_system = '{source}' and json_extract_string(attributes, '$.{attribute}') in "
        f"({', '.join(repr(v) for v in values)}))"
        for source, (attribute, values) in rules.active_benefits.items()
    )
    return f"""
        select resident_id, 'is_deceased' as field, 'deceased_but_receiving_benefits' as conflict_type,
               count(*) as value_count,
               to_json(map(list(source_system || ':' || source_record_id {_BY_RECORD}),
                           list(case when coalesce(is_deceased, false) or death_date is not null
                                     then 'deceased' else 'active benefit' end {_BY_RECORD}))) as "values"
        from {linked_records}
        where coalesce(is_deceased, false) or death_date is not null or ({active})
        group by resident_id
        having bool_or(coalesce(is_deceased, false) or death_date is not null)
           and bool_or({active})
        """


def _birth_date_vs_id_sql(residents: str) -> str:
    encoded = "try_strptime(substr(id_number, 7, 8), '%Y%m%d')::date"
    return f"""
        select resident_id, 'birth_date' as field, 'birth_date_disagrees_with_id_number' as conflict_type,
               2 as value_count,
               to_json(map(['birth_date', 'id_number'],
                           [cast(birth_date as varchar), cast({encoded} as varchar)])) as "values"
        from {residents}
        where id_type = 'cn_resident_id' and length(id_number) = 18 and birth_date <> {encoded}
        """


def golden_records(
    connection: duckdb.DuckDBPyConnection, linked_records: str, sources: list[str]
) -> tuple[pa.Table, pa.Table]:
    """Golden rows and conflicts of the residents whose records ``linked_records`` holds.

    Args:
        connection: DuckDB connection holding ``linked_records``.
        linked_records: Relation of staged records with their ``resident_id`` (every record of
            each resident it names).
        sources: Every source system name.

    Returns:
        ``(resident, resident_conflict)``.
    """
    resident = build_residents(connection, linked_records, sources)
    connection.register("resident_golden", resident)
    try:
        conflicts = find_conflicts(connection, linked_records, "resident_golden")
    finally:
        connection.unregister("resident_golden")
    return resident, conflicts
