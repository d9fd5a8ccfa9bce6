"""Clusters of records that are one person, with guards against over-merging.

Links come from three places: records sharing a valid number of an exclusive document type under
the same name (the deterministic rule; a number that contradicts its own record is not valid here,
and a holder bearing another name is left to the model), scored pairs at or above the link
threshold, and reviewers' "same person" decisions. Connected components of those links are the
clusters, except where a component would hold two different exclusive document numbers or a pair a
reviewer called "not the same". Such a component is rebuilt greedily, strongest link first,
refusing every link that would join contradictory records; every refusal (and every join allowed on
overwhelming evidence) is logged.

Every decision is local to a connected component of the links, so an incremental run may
recluster only the components that changed records touch and keep every other one as it was.
The work is done on integer record positions (NumPy, SciPy): millions of records take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.resolve.config import MatchingConfig
from pipelines.resolve.features import sql_text

# Lower sorts first: the order in which a contradictory component is rebuilt.
RULE_PRIORITY = {"reviewer_same": 0, "same_id_number": 1, "probabilistic": 2}
RULES = tuple(RULE_PRIORITY)
GUARD_COLUMNS = ["record_l", "record_r", "match_probability", "match_weight", "guard", "reason"]
ASSIGNMENT_COLUMNS = ["unique_id", "component_key", "cluster_key", "match_rule", "match_score"]


@dataclass
class Clustering:
    """Records with their cluster, and the guard decisions taken on the way.

    Attributes:
        assignments: ``unique_id, component_key, cluster_key, match_rule, match_score`` for every
            record, in unique_id order (``component_key``: the smallest record of its connected
            component of links; ``cluster_key``: the smallest record of its cluster).
        guard_log: One row per link refused or allowed against a guard (``GUARD_COLUMNS`` and
            ``component_key``).
    """

    assignments: pa.Table
    guard_log: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=[*GUARD_COLUMNS, "component_key"])
    )


@dataclass
class _Links:
    """Candidate links on record positions."""

    left: np.ndarray
    right: np.ndarray
    probability: np.ndarray
    weight: np.ndarray
    rule: np.ndarray  # index into RULES

    def take(self, keep: np.ndarray) -> _Links:
        return _Links(
            self.left[keep], self.right[keep], self.probability[keep], self.weight[keep], self.rule[keep]
        )

    @staticmethod
    def concat(parts: list[_Links]) -> _Links:
        return _Links(*(np.concatenate([getattr(p, name) for p in parts]) for name in _LINK_FIELDS))


_LINK_FIELDS = ("left", "right", "probability", "weight", "rule")


Table: TypeAlias = pa.Table | pd.DataFrame


def _arrow(table: Table) -> pa.Table:
    return table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)


def exclusive_tokens(frame: pa.Table, config: MatchingConfig) -> pa.Array:
    """``id_type:id_key`` for records holding a valid number of an exclusive type, else null."""
    exclusive = pc.and_(
        pc.fill_null(frame.column("id_is_valid"), False),
        pc.is_in(frame.column("id_type"), pa.array(config.exclusive_id_types, pa.string())),
    )
    token = pc.binary_join_element_wise(
        pc.cast(frame.column("id_type"), pa.string()), pc.cast(frame.column("id_key"), pa.string()), ":"
    )
    return pc.if_else(exclusive, token, pa.scalar(None, pa.string())).combine_chunks()


def link_evidence(pairs: Table, config: MatchingConfig) -> np.ndarray:
    """Whether each scored pair has the evidence an automatic link needs (``link_requires``)."""
    table = _arrow(pairs)
    enough = np.zeros(table.num_rows, dtype=bool)
    for comparison, levels in config.link_requires.items():
        column = f"{comparison}_level"
        if column in table.column_names:
            found = pc.is_in(table.column(column), pa.array(levels, pa.string()))
            enough |= np.asarray(pc.fill_null(found, False), dtype=bool)
    return enough if config.link_requires else ~enough


def link_evidence_sql(config: MatchingConfig, alias: str = "p") -> str:
    """`link_evidence` as SQL on the columns of a pairs relation's alias."""
    if not config.link_requires:
        return "true"
    found = [
        f"coalesce({alias}.{comparison}_level in ({', '.join(sql_text(level) for level in levels)}), false)"
        for comparison, levels in config.link_requires.items()
    ]
    return "(" + " or ".join(found) + ")"


def _positions(uids: pa.Array, values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Position of each value in the sorted ``uids`` (-1 when absent)."""
    found = pc.index_in(pc.cast(values, pa.string()), value_set=uids)
    return np.asarray(pc.fill_null(found, -1), dtype=np.int64)


def _same_id_links(tokens: np.ndarray, agree: np.ndarray) -> _Links:
    """Star links from the first record (by position) of each exclusive-number group to the
    others, among the holders whose name agrees with the group's (``agree``)."""
    holders = np.flatnonzero((tokens >= 0) & agree)
    first = np.full(tokens.max() + 1 if len(holders) else 0, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, tokens[holders], holders)
    star = first[tokens[holders]]
    keep = star != holders
    count = int(keep.sum())
    rule = np.full(count, RULES.index("same_id_number"))
    return _Links(star[keep], holders[keep], np.ones(count), np.full(count, np.inf), rule)


def name_agrees_with_number(records: pa.Table, tokens: np.ndarray) -> np.ndarray:
    """Whether each holder of an exclusive number bears the name its number's records bear.

    The number's name is the name key most of its holders share (ties: the smallest key). A
    holder agrees when it has no name, the same name key, or a name in another script (a Latin
    name and its Chinese transliteration cannot be compared). A holder whose name differs is
    not linked by the number alone: a number typed into a household member's record must not
    merge two people, so the probabilistic model decides, with the name's disagreement in view.

    Args:
        records: ``name_key`` and ``name_script`` per record, in position order.
        tokens: The exclusive-number group of each record (-1: none).

    Returns:
        One boolean per record (True for records holding no number).
    """
    holders = np.flatnonzero(tokens >= 0)
    agree = np.ones(len(tokens), dtype=bool)
    if not len(holders):
        return agree
    named = pd.DataFrame(
        {
            "token": tokens[holders],
            "name": records.column("name_key").take(pa.array(holders)).to_numpy(zero_copy_only=False),
            "script": records.column("name_script").take(pa.array(holders)).to_numpy(zero_copy_only=False),
        },
        index=holders,
    )
    counted = (
        named.dropna(subset=["name"]).groupby(["token", "name", "script"]).size().rename("n").reset_index()
    )
    reference = counted.sort_values(["token", "n", "name"], ascending=[True, False, True]).drop_duplicates(
        "token"
    )
    joined = named.join(reference.set_index("token")[["name", "script"]], on="token", rsuffix="_ref")
    agree[holders] = (
        joined["name"].isna()
        | joined["name_ref"].isna()
        | (joined["name"] == joined["name_ref"])
        | (joined["script"] != joined["script_ref"])
    ).to_numpy(dtype=bool)
    return agree


def _pair_links(uids: pa.Array, pairs: pa.Table, rule: str) -> _Links:
    left = _positions(uids, pairs.column("record_l"))
    right = _positions(uids, pairs.column("record_r"))
    known = (left >= 0) & (right >= 0)
    if rule == "probabilistic":
        probability = np.asarray(pairs.column("match_probability"), dtype=float)
        weight = np.asarray(pairs.column("match_weight"), dtype=float)
    else:
        probability, weight = np.ones(len(left)), np.full(len(left), np.inf)
    return _Links(left, right, probability, weight, np.full(len(left), RULES.index(rule))).take(known)


def _pair_codes(left: np.ndarray, right: np.ndarray, size: int) -> np.ndarray:
    return np.minimum(left, right) * size + np.maximum(left, right)


def _decided(decisions: pa.Table, decision: str) -> pa.Table:
    return decisions.filter(pc.equal(decisions.column("decision"), decision))


def candidate_links(
    uids: pa.Array,
    tokens: np.ndarray,
    agree: np.ndarray,
    pairs: pa.Table,
    decisions: pa.Table,
    config: MatchingConfig,
) -> _Links:
    """Every link to consider: same number, scored above the threshold, reviewer "same".

    A pair a reviewer called "not the same" is never a link, whatever the evidence.
    """
    probable = np.asarray(pc.greater_equal(pairs.column("match_probability"), config.thresholds.link))
    strong = pairs.filter(pa.array(probable & link_evidence(pairs, config)))
    links = _Links.concat(
        [
            _same_id_links(tokens, agree),
            _pair_links(uids, strong, "probabilistic"),
            _pair_links(uids, _decided(decisions, "same"), "reviewer_same"),
        ]
    )
    apart = _pair_links(uids, _decided(decisions, "not_same"), "reviewer_same")
    if len(apart.left):
        size = len(uids)
        refused = np.isin(
            _pair_codes(links.left, links.right, size), _pair_codes(apart.left, apart.right, size)
        )
        links = links.take(~refused)
    return links


def cluster_records(frame: Table, pairs: Table, decisions: Table, config: MatchingConfig) -> Clustering:
    """Cluster records into persons under the over-merging guards.

    Args:
        frame: ``unique_id, id_type, id_key, id_is_valid, name_key, name_script`` of every
            record to cluster (``features.KEY_COLUMNS``).
        pairs: Scored pairs ``record_l, record_r, match_probability, match_weight`` and the
            ``<comparison>_level`` columns ``link_requires`` names.
        decisions: Reviewer decisions ``record_l, record_r, decision`` (same / not_same).
        config: The matching configuration (thresholds, exclusive document types).

    Returns:
        The clustering, with its guard log.
    """
    records = _arrow(frame)
    records = records.take(pc.sort_indices(records, [("unique_id", "ascending")]))
    uids = pc.cast(records.column("unique_id"), pa.string()).combine_chunks()
    token_values = exclusive_tokens(records, config)
    tokens = np.asarray(pc.fill_null(pc.dictionary_encode(token_values).indices, -1), dtype=np.int64)
    decided = _arrow(decisions).select(["record_l", "record_r", "decision"])
    agree = name_agrees_with_number(records, tokens)
    links = candidate_links(uids, tokens, agree, _arrow(pairs), decided, config)
    size = len(uids)
    graph = coo_matrix((np.ones(len(links.left)), (links.left, links.right)), shape=(size, size))
    _, component = connected_components(graph, directed=False)
    component_first = _first_position(component, size)[component]
    cluster = component_first.copy()
    log: list[dict] = []
    contradictory = _contradictory_components(component, tokens, uids, decided)
    if len(contradictory):
        inside = np.flatnonzero(np.isin(component, contradictory))
        rebuilt = _rebuild(inside, uids, token_values, links, component_first, config, decided, log)
        cluster[inside] = rebuilt
    assignments = _match_rule_and_score(uids, component_first, cluster, links)
    guard_log = pd.DataFrame(log, columns=[*GUARD_COLUMNS, "component_key"])
    return Clustering(assignments=assignments, guard_log=guard_log)


def _first_position(groups: np.ndarray, size: int) -> np.ndarray:
    """Smallest position of each group (positions are in unique_id order: the smallest record)."""
    first = np.full(groups.max() + 1 if size else 0, size, dtype=np.int64)
    np.minimum.at(first, groups, np.arange(size))
    return first


def _contradictory_components(
    component: np.ndarray, tokens: np.ndarray, uids: pa.Array, decisions: pa.Table
) -> np.ndarray:
    """Components holding two different exclusive numbers or a pair decided "not the same"."""
    holders = tokens >= 0
    found: set[int] = set()
    if holders.any():
        distinct = np.unique(np.stack([component[holders], tokens[holders]]), axis=1)
        groups, counts = np.unique(distinct[0], return_counts=True)
        found |= set(groups[counts > 1].tolist())
    apart = _pair_links(uids, _decided(decisions, "not_same"), "reviewer_same")
    same_component = component[apart.left] == component[apart.right]
    found |= set(component[apart.left[same_component]].tolist())
    return np.array(sorted(found), dtype=np.int64)


class _Groups:
    """Union-find over records, each group knowing its exclusive numbers and its members."""

    def __init__(self, members: list[str], tokens: list[object], apart: set[tuple[str, str]]) -> None:
        self.parent = {uid: uid for uid in members}
        self.tokens: dict[str, dict[str, str]] = {uid: {} for uid in members}
        for uid, token in zip(members, tokens, strict=True):
            if isinstance(token, str):
                id_type, _, number = token.partition(":")
                self.tokens[uid] = {id_type: number}
        self.members = {uid: {uid} for uid in members}
        self.apart = apart

    def root(self, uid: str) -> str:
        while self.parent[uid] != uid:
            self.parent[uid] = self.parent[self.parent[uid]]
            uid = self.parent[uid]
        return uid

    def conflict(self, a: str, b: str) -> str | None:
        """Why groups ``a`` and ``b`` (roots) must not be joined, or None."""
        ta, tb = self.tokens[a], self.tokens[b]
        for id_type in ta.keys() & tb.keys():
            if ta[id_type] != tb[id_type]:
                return f"different {id_type} numbers {ta[id_type]} and {tb[id_type]}"
        small, large = sorted((self.members[a], self.members[b]), key=len)
        for uid in small:
            for other in large:
                if (uid, other) in self.apart or (other, uid) in self.apart:
                    return f"a reviewer decided {uid} and {other} are not the same person"
        return None

    def join(self, a: str, b: str) -> None:
        self.parent[b] = a
        self.tokens[a] = self.tokens[b] | self.tokens[a]
        self.members[a] |= self.members.pop(b)


def _rebuild(
    inside: np.ndarray,
    uids: pa.Array,
    tokens: pa.Array,
    links: _Links,
    component_first: np.ndarray,
    config: MatchingConfig,
    decisions: pa.Table,
    log: list[dict],
) -> np.ndarray:
    """Greedy clustering of contradictory components; returns the cluster position per ``inside``."""
    names = uids.take(pa.array(inside)).to_pylist()
    within = links.take(np.isin(links.left, inside))
    rows = pd.DataFrame(
        {
            "record_l": uids.take(pa.array(within.left)).to_pylist(),
            "record_r": uids.take(pa.array(within.right)).to_pylist(),
            "match_probability": within.probability,
            "match_weight": within.weight,
            "rule": [RULES[i] for i in within.rule],
            "priority": within.rule,
            "component_key": uids.take(pa.array(component_first[within.left])).to_pylist(),
        },
        dtype=object,
    ).sort_values(
        ["priority", "match_probability", "match_weight", "record_l", "record_r"],
        ascending=[True, False, False, True, True],
        kind="stable",
    )
    apart_rows = _decided(decisions, "not_same")
    apart = set(
        zip(apart_rows.column("record_l").to_pylist(), apart_rows.column("record_r").to_pylist(), strict=True)
    )
    groups = _Groups(names, tokens.take(pa.array(inside)).to_pylist(), apart)
    for link in rows.to_dict("records"):
        _consider(groups, link, config, log)
    position = dict(zip(names, inside.tolist(), strict=True))
    key = {root: min(position[m] for m in groups.members[root]) for root in groups.members}
    return np.array([key[groups.root(uid)] for uid in names], dtype=np.int64)


def _consider(groups: _Groups, link: dict, config: MatchingConfig, log: list[dict]) -> None:
    """Join the two groups of a link unless a guard forbids it; log what a guard decided."""
    a, b = groups.root(link["record_l"]), groups.root(link["record_r"])
    if a == b:
        return
    reason = groups.conflict(a, b)
    if reason is None:
        groups.join(a, b)
        return
    by_reviewer = reason.startswith("a reviewer")
    overwhelming = link["match_weight"] >= config.thresholds.overwhelming_match_weight
    allowed = not by_reviewer and (link["rule"] == "reviewer_same" or overwhelming)
    if allowed:
        groups.join(a, b)
    guard = "joined_despite_conflict" if allowed else "kept_apart"
    row = {name: link[name] for name in [*GUARD_COLUMNS[:4], "component_key"]}
    log.append(row | {"guard": guard, "reason": reason})


def _match_rule_and_score(
    uids: pa.Array, component_first: np.ndarray, cluster: np.ndarray, links: _Links
) -> pa.Table:
    """Per record: the strongest link that holds it in its cluster, and that link's rule."""
    held = links.take(cluster[links.left] == cluster[links.right])
    ends = np.concatenate([held.left, held.right])
    rule = np.concatenate([held.rule, held.rule])
    probability = np.concatenate([held.probability, held.probability])
    order = np.lexsort((-probability, rule, ends))
    ends, rule, probability = ends[order], rule[order], probability[order]
    first = np.ones(len(ends), dtype=bool)
    first[1:] = ends[1:] != ends[:-1]
    size = len(uids)
    # A record no link holds is alone: the rule after the last one, ``single_record``.
    best_rule = np.full(size, len(RULES), dtype=np.int64)
    best_rule[ends[first]] = rule[first]
    score = np.full(size, np.nan)
    score[ends[first]] = probability[first]
    return pa.table(
        {
            "unique_id": uids,
            "component_key": uids.take(pa.array(component_first)),
            "cluster_key": uids.take(pa.array(cluster)),
            "match_rule": pa.array([*RULES, "single_record"], pa.string()).take(pa.array(best_rule)),
            "match_score": pa.array(score, pa.float64(), mask=np.isnan(score)),
        }
    )
