"""Score the crosswalk against ground truth (which records are the same person).

Pairwise precision/recall/F1 count record pairs; B-cubed averages, per record, how much of its
resident is its person (precision) and how much of its person is its resident (recall). Split
persons are persons spread over several residents; merged residents hold several persons. Id
stability compares two runs' crosswalks: the share of persons seen in both whose records keep one
and the same resident id.

Only records in both the crosswalk and the truth are scored, and only truth rows naming a person:
a truth row with a null ``person_key`` is a junk row (no key, a key exported twice, no name and
no usable ID number) that standardizing must quarantine; it is nobody's record, so it is neither a
missed link nor, when its key is also a kept record's (a repeated export), a second record of that
record's person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.layout import WarehouseLayout
from pipelines.publish import SnapshotNotFound, current_snapshot


@dataclass(frozen=True)
class LinkageScore:
    """Pairwise quality of a crosswalk.

    Attributes:
        records: Records scored (in both the crosswalk and the truth).
        true_pairs: Record pairs that are the same person.
        predicted_pairs: Record pairs linked to one resident.
        correct_pairs: Pairs both linked and truly the same person.
        precision: correct / predicted (1.0 when nothing was linked).
        recall: correct / true (1.0 when there is nothing to find).
        f1: Harmonic mean of precision and recall.
    """

    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    precision: float
    recall: float
    f1: float


_PAIR_COUNTS = """
with scored as (
    select l.resident_id, t.person_key
    from links l join truth t using (source_system, source_record_id)
),
pairs as (
    select 'predicted' as kind, sum(n * (n - 1) // 2) as pairs
    from (select count(*) as n from scored group by resident_id)
    union all
    select 'true', sum(n * (n - 1) // 2)
    from (select count(*) as n from scored group by person_key)
    union all
    select 'correct', sum(n * (n - 1) // 2)
    from (select count(*) as n from scored group by resident_id, person_key)
    union all
    select 'records', count(*) from scored
)
select kind, coalesce(pairs, 0) from pairs
"""


def persons_records(truth: pa.Table) -> pa.Table:
    """The truth rows that name a person (``source_system, source_record_id, person_key``).

    Args:
        truth: ground truth; rows with a null ``person_key`` are junk rows, not anyone's record.

    Returns:
        The rows with a person.
    """
    truth = truth.select(["source_system", "source_record_id", "person_key"])
    return truth.filter(pc.is_valid(truth.column("person_key")))


def _against_truth(links: pa.Table, truth: pa.Table, sql: str) -> list[tuple[Any, ...]]:
    """Run a scoring query over ``links`` and ``truth`` registered side by side."""
    connection = duckdb.connect()
    try:
        connection.register("links", links.select(["source_system", "source_record_id", "resident_id"]))
        connection.register("truth", persons_records(truth))
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def score_links(links: pa.Table, truth: pa.Table) -> LinkageScore:
    """Pairwise precision, recall and F1 of ``links`` against ``truth``.

    Args:
        links: ``source_system, source_record_id, resident_id``.
        truth: ``source_system, source_record_id, person_key`` (rows without a person are ignored).

    Returns:
        The score.
    """
    counts = {kind: int(value) for kind, value in _against_truth(links, truth, _PAIR_COUNTS)}
    precision = counts["correct"] / counts["predicted"] if counts["predicted"] else 1.0
    recall = counts["correct"] / counts["true"] if counts["true"] else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return LinkageScore(
        records=counts["records"],
        true_pairs=counts["true"],
        predicted_pairs=counts["predicted"],
        correct_pairs=counts["correct"],
        precision=round(precision, 6),
        recall=round(recall, 6),
        f1=round(f1, 6),
    )


@dataclass(frozen=True)
class ClusterScore:
    """B-cubed quality and the count of split and merged persons.

    Attributes:
        bcubed_precision: Mean over records of |resident ∩ person| / |resident|.
        bcubed_recall: Mean over records of |resident ∩ person| / |person|.
        bcubed_f1: Harmonic mean of the two.
        persons: Persons in the truth (among scored records).
        residents: Residents in the crosswalk (among scored records).
        split_persons: Persons whose records are spread over more than one resident.
        merged_residents: Residents holding records of more than one person.
    """

    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    persons: int
    residents: int
    split_persons: int
    merged_residents: int


_BCUBED = """
with scored as (
    select l.resident_id, t.person_key
    from links l join truth t using (source_system, source_record_id)
),
sized as (
    select count(*) over (partition by resident_id) as resident_size,
           count(*) over (partition by person_key) as person_size,
           count(*) over (partition by resident_id, person_key) as overlap,
           resident_id, person_key
    from scored
)
select avg(overlap / resident_size), avg(overlap / person_size),
       count(distinct person_key), count(distinct resident_id),
       (select count(*) from (select person_key from scored group by 1
                              having count(distinct resident_id) > 1)),
       (select count(*) from (select resident_id from scored group by 1
                              having count(distinct person_key) > 1))
from sized
"""


def score_clusters(links: pa.Table, truth: pa.Table) -> ClusterScore:
    """B-cubed precision, recall and F1, split persons and merged residents.

    Args:
        links: ``source_system, source_record_id, resident_id``.
        truth: ``source_system, source_record_id, person_key`` (rows without a person are ignored).

    Returns:
        The score.
    """
    row = _against_truth(links, truth, _BCUBED)[0]
    precision, recall = float(row[0] or 1.0), float(row[1] or 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ClusterScore(
        bcubed_precision=round(precision, 6),
        bcubed_recall=round(recall, 6),
        bcubed_f1=round(f1, 6),
        persons=int(row[2]),
        residents=int(row[3]),
        split_persons=int(row[4]),
        merged_residents=int(row[5]),
    )


@dataclass(frozen=True)
class IdStability:
    """How many persons keep their resident id from one run to the next.

    Attributes:
        persons: Persons with records linked in both runs (only unchanged records, when given).
        kept: Persons each of whose records keeps its resident id from one run to the next (a
            person split over two residents counts as kept when both ids stay put).
        share_kept: kept / persons (1.0 when there is no one to compare).
    """

    persons: int
    kept: int
    share_kept: float


_STABILITY = """
with common as (
    select t.person_key, b.resident_id as before_id, a.resident_id as after_id
    from before b
    join after a using (source_system, source_record_id)
    join truth t using (source_system, source_record_id)
    where (source_system, source_record_id) in (select (source_system, source_record_id) from scope)
),
persons as (
    select person_key, bool_and(before_id = after_id) as kept
    from common group by person_key
)
select count(*), count(*) filter (where kept) from persons
"""


def id_stability(
    before: pa.Table, after: pa.Table, truth: pa.Table, unchanged: pa.Table | None = None
) -> IdStability:
    """Share of persons whose resident id is the same in two runs' crosswalks.

    Args:
        before: The earlier crosswalk (``source_system, source_record_id, resident_id``).
        after: The later crosswalk.
        truth: ``source_system, source_record_id, person_key``.
        unchanged: Optionally ``source_system, source_record_id`` of the records that did not
            change between the runs; only persons's unchanged records are then compared.

    Returns:
        The stability.
    """
    keys = ["source_system", "source_record_id"]
    scope = unchanged.select(keys) if unchanged is not None else after.select(keys)
    connection = duckdb.connect()
    connection.register("before", before.select([*keys, "resident_id"]))
    connection.register("after", after.select([*keys, "resident_id"]))
    connection.register("truth", persons_records(truth))
    connection.register("scope", scope)
    persons, kept = connection.execute(_STABILITY).fetchone() or (0, 0)
    connection.close()
    share = kept / persons if persons else 1.0
    return IdStability(persons=int(persons), kept=int(kept), share_kept=round(share, 6))


@dataclass(frozen=True)
class PlaceIdStability:
    """How many unchanged records keep their flat's and household's ids from one run to the next.

    Attributes:
        records: Unchanged records placed in a flat in both runs.
        dwelling_kept: Share of them whose ``dwelling_id`` stayed the same.
        household_records: Unchanged records whose resident has a household in both runs.
        household_kept: Share of them whose resident's ``household_id`` stayed the same.
    """

    records: int
    dwelling_kept: float
    household_records: int
    household_kept: float


def place_id_stability(before: Path, after: Path, unchanged: pa.Table) -> PlaceIdStability:
    """Share of unchanged records whose flat and household ids stay put between two snapshots.

    Args:
        before: The earlier snapshot's ``parquet`` folder.
        after: The later snapshot's ``parquet`` folder.
        unchanged: ``source_system, source_record_id`` of records that did not change.

    Returns:
        The stability.
    """
    connection = duckdb.connect()
    try:
        connection.register("scope", unchanged.select(["source_system", "source_record_id"]))
        for when, folder in (("before", before), ("after", after)):
            connection.execute(
                f"""
                create view {when} as
                select p.source_system, p.source_record_id, p.dwelling_id, r.household_id
                from read_parquet('{folder / "source_record_place.parquet"}') p
                join read_parquet('{folder / "resident_source_link.parquet"}') l
                    using (source_system, source_record_id)
                join read_parquet('{folder / "resident.parquet"}') r using (resident_id)
                semi join scope using (source_system, source_record_id)
                """
            )
        counts = connection.execute(
            """
            select count(*) filter (where b.dwelling_id is not null and a.dwelling_id is not null),
                   count(*) filter (where b.dwelling_id = a.dwelling_id),
                   count(*) filter (where b.household_id is not null and a.household_id is not null),
                   count(*) filter (where b.household_id = a.household_id)
            from before b join after a using (source_system, source_record_id)
            """
        ).fetchone() or (0, 0, 0, 0)
    finally:
        connection.close()
    placed, same_flat, in_household, same_household = (int(value) for value in counts)
    return PlaceIdStability(
        records=placed,
        dwelling_kept=round(same_flat / placed, 6) if placed else 1.0,
        household_records=in_household,
        household_kept=round(same_household / in_household, 6) if in_household else 1.0,
    )


def unchanged_records(before: pa.Table, after: pa.Table) -> pa.Table:
    """``source_system, source_record_id`` of records with the same record hash in both tables.

    Args:
        before: The earlier snapshot's ``source_record`` table.
        after: The later snapshot's ``source_record`` table.

    Returns:
        The records present and unchanged in both.
    """
    keys = ["source_system", "source_record_id", "record_hash"]
    joined = before.select(keys).join(after.select(keys), keys, join_type="inner")
    return joined.select(keys[:2])


@dataclass(frozen=True)
class PlacementScore:
    """How well residents are put in place, against the truth's flats, households and grids.

    Each true person is scored through the resident holding most of their records (ties: the
    smallest resident id). Pairs are unordered pairs of persons.

    Attributes:
        persons: Persons scored (a record in the warehouse and a true grid or flat).
        grid_accuracy: Share of persons with a true grid whose resident is in that grid.
        unplaced: Persons with a true grid whose resident has no grid.
        same_flat: Pairwise precision, recall and F1 of "lives in the same flat".
        same_household: The same for "is in the same household".
    """

    persons: int
    grid_accuracy: float
    unplaced: int
    same_flat: dict[str, float]
    same_household: dict[str, float]


_PLACED_PERSONS = """
with votes as (
    select t.person_key, l.resident_id, count(*) as n
    from truth t join links l using (source_system, source_record_id)
    where t.person_key is not null group by all
),
chosen as (
    select person_key, arg_min(resident_id, (-n, resident_id)) as resident_id from votes group by person_key
),
places as (
    select person_key, any_value(dwelling_key) as true_flat, any_value(household_key) as true_household,
           any_value(grid_code) as true_grid
    from truth where person_key is not null group by person_key
)
select c.person_key, p.true_flat, p.true_household, p.true_grid,
       r.dwelling_id as flat, r.household_id as household, r.grid_code as grid
from chosen c join places p using (person_key) join resident r using (resident_id)
"""


def _pairwise(connection: duckdb.DuckDBPyConnection, truth: str, predicted: str) -> dict[str, float]:
    """Pairwise precision, recall and F1 of persons sharing ``predicted`` against ``truth``."""
    counts = connection.sql(
        f"""
        select
            (select coalesce(sum(n * (n - 1) // 2), 0) from
                (select count(*) n from placed where {predicted} is not null group by {predicted})),
            (select coalesce(sum(n * (n - 1) // 2), 0) from
                (select count(*) n from placed where {truth} is not null group by {truth})),
            (select coalesce(sum(n * (n - 1) // 2), 0) from
                (select count(*) n from placed where {truth} is not null and {predicted} is not null
                 group by {truth}, {predicted}))
        """
    ).fetchall()[0]
    predicted_pairs, true_pairs, correct = (int(value) for value in counts)
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6)}


def score_placement(links: pa.Table, residents: pa.Table, truth: pa.Table) -> PlacementScore | None:
    """Grid accuracy and same-flat, same-household pairwise scores of the residents' places.

    Args:
        links: ``source_system, source_record_id, resident_id``.
        residents: ``resident_id, dwelling_id, household_id, grid_code``.
        truth: Per record ``person_key`` and the person's ``dwelling_key``, ``household_key`` and
            ``grid_code``.

    Returns:
        The score; None when the truth holds no places.
    """
    if "grid_code" not in truth.column_names or "dwelling_key" not in truth.column_names:
        return None
    connection = duckdb.connect()
    try:
        connection.register("links", links.select(["source_system", "source_record_id", "resident_id"]))
        connection.register(
            "resident", residents.select(["resident_id", "dwelling_id", "household_id", "grid_code"])
        )
        connection.register("truth", truth)
        connection.execute(f"create table placed as {_PLACED_PERSONS}")
        persons, with_grid, right, unplaced = connection.sql(
            "select count(*), count(true_grid), count(*) filter (where grid = true_grid),"
            " count(*) filter (where true_grid is not null and grid is null) from placed"
        ).fetchall()[0]
        return PlacementScore(
            persons=int(persons),
            grid_accuracy=round(right / with_grid, 6) if with_grid else 1.0,
            unplaced=int(unplaced),
            same_flat=_pairwise(connection, "true_flat", "flat"),
            same_household=_pairwise(connection, "true_household", "household"),
        )
    finally:
        connection.close()


def evaluate_warehouse(layout: WarehouseLayout, truth_path: Path, before_snapshot: str | None = None) -> dict:
    """Every score of the live crosswalk, and id stability against an earlier snapshot.

    Args:
        layout: The warehouse directory.
        truth_path: Ground truth Parquet (``source_system, source_record_id, person_key``).
        before_snapshot: Id of an earlier snapshot (still kept) to measure id stability against.

    Returns:
        ``pairwise``, ``bcubed``, ``placement`` (when the truth gives places) and, with
        ``before_snapshot``, ``id_stability`` (over the records unchanged between the two snapshots).

    Raises:
        SnapshotNotFound: Nothing is published, or the earlier snapshot is gone.
    """
    snapshot = current_snapshot(layout)
    links = pq.read_table(snapshot.parquet("resident_source_link"))
    truth = read_truth(truth_path)
    report: dict[str, object] = {
        "snapshot_id": snapshot.snapshot_id,
        "pairwise": asdict(score_links(links, truth)),
        "bcubed": asdict(score_clusters(links, truth)),
    }
    placement = score_placement(links, pq.read_table(snapshot.parquet("resident")), truth)
    if placement is not None:
        report["placement"] = asdict(placement)
    if before_snapshot:
        folder = layout.snapshots / before_snapshot / "parquet"
        if not folder.exists():
            raise SnapshotNotFound(f"{layout.root}: snapshot {before_snapshot} is not kept")
        unchanged = unchanged_records(
            pq.read_table(folder / "source_record.parquet"), pq.read_table(snapshot.parquet("source_record"))
        )
        before = pq.read_table(folder / "resident_source_link.parquet")
        report["id_stability"] = asdict(id_stability(before, links, truth, unchanged))
        if (folder / "source_record_place.parquet").exists():
            report["place_id_stability"] = asdict(
                place_id_stability(folder, snapshot.parquet("resident").parent, unchanged)
            )
    return report


def read_truth(path: Path) -> pa.Table:
    """Read a ground-truth Parquet file (``source_system, source_record_id, person_key``)."""
    return pq.read_table(path)
