"""The Airflow glue without Airflow: DAG specs from contract headers, connection URLs, run ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.orchestration import (
    ContractHeaderError,
    source_of_dag,
    sqlalchemy_url_from_connection,
    sync_dag_specs,
)
from pipelines.runs import new_run_id
from pipelines.settings import DEFAULT_SOURCES_DIR

HEADER = "name: {name}\ntitle: T\nowner: O\nconnection: ${{X}}\ntable: t\nprimary_key: k\nfields: {{}}\n"


def test_one_spec_per_contract_with_its_schedule_and_owner() -> None:
    """The repository's four contracts give four specs, with the contract's schedule and owner."""
    specs = {spec.source: spec for spec in sync_dag_specs(DEFAULT_SOURCES_DIR)}
    assert sorted(specs) == ["civil_affairs", "grid", "public_security", "social_security"]
    assert specs["public_security"].schedule == "0 1 * * *"
    assert specs["public_security"].owner == "区公安分局 户政科"
    assert specs["grid"].dag_id == "gridsync_sync_grid"
    assert specs["grid"].asset_uri == "gridsync://staged/grid"


def test_a_contract_without_owner_or_with_a_repeated_name_is_refused(tmp_path: Path) -> None:
    """The error names the file and the key, or the repeated name."""
    (tmp_path / "a.yaml").write_text(HEADER.format(name="a"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(HEADER.format(name="a"), encoding="utf-8")
    with pytest.raises(ContractHeaderError, match="source name 'a' is used twice"):
        sync_dag_specs(tmp_path)
    (tmp_path / "b.yaml").write_text("name: b\ntitle: T\n", encoding="utf-8")
    with pytest.raises(ContractHeaderError, match=r"b\.yaml: key 'owner' is missing"):
        sync_dag_specs(tmp_path)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            ("postgres", "db.local", "officer", "p@ss:w/rd", 5432, "hj"),
            "postgresql+psycopg2://officer:p%40ss%3Aw%2Frd@db.local:5432/hj",
        ),
        (("mysql", "127.0.0.1", "root", None, 3306, "mz"), "mysql+pymysql://root@127.0.0.1:3306/mz"),
        (("sqlite", "/data/grid.sqlite", None, None, None, None), "sqlite:////data/grid.sqlite"),
    ],
)
def test_connection_fields_become_a_sqlalchemy_url(fields: tuple, expected: str) -> None:
    """Each Airflow connection type maps to the driver gridsync reads it with; the password is URL-quoted."""
    assert sqlalchemy_url_from_connection(*fields) == expected


def test_extra_can_name_the_driver() -> None:
    """``{"sqlalchemy_driver": ...}`` in the connection's extra overrides the default driver."""
    url = sqlalchemy_url_from_connection(
        "postgres", "h", "u", None, None, "d", {"sqlalchemy_driver": "postgresql+pg8000"}
    )
    assert url == "postgresql+pg8000://u@h/d"


def test_run_ids_and_dag_ids() -> None:
    """An Airflow run's summary is a file-safe ``run-<time>-airflow-...`` (the run index reads ``run-*``);
    only sync DAG ids name a source."""
    run_id = new_run_id("airflow:asset_triggered__2026-01-01T00:00:00+00:00_x")
    assert run_id.startswith("run-2") and run_id.endswith(
        "-airflow-asset_triggered__2026-01-01T00_00_00_00_00_x"
    )
    assert new_run_id("cli").startswith("run-") and "airflow" not in new_run_id("cli")
    assert source_of_dag("gridsync_sync_civil_affairs") == "civil_affairs"
    assert source_of_dag("gridsync_publish") is None
