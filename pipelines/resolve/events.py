"""Why a resident id was merged or split: the rule, guard or reviewer decision that did it.

`ids.assign_resident_ids` decides the events; this module finds, for each, the evidence between
the two groups of records involved: for a merge, between the retired id's records and the rest of
the resident they joined; for a split, between the records that stayed and those that left. The
strongest cause is named, in this order: a reviewer's decision, a guard, a shared exclusive
document number, the strongest scored pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.resolve.config import MatchingConfig
from pipelines.resolve.features import record_ref


@dataclass(frozen=True)
class Evidence:
    """What can explain an event, restricted to the records the events involve.

    Attributes:
        pairs: Scored pairs ``record_l, record_r, match_probability`` and the level columns.
        tokens: Exclusive document number per record (``unique_id → id_type:number``).
        decisions: Reviewer decisions ``record_l, record_r, decision, reviewer, note``.
        guard_log: Guard decisions ``record_l, record_r, guard, reason``.
    """

    pairs: pd.DataFrame
    tokens: dict[str, str]
    decisions: pd.DataFrame
    guard_log: pd.DataFrame


def _groups(
    connection: duckdb.DuckDBPyConnection, previous_links: pa.Table, record_state: str, events: pd.DataFrame
) -> dict[tuple[str, str], tuple[set[str], set[str]]]:
    """For each event ``(resident_id, related_resident_id)``, the two groups of records."""
    ids = sorted(set(events["resident_id"]) | set(events["related_resident_id"]))
    connection.register("event_ids", pa.table({"resident_id": pa.array(ids, pa.string())}))
    connection.register(
        "event_previous", previous_links.select(["source_system", "source_record_id", "resident_id"])
    )
    rows = connection.sql(
        f"""
        select s.unique_id, p.resident_id as previous_id, s.resident_id
        from {record_state} s
        left join event_previous p on {record_ref("p")} = s.unique_id
        where s.resident_id in (select resident_id from event_ids)
           or p.resident_id in (select resident_id from event_ids)
        """
    ).fetchall()
    connection.unregister("event_ids")
    connection.unregister("event_previous")
    groups = {}
    for event in events.itertuples():
        old, new = event.resident_id, event.related_resident_id
        if event.event == "merged":
            moved = {uid for uid, before, _ in rows if before == old}
            joined = {uid for uid, before, now in rows if now == new and before != old}
        else:
            joined = {uid for uid, before, now in rows if before == old and now == old}
            moved = {uid for uid, before, now in rows if before == old and now == new}
        groups[(old, new)] = (moved, joined)
    return groups


def _crossing(frame: pd.DataFrame, one: set[str], other: set[str]) -> pd.DataFrame:
    left, right = frame["record_l"], frame["record_r"]
    return frame[(left.isin(one) & right.isin(other)) | (left.isin(other) & right.isin(one))]


def _pair_text(row: pd.Series, config: MatchingConfig) -> str:
    levels = ", ".join(
        f"{name} {row[f'{name}_level']}" for name in config.link_requires if f"{name}_level" in row.index
    )
    return f"{row['record_l']} and {row['record_r']} scored {row['match_probability']:.4f} ({levels})"


def _who(decision: pd.Series) -> str:
    return str(decision.get("reviewer") or "a reviewer")


def merge_reason(one: set[str], other: set[str], evidence: Evidence, config: MatchingConfig) -> str:
    """The strongest link between two groups joined into one resident."""
    same = _crossing(evidence.decisions[evidence.decisions["decision"] == "same"], one, other)
    if len(same):
        row = same.iloc[0]
        return f"reviewer_same: {_who(row)} decided {row['record_l']} and {row['record_r']} are one person"
    forced = _crossing(
        evidence.guard_log[evidence.guard_log["guard"] == "joined_despite_conflict"], one, other
    )
    if len(forced):
        row = forced.iloc[0]
        return f"joined_despite_conflict: {row['record_l']} and {row['record_r']} ({row['reason']})"
    numbers = {evidence.tokens[uid] for uid in one if uid in evidence.tokens}
    shared = sorted(uid for uid in other if evidence.tokens.get(uid) in numbers)
    if shared:
        token = evidence.tokens[shared[0]]
        holder = min(uid for uid in one if evidence.tokens.get(uid) == token)
        return f"same_id_number: {holder} and {shared[0]} hold {token}"
    scored = _crossing(evidence.pairs, one, other)
    strong = scored[scored["match_probability"] >= config.thresholds.link]
    if len(strong):
        return "probabilistic: " + _pair_text(strong.sort_values("match_probability").iloc[-1], config)
    return "linked through other records"


def split_reason(stayed: set[str], left: set[str], evidence: Evidence, config: MatchingConfig) -> str:
    """Why records that were one resident are now two."""
    apart = _crossing(evidence.decisions[evidence.decisions["decision"] == "not_same"], stayed, left)
    if len(apart):
        row = apart.iloc[0]
        pair = f"{row['record_l']} and {row['record_r']}"
        return f"reviewer_not_same: {_who(row)} decided {pair} are not one person"
    guarded = _crossing(evidence.guard_log[evidence.guard_log["guard"] == "kept_apart"], stayed, left)
    if len(guarded):
        row = guarded.iloc[0]
        return f"kept_apart: {row['record_l']} and {row['record_r']} ({row['reason']})"
    scored = _crossing(evidence.pairs, stayed, left)
    if len(scored):
        best = scored.sort_values("match_probability").iloc[-1]
        return f"no longer linked: strongest pair {_pair_text(best, config)}, below the link rule"
    return "no longer linked: no candidate pair between them (records changed or removed)"


def explain_events(
    connection: duckdb.DuckDBPyConnection,
    events: pd.DataFrame,
    previous_links: pa.Table,
    record_state: str,
    evidence: Evidence,
    config: MatchingConfig,
) -> pd.DataFrame:
    """Fill each event's ``reason`` with the rule, guard or reviewer decision that caused it.

    Args:
        connection: DuckDB connection holding ``record_state``.
        events: This run's events (`ids.assign_resident_ids`).
        previous_links: ``source_system, source_record_id, resident_id`` of the previous run.
        record_state: Relation of ``unique_id, resident_id`` per current record.
        evidence: Pairs, numbers, decisions and guards (see `gather_evidence`).
        config: The matching configuration (link threshold, required evidence).

    Returns:
        The events with their reasons.
    """
    if events.empty:
        return events
    groups = _groups(connection, previous_links, record_state, events)
    reasons = []
    for event in events.itertuples():
        one, other = groups[(event.resident_id, event.related_resident_id)]
        if event.event == "merged":
            cause = merge_reason(one, other, evidence, config)
        else:
            cause = split_reason(other, one, evidence, config)
        reasons.append(f"{event.reason}; {cause}")
    return events.assign(reason=reasons)


def gather_evidence(
    events: pd.DataFrame,
    record_state: pa.Table,
    previous_links: pa.Table,
    pairs: pa.Table,
    tokens: pa.Table,
    decisions: pd.DataFrame,
    guard_log: pd.DataFrame,
) -> Evidence:
    """The evidence about the records the events involve (all of it is small then).

    Args:
        events: This run's events.
        record_state: ``unique_id, resident_id`` per current record.
        previous_links: ``source_system, source_record_id, resident_id`` of the previous run.
        pairs: Every scored pair.
        tokens: ``unique_id, token`` of records holding an exclusive document number.
        decisions: Reviewer decisions.
        guard_log: The clustering's guard log.

    Returns:
        The evidence, restricted to those records.
    """
    ids = pa.array(sorted(set(events["resident_id"]) | set(events["related_resident_id"])), pa.string())
    now = record_state.filter(pc.is_in(record_state.column("resident_id"), ids)).column("unique_id")
    before = previous_links.filter(pc.is_in(previous_links.column("resident_id"), ids))
    refs = pc.binary_join_element_wise(before.column("source_system"), before.column("source_record_id"), ":")
    involved = pc.unique(pa.concat_arrays([now.combine_chunks(), refs.combine_chunks()]))
    near = pc.or_(pc.is_in(pairs.column("record_l"), involved), pc.is_in(pairs.column("record_r"), involved))
    held = tokens.filter(pc.is_in(tokens.column("unique_id"), involved))
    return Evidence(
        pairs=pairs.filter(near).to_pandas(),
        tokens=dict(zip(held.column("unique_id").to_pylist(), held.column("token").to_pylist(), strict=True)),
        decisions=decisions,
        guard_log=guard_log,
    )
