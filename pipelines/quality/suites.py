"""Generate Great Expectations suites from declared checks.

Each :class:`~pipelines.quality.spec.CheckSpec` becomes one expectation, tagged with its check id in
``meta`` so results are read back by id. Checks whose failing rows we keep (column checks) and
checks whose failing rows already live elsewhere (rule findings, conflicts, batch age) go to two
suites, validated with different result formats.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation

from pipelines.quality.frames import (
    BATCH_AGE_COLUMN,
    KEPT_FLAG,
    LINKED_COLUMN,
    disagreement_column,
    rule_flag_column,
)
from pipelines.quality.spec import CheckSpec

# Kinds whose every failing row is listed (result_format COMPLETE); the others are summarized.
ROW_KINDS = frozenset({"not_null", "unique", "in_set", "match_regex", "between", "linked"})


def _date_bound(value: Any, today: dt.date) -> Any:
    if value == "today":
        return today
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def expectation_for(
    check: CheckSpec, today: dt.date, max_age_hours: float, kept_rows_only: bool = False
) -> Expectation:
    """The Great Expectations expectation that evaluates a check.

    Args:
        check: The declared check.
        today: The validation date (for ``between`` bounds written as ``today``).
        max_age_hours: The allowed batch age (``fresh`` checks), from the source's schedule.
        kept_rows_only: ``not_null`` counts only kept records (a quarantined row's canonical
            columns are empty because it was rejected, not because the source left them empty).

    Returns:
        One expectation, with ``meta.check_id`` set.
    """
    meta = {"check_id": check.id}
    column = check.column or ""
    if check.expect == "not_null":
        if kept_rows_only:
            return gxe.ExpectColumnValuesToNotBeNull(
                column=column,
                mostly=check.mostly,
                meta=meta,
                row_condition=f"{KEPT_FLAG} == False",
                condition_parser="pandas",
            )
        return gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=check.mostly, meta=meta)
    if check.expect == "unique":
        return gxe.ExpectColumnValuesToBeUnique(column=column, mostly=check.mostly, meta=meta)
    if check.expect == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(
            column=column, value_set=list(check.values), mostly=check.mostly, meta=meta
        )
    if check.expect == "match_regex":
        return gxe.ExpectColumnValuesToMatchRegex(
            column=column, regex=check.regex or "", mostly=check.mostly, meta=meta
        )
    if check.expect == "between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=_date_bound(check.min, today),
            max_value=_date_bound(check.max, today),
            mostly=check.mostly,
            meta=meta,
        )
    if check.expect == "linked":
        return gxe.ExpectColumnValuesToBeInSet(
            column=LINKED_COLUMN, value_set=[True], mostly=check.mostly, meta=meta
        )
    if check.expect == "fresh":
        return gxe.ExpectColumnMaxToBeBetween(
            column=BATCH_AGE_COLUMN, max_value=round(max_age_hours, 3), meta=meta
        )
    flagged = (
        rule_flag_column(check.rule or "")
        if check.expect == "rule_pass"
        else disagreement_column(check.field or "")
    )
    return gxe.ExpectColumnValuesToBeInSet(column=flagged, value_set=[False], mostly=check.mostly, meta=meta)


def build_suites(
    name: str,
    checks: tuple[CheckSpec, ...],
    today: dt.date,
    max_age_hours: float,
    kept_rows_only: bool = False,
) -> tuple[gx.ExpectationSuite, gx.ExpectationSuite]:
    """Two suites for one frame: column checks (rows listed) and summarized checks.

    Args:
        name: Suite name prefix (the source, or ``warehouse.<table>``).
        checks: The checks to compile.
        today: The validation date.
        max_age_hours: The allowed batch age for ``fresh`` checks.
        kept_rows_only: The frame has quarantined rows; ``not_null`` skips them.

    Returns:
        ``(row_suite, summary_suite)``.
    """
    row_suite = gx.ExpectationSuite(name=f"{name}.rows")
    summary_suite = gx.ExpectationSuite(name=f"{name}.summary")
    for check in checks:
        suite = row_suite if check.expect in ROW_KINDS else summary_suite
        suite.add_expectation(expectation_for(check, today, max_age_hours, kept_rows_only))
    return row_suite, summary_suite
