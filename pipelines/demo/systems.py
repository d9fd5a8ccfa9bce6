"""The four demo department systems: partial, differently coded, differently wrong views of one population.

Each system has its own table, column codes in the style of Chinese government data dictionaries,
its own code lists and date formats, its own coverage of the population, and its own errors:

- public_security ``hj_czrk`` (公安 常住人口): registered residents only, the cleanest ID numbers,
  knows deaths.
- grid ``wg_syrk`` (网格 实有人口): everyone living here, migrants and foreigners included, collected
  door to door and the messiest: missing and masked IDs, pinyin names, typos, duplicates.
- civil_affairs ``mz_jzdx`` (民政 救助对象): a few percent, mostly elderly; an old system with
  traditional characters and full-width digits; pays some people public security knows are dead.
- social_security ``rs_cbry`` (人社 参保人员): most adults; ID numbers that went through Excel,
  15-digit IDs, lowercase x.

A few rows per ten thousand cannot be used at all, and standardizing has to quarantine them (see
``UnusableRows``): grid entries saved without a record number, the same record number exported
twice, and grid or civil-affairs rows with neither a name nor a usable ID number. They are junk, not
anyone's record: their truth rows have no ``person_key``.

Record keys are each department's own; the ``person_key`` never reaches a source table. The rates
below are shares of the rows an error can apply to (see ``errors.inject``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from pipelines.demo import places
from pipelines.demo.errors import ID_ERRORS, MIN_INJECTED, NAME_ERRORS, PHONE_ERRORS, ErrorLog, inject
from pipelines.demo.population import AS_OF, age_in_years, draw_homes, draw_mobiles, home_columns
from pipelines.demo.strings import as_array, concat, format_time, lookup, replace_rows, scatter, zero_pad

# -- coverage ----------------------------------------------------------------------------------------
PUBLIC_SECURITY_COVERAGE = 0.97  # of registered residents, living or dead
GRID_COVERAGE = 0.90  # of everyone living in the district
GRID_KEEPS_DECEASED = 0.40  # of the deceased it covered, still on the grid roster
GRID_DUPLICATES = 0.01  # rows registered a second time (another grid worker, another visit)
CIVIL_AFFAIRS_COVERAGE = 0.03  # of all residents, drawn among registered ones, the elderly 2.5 times as often
CIVIL_AFFAIRS_SECOND_RECORDS = 0.10  # beneficiaries with a second record (临时救助 besides 低保/特困)
CIVIL_AFFAIRS_PAID_AFTER_DEATH = 0.25  # deceased beneficiaries still 正常 (a conflict to find later)
CIVIL_AFFAIRS_SUSPENDED = 0.05  # living beneficiaries whose payment is 停发
SOCIAL_SECURITY_COVERAGE = 0.70  # of registered and migrant adults
SOCIAL_SECURITY_DUPLICATES = 0.002  # insured twice (重复参保), the second record suspended
SOCIAL_SECURITY_TERMINATED_AFTER_DEATH = 0.90  # deceased insured whose status is 终止参保
SOCIAL_SECURITY_SUSPENDED = 0.15  # living insured under 60 with status 暂停参保
SOCIAL_SECURITY_STALE_CONTACT = 0.10  # rows with an old address, and rows with an old phone

# -- errors, per column: kind -> share of the rows it can apply to ----------------------------------
PUBLIC_SECURITY_ID_ERRORS = {"lowercase_x": 0.02}
PUBLIC_SECURITY_NAME_ERRORS = {"outer_spaces": 0.002}
GRID_ID_ERRORS = {
    "missing": 0.06,
    "masked": 0.03,
    "placeholder": 0.01,
    "mistyped_digit": 0.01,
    "full_width": 0.01,
    "inner_spaces": 0.01,
    "old_15_digit": 0.01,
    "lowercase_x": 0.30,
}
GRID_ID_TYPE_MISSING = 0.02
GRID_NAME_ERRORS = {
    "rare_character_as_question_mark": 0.5,
    "pinyin_only": 0.01,
    "homophone": 0.02,
    "inner_space": 0.02,
    "traditional": 0.005,
    "dot_variant": 0.40,  # '•', '.', '．' or '・' instead of '·'
    "dot_missing": 0.10,
    "outer_spaces": 0.01,
}
GRID_GENDER_MISSING = 0.01
GRID_BIRTH_DATE_CHINESE = 0.25  # 'YYYY年M月D日' instead of 'YYYY/MM/DD'
GRID_BIRTH_DATE_MISSING = 0.02
GRID_BIRTH_DATE_MISTYPED = 0.01  # a few days off, disagreeing with the ID number
GRID_PHONE_ERRORS = {
    "missing": 0.08,
    "dashed": 0.15,
    "spaced": 0.10,
    "country_code": 0.08,
    "two_numbers": 0.03,
    "bracketed_area_code": 0.20,
    "no_area_code": 0.30,
    "full_width": 0.01,
}
GRID_ADDRESS_STYLES = (0.5, 0.3, 0.2)  # 街道+社区+小区+栋单元室, 小区+3-2-1502, 武昌区+小区+栋单元室
CIVIL_AFFAIRS_ID_ERRORS = {
    "missing": 0.01,
    "full_width": 0.03,
    "old_15_digit": 0.05,
    "outer_spaces": 0.01,
    "lowercase_x": 0.50,
}
CIVIL_AFFAIRS_NAME_ERRORS = {
    "rare_character_as_question_mark": 1.0,  # its character set lacks them
    "traditional": 0.08,
    "homophone": 0.01,
    "inner_space": 0.01,
}
CIVIL_AFFAIRS_PHONE_ERRORS = {"no_area_code": 0.30, "dashed": 0.10, "missing": 0.03}
SOCIAL_SECURITY_ID_ERRORS = {
    "excel_scientific": 0.01,
    "excel_truncated": 0.005,
    "old_15_digit": 0.03,
    "full_width": 0.01,
    "outer_spaces": 0.01,
    "lowercase_x": 0.50,
}
SOCIAL_SECURITY_NAME_ERRORS = {"full_width_padding": 0.30, "homophone": 0.005, "traditional": 0.005}
SOCIAL_SECURITY_PHONE_ERRORS = {"missing": 0.05, "country_code": 0.05, "dashed": 0.05}

# -- unusable rows, per system: the quarantine rule a row trips -> share of the table's rows ------------
GRID_UNUSABLE = {
    "missing_primary_key": 0.0002,  # saved from the grid app before a 人员编号 was assigned
    "duplicate_primary_key": 0.0003,  # one entry submitted twice, minutes apart, under one number
    "unidentifiable_record": 0.0005,  # a door-to-door entry with neither a name nor an ID number
}
CIVIL_AFFAIRS_UNUSABLE = {"unidentifiable_record": 0.0005}  # an application abandoned half typed in
UNUSABLE_MAX_SHARE = 0.004
"""At most this share of a table's rows is unusable of each kind (the ``primary_key_present`` check
blocks the publish when more than 1% of a batch has no key), so tiny demos get fewer than
``MIN_INJECTED``."""
MISSING_KEYS = (None, "", " ")
MISSING_NAMES = (None, "", " ")
UNKNOWN_IDS = (None, "无", "不详", "000000000000000000")

RECORDS_SINCE = datetime.date(2016, 1, 1)
"""Registration and update timestamps of the first build fall between this day and ``AS_OF``."""

GRID_DOCUMENT_CODES = {
    "cn_resident_id": "111",
    "passport": "414",
    "hk_macao_permit": "516",
    "tw_permit": "511",
    "foreign_permanent_resident": "553",
}
GRID_RESIDENCY_CODES = {"registered": "户籍", "migrant": "流动", "foreign": "境外"}
ASSISTANCE_KINDS = ("低保", "特困", "临时救助")
RETIREMENT_AGE = {"M": 60, "F": 55}


@dataclass(frozen=True)
class BuildContext:
    """When the records are made and how they are numbered.

    Attributes:
        as_of: the day the systems are read ('today').
        since: timestamps fall between this day and ``as_of``.
        first_record_no: number of the first record key of each system.
        min_injected: each error kind's least number of rows (0 for small daily changes).
    """

    as_of: datetime.date = AS_OF
    since: datetime.date = RECORDS_SINCE
    first_record_no: int = 1
    min_injected: int = MIN_INJECTED


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a department table: code, SQL type, meaning."""

    name: str
    type: sa.types.TypeEngine[Any]
    comment: str


Columns = dict[str, pa.Array]
UNUSABLE_RULES = ("missing_primary_key", "duplicate_primary_key", "unidentifiable_record")


@dataclass(frozen=True)
class UnusableRows:
    """Rows of a system that standardizing must reject, each kind named by the quarantine rule it trips.

    ``missing_primary_key``: a row's key is NULL, empty or a space. ``duplicate_primary_key``: a
    row is exported a second time under its key, stamped a few minutes later (the copy is the one
    quarantined). ``unidentifiable_record``: a row's name is empty and its ID number empty or a
    placeholder (无, 不详, 000000000000000000). Keys missing or repeated mean the department's table
    has no primary-key constraint, only an index on the key.

    Attributes:
        name_column: the column emptied in an unidentifiable row.
        id_column: the ID number column emptied (or given a placeholder) in an unidentifiable row.
        rates: rule to share of the table's rows (at least ``min_injected``, at most
            ``UNUSABLE_MAX_SHARE``).
    """

    name_column: str
    id_column: str
    rates: Mapping[str, float] = field(default_factory=dict)

    @property
    def keys_unique(self) -> bool:
        """Every row has a key and no key repeats (the table can declare its primary key)."""
        return not {"missing_primary_key", "duplicate_primary_key"} & set(self.rates)


Selector = Callable[[pa.Table, np.random.Generator, BuildContext], np.ndarray]
Renderer = Callable[[pa.Table, np.random.Generator, BuildContext, ErrorLog], Columns]


@dataclass(frozen=True)
class Refresh:
    """How a system rewrites a record when a person's life changes.

    Attributes:
        render: the columns to rewrite, for the people concerned.
        same_day: share of such changes the department records the day they happen.
    """

    render: Renderer
    same_day: float


@dataclass(frozen=True)
class DepartmentSystem:
    """A department system: its table, who it covers, how it writes a person down.

    Attributes:
        source: the source_system name (as in ``schemas/sources/<source>.yaml``).
        title: what the table is.
        table: table name.
        primary_key: the department's record key column.
        updated_column: the column that says when a row last changed.
        columns: the table's columns in order.
        select: positions of the covered people in the population, repeated for people with
            more than one record.
        render: every column for the selected people (with their record numbers in ``record_no``
            and ``is_repeat`` marking a person's second and later records).
        refresh: per kind of change in a person's life (``address``, ``registered_address``,
            ``phone``, ``death``), how the system records it.
        unusable: the rows standardizing must reject, if the system has any.
    """

    source: str
    title: str
    table: str
    primary_key: str
    updated_column: str
    columns: tuple[ColumnSpec, ...]
    select: Selector
    render: Renderer
    refresh: Mapping[str, Refresh]
    unusable: UnusableRows | None = None

    @property
    def declares_primary_key(self) -> bool:
        """The table has a primary-key constraint (no key missing or repeated in it)."""
        return self.unusable is None or self.unusable.keys_unique


@dataclass(frozen=True)
class SourceTable:
    """The rows of one department table and who they really are.

    Attributes:
        system: the department system.
        data: the table's rows, columns in the table's order.
        person_keys: the true person of each row; null for unusable rows (junk, nobody's record).
        errors: which errors were injected where (``source_system, source_record_id, column, kind``).
        numbered: how many record numbers the rows used (rows minus repeated exports).
    """

    system: DepartmentSystem
    data: pa.Table
    person_keys: pa.Array
    errors: pa.Table
    numbered: int

    @property
    def record_ids(self) -> pa.Array:
        """The primary-key values, in row order."""
        return as_array(self.data.column(self.system.primary_key))

    def truth(self) -> pa.Table:
        """Ground truth rows: ``source_system, source_record_id, person_key``."""
        return pa.table(
            {
                "source_system": pa.array([self.system.source] * self.data.num_rows, pa.string()),
                "source_record_id": self.record_ids,
                "person_key": self.person_keys,
            }
        )


# -- shared helpers ----------------------------------------------------------------------------------


def column(table: pa.Table, name: str) -> pa.Array:
    """One column of a table as a contiguous array."""
    return as_array(table.column(name))


def _days(table: pa.Table, name: str) -> np.ndarray:
    return column(table, name).to_numpy(zero_copy_only=False).astype("datetime64[D]")


def _is(table: pa.Table, name: str, value: str) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.equal(column(table, name), value), False), dtype=bool)


def _deceased(table: pa.Table) -> np.ndarray:
    return np.asarray(column(table, "is_deceased"), dtype=bool)


def _ages(table: pa.Table, on: datetime.date) -> np.ndarray:
    return age_in_years(_days(table, "birth_date"), on)


def _covered(rng: np.random.Generator, share: np.ndarray) -> np.ndarray:
    """Positions of the people a system covers, each with its own chance."""
    return np.flatnonzero(rng.random(len(share)) < share)


def _at_least(rng: np.random.Generator, chosen: np.ndarray, pool: np.ndarray, minimum: int) -> np.ndarray:
    """Add people of ``pool`` (a mask) to ``chosen`` until it holds at least ``minimum`` of them."""
    missing = minimum - int(pool[chosen].sum())
    outside = np.flatnonzero(pool & ~np.isin(np.arange(len(pool)), chosen))
    extra = rng.choice(outside, min(max(missing, 0), len(outside)), replace=False)
    return np.sort(np.concatenate([chosen, extra]))


def _with_repeats(rng: np.random.Generator, persons: np.ndarray, share: float, minimum: int) -> np.ndarray:
    count = min(len(persons), max(round(share * len(persons)), minimum if len(persons) else 0))
    return np.concatenate([persons, rng.choice(persons, count, replace=False)])


def repeated_rows(people: pa.Table) -> np.ndarray:
    """Rows whose person already has an earlier row (second records, duplicates)."""
    return np.asarray(column(people, "is_repeat"), dtype=bool)


def recode(values: pa.Array, codes: Mapping[str, str]) -> pa.Array:
    """Translate values through a code list; unlisted values become null."""
    index = pc.index_in(values, value_set=pa.array(list(codes), pa.string()))
    return pa.array(list(codes.values()), pa.string()).take(index)


def moments(rng: np.random.Generator, count: int, start: object, end: object) -> pa.Array:
    """Working-hours timestamps on days drawn uniformly from ``[start, end)``.

    Args:
        rng: the system's random generator.
        count: how many.
        start: first possible day (a date, or one ``datetime64[D]`` per row).
        end: day after the last possible one (same forms); never before ``start + 1``.

    Returns:
        ``timestamp[s]`` values between 08:00 and 18:00.
    """
    first = np.broadcast_to(np.asarray(start, dtype="datetime64[D]"), (count,))
    span = np.maximum((np.asarray(end, dtype="datetime64[D]") - first).astype(np.int64), 1)
    day = first + (rng.random(count) * span).astype(np.int64)
    seconds = 8 * 3600 + rng.integers(0, 10 * 3600, count)
    return pa.array(day.astype("datetime64[s]") + seconds, pa.timestamp("s"))


def _choice(rng: np.random.Generator, shares: tuple[float, ...], count: int) -> np.ndarray:
    weights = np.asarray(shares, dtype=np.float64)
    return rng.choice(len(weights), count, p=weights / weights.sum())


def _flat(people: pa.Table) -> list[object]:
    """The flat as address parts: building 栋, unit 单元, room 室."""
    building, unit, room = (pc.cast(column(people, c), pa.string()) for c in ("building", "unit", "room"))
    return [building, "栋", unit, "单元", room, "室"]


def _without(values: pa.Array, rows: np.ndarray) -> pa.Array:
    """The column with the given rows emptied."""
    return scatter(values, rows, [None] * len(rows))


def _recorded_after_death(
    rng: np.random.Generator, people: pa.Table, context: BuildContext, stamps: pa.Array, within_days: int
) -> pa.Array:
    """Update times of the deceased's rows moved to the weeks after the death (inside the context)."""
    dead = np.flatnonzero(_deceased(people))
    first = np.maximum(_days(people, "death_date")[dead] + 1, np.datetime64(context.since))
    last = np.minimum(first + within_days, np.datetime64(context.as_of))
    return scatter(stamps, dead, moments(rng, len(dead), first, last))


def _record_keys(prefix: str, people: pa.Table, width: int) -> pa.Array:
    return concat(prefix, zero_pad(column(people, "record_no").to_numpy(), width))


def _mistype_dates(rng: np.random.Generator, days: np.ndarray, rows: np.ndarray) -> np.ndarray:
    shifted = days.copy()
    shifted[rows] = days[rows] + rng.choice(np.array([-3, -2, -1, 1, 2, 3]), len(rows))
    return shifted


def _pick_rows(rng: np.random.Generator, rows: np.ndarray, share: float, minimum: int) -> np.ndarray:
    count = min(len(rows), max(round(share * len(rows)), minimum)) if share > 0 else 0
    return np.sort(rng.choice(rows, count, replace=False))


# -- public security: hj_czrk 常住人口 ----------------------------------------------------------------

PUBLIC_SECURITY_COLUMNS = (
    ColumnSpec("GMSFHM", sa.String(18), "公民身份号码"),
    ColumnSpec("XM", sa.String(50), "姓名"),
    ColumnSpec("XBDM", sa.String(1), "性别代码 GB/T 2261.1: 1 男, 2 女"),
    ColumnSpec("CSRQ", sa.String(8), "出生日期 YYYYMMDD"),
    ColumnSpec("MZ", sa.String(2), "民族代码 GB 3304"),
    ColumnSpec("HJDZ", sa.String(200), "户籍地址"),
    ColumnSpec("SSXQDM", sa.String(12), "户籍地所属社区 统计用区划代码"),
    ColumnSpec("HH", sa.String(20), "户号"),
    ColumnSpec("SWBZ", sa.String(1), "死亡标志: 0 否, 1 是"),
    ColumnSpec("SWRQ", sa.String(8), "死亡日期 YYYYMMDD"),
    ColumnSpec("GXSJ", sa.DateTime(), "更新时间"),
)


def select_public_security(
    population: pa.Table, rng: np.random.Generator, context: BuildContext
) -> np.ndarray:
    """Registered residents, living or dead, minus a few registered in another district's books."""
    return _covered(rng, _is(population, "residency", "registered") * PUBLIC_SECURITY_COVERAGE)


def public_security_address(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """户籍地址 with the province, and the division code of the registered community."""
    return {
        "HJDZ": concat(places.PROVINCE, column(people, "registered_address")),
        "SSXQDM": column(people, "registered_division_code"),
    }


def public_security_death(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """Death flag and date, as the register records them."""
    return {
        "SWBZ": pc.if_else(column(people, "is_deceased"), "1", "0"),
        "SWRQ": format_time(column(people, "death_date"), "%Y%m%d"),
    }


def render_public_security(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """Every column of ``hj_czrk`` for the selected people."""
    minimum = context.min_injected
    changed = moments(rng, people.num_rows, context.since, context.as_of)
    return {
        "GMSFHM": inject(
            rng,
            column(people, "id_number"),
            "GMSFHM",
            PUBLIC_SECURITY_ID_ERRORS,
            ID_ERRORS,
            log,
            minimum=minimum,
        ),
        "XM": inject(
            rng, column(people, "name"), "XM", PUBLIC_SECURITY_NAME_ERRORS, NAME_ERRORS, log, minimum=minimum
        ),
        "XBDM": recode(column(people, "gender"), {"M": "1", "F": "2"}),
        "CSRQ": format_time(column(people, "birth_date"), "%Y%m%d"),
        "MZ": column(people, "ethnicity"),
        **public_security_address(people, rng, context, log),
        "HH": concat(places.DISTRICT_CODE, pc.utf8_slice_codeunits(column(people, "household_key"), 1)),
        **public_security_death(people, rng, context, log),
        "GXSJ": _recorded_after_death(rng, people, context, changed, 30),
    }


PUBLIC_SECURITY = DepartmentSystem(
    source="public_security",
    title="公安 常住人口 (household register)",
    table="hj_czrk",
    primary_key="GMSFHM",
    updated_column="GXSJ",
    columns=PUBLIC_SECURITY_COLUMNS,
    select=select_public_security,
    render=render_public_security,
    refresh={
        "registered_address": Refresh(public_security_address, 1.0),
        "death": Refresh(public_security_death, 1.0),
    },
)


# -- grid: wg_syrk 实有人口 -----------------------------------------------------------------------------

GRID_COLUMNS = (
    ColumnSpec("RYBH", sa.String(20), "人员编号"),
    ColumnSpec("XM", sa.String(100), "姓名"),
    ColumnSpec("XB", sa.String(2), "性别: 男/女"),
    ColumnSpec(
        "ZJLX", sa.String(3), "证件类型: 111 居民身份证, 414 护照, 516 港澳通行证, 511 台胞证, 553 永居证"
    ),
    ColumnSpec("ZJHM", sa.String(40), "证件号码"),
    ColumnSpec("CSRQ", sa.String(20), "出生日期"),
    ColumnSpec("LXDH", sa.String(50), "联系电话"),
    ColumnSpec("XZZ", sa.String(200), "现住址"),
    ColumnSpec("SQDM", sa.String(12), "所属社区 统计用区划代码"),
    ColumnSpec("WGBM", sa.String(15), "网格编码"),
    ColumnSpec("RYLB", sa.String(4), "人员类别: 户籍/流动/境外"),
    ColumnSpec("DJSJ", sa.DateTime(), "登记时间"),
    ColumnSpec("GXSJ", sa.DateTime(), "更新时间"),
)


def select_grid(population: pa.Table, rng: np.random.Generator, context: BuildContext) -> np.ndarray:
    """Most people living here, some of the dead still listed, about one in a hundred twice."""
    share = np.where(_deceased(population), GRID_COVERAGE * GRID_KEEPS_DECEASED, GRID_COVERAGE)
    return _with_repeats(rng, _covered(rng, share), GRID_DUPLICATES, context.min_injected)


def grid_address(people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog) -> Columns:
    """现住址 in one of three styles, the community code and the grid (a few buildings each)."""
    street, community, compound = (column(people, c) for c in ("street", "community", "compound"))
    building, unit, room = (pc.cast(column(people, c), pa.string()) for c in ("building", "unit", "room"))
    styles = [
        concat(street, community, compound, *_flat(people)),
        concat(compound, building, "-", unit, "-", room),
        concat(places.DISTRICT, compound, *_flat(people)),
    ]
    style = pa.array(_choice(rng, GRID_ADDRESS_STYLES, people.num_rows))
    grid_no = (column(people, "building").to_numpy().astype(np.int64) - 1) // 5 + 1
    return {
        "XZZ": pc.choose(style, *styles),
        "SQDM": column(people, "division_code"),
        "WGBM": concat(column(people, "division_code"), zero_pad(grid_no, 3)),
    }


def grid_phone(people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog) -> Columns:
    """联系电话 in every format grid workers type."""
    phone = inject(
        rng,
        column(people, "phone"),
        "LXDH",
        GRID_PHONE_ERRORS,
        PHONE_ERRORS,
        log,
        minimum=context.min_injected,
    )
    return {"LXDH": phone}


def _grid_birth_dates(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> pa.Array:
    """'YYYY/MM/DD' or 'YYYY年M月D日'; some missing, some a few days off."""
    days = _days(people, "birth_date")
    free = np.ones(len(days), dtype=bool)
    picked = {}
    for kind, share, minimum in (
        ("mistyped_date", GRID_BIRTH_DATE_MISTYPED, context.min_injected),
        ("chinese_date_format", GRID_BIRTH_DATE_CHINESE, context.min_injected),
        ("missing", GRID_BIRTH_DATE_MISSING, context.min_injected),
    ):
        picked[kind] = _pick_rows(rng, np.flatnonzero(free), share, minimum)
        free[picked[kind]] = False
        log.add("CSRQ", kind, picked[kind])
    dates = pa.array(_mistype_dates(rng, days, picked["mistyped_date"]), pa.date32())
    chinese = picked["chinese_date_format"]
    text = scatter(
        format_time(dates, "%Y/%m/%d"), chinese, format_time(dates.take(pa.array(chinese)), "%Y年%-m月%-d日")
    )
    return _without(text, picked["missing"])


def render_grid(people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog) -> Columns:
    """Every column of ``wg_syrk`` for the selected people."""
    minimum = context.min_injected
    rows = np.arange(people.num_rows)
    no_type = _pick_rows(rng, rows, GRID_ID_TYPE_MISSING, minimum)
    no_gender = _pick_rows(rng, rows, GRID_GENDER_MISSING, minimum)
    log.add("ZJLX", "missing", no_type)
    log.add("XB", "missing", no_gender)
    registered = moments(rng, people.num_rows, context.since, context.as_of)
    registered_day = registered.cast(pa.timestamp("s")).to_numpy().astype("datetime64[D]")
    names = inject(
        rng, column(people, "name"), "XM", GRID_NAME_ERRORS, NAME_ERRORS, log,
        aux=column(people, "name_pinyin"), minimum=minimum,
    )  # fmt: skip
    return {
        "RYBH": _record_keys("RY", people, 10),
        "XM": names,
        "XB": _without(recode(column(people, "gender"), {"M": "男", "F": "女"}), no_gender),
        "ZJLX": _without(recode(column(people, "id_type"), GRID_DOCUMENT_CODES), no_type),
        "ZJHM": inject(
            rng, column(people, "id_number"), "ZJHM", GRID_ID_ERRORS, ID_ERRORS, log, minimum=minimum
        ),
        "CSRQ": _grid_birth_dates(people, rng, context, log),
        **grid_phone(people, rng, context, log),
        **grid_address(people, rng, context, log),
        "RYLB": recode(column(people, "residency"), GRID_RESIDENCY_CODES),
        "DJSJ": registered,
        "GXSJ": moments(rng, people.num_rows, registered_day, context.as_of),
    }


GRID = DepartmentSystem(
    source="grid",
    title="网格 实有人口 (grid roster of actual residents)",
    table="wg_syrk",
    primary_key="RYBH",
    updated_column="GXSJ",
    columns=GRID_COLUMNS,
    select=select_grid,
    render=render_grid,
    refresh={"address": Refresh(grid_address, 0.9), "phone": Refresh(grid_phone, 0.8)},
    unusable=UnusableRows("XM", "ZJHM", GRID_UNUSABLE),
)


# -- civil affairs: mz_jzdx 救助对象 ---------------------------------------------------------------------

CIVIL_AFFAIRS_COLUMNS = (
    ColumnSpec("JZDXBH", sa.String(20), "救助对象编号"),
    ColumnSpec("XM", sa.String(50), "姓名"),
    ColumnSpec("SFZJHM", sa.String(40), "身份证件号码"),
    ColumnSpec("XB", sa.String(1), "性别: M/F"),
    ColumnSpec("CSRQ", sa.String(10), "出生日期 YYYY-MM-DD"),
    ColumnSpec("LXDH", sa.String(50), "联系电话"),
    ColumnSpec("JTZZ", sa.String(200), "家庭住址"),
    ColumnSpec("JZLB", sa.String(8), "救助类别: 低保/特困/临时救助"),
    ColumnSpec("BZJE", sa.Numeric(10, 2), "保障金额 (元/月; 临时救助为一次性)"),
    ColumnSpec("FFZT", sa.String(4), "发放状态: 正常/停发"),
    ColumnSpec("BZRQ", sa.String(10), "保障起始日期 YYYY-MM-DD"),
    ColumnSpec("GXSJ", sa.DateTime(), "更新时间"),
)


def select_civil_affairs(population: pa.Table, rng: np.random.Generator, context: BuildContext) -> np.ndarray:
    """A few percent of registered residents, the elderly more often; some with a second record."""
    age = _ages(population, context.as_of)
    weight = np.where(age >= 60, 2.5, np.where(age >= 18, 1.0, 0.8)) * _is(
        population, "residency", "registered"
    )
    share = np.minimum(1.0, CIVIL_AFFAIRS_COVERAGE * population.num_rows / max(weight.sum(), 1.0) * weight)
    covered = _covered(rng, share)
    # so that even a small demo has deceased beneficiaries, whose payments may go on (a conflict)
    covered = _at_least(rng, covered, (weight > 0) & _deceased(population), context.min_injected)
    return _with_repeats(rng, covered, CIVIL_AFFAIRS_SECOND_RECORDS, context.min_injected)


def civil_affairs_address(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """家庭住址: the full address, or the district and compound only."""
    short = concat(places.DISTRICT, column(people, "compound"), *_flat(people))
    use_short = pa.array(rng.random(people.num_rows) < 0.5)
    return {"JTZZ": pc.if_else(use_short, short, column(people, "address"))}


def civil_affairs_phone(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """联系电话, landlines often without the area code."""
    phone = inject(
        rng, column(people, "phone"), "LXDH", CIVIL_AFFAIRS_PHONE_ERRORS, PHONE_ERRORS, log,
        minimum=context.min_injected,
    )  # fmt: skip
    return {"LXDH": phone}


def civil_affairs_payment(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """发放状态: some payments suspended; most stop at death, some go on (a conflict)."""
    deceased = _deceased(people)
    still_paid = _pick_rows(
        rng, np.flatnonzero(deceased), CIVIL_AFFAIRS_PAID_AFTER_DEATH, context.min_injected
    )
    stopped = deceased | (rng.random(people.num_rows) < CIVIL_AFFAIRS_SUSPENDED)
    stopped[still_paid] = False
    log.add("FFZT", "paid_after_death", still_paid)
    return {"FFZT": pc.if_else(pa.array(stopped), "停发", "正常")}


def _assistance(
    people: pa.Table, rng: np.random.Generator, context: BuildContext
) -> tuple[pa.Array, pa.Array]:
    count = people.num_rows
    elderly = _ages(people, context.as_of) >= 60
    kind = np.where(elderly, _choice(rng, (0.6, 0.3, 0.1), count), _choice(rng, (0.8, 0.0, 0.2), count))
    kind[repeated_rows(people)] = 2  # a second record is a one-off 临时救助
    amount = np.select(
        [kind == 0, kind == 1],
        [rng.integers(78, 121, count) * 10, rng.integers(117, 157, count) * 10],
        rng.integers(5, 51, count) * 100,
    )
    return lookup(ASSISTANCE_KINDS, kind), pa.array(amount.astype(np.float64), pa.float64())


def render_civil_affairs(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """Every column of ``mz_jzdx`` for the selected people."""
    minimum = context.min_injected
    kind, amount = _assistance(people, rng, context)
    died = _days(people, "death_date")
    last_day = np.where(_deceased(people), died, np.datetime64(context.as_of) - 30)
    started = moments(rng, people.num_rows, RECORDS_SINCE, last_day)
    started_day = started.to_numpy().astype("datetime64[D]")
    names = inject(
        rng, column(people, "name"), "XM", CIVIL_AFFAIRS_NAME_ERRORS, NAME_ERRORS, log,
        aux=column(people, "surname"), minimum=minimum,
    )  # fmt: skip
    ids = inject(
        rng, column(people, "id_number"), "SFZJHM", CIVIL_AFFAIRS_ID_ERRORS, ID_ERRORS, log, minimum=minimum
    )
    return {
        "JZDXBH": _record_keys("MZ" + places.DISTRICT_CODE, people, 8),
        "XM": names,
        "SFZJHM": ids,
        "XB": column(people, "gender"),
        "CSRQ": format_time(column(people, "birth_date"), "%Y-%m-%d"),
        **civil_affairs_phone(people, rng, context, log),
        **civil_affairs_address(people, rng, context, log),
        "JZLB": kind,
        "BZJE": amount,
        **civil_affairs_payment(people, rng, context, log),
        "BZRQ": format_time(started, "%Y-%m-%d"),
        "GXSJ": moments(
            rng, people.num_rows, np.maximum(started_day + 1, np.datetime64(context.since)), context.as_of
        ),
    }


CIVIL_AFFAIRS = DepartmentSystem(
    source="civil_affairs",
    title="民政 救助对象 (social assistance recipients)",
    table="mz_jzdx",
    primary_key="JZDXBH",
    updated_column="GXSJ",
    columns=CIVIL_AFFAIRS_COLUMNS,
    select=select_civil_affairs,
    render=render_civil_affairs,
    refresh={
        "address": Refresh(civil_affairs_address, 0.6),
        "phone": Refresh(civil_affairs_phone, 0.5),
        "death": Refresh(civil_affairs_payment, 0.7),
    },
    unusable=UnusableRows("XM", "SFZJHM", CIVIL_AFFAIRS_UNUSABLE),
)


# -- social security: rs_cbry 参保人员 -----------------------------------------------------------------

SOCIAL_SECURITY_COLUMNS = (
    ColumnSpec("AAC001", sa.String(20), "个人编号"),
    ColumnSpec("AAC002", sa.String(40), "公民身份号码"),
    ColumnSpec("AAC003", sa.String(50), "姓名"),
    ColumnSpec("AAC004", sa.String(1), "性别: 1 男, 2 女"),
    ColumnSpec("AAC006", sa.String(10), "出生日期 YYYY-MM-DD"),
    ColumnSpec("AAE005", sa.String(50), "联系电话"),
    ColumnSpec("AAE006", sa.String(200), "地址"),
    ColumnSpec("AAC008", sa.String(1), "参保状态: 1 正常参保, 2 暂停参保, 3 终止参保"),
    ColumnSpec("AIC162", sa.String(10), "离退休日期 YYYY-MM-DD"),
    ColumnSpec("AAE036", sa.DateTime(), "经办时间"),
)


def select_social_security(
    population: pa.Table, rng: np.random.Generator, context: BuildContext
) -> np.ndarray:
    """Most adults registered here or working here as migrants; a few insured twice."""
    adult = _ages(population, context.as_of) >= 18
    resident = ~_is(population, "residency", "foreign")
    share = (adult & resident) * SOCIAL_SECURITY_COVERAGE
    return _with_repeats(rng, _covered(rng, share), SOCIAL_SECURITY_DUPLICATES, context.min_injected)


def social_security_address(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """地址 as the insured gave it: city, district, compound and flat."""
    return {"AAE006": concat(places.CITY, places.DISTRICT, column(people, "compound"), *_flat(people))}


def social_security_phone(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """联系电话 in the formats the insured's employers report."""
    phone = inject(
        rng, column(people, "phone"), "AAE005", SOCIAL_SECURITY_PHONE_ERRORS, PHONE_ERRORS, log,
        minimum=context.min_injected,
    )  # fmt: skip
    return {"AAE005": phone}


def _stale_contacts(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> pa.Table:
    """Some insured moved or changed numbers since they enrolled: give them an old home or phone."""
    rows = np.arange(people.num_rows)
    moved = _pick_rows(rng, rows, SOCIAL_SECURITY_STALE_CONTACT, context.min_injected)
    renumbered = _pick_rows(rng, rows, SOCIAL_SECURITY_STALE_CONTACT, context.min_injected)
    log.add("AAE006", "stale_address", moved)
    log.add("AAE005", "stale_phone", renumbered)
    for name, values in home_columns(draw_homes(rng, len(moved))).items():
        people = replace_rows(people, name, moved, values)
    return replace_rows(people, "phone", renumbered, draw_mobiles(rng, len(renumbered)))


def social_security_status(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """参保状态: terminated at death (mostly), suspended for some, and for every second enrolment."""
    deceased = _deceased(people)
    still_active = _pick_rows(
        rng, np.flatnonzero(deceased), 1 - SOCIAL_SECURITY_TERMINATED_AFTER_DEATH, context.min_injected
    )
    terminated = deceased.copy()
    terminated[still_active] = False
    working_age = _ages(people, context.as_of) < 60
    draw = rng.random(people.num_rows)
    suspended = ~deceased & ((working_age & (draw < SOCIAL_SECURITY_SUSPENDED)) | repeated_rows(people))
    log.add("AAC008", "active_after_death", still_active)
    return {"AAC008": lookup(("1", "2", "3"), np.select([terminated, suspended], [2, 1], 0))}


def _retirement_dates(people: pa.Table, context: BuildContext) -> pa.Array:
    birth = _days(people, "birth_date")
    years = np.where(_is(people, "gender", "M"), RETIREMENT_AGE["M"], RETIREMENT_AGE["F"])
    birthday_month = birth.astype("datetime64[M]")
    # the birthday in the retirement year; 29 February becomes 1 March in a common year
    retired = (birthday_month + years * 12).astype("datetime64[D]") + (
        birth - birthday_month.astype("datetime64[D]")
    )
    return format_time(
        pa.array(retired, pa.date32(), mask=retired > np.datetime64(context.as_of)), "%Y-%m-%d"
    )


def render_social_security(
    people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
) -> Columns:
    """Every column of ``rs_cbry`` for the selected people."""
    minimum = context.min_injected
    people = _stale_contacts(people, rng, context, log)
    handled = moments(rng, people.num_rows, context.since, context.as_of)
    names = inject(
        rng, column(people, "name"), "AAC003", SOCIAL_SECURITY_NAME_ERRORS, NAME_ERRORS, log, minimum=minimum
    )
    ids = inject(
        rng, column(people, "id_number"), "AAC002", SOCIAL_SECURITY_ID_ERRORS, ID_ERRORS, log, minimum=minimum
    )
    return {
        "AAC001": _record_keys("42", people, 10),
        "AAC002": ids,
        "AAC003": names,
        "AAC004": recode(column(people, "gender"), {"M": "1", "F": "2"}),
        "AAC006": format_time(column(people, "birth_date"), "%Y-%m-%d"),
        **social_security_phone(people, rng, context, log),
        **social_security_address(people, rng, context, log),
        **social_security_status(people, rng, context, log),
        "AIC162": _retirement_dates(people, context),
        "AAE036": _recorded_after_death(rng, people, context, handled, 60),
    }


SOCIAL_SECURITY = DepartmentSystem(
    source="social_security",
    title="人社 参保人员 (insured persons)",
    table="rs_cbry",
    primary_key="AAC001",
    updated_column="AAE036",
    columns=SOCIAL_SECURITY_COLUMNS,
    select=select_social_security,
    render=render_social_security,
    refresh={
        "address": Refresh(social_security_address, 0.3),
        "phone": Refresh(social_security_phone, 0.3),
        "death": Refresh(social_security_status, 0.8),
    },
)

SYSTEMS = (PUBLIC_SECURITY, GRID, CIVIL_AFFAIRS, SOCIAL_SECURITY)
"""The four demo department systems, by ``source``: public_security, grid, civil_affairs, social_security."""


def build_source(
    system: DepartmentSystem, population: pa.Table, rng: np.random.Generator, context: BuildContext
) -> SourceTable:
    """Write one department's view of the population.

    Rows and record numbers follow population order: members of a household are registered one
    after the other, as in real registers (and reading the population in order is fast).

    Args:
        system: the department system.
        population: the residents (``population.POPULATION_SCHEMA``).
        rng: the system's random generator.
        context: timestamps and record numbering.

    Returns:
        The table's rows, with their true persons and the errors injected.
    """
    persons = np.sort(system.select(population, rng, context))
    people = population.take(pa.array(persons, pa.int64()))
    people = people.append_column("record_no", pa.array(context.first_record_no + np.arange(len(persons))))
    is_repeat = np.zeros(len(persons), dtype=bool)
    is_repeat[1:] = persons[1:] == persons[:-1]
    people = people.append_column("is_repeat", pa.array(is_repeat))
    log = ErrorLog()
    columns = system.render(people, rng, context, log)
    data = pa.table({spec.name: columns[spec.name] for spec in system.columns})
    person_keys = column(people, "person_key")
    if system.unusable is not None:
        first_records = np.flatnonzero(~repeated_rows(people))
        data, person_keys = spoil_rows(
            system, system.unusable, data, person_keys, first_records, rng, context, log
        )
    record_ids = as_array(data.column(system.primary_key))
    return SourceTable(system, data, person_keys, log.table(system.source, record_ids), len(persons))


def _unusable_count(rate: float, rows: int, context: BuildContext) -> int:
    if rate <= 0:
        return 0
    return min(max(round(rate * rows), context.min_injected), int(rows * UNUSABLE_MAX_SHARE))


def spoil_rows(
    system: DepartmentSystem,
    unusable: UnusableRows,
    data: pa.Table,
    person_keys: pa.Array,
    candidates: np.ndarray,
    rng: np.random.Generator,
    context: BuildContext,
    log: ErrorLog,
) -> tuple[pa.Table, pa.Array]:
    """Make some rows unusable: keys emptied, rows exported twice, names and ID numbers emptied.

    Args:
        system: the department system.
        unusable: which kinds, how often.
        data: the table's rows.
        person_keys: the true person of each row.
        candidates: rows that may be spoiled (each person's first record), each at most once.
        rng: the system's random generator.
        context: ``min_injected``.
        log: the error log; entries of spoiled rows are replaced by the kind of junk they became.

    Returns:
        The rows (repeated exports appended) and their persons (null for every unusable row).
    """
    free = np.zeros(data.num_rows, dtype=bool)
    free[candidates] = True
    picked = {}
    for kind in UNUSABLE_RULES:
        pool = np.flatnonzero(free)
        count = min(_unusable_count(unusable.rates.get(kind, 0.0), data.num_rows, context), len(pool))
        picked[kind] = np.sort(rng.choice(pool, count, replace=False))
        free[picked[kind]] = False
    keyless, nameless = picked["missing_primary_key"], picked["unidentifiable_record"]
    log.drop_rows(np.concatenate([keyless, nameless]))

    def draws(options: tuple[str | None, ...], count: int) -> list[str | None]:
        return [options[i] for i in rng.integers(0, len(options), count)]

    key, changes = system.primary_key, {}
    changes[key] = scatter(column(data, key), keyless, draws(MISSING_KEYS, len(keyless)))
    changes[unusable.name_column] = scatter(
        column(data, unusable.name_column), nameless, draws(MISSING_NAMES, len(nameless))
    )
    changes[unusable.id_column] = scatter(
        column(data, unusable.id_column), nameless, draws(UNKNOWN_IDS, len(nameless))
    )
    for name, values in changes.items():
        data = data.set_column(data.schema.get_field_index(name), name, values)
    log.add(key, "missing_primary_key", keyless)
    log.add(unusable.name_column, "unidentifiable_record", nameless)
    log.add(unusable.id_column, "unidentifiable_record", nameless)
    person_keys = scatter(
        person_keys, np.concatenate([keyless, nameless]), [None] * (len(keyless) + len(nameless))
    )

    exported_twice = picked["duplicate_primary_key"]
    copies = data.take(pa.array(exported_twice, pa.int64()))
    stamps = column(copies, system.updated_column).to_numpy(zero_copy_only=False).astype("datetime64[s]")
    later = pa.array(stamps + rng.integers(60, 1800, len(stamps)).astype("timedelta64[s]"), pa.timestamp("s"))
    copies = copies.set_column(
        copies.schema.get_field_index(system.updated_column), system.updated_column, later
    )
    log.add(key, "duplicate_primary_key", data.num_rows + np.arange(len(exported_twice)))
    data = pa.concat_tables([data, copies])
    person_keys = pa.concat_arrays([person_keys, pa.nulls(len(exported_twice), person_keys.type)])
    return data, person_keys


def build_systems(population: pa.Table, seed: int, context: BuildContext | None = None) -> list[SourceTable]:
    """Write all four department views of a population.

    Args:
        population: the residents.
        seed: seeds each system's own random generator (``np.random.default_rng([seed, i])``).
        context: timestamps and record numbering; the first build's defaults if None.

    Returns:
        One source table per system, in ``SYSTEMS`` order.
    """
    context = context or BuildContext()
    return [
        build_source(system, population, np.random.default_rng([seed, index]), context)
        for index, system in enumerate(SYSTEMS)
    ]
