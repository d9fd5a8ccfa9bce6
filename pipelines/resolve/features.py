"""The matching frame: one row per staged record, with the columns the comparisons and blocking use.

Everything is derived from canonical staged fields, so any source declared by contract (Latin
names, passports) takes part with no code change. Birth date and gender fall back to what a citizen
ID number encodes; blocking keys that are too frequent to be evidence are left empty.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from pipelines.standardize.records import VALID_ID_STATUSES

RECORD_REF = "source_system || ':' || source_record_id"

# Blocking keys whose very frequent values say nothing about identity (family or office phones).
FREQUENCY_LIMITED_KEYS = ("phone_key", "id_head6_tail4")

_BASE = """
select
    {ref} as unique_id,
    source_system,
    source_record_id,
    record_hash,
    id_type,
    id_status,
    case
        when id_status in (select unnest($valid_statuses)) then id_number
        when id_status = 'invalid_checksum'
            then upper(regexp_replace(id_number_raw, '[^0-9A-Za-z]', '', 'g'))
    end as id_key,
    id_status in (select unnest($valid_statuses)) and id_number is not null as id_is_valid,
    id_number_masked as id_mask,
    length(id_number_masked) - length(replace(id_number_masked, '*', '')) as id_mask_hidden,
    name,
    name_pinyin,
    case when not regexp_matches(name, '[\\x{{3400}}-\\x{{9fff}}]')
         then array_to_string(list_sort(string_split(name, ' ')), ' ') end as name_tokens,
    left(name_pinyin, 1) as name_initial_pinyin,
    nullif(gender, 'U') as gender_recorded,
    birth_date as birth_date_recorded,
    phone,
    lower(regexp_replace(address, '[\\s[:punct:]，。、（）【】《》·－—]', '', 'g')) as address_key
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
    from base
)
"""

_KEYS = """
select
    * exclude (id_birth_date, id_gender),
    left(birth_date, 4) as birth_year,
    substr(birth_date, 6, 2) as birth_month,
    substr(birth_date, 9, 2) as birth_day,
    case when length(id_any) = 18 and not contains(substr(id_any, 1, 6) || substr(id_any, 15, 4), '*')
         then substr(id_any, 1, 6) || substr(id_any, 15, 4) || ':' || coalesce(left(birth_date, 4), '')
    end as id_head6_tail4,
    case when length(id_key) = 18 then substr(id_key, 1, 14) end as id_head14,
    case when length(id_key) = 18 then substr(id_key, 7, 12) end as id_tail12,
    phone as phone_key
from derived
"""


def _limit_frequency(column: str, limit: int) -> str:
    return f"case when count(*) over (partition by {column}) <= {int(limit)} then {column} end"


def build_matching_frame(
    connection: duckdb.DuckDBPyConnection, records: str, max_key_frequency: int
) -> pa.Table:
    """Derive the matching frame from staged records.

    Args:
        connection: DuckDB connection where ``records`` is a staged-records relation.
        records: The relation's name.
        max_key_frequency: Blocking keys shared by more records than this are left empty.

    Returns:
        One row per record, ``unique_id`` being ``source_system:source_record_id``.
    """
    params = {"valid_statuses": list(VALID_ID_STATUSES)}
    connection.execute(
        "create or replace temp table base as " + _BASE.format(records=records, ref=RECORD_REF), params
    )
    connection.execute("create or replace temp view derived as " + _DERIVED)
    limited = ", ".join(
        f"{_limit_frequency(key, max_key_frequency)} as {key}" for key in FREQUENCY_LIMITED_KEYS
    )
    frame = connection.sql(
        f"select * exclude (id_any) replace ({limited}) from ({_KEYS}) order by unique_id"
    ).to_arrow_table()
    connection.execute("drop view derived")
    connection.execute("drop table base")
    return frame
