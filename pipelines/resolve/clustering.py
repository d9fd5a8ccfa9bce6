"""Clusters of records that are one person, with guards against over-merging.

Links come from three places: records sharing a valid number of an exclusive document type (the
deterministic rule), scored pairs at or above the link threshold, and reviewers' "same person"
decisions. Connected components of those links are the clusters, except where a component would
hold two different exclusive document numbers or a pair a reviewer called "not the same". Such a
component is rebuilt greedily, strongest link first, refusing every link that would join
contradictory records; every refusal (and every join allowed on overwhelming evidence) is logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.resolve.config import MatchingConfig

# Lower sorts first: the order in which a contradictory component is rebuilt.
RULE_PRIORITY = {"reviewer_same": 0, "same_id_number": 1, "probabilistic": 2}
GUARD_COLUMNS = ["record_l", "record_r", "match_probability", "match_weight", "guard", "reason"]


@dataclass
class Clustering:
    """Records with their cluster, and the guard decisions taken on the way.

    Attributes:
        assignments: ``unique_id, cluster_key, match_rule, match_score`` for every record.
        guard_log: One row per link refused or allowed against a guard (``GUARD_COLUMNS``).
    """

    assignments: pd.DataFrame
    guard_log: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=GUARD_COLUMNS))


def exclusive_tokens(frame: pd.DataFrame, config: MatchingConfig) -> pd.Series:
    """``id_type:id_key`` for records holding a valid number of an exclusive type, else None."""
    exclusive = frame["id_is_valid"].fillna(False).astype(bool) & frame["id_type"].isin(
        config.exclusive_id_types
    )
    token = frame["id_type"].astype("string") + ":" + frame["id_key"].astype("string")
    return token.astype(object).where(exclusive, None)


def same_id_links(records: pd.DataFrame) -> pd.DataFrame:
    """Star links from the first record of each exclusive-number group to the others."""
    holders = records[records["token"].notna()][["unique_id", "token"]]
    first = holders.groupby("token", as_index=False)["unique_id"].min()
    joined = holders.merge(first, on="token", suffixes=("", "_first"))
    joined = joined[joined["unique_id"] != joined["unique_id_first"]]
    return pd.DataFrame(
        {
            "record_l": joined["unique_id_first"].to_numpy(),
            "record_r": joined["unique_id"].to_numpy(),
            "match_probability": 1.0,
            "match_weight": np.inf,
            "rule": "same_id_number",
        }
    )


def candidate_links(
    records: pd.DataFrame, pairs: pd.DataFrame, decisions: pd.DataFrame, config: MatchingConfig
) -> pd.DataFrame:
    """Every link to consider: same number, scored above the threshold, reviewer "same".

    A pair a reviewer called "not the same" is never a link, whatever the evidence.
    """
    scored = pairs[(pairs["match_probability"] >= config.thresholds.link) & link_evidence(pairs, config)]
    scored = scored[["record_l", "record_r", "match_probability", "match_weight"]].assign(
        rule="probabilistic"
    )
    same = decisions[decisions["decision"] == "same"][["record_l", "record_r"]].assign(
        match_probability=1.0, match_weight=np.inf, rule="reviewer_same"
    )
    links = pd.concat([same_id_links(records), scored, same], ignore_index=True)
    known = set(records["unique_id"])
    links = links[links["record_l"].isin(known) & links["record_r"].isin(known)]
    return _without_pairs(links, decisions[decisions["decision"] == "not_same"])


def link_evidence(pairs: pd.DataFrame, config: MatchingConfig) -> pd.Series:
    """Whether each scored pair has the evidence an automatic link needs (``link_requires``)."""
    enough = pd.Series(False, index=pairs.index)
    for comparison, levels in config.link_requires.items():
        column = f"{comparison}_level"
        if column in pairs.columns:
            enough |= pairs[column].isin(levels)
    return enough if config.link_requires else ~enough


def _without_pairs(links: pd.DataFrame, excluded: pd.DataFrame) -> pd.DataFrame:
    if excluded.empty:
        return links
    keys = set(zip(excluded["record_l"], excluded["record_r"], strict=True))
    keep = [
        (a, b) not in keys and (b, a) not in keys
        for a, b in zip(links["record_l"], links["record_r"], strict=True)
    ]
    return links[keep]


def components(records: pd.DataFrame, links: pd.DataFrame) -> np.ndarray:
    """Connected-component label of every record (row order of ``records``)."""
    position = pd.Series(np.arange(len(records)), index=records["unique_id"])
    left = position.loc[links["record_l"]].to_numpy()
    right = position.loc[links["record_r"]].to_numpy()
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(len(records), len(records)))
    _, labels = connected_components(graph, directed=False)
    return labels


def cluster_records(
    frame: pd.DataFrame, pairs: pd.DataFrame, decisions: pd.DataFrame, config: MatchingConfig
) -> Clustering:
    """Cluster records into persons under the over-merging guards.

    Args:
        frame: ``unique_id, id_type, id_key, id_is_valid`` of every current record.
        pairs: Scored pairs ``record_l, record_r, match_probability, match_weight``.
        decisions: Reviewer decisions ``record_l, record_r, decision`` (same / not_same).
        config: The matching configuration (thresholds, exclusive document types).

    Returns:
        The clustering, with its guard log.
    """
    records = frame[["unique_id"]].assign(token=exclusive_tokens(frame, config).to_numpy())
    records = records.reset_index(drop=True)
    links = candidate_links(records, pairs, decisions, config)
    records["component"] = components(records, links)
    contradictory = _contradictory_components(records, decisions)
    records["cluster_key"] = records.groupby("component")["unique_id"].transform("min")
    log: list[dict] = []
    if contradictory:
        inside = records["component"].isin(contradictory)
        rebuilt = _rebuild(records[inside], links, decisions, config, log)
        records.loc[inside, "cluster_key"] = records.loc[inside, "unique_id"].map(rebuilt)
    assignments = _match_rule_and_score(records, links)
    guard_log = pd.DataFrame(log, columns=GUARD_COLUMNS)
    return Clustering(assignments=assignments, guard_log=guard_log)


def _contradictory_components(records: pd.DataFrame, decisions: pd.DataFrame) -> set[int]:
    tokens = records[records["token"].notna()]
    counts = tokens.groupby("component")["token"].nunique()
    found = set(counts[counts > 1].index)
    apart = decisions[decisions["decision"] == "not_same"]
    if not apart.empty:
        component = records.set_index("unique_id")["component"]
        left = component.reindex(apart["record_l"]).to_numpy()
        right = component.reindex(apart["record_r"]).to_numpy()
        found |= {int(a) for a, b in zip(left, right, strict=True) if a == b and not pd.isna(a)}
    return {int(c) for c in found}


class _Groups:
    """Union-find over records, each group knowing its exclusive numbers and its members."""

    def __init__(self, records: pd.DataFrame, apart: set[tuple[str, str]]) -> None:
        self.parent = {uid: uid for uid in records["unique_id"]}
        self.tokens: dict[str, dict[str, str]] = {uid: {} for uid in self.parent}
        for uid, token in zip(records["unique_id"], records["token"], strict=True):
            if isinstance(token, str):
                id_type, _, number = token.partition(":")
                self.tokens[uid] = {id_type: number}
        self.members = {uid: {uid} for uid in self.parent}
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
    records: pd.DataFrame,
    links: pd.DataFrame,
    decisions: pd.DataFrame,
    config: MatchingConfig,
    log: list[dict],
) -> dict[str, str]:
    """Greedy clustering of contradictory components; returns unique_id → cluster key."""
    members = set(records["unique_id"])
    inside = links[links["record_l"].isin(members)]
    inside = inside.assign(priority=inside["rule"].map(RULE_PRIORITY)).sort_values(
        ["priority", "match_probability", "match_weight", "record_l", "record_r"],
        ascending=[True, False, False, True, True],
    )
    apart_rows = decisions[decisions["decision"] == "not_same"]
    apart = set(zip(apart_rows["record_l"], apart_rows["record_r"], strict=True))
    groups = _Groups(records, apart)
    for link in inside.to_dict("records"):
        _consider(groups, link, config, log)
    roots = {uid: groups.root(uid) for uid in members}
    key = {root: min(groups.members[root]) for root in set(roots.values())}
    return {uid: key[root] for uid, root in roots.items()}


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
    log.append({name: link[name] for name in GUARD_COLUMNS[:4]} | {"guard": guard, "reason": reason})


def _match_rule_and_score(records: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Per record: the strongest link that holds it in its cluster, and that link's rule."""
    cluster = records.set_index("unique_id")["cluster_key"]
    held = links[
        cluster.reindex(links["record_l"]).to_numpy() == cluster.reindex(links["record_r"]).to_numpy()
    ]
    ends = pd.concat(
        [
            held[["record_l", "rule", "match_probability"]].rename(columns={"record_l": "unique_id"}),
            held[["record_r", "rule", "match_probability"]].rename(columns={"record_r": "unique_id"}),
        ]
    )
    ends = ends.assign(priority=ends["rule"].map(RULE_PRIORITY)).sort_values(
        ["unique_id", "priority", "match_probability"], ascending=[True, True, False]
    )
    best = ends.drop_duplicates("unique_id").set_index("unique_id")
    out = records[["unique_id", "cluster_key"]].copy()
    out["match_rule"] = best["rule"].reindex(out["unique_id"]).fillna("single_record").to_numpy()
    out["match_score"] = best["match_probability"].reindex(out["unique_id"]).to_numpy()
    return out
