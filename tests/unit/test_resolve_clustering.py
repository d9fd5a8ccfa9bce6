"""Clustering guards on literal records and scored pairs: ID conflicts, reviewer decisions."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from pipelines.resolve.clustering import cluster_records
from pipelines.resolve.config import matching_config

ID_A = "11010519491231002X"
ID_B = "110105194912310011"


def frame(records: dict[str, str | None], names: dict[str, str] | None = None) -> pd.DataFrame:
    """Matching-frame columns for records given as ``ref -> valid citizen ID (or None)``, each
    named ``zhangwei`` in Han script unless ``names`` gives ``ref -> 'script:key'``."""
    named = [(names or {}).get(ref, "han:zhangwei").split(":") for ref in records]
    return pd.DataFrame(
        {
            "unique_id": list(records),
            "id_type": ["cn_resident_id"] * len(records),
            "id_key": list(records.values()),
            "id_is_valid": [number is not None for number in records.values()],
            "name_script": [script for script, _ in named],
            "name_key": [key or None for _, key in named],
        }
    )


def pairs(*scored: tuple[str, str, float, float], name_level: str = "same name") -> pd.DataFrame:
    """Scored pairs ``(record_l, record_r, probability, weight)``, all with the given name level."""
    frame = pd.DataFrame(scored, columns=["record_l", "record_r", "match_probability", "match_weight"])
    return frame.assign(name_level=name_level, id_number_level="missing")


def decisions(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["record_l", "record_r", "decision"])


def clusters_of(result: Any) -> set[frozenset[str]]:
    grouped = result.assignments.to_pandas().groupby("cluster_key")["unique_id"].apply(frozenset)
    return set(grouped)


CASES: list[dict[str, Any]] = [
    {
        "behaviour": "a number under another name links nobody by itself; the names agreeing do",
        "records": {"a:0": None, "a:1": ID_A, "b:0": ID_B, "b:1": ID_A, "c:1": ID_A},
        "names": {"a:0": "han:lina", "b:0": "han:lina", "c:1": "han:zhangxiaoming"},
        "pairs": pairs(),
        "decisions": decisions(),
        "expected": {frozenset({"a:1", "b:1"}), frozenset({"c:1"}), frozenset({"a:0"}), frozenset({"b:0"})},
    },
    {
        "behaviour": "a holder without a name, or named in another script, joins its number",
        "records": {"a:1": ID_A, "b:1": ID_A, "c:1": ID_A},
        "names": {"b:1": "latin:SUZUKIYUI", "c:1": "han:"},
        "pairs": pairs(),
        "decisions": decisions(),
        "expected": {frozenset({"a:1", "b:1", "c:1"})},
    },
    {
        "behaviour": "a number under another name is still linked when the model is sure",
        "records": {"a:1": ID_A, "c:1": ID_A},
        "names": {"c:1": "han:zhangwie"},
        "pairs": pairs(("a:1", "c:1", 0.9999, 20.0), name_level="one character apart").assign(
            id_number_level="same number"
        ),
        "decisions": decisions(),
        "expected": {frozenset({"a:1", "c:1"})},
    },
    {
        "behaviour": "same valid ID links without any score",
        "records": {"a:1": ID_A, "b:1": ID_A},
        "pairs": pairs(),
        "decisions": decisions(),
        "expected": {frozenset({"a:1", "b:1"})},
    },
    {
        "behaviour": "a probable link between two different valid IDs is refused",
        "records": {"a:1": ID_A, "b:1": ID_B},
        "pairs": pairs(("a:1", "b:1", 0.9999, 14.0)),
        "decisions": decisions(),
        "expected": {frozenset({"a:1"}), frozenset({"b:1"})},
    },
    {
        "behaviour": "a chain through an ID-less record does not join two different IDs",
        "records": {"a:1": ID_A, "b:1": ID_B, "g:1": None},
        "pairs": pairs(("a:1", "g:1", 0.9999, 14.0), ("b:1", "g:1", 0.999, 10.0)),
        "decisions": decisions(),
        "expected": {frozenset({"a:1", "g:1"}), frozenset({"b:1"})},
    },
    {
        "behaviour": "overwhelming evidence joins different IDs (and is logged)",
        "records": {"a:1": ID_A, "b:1": ID_B},
        "pairs": pairs(("a:1", "b:1", 1.0, 45.0)),
        "decisions": decisions(),
        "expected": {frozenset({"a:1", "b:1"})},
    },
    {
        "behaviour": "a probable pair without name or ID agreement is not linked (twins at home)",
        "records": {"g:1": None, "g:2": None},
        "pairs": pairs(("g:1", "g:2", 0.999999, 20.0), name_level="one character apart"),
        "decisions": decisions(),
        "expected": {frozenset({"g:1"}), frozenset({"g:2"})},
    },
    {
        "behaviour": "one name word in common is no name agreement (twins with their family name)",
        "records": {"g:1": None, "g:2": None},
        "pairs": pairs(("g:1", "g:2", 0.999999, 20.0), name_level="a word in common, the others different"),
        "decisions": decisions(),
        "expected": {frozenset({"g:1"}), frozenset({"g:2"})},
    },
    {
        "behaviour": "a letter left out inside a Latin name word is name agreement",
        "records": {"g:1": None, "g:2": None},
        "pairs": pairs(
            ("g:1", "g:2", 0.999999, 20.0),
            name_level="same words, one letter added, left out or two swapped inside a word",
        ),
        "decisions": decisions(),
        "expected": {frozenset({"g:1", "g:2"})},
    },
    {
        "behaviour": "pairs under the link threshold stay apart",
        "records": {"a:1": None, "b:1": None},
        "pairs": pairs(("a:1", "b:1", 0.9, 3.0)),
        "decisions": decisions(),
        "expected": {frozenset({"a:1"}), frozenset({"b:1"})},
    },
    {
        "behaviour": "a reviewer's 'not the same' beats a strong score",
        "records": {"a:1": None, "b:1": None},
        "pairs": pairs(("a:1", "b:1", 0.99999, 20.0)),
        "decisions": decisions(("a:1", "b:1", "not_same")),
        "expected": {frozenset({"a:1"}), frozenset({"b:1"})},
    },
    {
        "behaviour": "a reviewer's 'not the same' also holds against transitive links",
        "records": {"a:1": None, "b:1": None, "c:1": None},
        "pairs": pairs(("a:1", "c:1", 0.9999, 14.0), ("b:1", "c:1", 0.999, 11.0)),
        "decisions": decisions(("a:1", "b:1", "not_same")),
        "expected": {frozenset({"a:1", "c:1"}), frozenset({"b:1"})},
    },
    {
        "behaviour": "a reviewer's 'same' links an uncertain pair",
        "records": {"a:1": None, "b:1": None},
        "pairs": pairs(("a:1", "b:1", 0.7, 1.2)),
        "decisions": decisions(("a:1", "b:1", "same")),
        "expected": {frozenset({"a:1", "b:1"})},
    },
]


@pytest.mark.parametrize("case", CASES, ids=[c["behaviour"] for c in CASES])
def test_clusters(case: dict[str, Any]) -> None:
    """Records end up in the expected clusters."""
    records = frame(case["records"], case.get("names"))
    result = cluster_records(records, case["pairs"], case["decisions"], matching_config())
    assert clusters_of(result) == case["expected"]


def test_refused_and_forced_joins_are_logged() -> None:
    """Every guard decision is in the log with its reason."""
    records = frame({"a:1": ID_A, "b:1": ID_B, "c:1": ID_A, "d:1": ID_B})
    scored = pairs(("a:1", "b:1", 0.9999, 14.0), ("c:1", "d:1", 1.0, 45.0))
    log = cluster_records(records, scored, decisions(), matching_config()).guard_log
    assert list(log["guard"]) == ["joined_despite_conflict"]
    assert "different cn_resident_id numbers" in log["reason"].iloc[0]
    kept = cluster_records(
        frame({"a:1": ID_A, "b:1": ID_B}), pairs(("a:1", "b:1", 0.9999, 14.0)), decisions(), matching_config()
    )
    assert list(kept.guard_log["guard"]) == ["kept_apart"]


def test_match_rule_and_score_per_record() -> None:
    """Each record says which link holds it in its cluster, and how strongly."""
    records = frame({"a:1": ID_A, "b:1": ID_A, "g:1": None, "h:1": None})
    result = cluster_records(records, pairs(("b:1", "g:1", 0.998, 9.0)), decisions(), matching_config())
    by_record = result.assignments.to_pandas().set_index("unique_id")
    assert by_record.loc["a:1", "match_rule"] == "same_id_number"
    assert by_record.loc["g:1", "match_rule"] == "probabilistic"
    assert by_record.loc["g:1", "match_score"] == pytest.approx(0.998)
    assert by_record.loc["h:1", "match_rule"] == "single_record"
