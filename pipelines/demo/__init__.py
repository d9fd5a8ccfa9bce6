"""Demo department systems: four source databases built from one synthetic population, plus the truth.

``build_demo`` writes the department systems of a district profile (``pipelines.demo.spec``; by
default 武昌区's public-security, grid, civil-affairs and social-security systems) as SQLite files
or into any SQLAlchemy URL, with the ground truth of which records are the same person, the
population itself and a log of every injected error and format variant. ``apply_next_day_update``
then plays one day of life on them (moves, new phones, deaths, arrivals) for incremental runs.

Files in ``out_dir``: ``<source>.sqlite`` (unless URLs are given), ``truth.parquet``
(``source_system, source_record_id, person_key, dwelling_key, household_key, grid_code``; one row
per source row, with the true person and where that person actually lives: the flat, the household
and the grid; all null for the unusable rows standardizing quarantines), ``population.parquet``,
``injected_errors.parquet`` (``source_system, source_record_id, column, kind``) and ``demo.json``
(seed, day, record counters and the profile).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipelines.demo.departments import department_systems
from pipelines.demo.dwellings import with_place_truth
from pipelines.demo.load import write_systems
from pipelines.demo.population import AS_OF, generate_population
from pipelines.demo.spec import DemoSpec, SpecError, load_spec
from pipelines.demo.state import (
    ERRORS_FILE,
    POPULATION_FILE,
    TRUTH_FILE,
    DemoState,
    DemoUpdate,
    connection_variable,
    source_urls,
    write_parquet,
)
from pipelines.demo.systems import build_systems
from pipelines.demo.update import next_day

__all__ = [
    "DemoSpec",
    "DemoSystems",
    "DemoUpdate",
    "SpecError",
    "apply_next_day_update",
    "build_demo",
    "connection_variable",
    "load_spec",
]

DEFAULT_RESIDENTS = 20_000
DEFAULT_SEED = 20261127


@dataclass(frozen=True)
class DemoSystems:
    """What ``build_demo`` wrote and where.

    Attributes:
        out_dir: the demo folder.
        urls: SQLAlchemy URL of each source system's database.
        sqlite_paths: the SQLite file of each source written to the default place.
        truth_path: ``truth.parquet``: which records are the same person.
        population_path: ``population.parquet``: the true residents.
        errors_path: ``injected_errors.parquet``: every error put into the sources.
        row_counts: rows per source system.
        residents: size of the population.
        seed: the seed everything was drawn from.
        spec: the profile the systems were built from.
    """

    out_dir: Path
    urls: dict[str, str]
    sqlite_paths: dict[str, Path]
    truth_path: Path
    population_path: Path
    errors_path: Path
    row_counts: dict[str, int]
    residents: int
    seed: int
    spec: DemoSpec

    def environment(self) -> dict[str, str]:
        """The environment the source contracts resolve against (``PUBLIC_SECURITY_URL`` …).

        Returns:
            Variable name to URL.
        """
        return {connection_variable(source): url for source, url in self.urls.items()}


def build_demo(
    out_dir: Path,
    residents: int = DEFAULT_RESIDENTS,
    seed: int = DEFAULT_SEED,
    urls: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    spec: DemoSpec | None = None,
) -> DemoSystems:
    """Build a district's department systems and their ground truth.

    Args:
        out_dir: folder for the SQLite files, the truth, the population and the state.
        residents: size of the synthetic population (the demo's ``--residents``).
        seed: the same seed gives identical tables.
        urls: SQLAlchemy URL per source (e.g. ``{"grid": "postgresql+psycopg2://…"}``); sources not
            listed go to ``out_dir/<source>.sqlite``. Existing demo tables there are replaced.
        progress: called with one line per finished step (what it made, how long it took).
        spec: the district profile, with any overrides (``load_spec``); the default profile if None.

    Returns:
        Where everything is and how many rows each source got.

    Raises:
        ValueError: ``residents`` is less than one, or ``urls`` names an unknown source.
    """
    if residents < 1:
        raise ValueError(f"a demo needs at least one resident, got residents={residents}")
    spec = spec or load_spec()
    targets = source_urls(out_dir, tuple(spec.systems), urls)
    step = _Stopwatch(progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    population = generate_population(residents, seed, spec.district_map(), spec.population)
    step(f"population: {residents:,} residents")
    tables = build_systems(department_systems(spec), population, seed)
    step("department views: " + ", ".join(f"{t.system.source} {t.data.num_rows:,}" for t in tables))
    counts = write_systems(tables, targets)
    step(f"written: {sum(counts.values()):,} rows into {len(counts)} databases")
    truth = with_place_truth(pa.concat_tables([t.truth() for t in tables]), population)
    write_parquet(truth, out_dir / TRUTH_FILE)
    write_parquet(pa.concat_tables([t.errors for t in tables]), out_dir / ERRORS_FILE)
    write_parquet(population, out_dir / POPULATION_FILE)
    DemoState(
        seed=seed,
        day=AS_OF,
        next_record_no={t.system.source: t.numbered + 1 for t in tables},
        next_person_no=residents + 1,
        next_household_no=int(population.column("household_key")[-1].as_py()[1:]) + 1,
        on_given_urls=tuple(sorted(urls or {})),
        spec=spec,
    ).save(out_dir)
    step("truth, population, error log and state saved")
    return DemoSystems(
        out_dir=out_dir,
        urls=targets,
        sqlite_paths={s: out_dir / f"{s}.sqlite" for s in targets if s not in (urls or {})},
        truth_path=out_dir / TRUTH_FILE,
        population_path=out_dir / POPULATION_FILE,
        errors_path=out_dir / ERRORS_FILE,
        row_counts=counts,
        residents=residents,
        seed=seed,
        spec=spec,
    )


class _Stopwatch:
    """Reports each finished step with the seconds it took."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.progress = progress
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        now = time.perf_counter()
        if self.progress is not None:
            self.progress(f"{message} ({now - self.started:.1f}s)")
        self.started = now


def apply_next_day_update(
    out_dir: Path, fraction: float = 0.03, seed: int | None = None, urls: dict[str, str] | None = None
) -> DemoUpdate:
    """Play one day of life on a built demo: moves, new phones, deaths and arrivals.

    Changed rows are updated in place with their update column (``GXSJ``, ``AAE036``) set to the
    new day; new residents get new rows; the truth, the population and the error log follow.

    Args:
        out_dir: a folder written by ``build_demo``.
        fraction: share of the residents whose lives change that day.
        seed: seeds the day's draws; derived from the demo's seed and the day if None.
        urls: the same URLs given to ``build_demo``, if any.

    Returns:
        What changed.

    Raises:
        FileNotFoundError: ``out_dir`` holds no demo.
        ValueError: the demo was built on database URLs that are not given again.
    """
    return next_day(out_dir, fraction, seed, DemoState.load(out_dir).urls(out_dir, urls))
