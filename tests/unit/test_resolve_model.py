"""Training leaves no level's weight to the luck of the random sample, nor to the matches in it."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.resolve.config import matching_config
from pipelines.resolve.model import bound_unseen_u, discount_matches_from_u
from pipelines.resolve.scoring import term_frequencies


def settings(*levels: dict[str, object]) -> dict[str, object]:
    return {"comparisons": [{"output_column_name": "id_number", "comparison_levels": list(levels)}]}


@pytest.mark.parametrize(
    ("level", "u"),
    [
        ({"label_for_charts": "null", "is_null_level": True}, None),
        ({"label_for_charts": "same number", "m_probability": 0.9, "u_probability": 1e-6}, 1e-6),
        ({"label_for_charts": "one character apart", "m_probability": 0.006}, 3 / 2_000_000),
        ({"label_for_charts": "never reached by EM either", "u_probability": None}, 3 / 2_000_000),
    ],
)
def test_unreached_levels_get_the_rule_of_three_bound(level: dict[str, object], u: float | None) -> None:
    trained = bound_unseen_u(settings(dict(level)), sampled_pairs=2_000_000)
    assert trained["comparisons"][0]["comparison_levels"][0].get("u_probability") == u


def test_a_small_population_bounds_by_the_pairs_it_has() -> None:
    trained = bound_unseen_u(settings({"label_for_charts": "swapped"}), sampled_pairs=10)
    assert trained["comparisons"][0]["comparison_levels"][0]["u_probability"] == pytest.approx(0.3)


def trained_settings(prior: float, *levels: dict[str, object]) -> dict[str, object]:
    return settings(*levels) | {"probability_two_random_records_match": prior}


def test_matches_among_random_pairs_are_taken_out_of_u() -> None:
    """u is solved from random pairs' rate p*m + (1-p)*u, p being the pairs the prior rules find."""
    levels = (
        {"label_for_charts": "same birth date", "m_probability": 0.9, "u_probability": 1e-4},
        {"label_for_charts": "same number", "m_probability": 0.9, "u_probability": 5e-5},
        {"label_for_charts": "different", "m_probability": 0.05, "u_probability": 0.99},
        {"label_for_charts": "not reached by EM", "u_probability": 2e-3},
    )
    trained = discount_matches_from_u(trained_settings(1e-4, *levels), 0.7, sampled_pairs=2_000_000)
    u = [level["u_probability"] for level in trained["comparisons"][0]["comparison_levels"]]
    matches = 1e-4 * 0.7
    assert u[0] == pytest.approx((1e-4 - matches * 0.9) / (1 - matches))
    # every pair reaching it is explained by matches: what no sample of this size tells from zero
    assert u[1] == pytest.approx(3 / 2_000_000)
    assert u[2] == pytest.approx((0.99 - matches * 0.05) / (1 - matches))
    assert u[3] == 2e-3


def test_term_frequency_is_the_share_of_other_records_holding_the_value() -> None:
    """A record is never compared with itself: a name held by 3 of 5 records is shared by 2 of 4 others."""
    connection = duckdb.connect()
    connection.execute("create table frame as select unnest(['A', 'A', 'A', 'B', 'C', null]) as name")
    frequencies = term_frequencies(connection, "frame", matching_config())["name"].to_pylist()
    assert frequencies == [
        {"name": "A", "tf_name": pytest.approx(2 / 4)},
        {"name": "B", "tf_name": pytest.approx(1 / 4)},
        {"name": "C", "tf_name": pytest.approx(1 / 4)},
    ]
