"""Training leaves no level's weight to the luck of the random sample."""

from __future__ import annotations

import pytest

from pipelines.resolve.model import bound_unseen_u


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
