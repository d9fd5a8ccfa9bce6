"""Stable resident ids across runs: new records, merges, splits, retired ids never reissued."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd

from pipelines.resolve.ids import assign_resident_ids, new_resident_id

KEY = bytes(range(32))


def clusters(**groups: list[str]) -> pd.DataFrame:
    """Clusters given as ``cluster_key=[record refs]``; refs are ``source:id``."""
    rows = [(ref.split(":")[0], ref.split(":")[1], key) for key, refs in groups.items() for ref in refs]
    return pd.DataFrame(rows, columns=["source_system", "source_record_id", "cluster_key"])


def links(**ids: list[str]) -> pd.DataFrame:
    """Previous links given as ``resident_id=[record refs]``."""
    rows = [(ref.split(":")[0], ref.split(":")[1], rid) for rid, refs in ids.items() for ref in refs]
    return pd.DataFrame(rows, columns=["source_system", "source_record_id", "resident_id"])


def issued(*ids: str) -> Callable[[list[str]], set[str]]:
    """The lookup of ids issued before, over the given ones."""
    return lambda candidates: set(ids).intersection(candidates)


def resident_of(cluster_ids: pd.DataFrame) -> dict[str, str]:
    return dict(zip(cluster_ids["cluster_key"], cluster_ids["resident_id"], strict=True))


def test_first_run_derives_ids_from_records() -> None:
    """Without history, a cluster's id derives from its smallest record reference."""
    ids, events = assign_resident_ids(clusters(k1=["ps:1", "grid:9"]), links(), issued(), "run1", KEY)
    assert resident_of(ids) == {"k1": new_resident_id("grid:9", KEY)}
    assert events.empty


def test_new_record_joining_a_person_keeps_the_id() -> None:
    """A record that joins an existing person does not change the person's id."""
    ids, events = assign_resident_ids(
        clusters(k1=["ps:1", "grid:9", "civil:4"]), links(R1=["ps:1", "grid:9"]), issued("R1"), "run2", KEY
    )
    assert resident_of(ids) == {"k1": "R1"}
    assert events.empty


def test_merge_keeps_the_larger_id_and_logs_the_other() -> None:
    """Two residents found to be one keep the id holding more records; the other is retired."""
    ids, events = assign_resident_ids(
        clusters(k1=["ps:1", "grid:9", "civil:4"]),
        links(R1=["ps:1", "grid:9"], R2=["civil:4"]),
        issued("R1", "R2"),
        "run2",
        KEY,
    )
    assert resident_of(ids) == {"k1": "R1"}
    assert events[["event", "resident_id", "related_resident_id", "run_id"]].values.tolist() == [
        ["merged", "R2", "R1", "run2"]
    ]


def test_split_keeps_the_id_on_the_larger_part_and_logs_the_move() -> None:
    """A resident split in two keeps its id on the larger part; the smaller gets a new id."""
    ids, events = assign_resident_ids(
        clusters(k1=["ps:1", "grid:9"], k2=["civil:4"]),
        links(R1=["ps:1", "grid:9", "civil:4"]),
        issued("R1"),
        "run2",
        KEY,
    )
    mapping = resident_of(ids)
    assert mapping["k1"] == "R1"
    assert mapping["k2"] not in {"R1"}
    assert events[["event", "resident_id", "related_resident_id", "records"]].values.tolist() == [
        ["split", "R1", mapping["k2"], 1]
    ]


def test_retired_id_is_never_issued_again() -> None:
    """A derived id that was issued before gets a new salt instead of being reused."""
    taken = new_resident_id("civil:4", KEY)
    ids, _ = assign_resident_ids(clusters(k2=["civil:4"]), links(), issued(taken), "run3", KEY)
    assert resident_of(ids)["k2"] not in {taken}
    assert resident_of(ids)["k2"] == new_resident_id("civil:4", KEY, salt=1)


def test_unchanged_clusters_keep_ids_whatever_the_cluster_keys() -> None:
    """Ids follow records, not cluster keys: renamed cluster keys keep their residents' ids."""
    ids, events = assign_resident_ids(
        clusters(x=["ps:1"], y=["ps:2", "grid:2"]),
        links(R1=["ps:1"], R2=["ps:2", "grid:2"]),
        issued("R1", "R2"),
        "run2",
        KEY,
    )
    assert resident_of(ids) == {"x": "R1", "y": "R2"}
    assert events.empty


def test_new_ids_are_keyed_not_plain_hashes_of_records() -> None:
    """A new id depends on the secret key: without it, a record key cannot be hashed into its id."""
    plain = "R" + hashlib.sha256(b"ps:420106194306247859#0").hexdigest()[:15].upper()
    ours = new_resident_id("ps:420106194306247859", KEY)
    assert ours != plain
    assert ours != new_resident_id("ps:420106194306247859", bytes(32))
    assert ours == new_resident_id("ps:420106194306247859", KEY)  # stable under one key
