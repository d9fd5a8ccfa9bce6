"""Fixtures of the integration tests: small source systems that are not the demo's."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.demo import build_demo
from pipelines.flow import run_flow
from pipelines.settings import DEFAULT_SOURCES_DIR

CLINIC_CONTRACT = """
name: clinic
title: Clinic patients
owner: Health bureau
connection: ${CLINIC_URL}
table: patients
primary_key: patient_no
incremental_column: changed_at
fields:
  id_type: {column: doc_kind, codes: {P: passport, C: cn_resident_id}}
  id_number: doc_no
  name: full_name
  gender: {column: sex, codes: {m: M, f: F}}
  birth_date: {column: dob, format: "%d.%m.%Y"}
  updated_at: changed_at
attributes: [ward]
"""

HOUSING_CONTRACT = """
name: housing
title: 住房 tenants
owner: 区住建局
connection: ${HOUSING_URL}
query: "select tid, sfz, xm, dh from tenants where xm is not null or sfz is not null"
primary_key: tid
fields:
  id_number: sfz
  name: xm
  phone: dh
"""

PATIENTS = [
    ("p1", "P", "E12345678", "Anna  Schmidt", "f", "07.03.1990", "2026-01-01 08:00:00", "A"),
    ("p2", "C", "11010519491231002x", "Zhang Wei", "f", "31.12.1949", "2026-01-01 08:00:00", "B"),
    ("p3", "P", "E87654321", "Omar Haddad", "x", "32.01.1980", "2026-01-01 08:00:00", "A"),
    ("p3", "P", "E87654321", "duplicate key", "m", "01.01.1980", "2026-01-01 08:00:00", "A"),
    ("p4", None, None, None, "m", None, "2026-01-01 08:00:00", "C"),
]
TENANTS = [
    ("t1", "１１０１０５１９４９１２３１００２Ｘ", "張偉", "138 1234 5678"),
    ("t2", "420102199003071234", "王芳", "027-87654321"),
]


def create_sources(root: Path) -> dict[str, str]:
    """Two small SQLite systems; returns the environment their contracts resolve against."""
    clinic = sqlite3.connect(root / "clinic.sqlite")
    clinic.execute(
        "create table patients (patient_no text, doc_kind text, doc_no text, full_name text,"
        " sex text, dob text, changed_at text, ward text)"
    )
    clinic.executemany("insert into patients values (?,?,?,?,?,?,?,?)", PATIENTS)
    clinic.commit()
    clinic.close()
    housing = sqlite3.connect(root / "housing.sqlite")
    housing.execute("create table tenants (tid text primary key, sfz text, xm text, dh text)")
    housing.executemany("insert into tenants values (?,?,?,?)", TENANTS)
    housing.commit()
    housing.close()
    return {
        "CLINIC_URL": f"sqlite:///{root / 'clinic.sqlite'}",
        "HOUSING_URL": f"sqlite:///{root / 'housing.sqlite'}",
    }


@pytest.fixture
def systems(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "clinic.yaml").write_text(CLINIC_CONTRACT, encoding="utf-8")
    (sources / "housing.yaml").write_text(HOUSING_CONTRACT, encoding="utf-8")
    return sources, tmp_path / "warehouse", create_sources(tmp_path)


DEMO_RESIDENTS = 300


@pytest.fixture(scope="session")
def demo_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The secrets folder (key, credentials) of the shared demo warehouse."""
    return tmp_path_factory.mktemp("demo-secrets")


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory, demo_secrets: Path) -> Iterator[Path]:
    """A demo warehouse (300 residents, the repository's contracts and grants), published once for
    the tests that only read it (escape suite, served warehouse); they use ``demo_secrets``."""
    out = tmp_path_factory.mktemp("demo-warehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRIDSYNC_SECRETS_DIR", str(demo_secrets))
        systems = build_demo(out / "systems", residents=DEMO_RESIDENTS, seed=12)
        summary = run_flow(DEFAULT_SOURCES_DIR, out / "warehouse", systems.environment())
    assert summary.succeeded
    yield out / "warehouse"
