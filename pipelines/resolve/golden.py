"""Golden resident records (each field from its authoritative source) and cross-source conflicts.

A resident's golden row and conflicts depend only on its own records, so a run builds them again
only for residents whose records changed (the caller chooses them, see `resolution`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from pipelines.canonical import canonical_fields, programmes, staged_field_name
from pipelines.contracts import DEFAULT_PRIORITY, SourceContract
from pipelines.resolve.features import run_sql
from pipelines.standardize.records import VALID_ID_STATUSES

# Staged columns that are lineage or matching aids, not golden fields.
_NOT_GOLDEN = ("updated_at",)


def golden_fields() -> tuple[str, ...]:
    """The staged columns a golden resident row takes a value of (canonical fields, in order)."""
    names = (staged_field_name(name) for name in canonical_fields())
    return tuple(name for name in names if name not in _NOT_GOLDEN)


@dataclass(frozen=True)
class GoldenRules:
    """How golden records are built, as the source contracts declare it.

    Attributes:
        priority: Per source, per golden field (staged column name), how strongly that field
            prefers the source's value (0-100; the highest wins, then the most recently updated
            record, then the smallest record id).
        conflict_fields: Golden fields whose disagreement between sources is a conflict.
    """

    priority: dict[str, dict[str, int]] = field(default_factory=dict)
    conflict_fields: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            staged_field_name(f.name) for f in canonical_fields().values() if f.conflict
        )
    )

    @classmethod
    def from_contracts(cls, contracts: Sequence[SourceContract]) -> GoldenRules:
        """The rules the contracts declare (``priority:``); undeclared fields get the default."""
        return cls(
            priority={
                contract.name: {
                    staged_field_name(name): contract.priority_of(name) for name in canonical_fields()
                }
                for contract in contracts
            }
        )

    def rank(self, source: str, golden_field: str) -> int:
        """Sort key of a source for a field: lower wins."""
        return -self.priority.get(source, {}).get(golden_field, DEFAULT_PRIORITY)


def _source_ranks(rules: GoldenRules, sources: list[str]) -> pa.Table:
    """One row per source: a bit of its own (to count sources cheaply) and a ``rank_<field>``
    column per golden field (lower wins)."""
    columns: dict[str, list[object]] = {
        "source_system": list[object](sources),
        "source_bit": [1 << index for index in range(len(sources))],
    }
    for name in golden_fields():
        columns[f"rank_{name}"] = [rules.rank(source, name) for source in sources]
    return pa.table(columns)


# Values that say "not known" (canonical gender U): they neither survive over a known value nor
# disagree with one.
UNKNOWN = {"gender": "U"}


# A number that contradicts its own record (a household member's, copied in) is kept on the record
# but never becomes the resident's number.
_TRUSTED_ID = f" and id_status in ({', '.join(repr(status) for status in VALID_ID_STATUSES)})"
_GOLDEN_ONLY_IF = {"id_number": _TRUSTED_ID, "id_type": _TRUSTED_ID}


# Records are numbered below this in the order that breaks ties between records of one rank.
_RECORD_ORDER_SPAN = 2**40


def known_value(name: str) -> str:
    """SQL for a field's value with its "not known" marker read as null."""
    return f"nullif({name}, '{UNKNOWN[name]}')" if name in UNKNOWN else name


def build_residents(
    connection: duckdb.DuckDBPyConnection, linked_records: str, sources: list[str], rules: GoldenRules
) -> pa.Table:
    """Build one golden row per resident.

    Args:
        connection: DuckDB connection holding ``linked_records`` (staged records + resident_id).
        linked_records: Relation name.
        sources: Every source system name.
        rules: Source priorities per field.

    Returns:
        ``resident_id``, each golden field and ``<field>_source``, ``source_count``, ``record_count``.
    """
    connection.register("source_rank", _source_ranks(rules, sources))
    picks = []
    for name in golden_fields():
        # A field's value comes from its best-ranked source, then the latest update, then the
        # smallest record id (so runs agree): one integer per record and field orders them.
        order = f"rank_{name} * {_RECORD_ORDER_SPAN} + record_order"
        value = known_value(name)
        known = f"filter (where {value} is not null{_GOLDEN_ONLY_IF.get(name, '')})"
        picked = f"arg_min({value}, {order}) {known}"
        shown = f"coalesce({picked}, '{UNKNOWN[name]}')" if name in UNKNOWN else picked
        picks.append(f"{shown} as {name}, arg_min(source_system, {order}) {known} as {name}_source")
    return connection.sql(
        f"""
        with ordered as (
            select *, row_number() over (
                order by coalesce(epoch(updated_at), 0) desc, source_record_id, source_system
            ) as record_order,
            count(building_id) over (partition by resident_id, building_id) as place_support
            from {linked_records} join source_rank using (source_system)
        ),
        golden as (
            select
                resident_id,
                {", ".join(picks)},
                {_PLACE_PICKS},
                cast(bit_count(bit_or(source_bit)) as bigint) as source_count,
                count(*) as record_count
            from ordered
            group by resident_id
        )
        select * exclude (grid_code, grid_code_source, place, registered_place, household_id),
            coalesce(place.dwelling_id, registered_place.dwelling_id) as dwelling_id,
            coalesce(place.building_id, registered_place.building_id) as building_id,
            coalesce(
                place.declared_grid_code, place.place_grid_code, grid_code, registered_place.place_grid_code
            ) as grid_code,
            case when place.declared_grid_code is not null then place.source_system
                 when place.place_grid_code is not null then 'place register'
                 when grid_code is not null then grid_code_source
                 when registered_place.place_grid_code is not null then 'registered address'
            end as grid_code_source,
            coalesce(place.source_system, registered_place.source_system) as place_source,
            -- where a person lives, when no record says: the registered flat, so marked
            case when place.building_id is not null then 'actual address'
                 when registered_place.building_id is not null then 'registered address'
            end as place_basis,
            registered_place.dwelling_id as registered_dwelling_id,
            registered_place.building_id as registered_building_id,
            household_id as registered_household_id,
            place.co_household_id,
            coalesce(household_id, place.co_household_id) as household_id,
            case when registered_place.dwelling_id is not null and place.dwelling_id is not null
                     then registered_place.dwelling_id <> place.dwelling_id
                 when registered_place.building_id is not null and place.building_id is not null
                     then registered_place.building_id <> place.building_id
            end as lives_apart_from_registration
        from golden
        order by resident_id
        """
    ).to_arrow_table()


# Where a resident lives is the place of one record: the building most of the resident's records
# agree on (two departments writing one building outweigh a single record, however trusted),
# then as the address is chosen (the source ranked highest for addresses, then the latest); its
# flat, building, grid and the co-residents' household stay together. The registered place follows
# the registered address's ranking, the registered household (户号) the household number's.
_MOST_SUPPORT, _SUPPORT_SPAN = 63, 2**48
_PLACE_PICKS = f"""
    arg_min(struct_pack(dwelling_id, building_id, place_grid_code, co_household_id, source_system,
                        declared_grid_code := grid_code),
            ({_MOST_SUPPORT} - least(place_support, {_MOST_SUPPORT})) * {_SUPPORT_SPAN}
            + (rank_address + 100) * {_RECORD_ORDER_SPAN} + record_order)
        filter (where building_id is not null) as place,
    arg_min(struct_pack(dwelling_id := registered_dwelling_id, building_id := registered_building_id,
                        place_grid_code := registered_grid_code, source_system),
            rank_registered_address * {_RECORD_ORDER_SPAN} + record_order)
        filter (where registered_building_id is not null) as registered_place,
    arg_min(household_id, rank_household_number * {_RECORD_ORDER_SPAN} + record_order)
        filter (where household_id is not null) as household_id
"""


def find_conflicts(
    connection: duckdb.DuckDBPyConnection, linked_records: str, residents: str, rules: GoldenRules
) -> pa.Table:
    """One row per resident and disagreement between sources.

    Four kinds: a conflict field holding different values (``sources_disagree``); a resident
    recorded as deceased by one source while another still pays them in a programme that pays
    the person (``deceased_but_paid``) or still has them enrolled in one that does not
    (``deceased_but_enrolled``), as the sources' contracts declare their records' programmes; a
    golden birth date that is not the one the golden citizen ID number encodes
    (``birth_date_disagrees_with_id_number``).

    Args:
        connection: DuckDB connection holding ``linked_records``.
        linked_records: Relation name.
        residents: Relation name of the golden records (`build_residents`).
        rules: The fields whose disagreement is a conflict.

    Returns:
        ``resident_id, field, conflict_type, value_count, values`` (JSON: record → value).
    """
    parts = [_disagreement_sql(name, linked_records) for name in rules.conflict_fields]
    parts.append(_deceased_in_programme_sql(linked_records))
    parts.append(_birth_date_vs_id_sql(residents))
    connection.register("programme_meta", _programme_table())
    try:
        return connection.sql(
            f"""
            select resident_id, field, conflict_type, value_count, "values"
            from ({" union all ".join(parts)})
            order by resident_id, field, conflict_type
            """
        ).to_arrow_table()
    finally:
        connection.unregister("programme_meta")


def _programme_table() -> pa.Table:
    declared = list(programmes().values())
    return pa.table(
        {
            "programme": pa.array([p.name for p in declared], pa.string()),
            "pays_person": pa.array([p.pays_person for p in declared], pa.bool_()),
        }
    )


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


_DECEASED = "(coalesce(is_deceased, false) or death_date is not null)"


def _deceased_in_programme_sql(linked_records: str) -> str:
    """Residents some record calls deceased while a record is active in a programme, one row per
    kind (paying or not), with every record involved and what it says."""
    return f"""
        select * from (
        with active as (
            select resident_id, source_system, source_record_id, m.pays_person,
                   e.programme || ' ' || e.status as said
            from (select resident_id, source_system, source_record_id, unnest(programmes) as e
                  from {linked_records} where len(programmes) > 0)
            join programme_meta m on m.programme = e.programme
            where e.status = 'active'
        ),
        dead as (
            select resident_id, source_system, source_record_id, 'deceased' as said
            from {linked_records} where {_DECEASED}
        ),
        kinds as (
            select distinct resident_id, pays_person from active semi join dead using (resident_id)
        ),
        said as (
            select k.pays_person, a.resident_id, a.source_system, a.source_record_id, a.said
            from kinds k join active a using (resident_id, pays_person)
            union all
            select k.pays_person, d.* from kinds k join dead d using (resident_id)
        )
        select resident_id, 'is_deceased' as field,
               case when pays_person then 'deceased_but_paid' else 'deceased_but_enrolled' end
                   as conflict_type,
               count(*) as value_count,
               to_json(map(list(source_system || ':' || source_record_id {_BY_RECORD}),
                           list(said {_BY_RECORD}))) as "values"
        from said
        group by resident_id, pays_person
        )
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
    connection: duckdb.DuckDBPyConnection, linked_records: str, sources: list[str], rules: GoldenRules
) -> tuple[pa.Table, pa.Table]:
    """Golden rows and conflicts of the residents whose records ``linked_records`` holds.

    Args:
        connection: DuckDB connection holding ``linked_records``.
        linked_records: Relation of staged records with their ``resident_id`` (every record of
            each resident it names).
        sources: Every source system name.
        rules: Source priorities and conflict fields.

    Returns:
        ``(resident, resident_conflict)``.
    """
    resident = build_residents(connection, linked_records, sources, rules)
    connection.register("resident_golden", resident)
    try:
        conflicts = find_conflicts(connection, linked_records, "resident_golden", rules)
    finally:
        connection.unregister("resident_golden")
    return resident, conflicts


def settle_households(connection: duckdb.DuckDBPyConnection, residents: str = "resident") -> None:
    """Put each resident outside any registered household (户号) into the registered household
    living in their flat, when exactly one lives there (a member the household register misses);
    else they keep the household of the people sharing their flat.

    A resident's household depends on who else lives in the flat, so this runs over every
    resident after golden records are built or updated (one grouped pass).

    Args:
        connection: DuckDB connection holding the golden residents.
        residents: The golden residents' table (updated in place).
    """
    run_sql(
        connection,
        f"""
        update {residents} set household_id = settled.household_id
        from (
            with flat_household as (
                select dwelling_id, min(registered_household_id) as household_id from {residents}
                where registered_household_id is not null and dwelling_id is not null
                  and not coalesce(is_deceased, false)
                group by dwelling_id having count(distinct registered_household_id) = 1
            )
            select r.resident_id,
                   coalesce(r.registered_household_id, f.household_id, r.co_household_id) as household_id
            from {residents} r left join flat_household f using (dwelling_id)
        ) settled
        where settled.resident_id = {residents}.resident_id
          and settled.household_id is distinct from {residents}.household_id
        """,
    )
