"""Pairwise, B-cubed and id-stability scores on a hand-computed example."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipelines.evaluate import id_stability, score_clusters, score_links


def crosswalk(column: str, **groups: list[str]) -> pa.Table:
    rows = [
        {"source_system": "s", "source_record_id": r, column: key}
        for key, refs in groups.items()
        for r in refs
    ]
    return pa.Table.from_pylist(rows)


TRUTH = crosswalk("person_key", P1=["a", "b", "c"], P2=["d"])
LINKS = crosswalk("resident_id", R1=["a", "b"], R2=["c", "d"])


def test_pairwise_scores() -> None:
    """One of two predicted pairs is right, and one of three true pairs is found."""
    score = score_links(LINKS, TRUTH)
    assert (score.predicted_pairs, score.true_pairs, score.correct_pairs) == (2, 3, 1)
    assert score.precision == pytest.approx(0.5)
    assert score.recall == pytest.approx(1 / 3, abs=1e-6)


def test_bcubed_and_split_merged_counts() -> None:
    """B-cubed averages per record: precision (1+1+.5+.5)/4, recall (2/3+2/3+1/3+1)/4."""
    score = score_clusters(LINKS, TRUTH)
    assert score.bcubed_precision == pytest.approx(0.75)
    assert score.bcubed_recall == pytest.approx(2 / 3, abs=1e-6)
    assert (score.split_persons, score.merged_residents) == (1, 1)
    assert (score.persons, score.residents) == (2, 2)


def test_id_stability_counts_persons_whose_records_keep_one_id() -> None:
    """A person one of whose records moved to a new id is not stable, unless that record changed."""
    before = crosswalk("resident_id", R1=["a", "b", "c"], R2=["d"])
    after = crosswalk("resident_id", R1=["a", "b"], R3=["c"], R2=["d"])
    assert id_stability(before, after, TRUTH).share_kept == pytest.approx(0.5)
    unchanged = crosswalk("x", k=["a", "b", "d"]).select(["source_system", "source_record_id"])
    assert id_stability(before, after, TRUTH, unchanged).share_kept == pytest.approx(1.0)
