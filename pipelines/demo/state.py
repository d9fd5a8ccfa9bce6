"""The demo folder: file names, the state daily updates continue from, and safe writes."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.demo.spec import DemoSpec, load_spec, validate_spec

TRUTH_FILE = "truth.parquet"
POPULATION_FILE = "population.parquet"
ERRORS_FILE = "injected_errors.parquet"
STATE_FILE = "demo.json"


def connection_variable(source: str) -> str:
    """The environment variable a source contract reads its URL from, e.g. ``GRID_URL``.

    Args:
        source: the source system name.

    Returns:
        The variable name.
    """
    return f"{source.upper()}_URL"


def sqlite_url(path: Path) -> str:
    """A SQLAlchemy URL of a SQLite file.

    Args:
        path: the file.

    Returns:
        ``sqlite:///`` followed by the absolute path.
    """
    return f"sqlite:///{path.resolve()}"


@dataclass(frozen=True)
class DemoState:
    """What later daily updates need to know, kept in ``demo.json`` (no URLs, no credentials).

    Attributes:
        seed: the demo's seed.
        day: the day the data describes.
        next_record_no: next free record number per source.
        next_person_no: next free person key number.
        next_household_no: next free household key number.
        on_given_urls: sources built on URLs the caller gave (not the default SQLite files); daily
            updates need those URLs again.
        spec: the profile the systems were built from (with any overrides).
    """

    seed: int
    day: datetime.date
    next_record_no: dict[str, int]
    next_person_no: int
    next_household_no: int
    on_given_urls: tuple[str, ...] = ()
    spec: DemoSpec = field(default_factory=load_spec)

    def save(self, out_dir: Path) -> None:
        """Write the state to ``out_dir/demo.json``."""
        document = {
            **{name: value for name, value in asdict(self).items() if name != "spec"},
            "day": self.day.isoformat(),
            "spec": self.spec.document(),
        }
        _replace_text(out_dir / STATE_FILE, json.dumps(document, indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, out_dir: Path) -> DemoState:
        """Read the state from ``out_dir/demo.json``.

        Raises:
            FileNotFoundError: ``out_dir`` holds no demo built by ``build_demo``.
        """
        path = out_dir / STATE_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path}: no demo here; build one with build_demo first")
        document = json.loads(path.read_text(encoding="utf-8"))
        day = datetime.date.fromisoformat(document["day"])
        spec = validate_spec(document["spec"], str(path)) if "spec" in document else load_spec()
        given = tuple(document.get("on_given_urls", ()))
        return cls(**{**document, "day": day, "on_given_urls": given, "spec": spec})

    def urls(self, out_dir: Path, given: Mapping[str, str] | None) -> dict[str, str]:
        """The database of each source, checking that sources built on given URLs get them again.

        Args:
            out_dir: the demo folder.
            given: URLs passed for this update.

        Returns:
            A URL for each source.

        Raises:
            ValueError: a source was built on a given URL that is not given now.
        """
        missing = sorted(set(self.on_given_urls) - set(given or {}))
        if missing:
            raise ValueError(
                f"{out_dir}: sources {missing} were built on database URLs; pass those urls again"
            )
        return source_urls(out_dir, tuple(self.spec.systems), given)


@dataclass(frozen=True)
class DemoUpdate:
    """What one day of changes did.

    Attributes:
        day: the new day the data describes.
        updated: rows changed in place, per source.
        inserted: rows added, per source.
        arrivals: new residents.
        deaths: residents who died.
    """

    day: datetime.date
    updated: dict[str, int]
    inserted: dict[str, int]
    arrivals: int
    deaths: int


def _replace_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write a Parquet file so that readers never see half of it.

    Args:
        table: the rows.
        path: the file to replace.
    """
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial)
    os.replace(partial, path)


def source_urls(
    out_dir: Path, sources: tuple[str, ...], urls: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The database URL of every demo source: the given ones, else ``out_dir/<source>.sqlite``.

    Args:
        out_dir: the demo folder.
        sources: the demo's source names.
        urls: URLs for some or all sources.

    Returns:
        A URL for each source.

    Raises:
        ValueError: ``urls`` names a source that is not one of the demo's.
    """
    known = list(sources)
    unknown = sorted(set(urls or {}) - set(known))
    if unknown:
        raise ValueError(f"unknown demo source(s) {unknown}; the demo sources are {known}")
    given = dict(urls or {})
    return {source: given.get(source) or sqlite_url(out_dir / f"{source}.sqlite") for source in known}
