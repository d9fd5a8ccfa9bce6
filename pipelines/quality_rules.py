"""The catalogue of row-level data-quality rules, loaded once from ``schemas/quality_rules.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

RULES_PATH = Path(__file__).resolve().parent.parent / "schemas" / "quality_rules.yaml"


@dataclass(frozen=True)
class QualityRule:
    """One declared rule: what it checks, how bad a failure is, and what happens to the row."""

    rule_id: str
    action: str
    dimension: str
    severity: str
    description: str


@cache
def quality_rules() -> dict[str, QualityRule]:
    """Return the declared rules by id."""
    declared = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))["rules"]
    return {rule_id: QualityRule(rule_id=rule_id, **spec) for rule_id, spec in declared.items()}


def rule(rule_id: str) -> QualityRule:
    """Look a rule up by id; an unknown id is a programming error and raises ``KeyError``."""
    return quality_rules()[rule_id]
