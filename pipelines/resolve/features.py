"""The matching frame: one row per staged record, with the columns the comparisons and blocking use.

Everything is derived from canonical staged fields, so any source declared by contract (Latin
names, passports) takes part with no code change. Birth date and gender fall back to what a citizen
ID number encodes; blocking keys that are too frequent to be evidence are left empty.

A row depends only on its own record, except the frequency-limited keys, which depend on how many
records share a value. So the frame of the previous run is updated in place: only records whose
matching inputs changed (``input_hash``) are derived again, the counts of the limited values they
touch are taken again over the whole frame, and every row that differs from the previous frame is
reported as changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pipelines.standardize.records import VALID_ID_STATUSES

RECORD_REF = "source_system || ':' || source_record_id"


def run_sql(connection: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> None:
    """Run a statement to completion (DuckDB 2 refuses new work while a result is unread)."""
    connection.execute(sql, params).fetchall()


def run_with_rows(
    connection: duckdb.DuckDBPyConnection, sql: str, rows: pa.Table, name: str = "incoming_rows"
) -> None:
    """Run a statement that reads the Arrow table ``rows`` as the relation ``name``."""
    connection.register(name, rows)
    try:
        run_sql(connection, sql)
    finally:
        connection.unregister(name)


def sql_text(text: str) -> str:
    """A SQL string literal of ``text``."""
    return "'" + text.replace("'", "''") + "'"


def record_ref(alias: str) -> str:
    """``RECORD_REF`` on the columns of a table alias."""
    return f"{alias}.source_system || ':' || {alias}.source_record_id"


# The staged fields a frame row is derived from; their hash tells a reusable row from a stale one.
INPUT_COLUMNS = (
    "id_type",
    "id_status",
    "id_number",
    "id_number_raw",
    "id_number_masked",
    "name",
    "name_pinyin",
    "family_name",
    "given_name",
    "gender",
    "birth_date",
    "phone",
    "address",
    "registered_address",
    "building_id",
    "dwelling_id",
    "registered_building_id",
    "registered_dwelling_id",
)
INPUT_HASH = f"hash({', '.join(INPUT_COLUMNS)})"

# Blocking keys whose very frequent values say nothing about identity (family or office phones),
# each with the column holding its value before the limit.
FREQUENCY_LIMITED_KEYS = {
    "phone_key": "phone_key_full",
    "id_head6_tail4": "id_head6_tail4_full",
    "id_without_head": "id_without_head_full",
    "id_without_middle": "id_without_middle_full",
    "id_without_tail": "id_without_tail_full",
    "name_tokens_rare": "name_tokens",
}

_BASE = """
select
    {ref} as unique_id,
    source_system,
    source_record_id,
    {input_hash} as input_hash,
    id_type,
    id_status,
    case
        when list_contains($valid_statuses, id_status) then id_number
        when id_status = 'invalid_checksum'
            then upper(regexp_replace(id_number_raw, '[^0-9A-Za-z]', '', 'g'))
    end as id_key,
    case when id_status = 'contradicts_record' then id_number end as id_key_suspect,
    list_contains($valid_statuses, id_status) and id_number is not null as id_is_valid,
    id_number_masked as id_mask,
    length(id_number_masked) - length(replace(id_number_masked, '*', '')) as id_mask_hidden,
    name,
    name_pinyin,
    family_name,
    given_name,
    case when regexp_matches(name, '[\\x{{3400}}-\\x{{9fff}}]') then 'han'
         when regexp_matches(name, '[A-Za-z]') then 'latin'
         when name is not null then 'other' end as name_script,
    case when not regexp_matches(name, '[\\x{{3400}}-\\x{{9fff}}]')
         then list_sort(regexp_split_to_array(name, '[ -]+')) end as name_words,
    left(name_pinyin, 1) as name_initial_pinyin,
    nullif(gender, 'U') as gender_recorded,
    birth_date as birth_date_recorded,
    phone,
    strip_accents(lower(regexp_replace(
        coalesce(address, registered_address), '[\\s[:punct:]，。、（）【】《》·－—]', '', 'g'
    ))) as address_key,
    case when not regexp_matches(coalesce(address, registered_address), '[\\x{{3400}}-\\x{{9fff}}]')
         then list_sort(list_distinct(list_filter(
             regexp_split_to_array(
                 strip_accents(lower(coalesce(address, registered_address))), '[\\s[:punct:]]+'
             ),
             lambda word: word <> ''
         ))) end as address_words,
    -- the record's flats and buildings (where it lives, where it is registered) from the place register
    list_distinct(list_filter([dwelling_id, registered_dwelling_id], lambda place: place is not null))
        as dwellings,
    list_distinct(list_filter([building_id, registered_building_id], lambda place: place is not null))
        as buildings,
    coalesce(dwelling_id, registered_dwelling_id) as dwelling_key
from {records}
"""

# Birth date and gender fall back to what a citizen ID number (even a suspect or masked one)
# encodes; ``birth_date_from_id`` says the birth date is the number's, not the record's own, so
# that two records sharing a number do not count its birth date as a second agreement.
_DERIVED = """
select
    * exclude (gender_recorded, birth_date_recorded),
    cast(coalesce(birth_date_recorded, id_birth_date) as varchar) as birth_date,
    birth_date_recorded is null and id_birth_date is not null as birth_date_from_id,
    coalesce(gender_recorded, id_gender) as gender
from (
    select *,
        coalesce(id_key, id_key_suspect, id_mask) as id_any,
        case when id_type = 'cn_resident_id' and length(coalesce(id_key, id_key_suspect, id_mask)) = 18
             then try_strptime(substr(coalesce(id_key, id_key_suspect, id_mask), 7, 8), '%Y%m%d')::date
        end as id_birth_date,
        case when id_type = 'cn_resident_id'
                  and regexp_matches(substr(coalesce(id_key, id_key_suspect, id_mask), 17, 1), '[0-9]')
             then case when cast(substr(coalesce(id_key, id_key_suspect, id_mask), 17, 1) as int) % 2 = 1
                       then 'M' else 'F' end
        end as id_gender
    from ({base})
)
"""

_KEYS = """
select
    * exclude (id_birth_date, id_gender, name_words),
    array_to_string(name_words, ' ') as name_tokens,
    -- a name with an unreadable character ('刘?': the system could not store it) is partly unknown
    case when not regexp_matches(name, '[?*□]')
         then coalesce(array_to_string(name_words, ''), name_pinyin) end as name_key,
    array_to_string(list_transform(name_words, lambda word: left(word, -1)), ' ') as name_token_stems,
    list_filter(name_words, lambda word: length(word) > 1) as name_full_words,
    list_filter(name_words, lambda word: length(word) = 1) as name_initials,
    list_transform(name_words, lambda word: left(word, 1)) as name_word_initials,
    list_transform(name_words, lambda word: right(word, 1)) as name_word_finals,
    case when name_words is not null then birth_date end as latin_name_birth_date,
    left(birth_date, 4) as birth_year,
    substr(birth_date, 6, 2) as birth_month,
    substr(birth_date, 9, 2) as birth_day,
    case when length(id_any) = 18 and not contains(substr(id_any, 1, 6) || substr(id_any, 15, 4), '*')
         then substr(id_any, 1, 6) || substr(id_any, 15, 4) || ':' || coalesce(left(birth_date, 4), '')
    end as id_head6_tail4_full,
    coalesce(id_key, id_key_suspect) as id_block_key,
    case when length(coalesce(id_key, id_key_suspect)) = 18
         then substr(coalesce(id_key, id_key_suspect), 7, 12) end as id_tail12,
    -- Numbers of other documents without their first, middle or last third (the thirds overlap by
    -- a character): a character mistyped or two swapped leaves one of the three whole.
    case when id_type <> 'cn_resident_id' and length(id_key) >= 6
         then substr(id_key, length(id_key) // 3 + 2) end as id_without_head_full,
    case when id_type <> 'cn_resident_id' and length(id_key) >= 6
         then left(id_key, length(id_key) // 3) || substr(id_key, 2 * length(id_key) // 3 + 2)
    end as id_without_middle_full,
    case when id_type <> 'cn_resident_id' and length(id_key) >= 6
         then left(id_key, 2 * length(id_key) // 3) end as id_without_tail_full,
    phone as phone_key_full
from ({derived})
"""


# The identity store's table holding the matching frame. It stays in DuckDB (bounded memory,
# spills to disk); Python sees only the key columns clustering needs, of the records it clusters.
FRAME_TABLE = "frame"
KEY_COLUMNS = ("unique_id", "id_type", "id_key", "id_is_valid", "name_script", "name_key")


@dataclass(frozen=True)
class MatchingFrame:
    """The matching frame of the current records, and how it differs from the previous one.

    Attributes:
        table: Name of the DuckDB table with one row per record, ``unique_id`` being
            ``source_system:source_record_id``.
        num_rows: How many records it holds.
        changed: Name of a relation of the rows that are new or differ from the previous frame
            (None when the frame was built anew: every row is new).
        removed: Name of a relation of the ``unique_id`` of the previous frame that are gone
            (None when built anew).
        derived: How many rows were derived from their records in this run (the others kept).
    """

    table: str
    num_rows: int
    changed: str | None = None
    removed: str | None = None
    derived: int = 0


def frame_definition() -> str:
    """The SQL deriving frame rows: part of the rules a saved state must have been built under."""
    return _limited_sql(_derivation_sql("records"), 0)


def _derivation_sql(records: str) -> str:
    base = _BASE.format(records=records, ref=RECORD_REF, input_hash=INPUT_HASH)
    return _KEYS.format(derived=_DERIVED.format(base=base))


def _limited_sql(unlimited: str, limit: int, counted: str | None = None) -> str:
    """Apply the frequency limits (a hash aggregate per key, not a window: far cheaper).

    Keys are counted over ``counted`` (by default ``unlimited`` itself) or, when ``counted`` is
    a format string, over the tables it names per key (``key_counts_{key}``).
    """
    joins, columns = [], []
    for index, (key, full) in enumerate(FREQUENCY_LIMITED_KEYS.items()):
        counts = (
            f"(select {full}, count(*) as n from {unlimited} where {full} is not null group by {full})"
            if counted is None
            else counted.format(key=key)
        )
        joins.append(f"left join {counts} c{index} using ({full})")
        columns.append(f"case when c{index}.n <= {int(limit)} then u.{full} end as {key}")
    return f"select u.*, {', '.join(columns)} from {unlimited} u {' '.join(joins)}"


def build_matching_frame(
    connection: duckdb.DuckDBPyConnection, records: str, max_key_frequency: int
) -> MatchingFrame:
    """Derive the matching frame of every staged record into ``FRAME_TABLE``.

    Args:
        connection: DuckDB connection where ``records`` is a staged-records relation.
        records: The relation's name.
        max_key_frequency: Blocking keys shared by more records than this are left empty.

    Returns:
        The frame (every row new).
    """
    params: dict[str, object] = {"valid_statuses": list(VALID_ID_STATUSES)}
    run_sql(connection, "create or replace temp table frame_unlimited as " + _derivation_sql(records), params)
    limited = _limited_sql("frame_unlimited", max_key_frequency)
    run_sql(connection, f"create or replace table {FRAME_TABLE} as {limited}")
    run_sql(connection, "drop table frame_unlimited")
    rows = _count(connection, FRAME_TABLE)
    return MatchingFrame(FRAME_TABLE, rows, derived=rows)


def update_matching_frame(
    connection: duckdb.DuckDBPyConnection,
    records: str,
    rederived: str,
    removed: str,
    max_key_frequency: int,
) -> MatchingFrame:
    """Bring ``FRAME_TABLE`` up to date in place, deriving only the rows of changed records.

    A row depends only on its own record, except the frequency-limited keys, which depend on how
    many records share a value: a kept row whose key now crosses the limit the other way is
    updated too. Only the values that rederived or removed rows held or hold are counted again.

    Args:
        connection: DuckDB connection holding ``FRAME_TABLE`` (the previous frame) and the
            relations named below.
        records: The staged records.
        rederived: ``unique_id`` of the records whose matching inputs are new or changed.
        removed: ``unique_id`` of the previous frame's records that are gone.
        max_key_frequency: Blocking keys shared by more records than this are left empty.

    Returns:
        The frame; its ``changed`` relation (the temp table ``frame_changed``) holds the whole
        new rows of the records whose row is new or differs.
    """
    params: dict[str, object] = {"valid_statuses": list(VALID_ID_STATUSES)}
    run_sql(
        connection,
        f"""
        create or replace temp table frame_gone as
        select unique_id from {rederived} union all select unique_id from {removed}
        """,
    )
    run_sql(
        connection,
        f"create or replace temp view records_to_derive as "
        f"select r.* from {records} r semi join {rederived} d on d.unique_id = {record_ref('r')}",
    )
    run_sql(
        connection,
        "create or replace temp table frame_fresh as " + _derivation_sql("records_to_derive"),
        params,
    )
    _count_touched_keys(connection)
    limited, flipped = ", ".join(FREQUENCY_LIMITED_KEYS), _flipped_sql(max_key_frequency)
    run_sql(
        connection,
        f"""
        create or replace temp table frame_changed as
        {
            _limited_sql(
                f"(select * exclude ({limited}) from {FRAME_TABLE} semi join ({flipped}) using (unique_id)"
                " union all by name select * from frame_fresh)",
                max_key_frequency,
                counted="key_counts_{key}",
            )
        }
        """,
    )
    run_sql(
        connection,
        f"""
        delete from {FRAME_TABLE} where unique_id in (
            select unique_id from frame_changed union all select unique_id from {removed}
        )
        """,
    )
    run_sql(connection, f"insert into {FRAME_TABLE} by name select * from frame_changed")
    derived = _count(connection, "frame_fresh")
    for name in ("frame_gone", "frame_fresh", *(f"key_counts_{key}" for key in FREQUENCY_LIMITED_KEYS)):
        run_sql(connection, f"drop table {name}")
    run_sql(connection, "drop view records_to_derive")
    return MatchingFrame(FRAME_TABLE, _count(connection, FRAME_TABLE), "frame_changed", removed, derived)


def _count_touched_keys(connection: duckdb.DuckDBPyConnection) -> None:
    """``key_counts_<key>``: for each limited key's value that a rederived or removed row held or
    holds, how many current records share it (kept rows plus newly derived ones)."""
    for key, full in FREQUENCY_LIMITED_KEYS.items():
        run_sql(
            connection,
            f"""
            create or replace temp table key_counts_{key} as
            with touched as (
                select {full} from {FRAME_TABLE} semi join frame_gone using (unique_id)
                union select {full} from frame_fresh
            )
            select {full}, count(*) as n from (
                select {full} from {FRAME_TABLE}
                where {full} in (select {full} from touched)
                  and unique_id not in (select unique_id from frame_gone)
                union all
                select {full} from frame_fresh
            ) where {full} is not null group by {full}
            """,
        )


def _flipped_sql(limit: int) -> str:
    """``unique_id`` of kept rows whose limited key now crosses the limit the other way."""
    parts = []
    for key, full in FREQUENCY_LIMITED_KEYS.items():
        parts.append(
            f"""
            select f.unique_id from {FRAME_TABLE} f join key_counts_{key} c using ({full})
            where (f.{key} is null) <> (c.n > {int(limit)})
              and f.unique_id not in (select unique_id from frame_gone)
            """
        )
    return " union ".join(parts)


def frame_keys(connection: duckdb.DuckDBPyConnection, among: str | None = None) -> pa.Table:
    """The ``KEY_COLUMNS`` of the frame's rows (only of the ``unique_id`` in relation ``among``)."""
    subset = f" semi join {among} using (unique_id)" if among else ""
    return connection.sql(f"select {', '.join(KEY_COLUMNS)} from {FRAME_TABLE}{subset}").to_arrow_table()


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(connection.sql(f"select count(*) from {table}").fetchall()[0][0])
