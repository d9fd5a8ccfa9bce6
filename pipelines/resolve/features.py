"""The matching frame: one row per staged record, with the columns the comparisons and blocking use.

Everything is derived from canonical staged fields, so any source declared by contract (Latin
names, passports) takes part with no code change. Birth date and gender fall back to what a citizen
ID number encodes; blocking keys that are too frequent to be evidence are left empty.

A row depends only on its own record, except the frequency-limited keys, which depend on how many
records share a value. So the frame of the previous run is reused: only records whose matching
inputs changed (``input_hash``) are derived again, the frequency limits are applied over the whole
frame, and every row that differs from the previous frame is reported as changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.standardize.records import VALID_ID_STATUSES

RECORD_REF = "source_system || ':' || source_record_id"


def run_sql(connection: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> None:
    """Run a statement to completion (DuckDB 2 refuses new work while a result is unread)."""
    connection.execute(sql, params).fetchall()


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
    "gender",
    "birth_date",
    "phone",
    "address",
)
INPUT_HASH = f"hash({', '.join(INPUT_COLUMNS)})"

# Blocking keys whose very frequent values say nothing about identity (family or office phones),
# each with the column holding its value before the limit.
FREQUENCY_LIMITED_KEYS = {"phone_key": "phone_key_full", "id_head6_tail4": "id_head6_tail4_full"}

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
    list_contains($valid_statuses, id_status) and id_number is not null as id_is_valid,
    id_number_masked as id_mask,
    length(id_number_masked) - length(replace(id_number_masked, '*', '')) as id_mask_hidden,
    name,
    name_pinyin,
    case when not regexp_matches(name, '[\\x{{3400}}-\\x{{9fff}}]')
         then list_sort(regexp_split_to_array(name, '[ -]+')) end as name_words,
    left(name_pinyin, 1) as name_initial_pinyin,
    nullif(gender, 'U') as gender_recorded,
    birth_date as birth_date_recorded,
    phone,
    strip_accents(lower(regexp_replace(address, '[\\s[:punct:]，。、（）【】《》·－—]', '', 'g')))
        as address_key
from {records}
"""

_DERIVED = """
select
    * exclude (gender_recorded, birth_date_recorded),
    cast(coalesce(birth_date_recorded, id_birth_date) as varchar) as birth_date,
    coalesce(gender_recorded, id_gender) as gender
from (
    select *,
        coalesce(id_key, id_mask) as id_any,
        case when id_type = 'cn_resident_id' and length(coalesce(id_key, id_mask)) = 18
             then try_strptime(substr(coalesce(id_key, id_mask), 7, 8), '%Y%m%d')::date
        end as id_birth_date,
        case when id_type = 'cn_resident_id'
                  and regexp_matches(substr(coalesce(id_key, id_mask), 17, 1), '[0-9]')
             then case when cast(substr(coalesce(id_key, id_mask), 17, 1) as int) % 2 = 1
                       then 'M' else 'F' end
        end as id_gender
    from ({base})
)
"""

_KEYS = """
select
    * exclude (id_birth_date, id_gender, id_any, name_words),
    array_to_string(name_words, ' ') as name_tokens,
    array_to_string(list_transform(name_words, lambda word: left(word, -1)), ' ') as name_token_stems,
    list_filter(name_words, lambda word: length(word) > 1) as name_full_words,
    list_filter(name_words, lambda word: length(word) = 1) as name_initials,
    list_transform(name_words, lambda word: left(word, 1)) as name_word_initials,
    case when name_words is not null then birth_date end as latin_name_birth_date,
    left(birth_date, 4) as birth_year,
    substr(birth_date, 6, 2) as birth_month,
    substr(birth_date, 9, 2) as birth_day,
    case when length(id_any) = 18 and not contains(substr(id_any, 1, 6) || substr(id_any, 15, 4), '*')
         then substr(id_any, 1, 6) || substr(id_any, 15, 4) || ':' || coalesce(left(birth_date, 4), '')
    end as id_head6_tail4_full,
    case when length(id_key) = 18 then substr(id_key, 7, 12) end as id_tail12,
    phone as phone_key_full
from ({derived})
"""


# The DuckDB table holding the current matching frame; it stays in DuckDB (bounded memory, spills
# to disk), and Python sees only the key columns clustering needs.
FRAME_TABLE = "matching_frame"
KEY_COLUMNS = ("unique_id", "id_type", "id_key", "id_is_valid")


@dataclass(frozen=True)
class MatchingFrame:
    """The matching frame of the current records, and how it differs from the previous one.

    Attributes:
        table: Name of the DuckDB table with one row per record, ``unique_id`` being
            ``source_system:source_record_id``.
        keys: Its ``KEY_COLUMNS`` (document numbers), for clustering and its guards.
        changed: unique_ids whose row is new or differs from the previous frame (None when there
            was no previous frame: every row is new).
        removed: unique_ids of the previous frame that are gone.
        derived: How many rows were derived from their records in this run (the others reused).
    """

    table: str
    keys: pa.Table
    changed: pa.Array | None
    removed: pa.Array
    derived: int

    @property
    def num_rows(self) -> int:
        """How many records the frame holds."""
        return self.keys.num_rows


def frame_definition() -> str:
    """The SQL deriving frame rows: part of the rules a saved state must have been built under."""
    return _limited_sql(_derivation_sql("records"), 0)


def _derivation_sql(records: str) -> str:
    base = _BASE.format(records=records, ref=RECORD_REF, input_hash=INPUT_HASH)
    return _KEYS.format(derived=_DERIVED.format(base=base))


def _limited_sql(unlimited: str, limit: int) -> str:
    """Apply the frequency limits (a hash aggregate per key, not a window: far cheaper)."""
    joins, columns = [], []
    for index, (key, full) in enumerate(FREQUENCY_LIMITED_KEYS.items()):
        joins.append(
            f"left join (select {full}, count(*) as n from {unlimited} where {full} is not null "
            f"group by {full}) c{index} using ({full})"
        )
        columns.append(f"case when c{index}.n <= {int(limit)} then u.{full} end as {key}")
    return f"select u.*, {', '.join(columns)} from {unlimited} u {' '.join(joins)}"


def build_matching_frame(
    connection: duckdb.DuckDBPyConnection,
    records: str,
    max_key_frequency: int,
    previous: Path | None = None,
) -> MatchingFrame:
    """Derive the matching frame from staged records, reusing the previous frame's rows.

    Args:
        connection: DuckDB connection where ``records`` is a staged-records relation.
        records: The relation's name.
        max_key_frequency: Blocking keys shared by more records than this are left empty.
        previous: The frame a previous run wrote (Parquet), whose rows are reused for records
            whose matching inputs are unchanged; None derives every row.

    Returns:
        The frame (left in ``connection`` as ``FRAME_TABLE``) and its differences from the
        previous one.
    """
    params: dict[str, object] = {"valid_statuses": list(VALID_ID_STATUSES)}
    if previous is None:
        run_sql(
            connection, "create or replace temp table frame_unlimited as " + _derivation_sql(records), params
        )
        derived = _count(connection, "frame_unlimited")
    else:
        derived = _reuse_previous(connection, records, previous, params)
    limited = _limited_sql("frame_unlimited", max_key_frequency)
    run_sql(connection, f"create or replace temp table {FRAME_TABLE} as {limited}")
    if previous is None:
        run_sql(connection, "drop table frame_unlimited")
    else:
        run_sql(connection, "drop view frame_unlimited")
        for name in ("reused", "fresh"):
            run_sql(connection, f"drop table {name}")
    keys = connection.sql(f"select {', '.join(KEY_COLUMNS)} from {FRAME_TABLE}").to_arrow_table()
    changed, removed = None, pa.array([], pa.string())
    if previous is not None:
        changed, removed = _differences(connection, previous)
    return MatchingFrame(FRAME_TABLE, keys, changed, removed, derived)


def _reuse_previous(
    connection: duckdb.DuckDBPyConnection, records: str, previous: Path, params: dict[str, object]
) -> int:
    """Make ``frame_unlimited`` a view of reusable previous rows (table ``reused``) and newly
    derived ones (table ``fresh``); the caller drops them once the frame is built."""
    limited = ", ".join(FREQUENCY_LIMITED_KEYS)
    run_sql(
        connection,
        f"""
        create or replace temp table record_inputs as
        select {RECORD_REF} as unique_id, {INPUT_HASH} as input_hash from {records}
        """,
    )
    run_sql(
        connection,
        f"""
        create or replace temp table reused as
        select p.* exclude ({limited}) from {_parquet(previous)} p
        semi join record_inputs i using (unique_id, input_hash)
        """,
    )
    run_sql(
        connection,
        f"""
        create or replace temp view records_to_derive as
        select r.* from {records} r anti join reused p on p.unique_id = {record_ref("r")}
        """,
    )
    run_sql(
        connection, "create or replace temp table fresh as " + _derivation_sql("records_to_derive"), params
    )
    derived = _count(connection, "fresh")
    run_sql(
        connection,
        "create or replace temp view frame_unlimited as "
        "select * from reused union all by name select * from fresh",
    )
    run_sql(connection, "drop table record_inputs")
    run_sql(connection, "drop view records_to_derive")
    return derived


def _differences(connection: duckdb.DuckDBPyConnection, previous: Path) -> tuple[pa.Array, pa.Array]:
    """Rows new or different since the previous frame, and the previous rows now gone."""
    compared = ["unique_id", "input_hash", *FREQUENCY_LIMITED_KEYS]
    same = " and ".join(f"p.{c} is not distinct from f.{c}" for c in compared)
    changed = connection.sql(
        f"""
        select f.unique_id from {FRAME_TABLE} f
        where not exists (select 1 from {_parquet(previous)} p where {same})
        order by 1
        """
    ).to_arrow_table()
    removed = connection.sql(
        f"select unique_id from {_parquet(previous)} anti join {FRAME_TABLE} using (unique_id) order by 1"
    ).to_arrow_table()
    return changed.column(0).combine_chunks(), removed.column(0).combine_chunks()


def write_frame(connection: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Write the current matching frame to Parquet (the next run reuses its rows)."""
    target = str(path).replace("'", "''")
    run_sql(connection, f"copy {FRAME_TABLE} to '{target}' (format parquet, compression zstd)")


def _parquet(path: Path) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(connection.sql(f"select count(*) from {table}").fetchall()[0][0])
