"""An incremental resolution run gives exactly what recomputing everything gives, for less work."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines.layout import WarehouseLayout
from pipelines.resolve import resolution
from pipelines.resolve.resolution import (
    OUTPUTS,
    PreviousIdentities,
    Resolution,
    empty_previous,
    resolve_identities,
)
from pipelines.resolve.review import record_decision
from tests.integration.identity_population import SOURCES, population, write_staged
from tests.integration.test_identity_resolution import kept, published, small_config
from tests.unit.resolve_records import staged_record


def resolve(root: Path, previous: PreviousIdentities, run_id: str, incremental: bool = True) -> Resolution:
    layout = WarehouseLayout(root)
    return kept(resolve_identities(layout, list(SOURCES), previous, run_id, small_config(), incremental))


def next_day(by_source: dict[str, list[dict[str, Any]]]) -> None:
    """Typos, a new phone, a moved person, a newcomer, a departure: a day of changes."""
    grid, register = by_source["grid"], by_source["public_security"]
    for record in grid[:6]:
        record["name"] = record["name"][:-1] + "明"
        record["record_hash"] += "'"
    for record in register[10:14]:
        record["phone"] = "13700000000"
        record["record_hash"] += "'"
    newcomer = dict(register[20], source_system="civil_affairs", source_record_id="NEW1", record_hash="n1")
    by_source["civil_affairs"].append(newcomer)
    by_source["grid"].append(staged_record("grid:NEW2", name="赵新来", birth_date="2001-02-03", gender="F"))
    del by_source["social_security"][3]


@pytest.mark.slow
def test_incremental_run_equals_full_recomputation(tmp_path: Path) -> None:
    """After a day of changes and a reviewer decision, every output equals a full recomputation."""
    by_source, _ = population(300, seed=21)
    incremental_root, full_root = tmp_path / "incremental", tmp_path / "full"
    layout = WarehouseLayout(incremental_root)
    write_staged(layout, by_source, "b1")
    first = resolve(incremental_root, empty_previous(), "run1")
    next_day(by_source)
    write_staged(layout, by_source, "b2")
    record_decision(layout, "grid:Z1", "public_security:Z1", "not_same", reviewer="clerk")
    shutil.copytree(incremental_root, full_root)

    incremental = resolve(incremental_root, published(first), "run2")
    full = resolve(full_root, published(first), "run2", incremental=False)

    assert (incremental.matching_mode, full.matching_mode) == ("incremental", "full")
    for name in OUTPUTS:
        assert incremental.table(name).equals(full.table(name)), name
    assert incremental.work["derived_frame_rows"] < 20 < full.work["derived_frame_rows"]
    assert incremental.work["compared_pairs"] < full.work["compared_pairs"] / 5
    assert incremental.work["reclustered_records"] < full.work["reclustered_records"] / 5


@pytest.mark.slow
def test_unchanged_rerun_gives_the_same_outputs(tmp_path: Path) -> None:
    """A rerun with nothing changed publishes identical tables and scores no pair again."""
    by_source, _ = population(150, seed=22)
    write_staged(WarehouseLayout(tmp_path), by_source, "b1")
    first = resolve(tmp_path, empty_previous(), "run1")
    again = resolve(tmp_path, published(first), "run2")
    assert again.matching_mode == "incremental"
    assert (again.work["derived_frame_rows"], again.work["compared_pairs"]) == (0, 0)
    assert again.work["reclustered_records"] == 0
    for name in OUTPUTS:
        assert again.table(name).equals(first.table(name)), name


@pytest.mark.slow
def test_a_failed_incremental_run_leaves_the_previous_store_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run failing half-way through its update leaves the previous run's outputs whole."""
    by_source, _ = population(150, seed=23)
    layout = WarehouseLayout(tmp_path)
    write_staged(layout, by_source, "b1")
    first = resolve_identities(layout, list(SOURCES), empty_previous(), "run1", small_config())
    links = first.table("resident_source_link")
    next_day(by_source)
    write_staged(layout, by_source, "b2")

    def broken(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(resolution, "golden_records", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        resolve_identities(layout, list(SOURCES), published(first), "run2", small_config())
    assert first.table("resident_source_link").equals(links)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow
def test_the_store_follows_the_published_snapshot(tmp_path: Path) -> None:
    """When the live snapshot is not the store's last run (its publish was refused), the next run
    resolves everything anew from what was published."""
    by_source, _ = population(150, seed=24)
    layout = WarehouseLayout(tmp_path)
    write_staged(layout, by_source, "b1")
    first = resolve(tmp_path, empty_previous(), "run1")
    refused = resolve(tmp_path, published(first), "run2")
    after_refusal = resolve(tmp_path, published(first), "run3")
    assert (refused.matching_mode, after_refusal.matching_mode) == ("incremental", "full")
    assert after_refusal.table("resident").equals(first.table("resident"))


@pytest.mark.slow
def test_a_row_changed_outside_new_batches_is_still_found(tmp_path: Path) -> None:
    """Changed rows are looked for in the batches applied since; a changed row in an old batch
    (not something staging does, but nothing must be lost if it happens) makes every row read."""
    by_source, _ = population(150, seed=25)
    incremental_root, full_root = tmp_path / "incremental", tmp_path / "full"
    layout = WarehouseLayout(incremental_root)
    write_staged(layout, by_source, "b1")
    first = resolve(incremental_root, empty_previous(), "run1")
    record = by_source["grid"][0]
    record["name"], record["record_hash"] = "改名字", record["record_hash"] + "'"
    write_staged(layout, by_source, "b1")
    shutil.copytree(incremental_root, full_root)

    incremental = resolve(incremental_root, published(first), "run2")
    full = resolve(full_root, published(first), "run2", incremental=False)

    assert (incremental.matching_mode, incremental.work["derived_frame_rows"]) == ("incremental", 1)
    for name in OUTPUTS:
        assert incremental.table(name).equals(full.table(name)), name
