"""Score the crosswalk against ground truth (which records are the same person)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq


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


def score_links(links: pa.Table, truth: pa.Table) -> LinkageScore:
    """Pairwise precision, recall and F1 of ``links`` against ``truth``.

    Args:
        links: ``source_system, source_record_id, resident_id``.
        truth: ``source_system, source_record_id, person_key``.

    Returns:
        The score.
    """
    connection = duckdb.connect()
    connection.register("links", links.select(["source_system", "source_record_id", "resident_id"]))
    connection.register("truth", truth.select(["source_system", "source_record_id", "person_key"]))
    counts = {kind: int(value) for kind, value in connection.execute(_PAIR_COUNTS).fetchall()}
    connection.close()
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


def read_truth(path: Path) -> pa.Table:
    """Read a ground-truth Parquet file (``source_system, source_record_id, person_key``)."""
    return pq.read_table(path)
