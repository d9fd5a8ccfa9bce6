"""Checks run with Great Expectations on hand-built batches: counts, every failing row, the gate."""

from __future__ import annotations

import datetime as dt
import gc
import json
import weakref
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.canonical import FINDING_SCHEMA, QUARANTINE_SCHEMA, staged_schema
from pipelines.contracts import SourceContract
from pipelines.publish import TableData
from pipelines.quality.spec import check_catalogue
from pipelines.quality.validate import QualityGateFailed, Validator, validate_run

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
BATCH = "b1"


def contract(schedule: str | None = None, checks: tuple[dict[str, object], ...] = ()) -> SourceContract:
    return SourceContract.model_validate(
        {
            "name": "clinic",
            "title": "Clinic",
            "owner": "Health bureau",
            "connection": "sqlite://",
            "table": "patients",
            "primary_key": "no",
            "schedule": schedule,
            "fields": {"id_number": "doc", "name": "nm", "deceased": "dead"},
            "checks": checks,
        }
    )


def tables(
    records: list[dict[str, object]],
    findings: list[dict[str, object]] = (),  # type: ignore[assignment]
    conflicts: list[dict[str, object]] = (),  # type: ignore[assignment]
    extracted_at: dt.datetime = NOW,
) -> dict[str, pa.Table]:
    base = {"source_system": "clinic", "batch_id": BATCH}
    staged = [base | {"id_status": "valid", "name": "x"} | r for r in records]
    return {
        "source_record": pa.Table.from_pylist(staged, schema=staged_schema()),
        "quarantine": QUARANTINE_SCHEMA.empty_table(),
        "dq_finding": pa.Table.from_pylist([base | f for f in findings], schema=FINDING_SCHEMA),
        "resident": pa.table({"resident_id": [f"R{i}" for i in range(len(records))]}).append_column(
            "id_number", pa.array([r.get("id_number") for r in records], pa.string())
        ),
        "resident_source_link": pa.table(
            {
                "source_system": ["clinic"] * len(records),
                "source_record_id": [r["source_record_id"] for r in records],
                "resident_id": [f"R{i}" for i in range(len(records))],
                "batch_id": [BATCH] * len(records),
            }
        ),
        "resident_conflict": pa.Table.from_pylist(
            list(conflicts),
            schema=pa.schema([("resident_id", pa.string()), ("field", pa.string()), ("values", pa.string())]),
        ),
        "load_batch": pa.Table.from_pylist(
            [base | {"status": "published", "extracted_at": extracted_at.isoformat(), "snapshot_id": "s1"}]
        ),
    }


def result(outcome, check_id: str):  # type: ignore[no-untyped-def]
    return next(r for r in outcome.results if r.check_id == check_id and r.source_system == "clinic")


def test_every_duplicate_is_listed_past_the_200_row_cap() -> None:
    """250 records sharing one ID number fail the uniqueness check, and all 250 are kept as failing rows."""
    records = [{"source_record_id": f"r{i}", "id_number": f"{i:018d}"} for i in range(1000)]
    for i in range(250):
        records[i]["id_number"] = "110105194912310021"
    outcome = validate_run(tables(records), [contract()], "run-1", NOW)
    check = result(outcome, "one_record_per_id_number")
    assert (check.checked_rows, check.failed_rows, check.is_passed) == (1000, 250, False)
    failing = outcome.failing_rows.filter(
        pa.compute.equal(outcome.failing_rows["check_id"], "one_record_per_id_number")
    )
    assert sorted(failing["source_record_id"].to_pylist()) == sorted(f"r{i}" for i in range(250))
    assert set(failing["value"].to_pylist()) == {"110105194912310021"}


def test_blocking_rule_threshold_raises_naming_source_check_and_count() -> None:
    """Twenty invalid ID numbers in a thousand break a block check of 99%, and the error says so."""
    strict = {
        "id": "id_number_valid",
        "dimension": "validity",
        "severity": "block",
        "expect": "rule_pass",
        "rule": "invalid_id_number",
        "mostly": 0.99,
    }
    records = [{"source_record_id": f"r{i}", "id_number": f"{i:018d}"} for i in range(1000)]
    findings = [{"source_record_id": f"r{i}", "rule": "invalid_id_number"} for i in range(20)]
    outcome = validate_run(tables(records, findings), [contract(checks=(strict,))], "run-1", NOW)
    assert result(outcome, "id_number_valid").failed_rows == 20
    with pytest.raises(QualityGateFailed, match=r"source clinic, check id_number_valid: 20 of 1000 rows"):
        outcome.raise_if_blocked()


def test_ten_invalid_in_a_thousand_pass_the_same_threshold() -> None:
    """At exactly 99% valid the block check passes and nothing is raised."""
    strict = {
        "id": "id_number_valid",
        "dimension": "validity",
        "severity": "block",
        "expect": "rule_pass",
        "rule": "invalid_id_number",
        "mostly": 0.99,
    }
    records = [{"source_record_id": f"r{i}", "id_number": f"{i:018d}"} for i in range(1000)]
    findings = [{"source_record_id": f"r{i}", "rule": "invalid_id_number"} for i in range(10)]
    outcome = validate_run(tables(records, findings), [contract(checks=(strict,))], "run-1", NOW)
    assert result(outcome, "id_number_valid").is_passed
    outcome.raise_if_blocked()


@pytest.mark.parametrize(
    ("schedule", "age_days", "allowed_hours", "passed"),
    [
        ("0 2 * * *", 5, 48.0, False),  # daily: two periods = 48 h
        ("0 2 * * 0", 5, 336.0, True),  # weekly: two periods = 336 h
        (None, 1, 48.0, True),  # no schedule: the declared 48 h
        (None, 3, 48.0, False),
    ],
)
def test_freshness_follows_the_contract_schedule(
    schedule: str | None, age_days: int, allowed_hours: float, passed: bool
) -> None:
    """A batch's age is judged against two intervals of the source's cron schedule."""
    records = [{"source_record_id": "r1", "id_number": "1"}]
    old = NOW - dt.timedelta(days=age_days)
    outcome = validate_run(tables(records, extracted_at=old), [contract(schedule)], "run-1", NOW)
    fresh = result(outcome, "batch_fresh")
    assert fresh.threshold == pytest.approx(allowed_hours)
    assert float(fresh.observed_value or 0) == pytest.approx(age_days * 24)
    assert fresh.is_passed is passed


def test_deceased_in_one_system_active_in_another_counts_against_agreement() -> None:
    """A record deceased elsewhere fails cross-source agreement; records without the field are not counted."""
    records = [
        {"source_record_id": "r1", "is_deceased": False},
        {"source_record_id": "r2", "is_deceased": False},
        {"source_record_id": "r3", "is_deceased": None},
    ]
    conflict = {
        "resident_id": "R0",
        "field": "is_deceased",
        "values": json.dumps({"clinic:r1": "false", "civil_affairs:c9": "true"}),
    }
    outcome = validate_run(tables(records, conflicts=[conflict]), [contract()], "run-1", NOW)
    agree = result(outcome, "deceased_agrees_across_sources")
    assert (agree.checked_rows, agree.failed_rows) == (2, 1)


def test_tables_handed_over_as_parquet_files_give_the_same_results(tmp_path: Path) -> None:
    """Tables handed over as Parquet files (the flow does, one per source) give the in-memory results."""
    records = [{"source_record_id": f"r{i}", "id_number": f"{i % 900:018d}"} for i in range(1000)]
    findings = [{"source_record_id": f"r{i}", "rule": "invalid_id_number"} for i in range(20)]
    in_memory = tables(records, findings)
    other_source = in_memory["source_record"].set_column(
        0, "source_system", pa.array(["housing"] * len(records), pa.string())
    )
    on_disk: dict[str, TableData] = {}
    for name, table in in_memory.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        on_disk[name] = (tmp_path / f"{name}.parquet",)
    pq.write_table(other_source, tmp_path / "housing_records.parquet")  # not checked: no contract
    on_disk["source_record"] += (tmp_path / "housing_records.parquet",)
    housing_links = in_memory["resident_source_link"].set_column(
        0, "source_system", pa.array(["housing"] * len(records), pa.string())
    )
    pq.write_table(housing_links, tmp_path / "housing_links.parquet")
    on_disk["resident_source_link"] += (tmp_path / "housing_links.parquet",)

    from_memory = validate_run(in_memory, [contract()], "run-1", NOW)
    from_files = validate_run(on_disk, [contract()], "run-1", NOW)

    def of_clinic(results):  # type: ignore[no-untyped-def]
        return [r for r in results if r.check_id != "every_record_linked"]  # it counts housing too

    assert of_clinic(from_files.results) == of_clinic(from_memory.results)
    assert from_files.failing_rows.equals(from_memory.failing_rows)
    duplicates = pc.equal(from_files.failing_rows["check_id"], "one_record_per_id_number")
    assert pc.sum(duplicates).as_py() == 200


def test_a_validated_frame_is_not_kept_alive() -> None:
    """GE caches every batch it loads; the validator drops them, so a run holds one frame at a time."""
    validator = Validator("run-1", NOW)
    checks = tuple(c for c in check_catalogue().warehouse if c.table == "resident")
    frame = pd.DataFrame({"resident_id": ["R1", "R2"], "id_number": ["110105194912310021", None]})
    alive = weakref.ref(frame)
    found, _ = validator.validate(("warehouse", "run-1"), frame, checks, "resident_id")
    del frame
    gc.collect()
    assert alive() is None
    assert {r.check_id for r in found} == {c.id for c in checks}


def test_every_record_linked_needs_a_link_of_the_records_own_batch() -> None:
    """A record without a link, a link of another batch and a link without a record each fail
    every_record_linked (a blocking check); a record linked in its batch passes."""
    given = tables([{"source_record_id": f"r{i}", "id_number": f"{i:018d}"} for i in range(3)])
    given["resident_source_link"] = pa.table(
        {
            "source_system": ["clinic"] * 3,
            "source_record_id": ["r0", "r1", "r9"],
            "resident_id": ["R0", "R1", "R9"],
            "batch_id": [BATCH, "older", BATCH],
        }
    )
    outcome = validate_run(given, [], "run-1", NOW)
    linked = next(r for r in outcome.results if r.check_id == "every_record_linked")
    assert (linked.severity, linked.checked_rows, linked.failed_rows) == ("block", 4, 3)
    failing = outcome.failing_rows.filter(pc.equal(outcome.failing_rows["check_id"], "every_record_linked"))
    assert sorted(failing["source_record_id"].to_pylist()) == ["r1", "r2", "r9"]
    assert [f.check_id for f in outcome.blocking_failures] == ["every_record_linked"]
