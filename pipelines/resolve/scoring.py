"""Score candidate record pairs with the trained model, in full or for changed records only.

Candidate pairs come from the blocking rules of ``schemas/matching.yaml``, generated here in
DuckDB (as Splink would) so that an incremental run can ask for exactly the pairs that touch a
new or changed record; Splink then scores the pairs it is given. A scored pair keeps, per
comparison, the level reached and its match weight, so that every link can be explained.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.resolve.config import MatchingConfig
from pipelines.resolve.features import run_sql

PAIR_KEY = ("record_l", "record_r")


def tf_columns(config: MatchingConfig) -> list[str]:
    """The columns whose term frequencies adjust a comparison level."""
    return sorted(
        {
            level.tf_adjustment_column
            for comparison in config.comparisons
            for level in comparison.levels
            if level.tf_adjustment_column
        }
    )


def term_frequencies(
    connection: duckdb.DuckDBPyConnection, frame: str, config: MatchingConfig
) -> dict[str, pa.Table]:
    """Count each term-frequency column's values over ``frame`` (kept with the trained model).

    A value's term frequency stands for the chance that another record holds it: ``(count - 1) /
    (records - 1)``, a record never being compared with itself (a value seen once counts as if
    seen twice: a later record may share it). Counting the record itself, as ``count / records``
    would, halves the weight of agreeing on a name two records share, and in a population where
    most people have two records that is most names.

    Args:
        connection: DuckDB connection holding the frame.
        frame: The frame's relation name.
        config: The matching configuration (which levels use term frequencies).

    Returns:
        Column name → ``<column>, tf_<column>`` sorted by value.
    """
    return {
        column: connection.sql(
            f"""
            select {column},
                   greatest(count(*) - 1, 1) / greatest(sum(count(*)) over () - 1, 1) as tf_{column}
            from {frame} where {column} is not null group by {column} order by {column}
            """
        ).to_arrow_table()
        for column in tf_columns(config)
    }


def register_term_frequencies(linker: Any, tables: dict[str, pa.Table]) -> None:
    """Give the linker the model's term-frequency tables."""
    for column, table in sorted(tables.items()):
        lookup = linker._db_api.register(table, table_name=f"tf_{column}")
        linker.table_management.register_term_frequency_lookup(lookup, column)


def _rule_pairs(rule: str, index: int, preceding: list[str], left: str, right: str) -> str:
    """Pairs a rule generates that no earlier rule does (Splink's de-duplication)."""
    earlier = " or ".join(f"coalesce(({p}), false)" for p in preceding)
    return f"""
        select '{index}' as match_key, l.unique_id as join_key_l, r.unique_id as join_key_r
        from {left} as l join {right} as r on ({rule})
        where l.unique_id < r.unique_id {f"and not ({earlier})" if earlier else ""}
        """


def blocked_pairs_sql(rules: tuple[str, ...], frame: str, changed: str | None = None) -> str:
    """SQL of the candidate pairs: all of them, or only those touching a ``changed`` record.

    Args:
        rules: Blocking rules on ``l.`` and ``r.`` columns; a pair is a candidate when any holds.
        frame: Relation of every current record's matching-frame row.
        changed: Relation of the changed records' frame rows (a subset of ``frame``), or None.

    Returns:
        A query giving ``match_key, join_key_l, join_key_r`` with ``join_key_l < join_key_r``,
        ``match_key`` being the first rule that gives the pair.
    """
    if changed is None:
        parts = [
            _rule_pairs(rule, index, list(rules[:index]), frame, frame) for index, rule in enumerate(rules)
        ]
        return " union all ".join(parts)
    # Changed records are few: each rule's pairs touching them are found by one join from them
    # (two for a rule that is not symmetric), and a pair given by several rules is kept once.
    parts = []
    for index, rule in enumerate(rules):
        if _is_symmetric(rule):
            parts.append(_touching_pairs(rule, index, changed, frame, "l.unique_id <> r.unique_id"))
        else:
            parts.append(_touching_pairs(rule, index, changed, frame, "l.unique_id < r.unique_id"))
            parts.append(_touching_pairs(rule, index, frame, changed, "l.unique_id < r.unique_id"))
    return f"""
        select cast(min(match_key) as varchar) as match_key, join_key_l, join_key_r
        from ({" union all ".join(parts)})
        group by join_key_l, join_key_r
        """


def _touching_pairs(rule: str, index: int, left: str, right: str, condition: str) -> str:
    return f"""
        select {index} as match_key, least(l.unique_id, r.unique_id) as join_key_l,
               greatest(l.unique_id, r.unique_id) as join_key_r
        from {left} as l join {right} as r on ({rule})
        where {condition}
        """


def _is_symmetric(rule: str) -> bool:
    """Whether a rule holds for (a, b) exactly when it holds for (b, a): its conjuncts, with the
    sides of each equality sorted, are the same after swapping ``l.`` and ``r.``."""

    def conjuncts(text: str) -> set[str]:
        normalized = set()
        for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
            sides = [side.strip() for side in part.split("=")]
            normalized.add(" = ".join(sorted(sides)) if len(sides) == 2 else part.strip())
        return normalized

    swapped = re.sub(r"\b([lr])\.", lambda m: {"l": "r.", "r": "l."}[m.group(1)], rule)
    return " or " not in rule.lower() and conjuncts(rule) == conjuncts(swapped)


def explain_pairs(predictions: str, config: MatchingConfig) -> str:
    """SQL turning Splink predictions into explained pairs (labels and weights per comparison).

    Args:
        predictions: Relation of Splink's predictions (with intermediate columns).
        config: The configuration whose comparisons produced the predictions.

    Returns:
        A query of the pairs, with ``record_l < record_r``.
    """
    columns = []
    for comparison, labels in config.level_labels().items():
        cases = " ".join(f"when {gamma} then '{label}'" for gamma, label in labels.items())
        columns.append(f"case gamma_{comparison} {cases} end as {comparison}_level")
        columns.append(f"round({_weight(comparison, config)}, 3) as {comparison}_weight")
    return f"""
        select least(unique_id_l, unique_id_r) as record_l,
               greatest(unique_id_l, unique_id_r) as record_r,
               match_probability, round(match_weight, 3) as match_weight,
               {", ".join(columns)}
        from {predictions}
        """


def _weight(comparison: str, config: MatchingConfig) -> str:
    """The comparison's match weight (log2 Bayes factor), term-frequency adjustment included."""
    spec = next(c for c in config.comparisons if c.name == comparison)
    uses_tf = any(level.tf_adjustment_column for level in spec.levels)
    return f"mw_{comparison} + mw_tf_adj_{comparison}" if uses_tf else f"mw_{comparison}"


def block_pairs(
    connection: duckdb.DuckDBPyConnection, config: MatchingConfig, frame: str, changed: str | None = None
) -> int:
    """Create the temp table ``blocked_pairs`` of candidate pairs (`blocked_pairs_sql`); return
    how many there are."""
    run_sql(
        connection,
        "create or replace temp table blocked_pairs as "
        + blocked_pairs_sql(config.blocking_rules, frame, changed),
    )
    return int(connection.sql("select count(*) from blocked_pairs").fetchall()[0][0])


def predict_pairs(linker: Any, config: MatchingConfig, into: str) -> None:
    """Score the linker connection's ``blocked_pairs`` and create ``into`` with the explained pairs
    at or above the review threshold (``table pairs``, ``temp table scored_pairs``).

    Args:
        linker: A linker holding the trained model and the frame rows of the blocked pairs.
        config: The matching configuration (review threshold, comparisons).
        into: The table to create.
    """
    db_api = linker._db_api
    connection = db_api.duckdb_con
    blocked = db_api.register("blocked_pairs", table_name="blocked_pairs_for_predict")
    linker.table_management.register_blocked_pairs_for_predict(blocked)
    predictions = linker.inference.predict(
        threshold_match_probability=config.thresholds.review, warning_mode="never"
    )
    try:
        run_sql(connection, f"create or replace {into} as {explain_pairs(predictions.physical_name, config)}")
    finally:
        predictions.drop_table_from_database_and_remove_from_cache()
