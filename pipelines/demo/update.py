"""One day of life on a built demo: people move, change phones, die, and arrive.

Each department learns of a change the same day only with its own probability (``Refresh.same_day``),
so after an update the sources disagree a little more, as real ones do. Changed rows are updated in
place and their update column set to the new day; new residents get new rows. The truth, the
population, the error log and ``demo.json`` follow.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from pipelines.demo.departments import department_systems
from pipelines.demo.dwellings import (
    draw_flats,
    flats_in_grids,
    place_columns,
    registered_columns,
    with_place_truth,
)
from pipelines.demo.errors import ErrorLog
from pipelines.demo.geography import DistrictMap, Flats
from pipelines.demo.load import insert_rows, sa_table, update_rows
from pipelines.demo.population import PopulationSpec, age_in_years, draw_mobiles, generate_population
from pipelines.demo.state import (
    ERRORS_FILE,
    POPULATION_FILE,
    TRUTH_FILE,
    DemoState,
    DemoUpdate,
    write_parquet,
)
from pipelines.demo.strings import concat, replace_rows
from pipelines.demo.systems import (
    BuildContext,
    DepartmentSystem,
    SourceTable,
    build_source,
    column,
    moments,
)

# shares of the day's changes
MOVES = 0.40
PHONE_CHANGES = 0.30
DEATHS = 0.05
ARRIVALS = 0.25
REGISTRATION_MOVES = 0.5  # moving households that move their household registration too
MOVES_WITHIN_GRID = 0.3  # moving households that find their new flat in the same grid


@dataclass(frozen=True)
class LifeChanges:
    """Population positions of the people each kind of change concerns."""

    address: np.ndarray
    registered_address: np.ndarray
    phone: np.ndarray
    death: np.ndarray

    def of_kind(self, kind: str) -> np.ndarray:
        """The people concerned by ``kind`` (a key of ``DepartmentSystem.refresh``)."""
        return np.asarray(getattr(self, kind))


def _pick(
    rng: np.random.Generator, pool: np.ndarray, count: int, weight: np.ndarray | None = None
) -> np.ndarray:
    count = min(count, len(pool))
    p = None if weight is None else weight / weight.sum()
    return np.sort(rng.choice(pool, count, replace=False, p=p))


def _households_of(population: pa.Table, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct households of some people, and each person's position among them."""
    keys = column(population, "household_key").take(pa.array(rows, pa.int64())).to_numpy(zero_copy_only=False)
    households, of_person = np.unique(keys, return_inverse=True)
    return households, of_person


def draw_changes(
    rng: np.random.Generator, population: pa.Table, changes: int, day: datetime.date
) -> LifeChanges:
    """Choose who moves (whole households), who changes phone and who dies (the old more often).

    Args:
        rng: the day's random generator.
        population: the residents.
        changes: how many lives change (arrivals included).
        day: the new day.

    Returns:
        The people concerned by each kind of change.
    """
    alive = np.flatnonzero(~np.asarray(column(population, "is_deceased"), dtype=bool))
    households, of_person = _households_of(population, alive)
    order = rng.permutation(len(households))
    members = np.bincount(of_person, minlength=len(households))[order]
    moving = order[: int(np.searchsorted(np.cumsum(members), round(changes * MOVES), side="right"))]
    moves_registration = moving[rng.random(len(moving)) < REGISTRATION_MOVES]
    movers = alive[np.isin(of_person, moving)]
    registered = np.asarray(pc.equal(column(population, "residency"), "registered"), dtype=bool)
    registration = alive[np.isin(of_person, moves_registration) & registered[alive]]
    birth = column(population, "birth_date").to_numpy(zero_copy_only=False)[alive]
    frailty = np.exp((age_in_years(birth, day) - 80) / 10)
    return LifeChanges(
        address=movers,
        registered_address=registration,
        phone=_pick(rng, alive, round(changes * PHONE_CHANGES)),
        death=_pick(rng, alive, round(changes * DEATHS), frailty),
    )


def new_homes(
    rng: np.random.Generator, population: pa.Table, movers: np.ndarray, district: DistrictMap
) -> Flats:
    """Each moving household's new flat: in the same grid for some, anywhere in the district for the others.

    Args:
        rng: the day's random generator.
        population: the residents.
        movers: positions of the people moving (whole households).
        district: the map.

    Returns:
        The new flat of each mover.
    """
    households, of_person = _households_of(population, movers)
    first = np.unique(of_person, return_index=True)[1]
    current = district.flats_of(column(population, "dwelling_key").take(pa.array(movers[first], pa.int64())))
    flats = draw_flats(rng, district, len(households))
    nearby = np.flatnonzero(rng.random(len(households)) < MOVES_WITHIN_GRID)
    grids = district.building_grid[current.building[nearby]]
    flats = flats.replace(nearby, flats_in_grids(rng, district, grids))
    return flats.take(of_person)


def live_the_day(
    rng: np.random.Generator,
    population: pa.Table,
    changes: LifeChanges,
    day: datetime.date,
    district: DistrictMap,
) -> pa.Table:
    """Apply the changes to the population: new homes (and registrations), new phones, deaths.

    Args:
        rng: the day's random generator.
        population: the residents.
        changes: who is concerned.
        day: the new day (deaths happened the day before).
        district: the map new homes are drawn from.

    Returns:
        The population as it is on ``day``.
    """
    movers = changes.address
    flats = new_homes(rng, population, movers, district)
    for name, values in place_columns(district, flats).items():
        population = replace_rows(population, name, movers, values)
    registration = np.isin(movers, changes.registered_address)
    registered = registered_columns(
        district, flats.take(np.flatnonzero(registration)), np.ones(int(registration.sum()), dtype=bool)
    )
    for name, values in registered.items():
        population = replace_rows(population, name, movers[registration], values)
    population = replace_rows(population, "phone", changes.phone, draw_mobiles(rng, len(changes.phone)))
    population = replace_rows(population, "is_deceased", changes.death, [True] * len(changes.death))
    died = [day - datetime.timedelta(days=1)] * len(changes.death)
    return replace_rows(population, "death_date", changes.death, pa.array(died, pa.date32()))


def records_of_changed_people(truth: pa.Table, population: pa.Table, changes: LifeChanges) -> pa.Table:
    """The truth rows of everyone whose life changed, with the population position of each person.

    Args:
        truth: the ground truth.
        population: the residents.
        changes: who is concerned by which change.

    Returns:
        ``source_system, source_record_id, person_key, position`` rows.
    """
    changed = np.unique(np.concatenate([changes.of_kind(kind.name) for kind in fields(changes)]))
    keys = column(population, "person_key").take(pa.array(changed, pa.int64()))
    rows = truth.filter(pc.is_in(truth.column("person_key"), value_set=keys))
    found = np.asarray(pc.index_in(rows.column("person_key"), value_set=keys), dtype=np.int64)
    return rows.append_column("position", pa.array(changed[found]))


def records_of(changed: pa.Table, source: str, persons: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """A source's records of some of the people whose lives changed.

    Args:
        changed: ``records_of_changed_people``.
        source: the source system.
        persons: population positions of the people.

    Returns:
        The records' keys, and the population position of each record's person.
    """
    position = changed.column("position").to_numpy()
    mine = changed.filter(
        pc.and_(pc.equal(changed.column("source_system"), source), pa.array(np.isin(position, persons)))
    )
    return column(mine, "source_record_id"), mine.column("position").to_numpy()


@dataclass(frozen=True)
class Refreshed:
    """What refreshing one system's records did.

    Attributes:
        updated: rows updated.
        cells: ``source_system, source_record_id, column`` of every rewritten cell.
        errors: the errors the rewrite put in (same columns as the error log).
    """

    updated: int
    cells: pa.Table
    errors: pa.Table


def refresh_records(
    connection: sa.Connection,
    system: DepartmentSystem,
    rng: np.random.Generator,
    context: BuildContext,
    population: pa.Table,
    changed: pa.Table,
    changes: LifeChanges,
) -> Refreshed:
    """Rewrite the records of the people whose lives changed, where the department heard of it.

    Args:
        connection: the system's database, inside a transaction.
        system: the department system.
        rng: the day's random generator.
        context: the day.
        population: the residents as they are now.
        changed: ``records_of_changed_people``.
        changes: who is concerned by which change.

    Returns:
        The rows and cells rewritten and the errors the rewrite injected.
    """
    updated, cells, errors = 0, [], []
    for kind, refresh in system.refresh.items():
        record_ids, persons = records_of(changed, system.source, changes.of_kind(kind))
        heard = np.flatnonzero(rng.random(len(persons)) < refresh.same_day)
        record_ids = record_ids.take(pa.array(heard, pa.int64()))
        people = population.take(pa.array(persons[heard], pa.int64()))
        people = people.append_column("is_repeat", pa.array(np.zeros(len(heard), dtype=bool)))
        log = ErrorLog()
        columns = system.named(refresh.render(people, rng, context, log))
        stamp = moments(rng, len(heard), context.since, context.as_of)
        update_rows(
            connection,
            system,
            pa.table({system.primary_key: record_ids, **columns, system.updated_column: stamp}),
        )
        updated += len(heard)
        cells += [_cells(system.source, record_ids, name) for name in columns]
        errors.append(log.table(system.source, record_ids))
    return Refreshed(updated, _concat(cells, _CELL_SCHEMA), _concat(errors, _ERROR_SCHEMA))


_CELL_SCHEMA = pa.schema(
    [("source_system", pa.string()), ("source_record_id", pa.string()), ("column", pa.string())]
)
_ERROR_SCHEMA = _CELL_SCHEMA.append(pa.field("kind", pa.string()))


def _cells(source: str, record_ids: pa.Array, name: str) -> pa.Table:
    count = len(record_ids)
    columns = [pa.array([source] * count, pa.string()), record_ids, pa.array([name] * count, pa.string())]
    return pa.table(columns, schema=_CELL_SCHEMA)


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()


def _cell_keys(table: pa.Table) -> pa.Array:
    return concat(
        *(table.column(name).combine_chunks() for name in ("source_system", "source_record_id", "column"))
    )


def revise_error_log(errors: pa.Table, rewritten: pa.Table, added: list[pa.Table]) -> pa.Table:
    """Drop log entries of rewritten cells, then add the errors of the day.

    Args:
        errors: the error log so far.
        rewritten: cells that were rewritten (``source_system, source_record_id, column``).
        added: the day's new log entries.

    Returns:
        The error log as it is now.
    """
    stale = pc.is_in(_cell_keys(errors), value_set=_cell_keys(rewritten))
    return _concat([errors.filter(pc.invert(stale)), *added], _ERROR_SCHEMA)


def arrival_spec(population: PopulationSpec, day: datetime.date) -> PopulationSpec:
    """Newcomers are drawn like the population, but without twins, namesakes or deaths."""
    return replace(
        population,
        as_of=day,
        twin_pair_rate=0.0,
        namesake_pair_rate=0.0,
        elderly_death_rate=0.0,
        death_rate=0.0,
        min_foreign_households=0,
    )


def arrive(
    rng: np.random.Generator, population: pa.Table, state: DemoState, count: int, day: datetime.date
) -> pa.Table:
    """New residents (births, people moving in), with ID numbers nobody has yet.

    Args:
        rng: the day's random generator.
        population: the residents so far.
        state: the demo's counters.
        count: how many arrive.
        day: the new day.

    Returns:
        The newcomers, with the population's columns.
    """
    if count == 0:
        return population.schema.empty_table()
    return generate_population(
        count,
        seed=int(rng.integers(2**63)),
        district=state.spec.district_map(),
        spec=arrival_spec(state.spec.population, day),
        first_person_no=state.next_person_no,
        first_household_no=state.next_household_no,
        taken_ids=set(column(population, "id_number").to_pylist()),
    )


def next_day(out_dir: Path, fraction: float, seed: int | None, urls: dict[str, str]) -> DemoUpdate:
    """Play one day on a built demo (see ``pipelines.demo.apply_next_day_update``).

    Args:
        out_dir: a folder written by ``build_demo``.
        fraction: share of the residents whose lives change that day.
        seed: seeds the day's draws; derived from the demo's seed and the day if None.
        urls: SQLAlchemy URL of each source.

    Returns:
        What changed.
    """
    state = DemoState.load(out_dir)
    day = state.day + datetime.timedelta(days=1)
    day_seed = [state.seed if seed is None else seed, day.toordinal()]
    rng = np.random.default_rng(day_seed)
    population = pq.read_table(out_dir / POPULATION_FILE)
    truth = pq.read_table(out_dir / TRUTH_FILE)
    total = round(fraction * population.num_rows)
    changes = draw_changes(rng, population, total, day)
    population = live_the_day(rng, population, changes, day, state.spec.district_map())
    newcomers = arrive(rng, population, state, round(total * ARRIVALS), day)
    changed = records_of_changed_people(truth, population, changes)
    context = BuildContext(as_of=day + datetime.timedelta(days=1), since=day, min_injected=0)
    refreshed, added = [], []
    systems = department_systems(state.spec)
    for index, system in enumerate(systems):
        system_rng = np.random.default_rng([*day_seed, index])
        engine = sa.create_engine(urls[system.source])
        try:
            with engine.begin() as connection:
                refreshed.append(
                    refresh_records(connection, system, system_rng, context, population, changed, changes)
                )
                first = replace(context, first_record_no=state.next_record_no[system.source])
                added.append(build_source(system, newcomers, system_rng, first))
                insert_rows(connection, sa_table(system), added[-1].data)
        finally:
            engine.dispose()
    _save(out_dir, replace(state, day=day), population, newcomers, truth, refreshed, added)
    return DemoUpdate(
        day,
        updated={s.source: r.updated for s, r in zip(systems, refreshed, strict=True)},
        inserted={new.system.source: new.data.num_rows for new in added},
        arrivals=newcomers.num_rows,
        deaths=len(changes.death),
    )


def _save(
    out_dir: Path,
    state: DemoState,
    population: pa.Table,
    newcomers: pa.Table,
    truth: pa.Table,
    refreshed: list[Refreshed],
    added: list[SourceTable],
) -> None:
    """Write the day's truth, population, error log and counters (``state`` already has the new day)."""
    rewritten = _concat([r.cells for r in refreshed], _CELL_SCHEMA)
    new_errors = [r.errors for r in refreshed] + [new.errors for new in added]
    errors = revise_error_log(pq.read_table(out_dir / ERRORS_FILE), rewritten, new_errors)
    write_parquet(errors, out_dir / ERRORS_FILE)
    everyone = pa.concat_tables([population, newcomers])
    truth = pa.concat_tables(
        [truth.select(["source_system", "source_record_id", "person_key"])] + [new.truth() for new in added]
    )
    write_parquet(with_place_truth(truth, everyone), out_dir / TRUTH_FILE)
    write_parquet(everyone, out_dir / POPULATION_FILE)
    households = newcomers.column("household_key")
    replace(
        state,
        next_record_no={
            new.system.source: state.next_record_no[new.system.source] + new.numbered for new in added
        },
        next_person_no=state.next_person_no + newcomers.num_rows,
        next_household_no=int(households[-1].as_py()[1:]) + 1 if len(households) else state.next_household_no,
    ).save(out_dir)
