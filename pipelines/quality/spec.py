"""The typed form of a data-quality check, as declared in ``schemas/checks.yaml`` and contracts.

A check says what to expect of a batch (``expect`` and its parameters), which quality dimension it
measures, and how bad a failure is: ``warn`` is reported, ``block`` stops the publish. Checks are
declared once, in YAML; the Great Expectations suites are generated from these objects.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CHECKS_PATH = Path(__file__).resolve().parents[2] / "schemas" / "checks.yaml"

Dimension = Literal["completeness", "validity", "uniqueness", "consistency", "timeliness", "cross_source"]
Severity = Literal["warn", "block"]
Expect = Literal[
    "not_null", "unique", "in_set", "match_regex", "between", "rule_pass", "agree", "fresh", "linked"
]
DIMENSIONS: tuple[str, ...] = Dimension.__args__  # type: ignore[attr-defined]

# Parameters each kind of expectation needs (checked when a check is loaded).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "not_null": ("column",),
    "unique": ("column",),
    "in_set": ("column", "values"),
    "match_regex": ("column", "regex"),
    "between": ("column",),
    "rule_pass": ("rule",),
    "agree": ("field",),
    "fresh": (),
    "linked": (),
}
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class CheckSpec(BaseModel):
    """One declared data-quality check.

    Attributes:
        id: Snake-case name, unique among a source's checks (``check_id`` in ``dq_result``).
        dimension: The quality dimension it measures.
        severity: ``warn`` (reported) or ``block`` (a failure stops the publish).
        expect: The kind of expectation: ``not_null``, ``unique``, ``in_set``, ``match_regex``,
            ``between`` (on a column), ``rule_pass`` (share of rows without a row-level rule's
            finding or quarantine), ``agree`` (share of records whose resident's sources agree on
            a field), ``fresh`` (age of the newest batch against the schedule), ``linked``
            (warehouse, table ``source_record``: every staged record has a link of its own batch,
            and every link a record).
        column: The column (``not_null``, ``unique``, ``in_set``, ``match_regex``, ``between``).
        values: The allowed values (``in_set``).
        regex: The pattern every value matches (``match_regex``).
        min: Lower bound (``between``); ``today`` means the validation date.
        max: Upper bound (``between``); ``today`` means the validation date.
        rule: A row-level rule id from ``schemas/quality_rules.yaml`` (``rule_pass``).
        field: A conflict field (``conflict: true`` in ``schemas/canonical.yaml``) (``agree``).
        schedule_periods: ``fresh``: how many schedule intervals a batch may be old.
        max_age_hours: ``fresh``: the allowed age when the source has no schedule.
        mostly: Share of rows that must pass (1.0: every row).
        table: Warehouse checks only: the table checked.
        integrity: The check guards gridsync's own output (every record linked, resident ids
            unique), not data a department sent: one failure is a defect of gridsync itself.
        description: What the check protects, for the auditors' report.

    ``block`` is for systemic failure only: a block check on data must tolerate some failing rows
    (``mostly`` below 1), so that one bad record or resident never stops a district's publish; it
    is flagged, listed and routed by a ``warn`` check instead. Only ``integrity`` checks may block
    on a single row.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    dimension: Dimension
    severity: Severity = "warn"
    expect: Expect
    column: str | None = None
    values: tuple[str, ...] = ()
    regex: str | None = None
    min: Any = None
    max: Any = None
    rule: str | None = None
    field: str | None = None
    schedule_periods: float = Field(default=2.0, gt=0)
    max_age_hours: float = Field(default=48.0, gt=0)
    mostly: float = Field(default=1.0, ge=0.0, le=1.0)
    table: str | None = None
    integrity: bool = False
    description: str = ""

    @field_validator("id")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{value!r} is not snake_case")
        return value

    @model_validator(mode="after")
    def _parameters_of_the_expectation(self) -> CheckSpec:
        missing = [name for name in _REQUIRED[self.expect] if not getattr(self, name)]
        if missing:
            raise ValueError(f"check {self.id!r}: expect {self.expect} needs {missing}")
        if self.expect == "between" and self.min is None and self.max is None:
            raise ValueError(f"check {self.id!r}: expect between needs min or max")
        if self.severity == "block" and self.mostly >= 1.0 and self.expect != "fresh" and not self.integrity:
            raise ValueError(
                f"check {self.id!r}: a block check needs mostly below 1 (block is for systemic "
                "failure; one failing row is a warn check's finding)"
            )
        return self

    @property
    def threshold_text(self) -> str:
        """The pass condition in words, for reports and error messages."""
        if self.expect == "fresh":
            return f"newest batch at most {self.schedule_periods:g} schedule periods old"
        return "every row" if self.mostly >= 1.0 else f"at least {self.mostly:.2%} of rows"


class CheckCatalogue(BaseModel):
    """``schemas/checks.yaml``: checks every source gets, and checks of the published warehouse."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: tuple[CheckSpec, ...] = ()
    warehouse: tuple[CheckSpec, ...] = ()

    @model_validator(mode="after")
    def _unique_ids_and_tables(self) -> CheckCatalogue:
        for group in (self.defaults, self.warehouse):
            ids = [check.id for check in group]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"check ids declared twice: {repeated}")
        untabled = [check.id for check in self.warehouse if not check.table]
        if untabled:
            raise ValueError(f"warehouse checks need a table: {untabled}")
        return self


@cache
def check_catalogue(path: Path = CHECKS_PATH) -> CheckCatalogue:
    """The declared default and warehouse checks.

    Args:
        path: The catalogue file; ``schemas/checks.yaml`` by default.

    Returns:
        The validated catalogue.
    """
    return CheckCatalogue.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def source_checks(contract_checks: tuple[CheckSpec, ...]) -> tuple[CheckSpec, ...]:
    """The checks of one source: the defaults, with the contract's own checks replacing by id.

    Args:
        contract_checks: The ``checks:`` of the source's contract.

    Returns:
        Every check to run on the source's batches, defaults first.
    """
    own = {check.id: check for check in contract_checks}
    merged = [own.pop(check.id, check) for check in check_catalogue().defaults]
    return tuple(merged) + tuple(own.values())
