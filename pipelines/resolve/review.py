"""Clerical review: the uncertain band of scored pairs, and reviewers' decisions that later runs obey.

Decisions live outside the snapshots, in ``<warehouse>/review/decisions.parquet``, appended one
decision at a time; for a pair decided more than once the latest decision holds. Resolution reads
them every run: "same" links the two records, "not_same" keeps them apart whatever the evidence.

A decision comes from an authenticated reviewer (``submit_decision``) and is checked first: both
records exist in the live snapshot, and two records with different valid citizen ID numbers are
never "same". A decision on a pair the review list holds takes effect at the next run; on any other
pair it needs a reason and stays proposed until a second, different reviewer approves it
(``approve_decision``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.layout import WarehouseLayout
from pipelines.principals import Principal
from pipelines.resolve.clustering import link_evidence_sql
from pipelines.resolve.config import MatchingConfig

DECISIONS = ("same", "not_same")
DECISION_SCHEMA = pa.schema(
    [
        ("record_l", pa.string()),
        ("record_r", pa.string()),
        ("decision", pa.string()),
        ("reviewer", pa.string()),
        ("note", pa.string()),
        ("decided_at", pa.timestamp("us")),
        ("status", pa.string()),
        ("approved_by", pa.string()),
    ]
)
REVIEW_SCHEMA = pa.schema(
    [
        ("record_l", pa.string()),
        ("record_r", pa.string()),
        ("resident_id_l", pa.string()),
        ("resident_id_r", pa.string()),
        ("match_probability", pa.float64()),
        ("match_weight", pa.float64()),
        ("reason", pa.string()),
        ("decision", pa.string()),
        ("decided_at", pa.timestamp("us")),
    ]
)


class ReviewError(ValueError):
    """A review decision that cannot be recorded (unknown decision, same record twice)."""


def decisions_path(layout: WarehouseLayout) -> Path:
    """Where reviewers' decisions are kept (outside the snapshots)."""
    return layout.root / "review" / "decisions.parquet"


def read_decisions(layout: WarehouseLayout) -> pd.DataFrame:
    """The latest effective decision per record pair (``record_l < record_r``); empty when none.

    Proposed decisions (awaiting a second reviewer) are left out.
    """
    frame = _all_decisions(layout).to_pandas()
    frame = frame[frame["status"].fillna("effective") == "effective"]
    return frame.sort_values("decided_at").drop_duplicates(["record_l", "record_r"], keep="last")


def _all_decisions(layout: WarehouseLayout) -> pa.Table:
    """Every decision row, older files (without status) read as effective."""
    path = decisions_path(layout)
    if not path.exists():
        return DECISION_SCHEMA.empty_table()
    table = pq.read_table(path)
    for name in DECISION_SCHEMA.names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(len(table), DECISION_SCHEMA.field(name).type))
    return table.select(DECISION_SCHEMA.names).cast(DECISION_SCHEMA)


def record_decision(
    layout: WarehouseLayout,
    record_a: str,
    record_b: str,
    decision: str,
    reviewer: str | None = None,
    note: str | None = None,
    decided_at: dt.datetime | None = None,
    status: str = "effective",
    approved_by: str | None = None,
) -> dict[str, object]:
    """Append a reviewer's decision about two records, unchecked (``submit_decision`` checks).

    Args:
        layout: The warehouse directory.
        record_a: A record reference ``source_system:source_record_id``.
        record_b: The other record reference.
        decision: ``same`` or ``not_same``.
        reviewer: Who decided.
        note: Why, in the reviewer's words.
        decided_at: When (now, UTC, by default).
        status: ``effective`` (obeyed from the next run) or ``proposed`` (awaiting approval).
        approved_by: The second reviewer who approved a proposed decision.

    Returns:
        The decision row as written.

    Raises:
        ReviewError: Unknown decision, or the two references are the same record.
    """
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if record_a == record_b:
        raise ReviewError(f"{record_a}: a record cannot be reviewed against itself")
    when = decided_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    left, right = sorted((record_a, record_b))
    row: dict[str, object] = {"record_l": left, "record_r": right, "decision": decision}
    row |= {"reviewer": reviewer}
    row |= {"note": note, "decided_at": when, "status": status, "approved_by": approved_by}
    _append(layout, pa.Table.from_pylist([row], schema=DECISION_SCHEMA))
    return row


_VALID_CITIZEN_ID = ("valid", "converted_15")


def _records(layout: WarehouseLayout, references: list[str]) -> dict[str, dict[str, object]]:
    """The live snapshot's staged records with these references (``source:record_id``)."""
    from pipelines.publish import current_snapshot

    path = current_snapshot(layout).parquet("source_record")
    wanted = [tuple(ref.split(":", 1)) for ref in references if ":" in ref]
    with duckdb.connect() as connection:
        rows = connection.execute(
            "select source_system || ':' || source_record_id as ref, id_type, id_number, id_status "
            "from read_parquet($path) where source_system || ':' || source_record_id in "
            "(select unnest($refs))",
            {"path": str(path), "refs": [f"{w[0]}:{w[1]}" for w in wanted]},
        ).fetchall()
    return {row[0]: {"id_type": row[1], "id_number": row[2], "id_status": row[3]} for row in rows}


def _check_pair(layout: WarehouseLayout, record_a: str, record_b: str, decision: str) -> None:
    """Refuse a decision on records that do not exist, or "same" on two different citizen IDs."""
    records = _records(layout, [record_a, record_b])
    for reference in (record_a, record_b):
        if reference not in records:
            raise ReviewError(f"{reference}: no such record in the live snapshot")
    if decision != "same":
        return
    a, b = records[record_a], records[record_b]
    citizen = all(r["id_type"] == "cn_resident_id" and r["id_status"] in _VALID_CITIZEN_ID for r in (a, b))
    if citizen and a["id_number"] != b["id_number"]:
        raise ReviewError(
            f"{record_a} and {record_b} hold two different valid citizen ID numbers: not the same person"
        )


def _up_for_review(layout: WarehouseLayout, left: str, right: str) -> bool:
    listed = pending_reviews(layout)
    pairs = zip(listed.column("record_l").to_pylist(), listed.column("record_r").to_pylist(), strict=True)
    return (left, right) in set(pairs)


def submit_decision(
    layout: WarehouseLayout,
    principal: Principal,
    record_a: str,
    record_b: str,
    decision: str,
    note: str | None = None,
) -> dict[str, object]:
    """Record an authenticated reviewer's decision, after checking it.

    Args:
        layout: The warehouse directory.
        principal: The reviewer (authenticated; their name is what is credited).
        record_a: A record reference ``source_system:source_record_id``.
        record_b: The other record.
        decision: ``same`` or ``not_same``.
        note: Why; required for a pair the review list does not hold.

    Returns:
        The decision row: ``effective`` for a listed pair, else ``proposed`` (a second reviewer
        approves it with ``approve_decision``).

    Raises:
        ReviewError: Not a reviewer, unknown records, two different citizen IDs declared the same,
            or an unlisted pair without a reason.
    """
    if principal.role != "reviewer":
        raise ReviewError(f"{principal.name} is not a reviewer")
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    _check_pair(layout, record_a, record_b, decision)
    left, right = sorted((record_a, record_b))
    if _up_for_review(layout, left, right):
        return record_decision(layout, left, right, decision, principal.name, note)
    if not (note and note.strip()):
        raise ReviewError(
            f"{left} / {right} is not up for review: give a reason (--note); a second reviewer must approve"
        )
    return record_decision(layout, left, right, decision, principal.name, note, status="proposed")


def approve_decision(
    layout: WarehouseLayout, principal: Principal, record_a: str, record_b: str
) -> dict[str, object]:
    """A second reviewer approves a proposed decision; it takes effect from the next run.

    Raises:
        ReviewError: Not a reviewer, nothing proposed for the pair, or the proposer approving.
    """
    if principal.role != "reviewer":
        raise ReviewError(f"{principal.name} is not a reviewer")
    left, right = sorted((record_a, record_b))
    frame = _all_decisions(layout).to_pandas()
    pair = frame[(frame["record_l"] == left) & (frame["record_r"] == right)].sort_values("decided_at")
    if pair.empty or pair.iloc[-1]["status"] != "proposed":
        raise ReviewError(f"{left} / {right}: no proposed decision awaits approval")
    proposed = pair.iloc[-1]
    if proposed["reviewer"] == principal.name:
        raise ReviewError(f"{principal.name} proposed this decision; another reviewer must approve it")
    _check_pair(layout, left, right, str(proposed["decision"]))
    return record_decision(
        layout,
        left,
        right,
        str(proposed["decision"]),
        str(proposed["reviewer"]),
        str(proposed["note"]),
        approved_by=principal.name,
    )


def pending_reviews(layout: WarehouseLayout) -> pa.Table:
    """The live snapshot's review list without the pairs decided since it was published.

    Args:
        layout: The warehouse directory.

    Returns:
        Undecided rows of ``match_review`` (empty before the first publish).
    """
    from pipelines.publish import read_published

    listed = read_published(layout, "match_review")
    if listed is None:
        return REVIEW_SCHEMA.empty_table()
    decided = read_decisions(layout)
    pending = listed.to_pandas()
    pending = pending[pending["decision"].isna()]
    if len(decided):
        done = set(zip(decided["record_l"], decided["record_r"], strict=True))
        keep = [(a, b) not in done for a, b in zip(pending["record_l"], pending["record_r"], strict=True)]
        pending = pending[keep]
    return pa.Table.from_pandas(pending, schema=REVIEW_SCHEMA, preserve_index=False)


def _append(layout: WarehouseLayout, rows: pa.Table) -> None:
    path = decisions_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = _all_decisions(layout)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.concat_tables([existing, rows]), temporary)
    temporary.replace(path)


def review_view_sql(
    config: MatchingConfig, pairs: str, residents: str, guard_log: str, decisions: str
) -> str:
    """SQL of the pairs a clerk should look at, with any decision already taken.

    The uncertain band is every scored pair below the link threshold (or above it without the
    evidence ``link_requires`` asks for) whose records ended up in different residents (a pair
    already joined through stronger links needs no review). Pairs a guard kept apart or joined
    against a conflict are listed too.

    Args:
        config: The matching configuration (link threshold and required evidence).
        pairs: Relation of the scored pairs (at or above the review threshold).
        residents: Relation of ``unique_id, resident_id`` for every record.
        guard_log: Relation of the clustering's guard decisions.
        decisions: Relation of reviewers' decisions.

    Returns:
        A query giving one row per record pair (the columns of ``REVIEW_SCHEMA``).
    """
    required = " or ".join(config.link_requires)
    return _REVIEW.format(
        pairs=pairs,
        residents=residents,
        guard_log=guard_log,
        decisions=decisions,
        link=float(config.thresholds.link),
        evidence=link_evidence_sql(config),
        probable=f"probable, but without agreement on {required}",
    )


_REVIEW = """
with uncertain as (
    select p.record_l, p.record_r, p.match_probability, p.match_weight,
           case when p.match_probability >= {link} then '{probable}'
                else 'uncertain match probability' end as reason
    from {pairs} p
    join {residents} l on l.unique_id = p.record_l
    join {residents} r on r.unique_id = p.record_r
    where not (p.match_probability >= {link} and {evidence}) and l.resident_id <> r.resident_id
),
listed as (
    select record_l, record_r, match_probability, match_weight, guard || ': ' || reason as reason,
           0 as listed_first
    from {guard_log}
    union all by name
    select *, 1 as listed_first from uncertain
),
first_listed as (
    select * exclude (listed_first) from listed
    qualify row_number() over (
        partition by record_l, record_r
        order by listed_first, match_probability desc, match_weight desc, reason
    ) = 1
)
select f.record_l, f.record_r, l.resident_id as resident_id_l, r.resident_id as resident_id_r,
       cast(f.match_probability as double) as match_probability,
       cast(f.match_weight as double) as match_weight, f.reason, d.decision,
       cast(d.decided_at as timestamp) as decided_at
from first_listed f
left join {decisions} d using (record_l, record_r)
left join {residents} l on l.unique_id = f.record_l
left join {residents} r on r.unique_id = f.record_r
order by f.match_probability desc, f.record_l, f.record_r
"""
