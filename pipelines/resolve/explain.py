"""Which level of each comparison two records reach, without a trained model.

The same SQL conditions the model uses (from ``schemas/matching.yaml``), evaluated on two rows of
the matching frame. Used by the table-driven tests and handy when an auditor asks how a pair was
compared.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from pipelines.resolve.config import ComparisonSpec, MatchingConfig, matching_config
from pipelines.resolve.features import build_matching_frame


def comparison_levels(
    records: pa.Table, left: str, right: str, config: MatchingConfig | None = None
) -> dict[str, str]:
    """The level label each comparison gives the pair ``left``, ``right``.

    Args:
        records: Staged records holding both records, with their places.
        left: Record reference ``source_system:source_record_id``.
        right: The other record reference.
        config: The matching configuration; the declared one by default.

    Returns:
        Comparison name → label of the first level whose condition holds.
    """
    return levels_of_pairs(records, [(left, right)], config)[0]


def levels_of_pairs(
    records: pa.Table, pairs: list[tuple[str, str]], config: MatchingConfig | None = None
) -> list[dict[str, str]]:
    """`comparison_levels` for many pairs of the same records at once.

    Args:
        records: Staged records holding every record of the pairs, with their places
            (``places.register.PLACE_COLUMNS``).
        pairs: Record reference pairs.
        config: The matching configuration; the declared one by default.

    Returns:
        One dictionary (comparison name → level label) per pair, in order.
    """
    config = config or matching_config()
    connection = duckdb.connect()
    try:
        connection.register("records", records)
        frame = build_matching_frame(connection, "records", 10**9).table
        connection.register(
            "pairs",
            pa.table(
                {
                    "pair_index": list(range(len(pairs))),
                    "left_ref": [p[0] for p in pairs],
                    "right_ref": [p[1] for p in pairs],
                }
            ),
        )
        columns = connection.table(frame).columns
        sides = [f"l.{c} as {c}_l" for c in columns] + [f"r.{c} as {c}_r" for c in columns]
        cases = [f"{_level_case(c)} as {c.name}" for c in config.comparisons]
        rows = connection.sql(
            f"""
            select {", ".join(cases)} from (
                select p.pair_index, {", ".join(sides)} from pairs p
                join {frame} l on l.unique_id = p.left_ref join {frame} r on r.unique_id = p.right_ref
            ) order by pair_index
            """
        ).fetchall()
    finally:
        connection.close()
    if len(rows) != len(pairs):
        raise KeyError("a record of the pairs is not among the records")
    names = [c.name for c in config.comparisons]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _level_case(comparison: ComparisonSpec) -> str:
    levels = comparison.levels
    branches = [
        f"when {level.sql} then '{level.label}'" for level in levels if not level.is_else and level.sql
    ]
    fallback = next((level.label for level in levels if level.is_else), None)
    return f"case {' '.join(branches)} else {_quoted(fallback)} end"


def _quoted(label: str | None) -> str:
    return "null" if label is None else f"'{label}'"
