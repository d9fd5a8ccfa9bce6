"""Run the declared checks with Great Expectations on every source's newest batch and the warehouse.

One ephemeral Great Expectations context serves a whole run: a pandas datasource with one dataframe
asset per frame, the suites generated from the checks, one validation definition per suite.
Column checks are validated with ``result_format`` COMPLETE keyed by the record id, so every failing
row is kept (the index list is not capped; only the value sample is); the others are summarized.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from pipelines.contracts import SourceContract
from pipelines.publish import Snapshot, TableData
from pipelines.quality.frames import (
    KEPT_FLAG,
    batch_frame,
    checked_column,
    column_names,
    is_applicable,
    link_frame,
    read_rows,
)
from pipelines.quality.spec import CheckSpec, check_catalogue, source_checks

log = logging.getLogger(__name__)

WAREHOUSE = "warehouse"

DQ_CHECK_RESULT_SCHEMA = pa.schema(
    [
        ("source_system", pa.string()),
        ("batch_id", pa.string()),
        ("check_id", pa.string()),
        ("check_kind", pa.string()),
        ("dimension", pa.string()),
        ("severity", pa.string()),
        ("expectation", pa.string()),
        ("column", pa.string()),
        ("threshold", pa.float64()),
        ("checked_rows", pa.int64()),
        ("failed_rows", pa.int64()),
        ("pass_rate", pa.float64()),
        ("is_passed", pa.bool_()),
        ("observed_value", pa.string()),
        ("description", pa.string()),
        ("run_id", pa.string()),
        ("validated_at", pa.string()),
    ]
)

DQ_CHECK_FAILURE_SCHEMA = pa.schema(
    [
        ("source_system", pa.string()),
        ("source_record_id", pa.string()),
        ("batch_id", pa.string()),
        ("check_id", pa.string()),
        ("column", pa.string()),
        ("value", pa.string()),
    ]
)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one batch (one ``dq_result`` row of kind ``expectation``)."""

    source_system: str
    batch_id: str
    check_id: str
    check_kind: str
    dimension: str
    severity: str
    expectation: str
    column: str | None
    threshold: float
    checked_rows: int
    failed_rows: int
    pass_rate: float
    is_passed: bool
    observed_value: str | None
    description: str
    run_id: str
    validated_at: str

    @property
    def headline(self) -> str:
        """One line naming source, check and failing count."""
        if self.expectation == "expect_column_max_to_be_between":
            return (
                f"source {self.source_system}, check {self.check_id}: newest batch is "
                f"{self.observed_value} hours old (allowed {self.threshold:g})"
            )
        return (
            f"source {self.source_system}, check {self.check_id}: {self.failed_rows} of "
            f"{self.checked_rows} rows fail (needs {self.threshold:.2%} to pass)"
        )


class QualityGateFailed(RuntimeError):
    """A blocking check failed, so the publish stopped and the last good snapshot stays live.

    Attributes:
        failures: The failed blocking checks.
    """

    def __init__(self, failures: Sequence[CheckResult]) -> None:
        self.failures = tuple(failures)
        first = self.failures[0]
        more = f" (and {len(self.failures) - 1} more blocking checks)" if len(failures) > 1 else ""
        super().__init__(f"publish blocked: {first.headline}{more}")

    @property
    def source_system(self) -> str:
        """The source of the first failed blocking check."""
        return self.failures[0].source_system


@dataclass(frozen=True)
class QualityOutcome:
    """Every check result of a run, and every row that failed a column check."""

    results: tuple[CheckResult, ...]
    failing_rows: pa.Table

    @property
    def blocking_failures(self) -> list[CheckResult]:
        """Failed checks of severity ``block``."""
        return [r for r in self.results if r.severity == "block" and not r.is_passed]

    def results_table(self) -> pa.Table:
        """The results as a ``dq_check_result`` table."""
        rows = [asdict(result) for result in self.results]
        return pa.Table.from_pylist(rows, schema=DQ_CHECK_RESULT_SCHEMA)

    def raise_if_blocked(self) -> None:
        """Raise :class:`QualityGateFailed` when a blocking check failed."""
        if self.blocking_failures:
            raise QualityGateFailed(self.blocking_failures)


def warm_up() -> None:
    """Start importing Great Expectations in the background (it takes about 10 s).

    The flow calls this before identity resolution, so the import overlaps with it instead of
    adding to the run; :class:`Validator` then finds the module loaded (Python's import lock makes
    a second import wait for the first).
    """
    threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True).start()


def allowed_age_hours(schedule: str | None, check: CheckSpec, now: dt.datetime) -> float:
    """How old a source's newest batch may be: schedule intervals, or the declared hours."""
    if not schedule:
        return check.max_age_hours
    from croniter import croniter

    fire = croniter(schedule, now)
    following = fire.get_next(dt.datetime)
    interval = fire.get_next(dt.datetime) - following
    return interval.total_seconds() / 3600 * check.schedule_periods


class Validator:
    """One ephemeral Great Expectations context, validating frames against generated suites."""

    def __init__(self, run_id: str, now: dt.datetime) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.run_id, self.now = run_id, now
        # Its INFO lines (a temporary docs folder per context) are noise in a run's output.
        # GE sets INFO on some of its own loggers, so the parent's level is not enough.
        for name in ("great_expectations", "great_expectations.data_context.types.base"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.datasource = self.context.data_sources.add_pandas("gridsync")

    def validate(
        self,
        target: tuple[str, str],
        frame: pd.DataFrame,
        checks: tuple[CheckSpec, ...],
        key_column: str,
        max_age_hours: float = 0.0,
    ) -> tuple[list[CheckResult], pa.Table]:
        """Validate one frame.

        Args:
            target: ``(source_system, batch_id)`` the results are filed under.
            frame: The rows.
            checks: The checks to run on them.
            key_column: The column that identifies a failing row.
            max_age_hours: Allowed batch age for ``fresh`` checks.

        Returns:
            One result per check, and the failing rows of column checks.
        """
        import great_expectations as gx

        from pipelines.quality.suites import build_suites

        name = f"{target[0]}.{len(self.datasource.assets)}"
        definition = self.datasource.add_dataframe_asset(name).add_batch_definition_whole_dataframe("batch")
        by_id = {check.id: check for check in checks}
        results: list[CheckResult] = []
        failing: list[dict[str, Any]] = []
        kept_only = KEPT_FLAG in frame.columns
        try:
            for suite in build_suites(name, checks, self.now.date(), max_age_hours, kept_only):
                if not suite.expectations:
                    continue
                complete = suite.name.endswith(".rows")
                validation = self.context.validation_definitions.add(
                    gx.ValidationDefinition(
                        name=suite.name, data=definition, suite=self.context.suites.add(suite)
                    )
                )
                outcome = validation.run(
                    batch_parameters={"dataframe": frame},
                    result_format=_result_format(complete, key_column),
                )
                for result in outcome.results:
                    config: Any = result.expectation_config
                    check = by_id[config.meta["check_id"]]
                    results.append(self._check_result(target, check, result))
                    if complete:
                        failing += _failing_rows(target, check, result.result, key_column)
        finally:
            self._forget_batches()
        return results, pa.Table.from_pylist(failing, schema=DQ_CHECK_FAILURE_SCHEMA)

    def _forget_batches(self) -> None:
        """Drop the frames Great Expectations keeps of every batch it loaded.

        Its execution engine caches each loaded batch for the context's lifetime; without this a
        run would hold every source's frame at once.
        """
        batches = self.datasource.get_execution_engine().batch_manager
        batches.reset_batch_cache()
        batches.batch_data_cache.clear()

    def _check_result(self, target: tuple[str, str], check: CheckSpec, result: Any) -> CheckResult:
        details = result.result
        exception = result.exception_info or {}
        if exception.get("raised_exception"):
            raise RuntimeError(
                f"source {target[0]}, check {check.id}: Great Expectations could not evaluate "
                f"it: {exception.get('exception_message')}"
            )
        if check.expect == "fresh":
            checked, failed, observed = 1, 0 if result.success else 1, details["observed_value"]
            threshold = float(result.expectation_config.kwargs["max_value"])
        else:
            checked = int(details["element_count"]) - int(details.get("missing_count") or 0)
            failed, observed = int(details["unexpected_count"]), None
            threshold = check.mostly
        return CheckResult(
            source_system=target[0],
            batch_id=target[1],
            check_id=check.id,
            check_kind="expectation",
            dimension=check.dimension,
            severity=check.severity,
            expectation=result.expectation_config.type,
            column=checked_column(check),
            threshold=threshold,
            checked_rows=checked,
            failed_rows=failed,
            pass_rate=round(1 - failed / checked, 6) if checked else 1.0,
            is_passed=bool(result.success),
            observed_value=None if observed is None else str(observed),
            description=check.description,
            run_id=self.run_id,
            validated_at=self.now.isoformat(),
        )


def _result_format(complete: bool, key_column: str) -> dict[str, Any]:
    if not complete:
        return {"result_format": "SUMMARY", "partial_unexpected_count": 0}
    return {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": [key_column],
        "return_unexpected_index_query": False,
        "partial_unexpected_count": 0,
    }


def _failing_rows(
    target: tuple[str, str], check: CheckSpec, details: Mapping[str, Any], key_column: str
) -> list[dict[str, Any]]:
    column = checked_column(check)
    rows = []
    for entry in details.get("unexpected_index_list") or []:
        value = entry.get(column) if column else None
        rows.append(
            {
                "source_system": target[0],
                "source_record_id": None if entry[key_column] is None else str(entry[key_column]),
                "batch_id": target[1],
                "check_id": check.id,
                "column": column,
                "value": None if value is None or pd.isna(value) else str(value),
            }
        )
    return rows


def validate_run(
    tables: Mapping[str, TableData],
    contracts: Sequence[SourceContract],
    run_id: str,
    now: dt.datetime | None = None,
) -> QualityOutcome:
    """Run every source's checks on its newest staged batch, then the warehouse checks.

    Args:
        tables: The tables about to be published (see ``flow.warehouse_tables``); each check
            reads only the columns and rows it needs.
        contracts: The contracts of the sources being published.
        run_id: The current run.
        now: The validation time (UTC); the current time by default.

    Returns:
        Every check result and every failing row of a column check.
    """
    now = now or dt.datetime.now(dt.UTC)
    validator = Validator(run_id, now)
    results: list[CheckResult] = []
    failing: list[pa.Table] = [DQ_CHECK_FAILURE_SCHEMA.empty_table()]
    for contract in contracts:
        found, rows = _validate_source(validator, tables, contract)
        results += found
        failing.append(rows)
    for table, checks in _warehouse_checks_by_table().items():
        linked = tuple(c for c in checks if c.expect == "linked")
        if linked:
            found, rows = _validate_links(validator, tables, linked)
            results += found
            failing.append(rows)
            checks = tuple(c for c in checks if c.expect != "linked")
        if not checks:
            continue
        found, rows = _validate_warehouse_table(validator, tables[table], checks)
        results += found
        failing.append(rows)
    pa.default_memory_pool().release_unused()  # the frames' memory, for the publish that follows
    return QualityOutcome(tuple(results), pa.concat_tables(failing))


def _validate_source(
    validator: Validator, tables: Mapping[str, TableData], contract: SourceContract
) -> tuple[list[CheckResult], pa.Table]:
    """A source's checks on its newest staged batch (none when it has no staged batch)."""
    mapped = set(contract.fields)
    checks = tuple(c for c in source_checks(contract.checks) if is_applicable(c, mapped))
    batch = batch_frame(tables, contract.name, checks, validator.now)
    if batch is None:
        return [], DQ_CHECK_FAILURE_SCHEMA.empty_table()
    fresh = [c for c in checks if c.expect == "fresh"]
    max_age = allowed_age_hours(contract.schedule, fresh[0], validator.now) if fresh else 0.0
    target = (contract.name, batch.batch_id)
    return validator.validate(target, batch.frame, checks, "source_record_id", max_age)


def _validate_warehouse_table(
    validator: Validator, table: TableData, checks: tuple[CheckSpec, ...]
) -> tuple[list[CheckResult], pa.Table]:
    """The warehouse checks of one table, on its key column and the checked columns only."""
    key = "source_record_id" if "source_record_id" in column_names(table) else "resident_id"
    columns = list(dict.fromkeys([key] + [c.column for c in checks if c.column]))
    frame = read_rows(table, columns).to_pandas()
    return validator.validate((WAREHOUSE, validator.run_id), frame, checks, key)


def _validate_links(
    validator: Validator, tables: Mapping[str, TableData], checks: tuple[CheckSpec, ...]
) -> tuple[list[CheckResult], pa.Table]:
    """The ``linked`` checks: staged records against the crosswalk."""
    frame = link_frame(tables["source_record"], tables["resident_source_link"])
    return validator.validate((WAREHOUSE, validator.run_id), frame, checks, "source_record_id")


def _warehouse_checks_by_table() -> dict[str, tuple[CheckSpec, ...]]:
    grouped: dict[str, list[CheckSpec]] = {}
    for check in check_catalogue().warehouse:
        grouped.setdefault(check.table or "", []).append(check)
    return {table: tuple(checks) for table, checks in grouped.items()}


SNAPSHOT_TABLES = (
    "source_record",
    "quarantine",
    "dq_finding",
    "resident",
    "resident_source_link",
    "resident_conflict",
    "load_batch",
)


def validate_snapshot(
    snapshot: Snapshot, contracts: Sequence[SourceContract], now: dt.datetime | None = None
) -> QualityOutcome:
    """Run every check again on a published snapshot (an audit of what is live).

    Args:
        snapshot: A :class:`~pipelines.publish.Snapshot`.
        contracts: The contracts of its sources.
        now: The validation time (UTC); the current time by default.

    Returns:
        The results, filed under run id ``audit-<snapshot_id>``.
    """
    tables: dict[str, TableData] = {name: (snapshot.parquet(name),) for name in SNAPSHOT_TABLES}
    return validate_run(tables, contracts, f"audit-{snapshot.snapshot_id}", now)
