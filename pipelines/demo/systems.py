"""Department systems: partial, differently coded, differently wrong views of one population.

A ``DepartmentSystem`` is one kind of system (household register, grid roster, assistance,
insurance; see ``pipelines.demo.departments``) given a table by a profile (``pipelines.demo.spec``):
whom it covers, how it writes a person down, how it learns of changes in people's lives, and the
rows standardizing has to reject. Renderers write values by role (``id_number``, ``name`` …); the
profile's columns name them and give their codes and layouts.

A few rows per ten thousand cannot be used at all, and standardizing has to quarantine them (see
``UnusableRows``): roster entries saved without a record number, the same record number exported
twice, and rows with neither a name nor a usable ID number. They are junk, not anyone's record:
their truth rows have no ``person_key``.

Record keys are each department's own; the ``person_key`` never reaches a source table. Error
rates are shares of the rows an error can apply to (see ``errors.inject``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.demo.dwellings import draw_flats
from pipelines.demo.errors import MIN_INJECTED, UNUSABLE_ID_FORMS, ErrorLog, Messiness, inject
from pipelines.demo.geography import DistrictMap
from pipelines.demo.population import AS_OF, age_in_years
from pipelines.demo.spec import Column, SystemSpec
from pipelines.demo.strings import as_array, replace_rows, scatter

UNUSABLE_MAX_SHARE = 0.004
"""At most this share of a table's rows is unusable of each kind (the ``primary_key_present`` check
blocks the publish when more than 1% of a batch has no key), so tiny demos get fewer than
``MIN_INJECTED``."""
MISSING_KEYS = (None, "", " ")
MISSING_NAMES = (None, "", " ")
UNKNOWN_IDS = (None, "无", "不详", "000000000000000000")
_NONE = np.zeros(0, dtype=np.int64)

RECORDS_SINCE = datetime.date(2016, 1, 1)
"""Registration and update timestamps of the first build fall between this day and ``AS_OF``."""


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


Columns = dict[str, pa.Array]
"""Values by role (``id_number``, ``name`` …), one per row."""
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
        render: the values to rewrite, by role, for the people concerned.
        same_day: share of such changes the department records the day they happen.
    """

    render: Renderer
    same_day: float


@dataclass(frozen=True)
class DepartmentSystem:
    """A department system: its table, who it covers, how it writes a person down.

    Attributes:
        source: the source_system name (as in its contract).
        spec: its part of the profile: table, columns, coverage, errors.
        select: positions of the covered people in the population, repeated for people with
            more than one record.
        render: every value by role for the selected people (with their record numbers in
            ``record_no`` and ``is_repeat`` marking a person's second and later records).
        refresh: per kind of change in a person's life (``address``, ``registered_address``,
            ``phone``, ``death``), how the system records it.
        unusable: the rows standardizing must reject, if the system has any.
    """

    source: str
    spec: SystemSpec
    select: Selector
    render: Renderer
    refresh: Mapping[str, Refresh]
    unusable: UnusableRows | None = None

    @property
    def title(self) -> str:
        """What the table is."""
        return self.spec.title

    @property
    def table(self) -> str:
        """The table's name."""
        return self.spec.table

    @property
    def columns(self) -> tuple[Column, ...]:
        """The table's columns, in order."""
        return tuple(self.spec.columns.values())

    @property
    def primary_key(self) -> str:
        """The department's record key column."""
        return self.spec.name(self.spec.primary_key)

    @property
    def updated_column(self) -> str:
        """The column that says when a row last changed."""
        return self.spec.name("updated_at")

    @property
    def declares_primary_key(self) -> bool:
        """The table has a primary-key constraint (no key missing or repeated in it)."""
        return self.unusable is None or self.unusable.keys_unique

    def named(self, values: Columns) -> Columns:
        """Values by column name, for the roles the table has, in the table's order.

        Args:
            values: values by role.

        Returns:
            Values by column name.
        """
        return {column.name: values[role] for role, column in self.spec.columns.items() if role in values}


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


def days(table: pa.Table, name: str) -> np.ndarray:
    """A date column as ``datetime64[D]``."""
    return column(table, name).to_numpy(zero_copy_only=False).astype("datetime64[D]")


def equals(table: pa.Table, name: str, value: str) -> np.ndarray:
    """Rows whose column holds ``value`` (null is not equal)."""
    return np.asarray(pc.fill_null(pc.equal(column(table, name), value), False), dtype=bool)


def deceased(table: pa.Table) -> np.ndarray:
    """Rows of people who died."""
    return np.asarray(column(table, "is_deceased"), dtype=bool)


def ages(table: pa.Table, on: datetime.date) -> np.ndarray:
    """Completed years of age of each row's person on a day."""
    return age_in_years(days(table, "birth_date"), on)


def covered(rng: np.random.Generator, share: np.ndarray) -> np.ndarray:
    """Positions of the people a system covers, each with its own chance."""
    return np.flatnonzero(rng.random(len(share)) < share)


def at_least(rng: np.random.Generator, chosen: np.ndarray, pool: np.ndarray, minimum: int) -> np.ndarray:
    """Add people of ``pool`` (a mask) to ``chosen`` until it holds at least ``minimum`` of them."""
    missing = minimum - int(pool[chosen].sum())
    outside = np.flatnonzero(pool & ~np.isin(np.arange(len(pool)), chosen))
    extra = rng.choice(outside, min(max(missing, 0), len(outside)), replace=False)
    return np.sort(np.concatenate([chosen, extra]))


def with_repeats(rng: np.random.Generator, persons: np.ndarray, share: float, minimum: int) -> np.ndarray:
    """The positions plus a share of them a second time (people with two records)."""
    count = min(len(persons), max(round(share * len(persons)), minimum if len(persons) else 0))
    return np.concatenate([persons, rng.choice(persons, count, replace=False)])


def repeated_rows(people: pa.Table) -> np.ndarray:
    """Rows whose person already has an earlier row (second records, duplicates)."""
    return np.asarray(column(people, "is_repeat"), dtype=bool)


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


def choice(rng: np.random.Generator, shares: tuple[float, ...], count: int) -> np.ndarray:
    """Draw positions into ``shares`` (weights, normalised), one per row."""
    weights = np.asarray(shares, dtype=np.float64)
    return rng.choice(len(weights), count, p=weights / weights.sum())


def without(values: pa.Array, rows: np.ndarray) -> pa.Array:
    """The column with the given rows emptied."""
    return scatter(values, rows, [None] * len(rows))


def recorded_after_death(
    rng: np.random.Generator, people: pa.Table, context: BuildContext, stamps: pa.Array, within_days: int
) -> pa.Array:
    """Update times of the deceased's rows moved to the weeks after the death (inside the context)."""
    dead = np.flatnonzero(deceased(people))
    first = np.maximum(days(people, "death_date")[dead] + 1, np.datetime64(context.since))
    last = np.minimum(first + within_days, np.datetime64(context.as_of))
    return scatter(stamps, dead, moments(rng, len(dead), first, last))


def record_keys(key: Column, people: pa.Table) -> pa.Array:
    """Record keys of the selected people, from their record numbers."""
    return key.keys(column(people, "record_no").to_numpy())


def mistype_dates(rng: np.random.Generator, dates: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The dates with some rows a few days off."""
    shifted = dates.copy()
    shifted[rows] = dates[rows] + rng.choice(np.array([-3, -2, -1, 1, 2, 3]), len(rows))
    return shifted


def with_errors(
    spec: SystemSpec,
    error_scale: float,
    role: str,
    values: pa.Array,
    catalog: Mapping[str, Messiness],
    rng: np.random.Generator,
    context: BuildContext,
    log: ErrorLog,
    aux: pa.Array | None = None,
    exclude: np.ndarray | None = None,
) -> pa.Array:
    """Give a role's clean values the errors the spec declares for it (see ``errors.inject``).

    Args:
        spec: the system's part of the profile.
        error_scale: multiplies every rate.
        role: the role (its column is named in the log).
        values: the clean values.
        catalog: the kinds known for this sort of value.
        rng: the system's random generator.
        context: ``min_injected``.
        log: where the rows are recorded.
        aux: per-row helper values for kinds that need them.
        exclude: rows to leave as they are.

    Returns:
        The values with the errors in them.
    """
    rates = {kind: rate for kind, rate in spec.rates(role, error_scale).items() if kind in catalog}
    return inject(
        rng,
        values,
        spec.name(role),
        rates,
        catalog,
        log,
        aux=aux,
        minimum=context.min_injected,
        exclude=exclude,
    )


def record_id_errors(
    spec: SystemSpec,
    error_scale: float,
    people: pa.Table,
    rng: np.random.Generator,
    context: BuildContext,
    log: ErrorLog,
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """ID numbers that depend on the record's person (``errors.RECORD_ID_ERRORS``), each row at most one.

    Args:
        spec: the system's part of the profile (its ``errors.id_number`` rates).
        error_scale: multiplies every rate.
        people: the selected people, with their household head's ``head_id_type``/``head_id_number``.
        rng: the system's random generator.
        context: the day (ages) and ``min_injected``.
        log: where the rows are recorded.

    Returns:
        The ID numbers, the rows rewritten (no other ID error may touch them), and the rows with no
        usable number (their names and birth dates must stay exact, their address restyled).
    """
    rates = spec.rates("id_number", error_scale)
    ids, heads = column(people, "id_number"), column(people, "head_id_number")
    citizen = equals(people, "id_type", "cn_resident_id") & equals(people, "head_id_type", "cn_resident_id")
    member = citizen & np.asarray(pc.fill_null(pc.not_equal(ids, heads), False), dtype=bool)
    adult = ages(people, context.as_of) >= 18
    pools = {
        "head_id_on_member": member & adult,
        "parent_id_on_child": member & ~adult,
        "no_usable_id": equals(people, "residency", "registered")
        & equals(people, "id_type", "cn_resident_id"),
    }
    free, picked = np.ones(people.num_rows, dtype=bool), {}
    for kind, pool in pools.items():
        share = rates.get(kind, 0.0)
        picked[kind] = (
            pick_rows(rng, np.flatnonzero(free & pool), share, context.min_injected) if share else _NONE
        )
        free[picked[kind]] = False
        log.add(spec.name("id_number"), kind, picked[kind])
    borrowed = np.concatenate([picked["head_id_on_member"], picked["parent_id_on_child"]])
    unusable = picked["no_usable_id"]
    forms = [UNUSABLE_ID_FORMS[i] for i in rng.integers(0, len(UNUSABLE_ID_FORMS), len(unusable))]
    own = ids.take(pa.array(unusable, pa.int64())).to_pylist()
    blanks = [
        f"{n[:6]}********{n[14:]}" if form == "masked" else form for form, n in zip(forms, own, strict=True)
    ]
    ids = scatter(
        ids,
        np.concatenate([borrowed, unusable]),
        heads.take(pa.array(borrowed, pa.int64())).to_pylist() + blanks,
    )
    return ids, np.flatnonzero(~free), unusable


def stale_homes(
    spec: SystemSpec,
    error_scale: float,
    district: DistrictMap,
    people: pa.Table,
    rng: np.random.Generator,
    context: BuildContext,
    log: ErrorLog,
) -> pa.Table:
    """Give some second records the flat their person moved from (``stale_address``), grid and community too.

    Args:
        spec: the system's part of the profile (its ``errors.address`` rate).
        error_scale: multiplies the rate.
        district: the map old flats are drawn from.
        people: the selected people.
        rng: the system's random generator.
        context: ``min_injected``.
        log: where the rows are recorded.

    Returns:
        The people, the chosen rows living in their old flat.
    """
    share = spec.rates("address", error_scale).get("stale_address", 0.0)
    if not share:
        return people
    rows = pick_rows(rng, np.flatnonzero(repeated_rows(people)), share, context.min_injected)
    log.add(spec.name("address"), "stale_address", rows)
    flats = draw_flats(rng, district, len(rows))
    old = {"dwelling_key": district.dwelling_keys(flats), "grid_code": district.grid_codes(flats)}
    old["division_code"] = district.community_codes(flats)
    for name, values in old.items():
        people = replace_rows(people, name, rows, values)
    return people


def name_helpers(people: pa.Table) -> pa.StructArray:
    """What name errors need to know of each person: surname, pinyin, Chinese rendering, gender."""
    return pa.StructArray.from_arrays(
        [column(people, name) for name in ("surname", "name_pinyin", "name_chinese", "gender")],
        names=["surname", "pinyin", "chinese", "gender"],
    )


def household_heads(population: pa.Table) -> np.ndarray:
    """The position of each person's household head (a household's first member; members are adjacent)."""
    keys = column(population, "household_key")
    first = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        first[1:] = np.asarray(pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1)), dtype=bool)
    return np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))


def pick_rows(rng: np.random.Generator, rows: np.ndarray, share: float, minimum: int) -> np.ndarray:
    """A share of the given rows (at least ``minimum`` of them when the share is not zero), sorted."""
    count = min(len(rows), max(round(share * len(rows)), minimum)) if share > 0 else 0
    return np.sort(rng.choice(rows, count, replace=False))


# -- building a table --------------------------------------------------------------------------------


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
    heads = pa.array(household_heads(population)[persons], pa.int64())
    people = population.take(pa.array(persons, pa.int64()))
    for name in ("id_type", "id_number"):
        people = people.append_column(f"head_{name}", column(population, name).take(heads))
    people = people.append_column("record_no", pa.array(context.first_record_no + np.arange(len(persons))))
    is_repeat = np.zeros(len(persons), dtype=bool)
    is_repeat[1:] = persons[1:] == persons[:-1]
    people = people.append_column("is_repeat", pa.array(is_repeat))
    log = ErrorLog()
    data = pa.table(system.named(system.render(people, rng, context, log)))
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


def unusable_rows(spec: SystemSpec) -> UnusableRows | None:
    """The unusable rows a system's spec declares, if any.

    Args:
        spec: the system's part of the profile.

    Returns:
        The rows to spoil (names and ID numbers emptied in the columns of those roles), or None.
    """
    if not any(rate > 0 for rate in spec.unusable.values()):
        return None
    return UnusableRows(spec.name("name"), spec.name("id_number"), dict(spec.unusable))


def build_systems(
    systems: tuple[DepartmentSystem, ...],
    population: pa.Table,
    seed: int,
    context: BuildContext | None = None,
) -> list[SourceTable]:
    """Write every department's view of a population.

    Args:
        systems: the department systems.
        population: the residents.
        seed: seeds each system's own random generator (``np.random.default_rng([seed, i])``).
        context: timestamps and record numbering; the first build's defaults if None.

    Returns:
        One source table per system, in the given order.
    """
    context = context or BuildContext()
    return [
        build_source(system, population, np.random.default_rng([seed, index]), context)
        for index, system in enumerate(systems)
    ]
