"""Identity resolution end to end on staged states: quality, hard cases, stable ids, reviews, reruns."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.evaluate import score_links
from pipelines.layout import WarehouseLayout
from pipelines.resolve.config import MatchingConfig, matching_config
from pipelines.resolve.resolution import PreviousIdentities, Resolution, empty_previous, resolve_identities
from pipelines.resolve.review import record_decision
from tests.integration.identity_population import SOURCES, population, truth_table, write_staged

PERSONS = 400


def small_config() -> MatchingConfig:
    """The declared configuration with a smaller u sample (the population is small)."""
    config = matching_config()
    return config.model_copy(update={"training": config.training.model_copy(update={"u_max_pairs": 3e5})})


def resolve(layout: WarehouseLayout, previous: PreviousIdentities, run_id: str) -> Resolution:
    return kept(resolve_identities(layout, list(SOURCES), previous, run_id, small_config()))


def kept(resolution: Resolution) -> Resolution:
    """The resolution with its outputs copied aside, so that it stays readable after later runs
    (a run replaces ``resolved/``, and reading a replaced run's outputs is an error)."""
    copy = resolution.folder.parent / f"kept-{resolution.run_id}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(resolution.folder, copy)
    return replace(resolution, folder=copy)


def published(resolution: Resolution) -> PreviousIdentities:
    """What the next run would read back from the snapshot this resolution is published in."""
    return PreviousIdentities(
        links=resolution.table("resident_source_link"),
        id_events=resolution.table("resident_id_event"),
        run_id=resolution.run_id,
    )


def resident(resolution: Resolution, ref: str) -> str:
    source, _, record_id = ref.partition(":")
    links = resolution.table("resident_source_link").to_pandas()
    row = links[(links["source_system"] == source) & (links["source_record_id"] == record_id)]
    return str(row["resident_id"].iloc[0])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Resolution]:
    """A warehouse resolved once over the synthetic population."""
    root = tmp_path_factory.mktemp("identity")
    by_source, truth = population(PERSONS)
    layout = WarehouseLayout(root)
    write_staged(layout, by_source, "b1")
    return root, (by_source, truth), resolve(layout, empty_previous(), "run1")


@pytest.mark.slow
def test_links_are_precise_and_complete(first_run: tuple[Path, Any, Resolution]) -> None:
    """Without labels, the model links the population with pairwise precision 1 and recall >= 0.99."""
    _, (_, truth), resolution = first_run
    score = score_links(resolution.table("resident_source_link"), truth_table(truth))
    assert score.precision == 1.0
    assert score.recall >= 0.99


@pytest.mark.slow
@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("public_security:T1", "public_security:T2", False),
        ("grid:T1", "grid:T2", False),
        ("grid:S1", "civil_affairs:S2", False),
        ("public_security:Z1", "grid:Z1", True),
        ("public_security:Z1", "social_security:Z1", True),
    ],
    ids=["twins by ID", "twins at home", "same name and birthday", "traditional", "pinyin and 15 digits"],
)
def test_hard_cases(first_run: tuple[Path, Any, Resolution], left: str, right: str, same: bool) -> None:
    """Twins and namesakes stay apart; one person in three spellings is one resident."""
    resolution = first_run[2]
    assert (resident(resolution, left) == resident(resolution, right)) is same


@pytest.mark.slow
def test_every_link_is_explained(first_run: tuple[Path, Any, Resolution]) -> None:
    """A probabilistic link has its pair in the explanation table with a level and weight per field."""
    resolution = first_run[2]
    explained = resolution.table("resident_link_explanation").to_pandas()
    pair = explained[
        (explained["record_l"] == "public_security:Z1") & (explained["record_r"] == "social_security:Z1")
    ]
    assert len(pair) == 1
    row = pair.iloc[0]
    assert row["name_level"] == "same pinyin (homophone, traditional form or pinyin spelling)"
    assert row["id_number_level"] == "same number"
    assert row["id_number_weight"] > 5
    assert row["match_probability"] >= 0.995
    assert row["is_same_resident"]


@pytest.mark.slow
def test_rerun_reuses_the_model_and_keeps_every_id(first_run: tuple[Path, Any, Resolution]) -> None:
    """A rerun with nothing changed scores nothing new and gives every record the same resident."""
    root, _, resolution = first_run
    again = resolve(WarehouseLayout(root), published(resolution), "run2")
    links = again.table("resident_source_link")
    assert again.matching_mode == "incremental"
    assert (
        links.column("model_id").to_pylist()
        == resolution.table("resident_source_link").column("model_id").to_pylist()
    )
    assert (
        links.column("resident_id").to_pylist()
        == resolution.table("resident_source_link").column("resident_id").to_pylist()
    )


@pytest.mark.slow
def test_reviewer_decision_survives_reruns(tmp_path: Path) -> None:
    """'Not the same' splits a linked pair, logs the split, and later runs keep it split."""
    by_source, _ = population(150, seed=11)
    layout = WarehouseLayout(tmp_path)
    write_staged(layout, by_source, "b1")
    first = resolve(layout, empty_previous(), "run1")
    assert resident(first, "public_security:Z1") == resident(first, "grid:Z1")
    record_decision(layout, "grid:Z1", "public_security:Z1", "not_same", reviewer="clerk")
    second = resolve(layout, published(first), "run2")
    assert resident(second, "public_security:Z1") != resident(second, "grid:Z1")
    assert resident(second, "public_security:Z1") == resident(first, "public_security:Z1")
    events = second.table("resident_id_event").to_pandas()
    assert list(events[events["run_id"] == "run2"]["event"]) == ["split"]
    assert "reviewer_not_same: clerk decided" in events[events["run_id"] == "run2"]["reason"].iloc[0]
    third = resolve(layout, published(second), "run3")
    assert resident(third, "grid:Z1") == resident(second, "grid:Z1")
    assert resident(third, "grid:Z1") != resident(third, "public_security:Z1")


@pytest.mark.slow
def test_changed_records_are_rescored_incrementally(tmp_path: Path) -> None:
    """After a few records change, only they are rescored and everyone else keeps their id."""
    by_source, _ = population(150, seed=12)
    layout = WarehouseLayout(tmp_path)
    write_staged(layout, by_source, "b1")
    first = resolve(layout, empty_previous(), "run1")
    for record in by_source["grid"][:5]:
        record["name_raw"], record["record_hash"] = f" {record['name_raw']} ", record["record_hash"] + "'"
    newcomer = dict(by_source["public_security"][0], source_system="civil_affairs", source_record_id="NEW1")
    by_source["civil_affairs"].append(newcomer)
    write_staged(layout, by_source, "b2")
    second = resolve(layout, published(first), "run2")
    assert second.matching_mode == "incremental"
    before = dict(
        zip(
            _refs(first.table("resident_source_link")),
            first.table("resident_source_link").column("resident_id").to_pylist(),
            strict=True,
        )
    )
    after = dict(
        zip(
            _refs(second.table("resident_source_link")),
            second.table("resident_source_link").column("resident_id").to_pylist(),
            strict=True,
        )
    )
    assert after.pop("civil_affairs:NEW1") == before[f"public_security:{newcomer_key(by_source)}"]
    assert before == after


def newcomer_key(by_source: dict[str, list[dict[str, Any]]]) -> str:
    return str(by_source["public_security"][0]["source_record_id"])


def _refs(links: pa.Table) -> list[str]:
    return [
        f"{s}:{r}"
        for s, r in zip(
            links.column("source_system").to_pylist(),
            links.column("source_record_id").to_pylist(),
            strict=True,
        )
    ]


@pytest.mark.slow
def test_a_replaced_run_is_not_read_as_another(tmp_path: Path) -> None:
    """Once a later run replaces ``resolved/``, the earlier run's handle refuses to read."""
    by_source, _ = population(60, seed=5)
    layout = WarehouseLayout(tmp_path)
    write_staged(layout, by_source, "b1")
    first = resolve_identities(layout, list(SOURCES), empty_previous(), "run1", small_config())
    records = sum(len(rows) for rows in by_source.values())
    assert first.table("resident_source_link").num_rows == records
    second = resolve_identities(layout, list(SOURCES), empty_previous(), "run2", small_config())
    assert second.table("resident_source_link").num_rows == records
    with pytest.raises(FileNotFoundError, match="holds the outputs of run2, no longer those of run1"):
        first.table("resident_source_link")
