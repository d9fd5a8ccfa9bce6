"""Truth rows without a person (junk rows that standardizing quarantines) do not change any score."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipelines.evaluate import id_stability, persons_records, score_clusters, score_links

TRUTH = pa.Table.from_pylist(
    [
        {"source_system": "grid", "source_record_id": r, "person_key": p}
        for r, p in [("a", "P1"), ("b", "P1"), ("c", "P1"), ("d", "P2"), ("e", "P2")]
    ]
)
LINKS = pa.Table.from_pylist(
    [
        {"source_system": "grid", "source_record_id": r, "resident_id": k}
        for r, k in [("a", "R1"), ("b", "R1"), ("c", "R2"), ("d", "R3"), ("e", "R3")]
    ]
)
JUNK = pa.Table.from_pylist(
    [
        # exported twice under a kept record's key: the copy was quarantined, the key is linked
        {"source_system": "grid", "source_record_id": "a", "person_key": None},
        {"source_system": "grid", "source_record_id": "d", "person_key": None},
        # no key at all, twice
        {"source_system": "grid", "source_record_id": None, "person_key": None},
        {"source_system": "grid", "source_record_id": None, "person_key": None},
        # neither a name nor an ID number: quarantined, never linked
        {"source_system": "grid", "source_record_id": "x", "person_key": None},
        {"source_system": "grid", "source_record_id": "y", "person_key": None},
    ],
    schema=TRUTH.schema,
)
WITH_JUNK = pa.concat_tables([TRUTH, JUNK])


def test_junk_rows_are_no_ones_records() -> None:
    """Only truth rows naming a person are kept for scoring."""
    assert persons_records(WITH_JUNK).to_pylist() == TRUTH.to_pylist()


def test_pairwise_score_ignores_junk_rows() -> None:
    """Repeated keys are not extra records, and quarantined junk rows are not missed links."""
    clean, junk = score_links(LINKS, TRUTH), score_links(LINKS, WITH_JUNK)
    assert junk == clean
    assert (clean.records, clean.true_pairs, clean.predicted_pairs, clean.correct_pairs) == (5, 4, 2, 2)
    assert clean.precision == pytest.approx(1.0) and clean.recall == pytest.approx(0.5)


def test_cluster_scores_and_id_stability_ignore_junk_rows() -> None:
    """B-cubed counts and id stability are the same with or without the junk rows."""
    assert score_clusters(LINKS, WITH_JUNK) == score_clusters(LINKS, TRUTH)
    assert score_clusters(LINKS, WITH_JUNK).persons == 2
    after = LINKS.set_column(2, "resident_id", pa.array(["R1", "R1", "R2", "R3", "R4"]))
    assert id_stability(LINKS, after, WITH_JUNK) == id_stability(LINKS, after, TRUTH)
    assert id_stability(LINKS, after, WITH_JUNK).persons == 2
