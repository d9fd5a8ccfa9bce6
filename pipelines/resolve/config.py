"""The matching configuration: a typed, serializable object declared in ``schemas/matching.yaml``.

It is the single declaration of comparisons, blocking rules, training and thresholds. The Splink
settings are generated from it, and it is saved with the trained model so that a run can be
reproduced and a model is only reused under the configuration it was trained with.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

MATCHING_PATH = Path(__file__).resolve().parents[2] / "schemas" / "matching.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ComparisonLevelSpec(_Frozen):
    """One level of a comparison: a SQL condition on ``<column>_l`` / ``<column>_r``."""

    label: str
    sql: str = ""
    is_null: bool = False
    is_else: bool = False
    tf_adjustment_column: str | None = None

    @model_validator(mode="after")
    def _has_condition(self) -> ComparisonLevelSpec:
        if not self.is_else and not self.sql:
            raise ValueError(f"level {self.label!r} needs `sql` or `is_else: true`")
        return self

    def splink_level(self) -> dict[str, Any]:
        """The level as a Splink comparison-level dictionary."""
        level: dict[str, Any] = {
            "sql_condition": "ELSE" if self.is_else else self.sql,
            "label_for_charts": self.label,
        }
        if self.is_null:
            level["is_null_level"] = True
        if self.tf_adjustment_column:
            level["tf_adjustment_column"] = self.tf_adjustment_column
            level["tf_adjustment_weight"] = 1.0
        return level


class ComparisonSpec(_Frozen):
    """One comparison (one field of evidence), its levels from most to least similar."""

    name: str
    description: str
    levels: tuple[ComparisonLevelSpec, ...]

    def splink_comparison(self) -> dict[str, Any]:
        """The comparison as a Splink comparison dictionary."""
        return {
            "output_column_name": self.name,
            "comparison_description": self.description,
            "comparison_levels": [level.splink_level() for level in self.levels],
        }


class Thresholds(_Frozen):
    """Decision thresholds (policy, not fitted to any ground truth)."""

    link: float
    review: float
    overwhelming_match_weight: float


class TrainingSpec(_Frozen):
    """How the model is trained without labels."""

    u_max_pairs: float
    prior_rules: tuple[str, ...]
    prior_recall: float
    em_blocking_rules: tuple[str, ...]
    em_max_pairs: float = 1e6
    em_max_iterations: int = 25


class MatchingConfig(_Frozen):
    """Everything that decides how records are matched; saved with the trained model."""

    version: int
    seed: int
    thresholds: Thresholds
    link_requires: dict[str, tuple[str, ...]]
    exclusive_id_types: tuple[str, ...]
    max_block_key_frequency: int
    training: TrainingSpec
    blocking_rules: tuple[str, ...]
    comparisons: tuple[ComparisonSpec, ...]

    @model_validator(mode="after")
    def _link_requires_known_levels(self) -> MatchingConfig:
        labels = {c.name: {level.label for level in c.levels} for c in self.comparisons}
        for name, levels in self.link_requires.items():
            unknown = set(levels) - labels.get(name, set())
            if unknown:
                raise ValueError(f"link_requires: {name} has no level(s) {sorted(unknown)}")
        return self

    @property
    def fingerprint(self) -> str:
        """A hash of the whole configuration (a model is reused only under the same one)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def splink_settings(self) -> dict[str, Any]:
        """The untrained Splink settings dictionary for deduplicating the matching frame."""
        return {
            "link_type": "dedupe_only",
            "unique_id_column_name": "unique_id",
            "probability_two_random_records_match": 1e-6,
            "blocking_rules_to_generate_predictions": list(self.blocking_rules),
            "comparisons": [c.splink_comparison() for c in self.comparisons],
            "retain_intermediate_calculation_columns": True,
            "retain_matching_columns": True,
            "max_iterations": self.training.em_max_iterations,
            "em_convergence": 0.0001,
        }

    def level_labels(self) -> dict[str, dict[int, str]]:
        """For each comparison, its level labels by Splink's gamma value (-1 for missing)."""
        labels: dict[str, dict[int, str]] = {}
        for comparison in self.comparisons:
            ranked = [level for level in comparison.levels if not level.is_null]
            count = len(ranked)
            by_gamma = {count - 1 - index: level.label for index, level in enumerate(ranked)}
            null = " / ".join(level.label for level in comparison.levels if level.is_null) or "missing"
            labels[comparison.name] = by_gamma | {-1: null}
        return labels


def parse_matching_config(document: dict[str, Any]) -> MatchingConfig:
    """Validate a matching configuration document.

    Args:
        document: The YAML document as a dictionary.

    Returns:
        The validated configuration.
    """
    return MatchingConfig.model_validate(document)


@cache
def matching_config(path: Path = MATCHING_PATH) -> MatchingConfig:
    """The declared matching configuration (``schemas/matching.yaml`` by default)."""
    return parse_matching_config(yaml.safe_load(path.read_text(encoding="utf-8")))
