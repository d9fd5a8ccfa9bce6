"""Escape suite: as an attacker inside each department, nothing its grant hides can be read or computed.

One demo warehouse (four departments, the repository's grants) is attacked the ways issue 12 found:
record keys that are citizen IDs, an ID mask that leaves what the birth date does not give, resident
ids hashed from record keys, department names that are paths; then every file and settings trick,
unbounded queries and forged reviewer decisions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from pipelines.access_log import read_access_log, verify_chain
from pipelines.cli import main
from pipelines.grants import load_grants
from pipelines.keys import Keyring
from pipelines.layout import WarehouseLayout
from pipelines.principals import AuthenticationError, authenticate, issue_credential
from pipelines.publish import current_snapshot
from pipelines.query import QueryError, open_snapshot, query_snapshot, run_query
from pipelines.resolve.ids import new_resident_id
from pipelines.resolve.review import ReviewError, approve_decision, read_decisions, submit_decision
from pipelines.settings import DEFAULT_GRANTS_DIR, QueryLimits, Settings

pytestmark = pytest.mark.slow

DEPARTMENTS = [grant.department for grant in load_grants(DEFAULT_GRANTS_DIR)]
ID_LIKE = re.compile(r"[1-9][0-9]{5}(?:18|19|20)[0-9]{9}[0-9Xx]")
PHONE_LIKE = re.compile(r"1[3-9][0-9]{9}")
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


@pytest.fixture
def secrets_dir(demo_secrets: Path) -> Path:
    return demo_secrets


@pytest.fixture(autouse=True)
def own_secrets(demo_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared demo warehouse was published under the key in ``demo_secrets``."""
    monkeypatch.setenv("GRIDSYNC_SECRETS_DIR", str(demo_secrets))
    monkeypatch.delenv("GRIDSYNC_SECRET_KEY", raising=False)
    monkeypatch.delenv("GRIDSYNC_CREDENTIAL", raising=False)
    return demo_secrets


@pytest.fixture
def warehouse(demo_warehouse: Path) -> Path:
    return demo_warehouse


@pytest.fixture(scope="module")
def credentials(demo_warehouse: Path, demo_secrets: Path) -> dict[str, str]:
    settings = Settings.from_env({"GRIDSYNC_SECRETS_DIR": str(demo_secrets)})
    issued = {name: issue_credential(settings, name, "department") for name in DEPARTMENTS}
    issued["clerk_li"] = issue_credential(settings, "clerk_li", "reviewer")
    issued["clerk_wang"] = issue_credential(settings, "clerk_wang", "reviewer")
    return issued


def everything(warehouse: Path, sql: str) -> list[tuple]:
    with open_snapshot(WarehouseLayout(warehouse)) as (connection, _):
        return connection.execute(sql).fetchall()


def flattened(value: object) -> list[str]:
    """A cell as text: nested values (structs, lists) and JSON text unpacked to every key and value."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [str(value)] + [text for k, v in value.items() for text in [str(k), *flattened(v)]]
    if isinstance(value, list | tuple):
        return [str(value)] + [text for item in value for text in flattened(item)]
    text = str(value)
    if text.startswith("{"):
        with contextlib.suppress(ValueError):
            document = json.loads(text)
            return [text] + [str(k) for k in document] + [str(v) for v in document.values()]
    return [text]


def readable_text(warehouse: Path, department: str) -> list[str]:
    """Every value the department can read, as text, nested and JSON values unpacked too."""
    cells: list[str] = []
    with open_snapshot(WarehouseLayout(warehouse), department) as (connection, _):
        for (table,) in connection.execute("show tables").fetchall():
            for row in connection.execute(f'select * from "{table}"').fetchall():
                cells += [text for value in row for text in flattened(value)]
    return cells


def delivered_by(warehouse: Path, department: str) -> list[str]:
    """Everything the department's own sources delivered (records, rejected rows), as text."""
    owned = {g.department: g.owns for g in load_grants(DEFAULT_GRANTS_DIR)}[department]
    cells: list[str] = []
    for table in ("source_record", "quarantine", "dq_finding"):
        rows = everything(warehouse, f"select * from {table} where source_system in {tuple(owned) + ('',)}")
        cells += [text for row in rows for value in row for text in flattened(value)]
    return cells


def real_values(warehouse: Path, field: str, department: str) -> set[str]:
    """The real values of a field across the warehouse, less those the department delivered itself."""
    columns = {"id_number": ["id_number", "id_number_raw"], "name": ["name", "name_raw"]}.get(field, [field])
    union = " union ".join(f"select cast({c} as varchar) from source_record" for c in columns)
    everyone = {r[0] for r in everything(warehouse, union)}
    everyone |= {r[0] for r in everything(warehouse, f"select cast({field} as varchar) from resident")}
    own = delivered_by(warehouse, department)
    own_text = "\n".join(own)
    if field == "id_number":
        return {v for v in everyone if v and ID_LIKE.fullmatch(v) and v not in own_text}
    if field == "phone":
        return {v for v in everyone if v and v[-11:] not in own_text}
    return {v for v in everyone if v} - set(own)


def hidden_fields(department: str) -> list[str]:
    grant = next(g for g in load_grants(DEFAULT_GRANTS_DIR) if g.department == department)
    return [f for f in ("id_number", "name", "phone", "address") if grant.view(f) != "clear"]


@pytest.mark.parametrize("department", DEPARTMENTS)
def test_no_hidden_value_can_be_read_anywhere_the_department_reaches(
    warehouse: Path, department: str
) -> None:
    """Every table, column and JSON value a department reads holds none of the values its grant hides."""
    text = readable_text(warehouse, department)
    joined = "\n".join(text)
    for field in hidden_fields(department):
        secrets = real_values(warehouse, field, department)
        assert secrets, field
        if field == "id_number":
            found = {m.upper() for m in ID_LIKE.findall(joined)} & secrets
        elif field == "phone":
            digits = {s[-11:] for s in secrets}
            found = set(PHONE_LIKE.findall(joined)) & digits
        else:
            found = set(text) & secrets
        assert not found, f"{department} reads {len(found)} {field} values it should not: {sorted(found)[:3]}"


def test_the_household_registers_keys_are_pseudonyms_for_departments_that_mask_ids(warehouse: Path) -> None:
    """Leak 1: the register's record keys (citizen IDs) reach masking departments as pseudonyms."""
    sql = (
        "select source_record_id from resident_source_link where source_system = 'public_security' order by 1"
    )
    keys = {d: [r[0] for r in everything_as(warehouse, d, sql)] for d in ("social_security", "civil_affairs")}
    assert all(k.startswith("K") and len(k) == 17 for k in keys["social_security"])
    assert len(set(keys["social_security"])) == len(keys["social_security"]) > 200
    # keyed per department: the two departments cannot join their pseudonyms
    assert not set(keys["social_security"]) & set(keys["civil_affairs"])
    clear = [r[0] for r in everything_as(warehouse, "public_security", sql)]
    assert all(ID_LIKE.fullmatch(k) for k in clear)
    # the same pseudonym inside one department's tables: links join to conflicts' evidence
    evidence = everything_as(warehouse, "social_security", 'select "values" from resident_conflict')
    refs = {k for (v,) in evidence for k in json.loads(v) if k.startswith("public_security:")}
    assert refs and {r.split(":", 1)[1] for r in refs} <= set(keys["social_security"])


def everything_as(warehouse: Path, department: str, sql: str) -> list[tuple]:
    return [tuple(r.values()) for r in run_query(WarehouseLayout(warehouse), sql, department).to_pylist()]


def candidates(masked: str, birth: str | None, gender: str | None) -> int:
    """An attacker's brute force: valid citizen IDs fitting every visible character and granted fact."""
    birth_digits = birth.replace("-", "") if birth else None
    count = 0
    for sequence in range(1000):
        if gender in ("M", "F") and (sequence % 2 == 1) != (gender == "M"):
            continue
        body = masked[:6] + (birth_digits or masked[6:14]) + f"{sequence:03d}"
        if "*" in body[:14]:
            return 10**6  # the birth date is hidden too: far more candidates than we count here
        if any(m != "*" and m != c for m, c in zip(masked[:17], body, strict=True)):
            continue
        check = "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]
        if masked[17] in ("*", check):
            count += 1
    return count


@pytest.mark.parametrize("department", ["civil_affairs", "grid", "social_security"])
def test_masked_ids_cannot_be_rebuilt_from_the_granted_birth_date(warehouse: Path, department: str) -> None:
    """Leak 2: left(id,6) || birth || right(id,4) rebuilds nothing; brute force leaves >= 500 candidates."""
    rows = everything_as(
        warehouse,
        department,
        "select id_number, cast(birth_date as varchar), gender from resident where length(id_number) = 18",
    )
    real = {r[0] for r in everything(warehouse, "select id_number from resident where id_number is not null")}
    rebuilt = {m[:6] + (b or "").replace("-", "") + m[-4:] for m, b, _ in rows}
    assert not rebuilt & real
    counts = [candidates(m, b, g) for m, b, g in rows if b]
    assert len(counts) > 200
    assert min(counts) >= 500  # one guess in 500 at best, with nothing to check a guess against


def test_resident_ids_are_keyed_digests_not_hashes_of_record_keys(warehouse: Path, secrets_dir: Path) -> None:
    """Leak 3: no resident id is a plain hash of a record key; ids are HMACs under a key kept outside."""
    refs = everything(
        warehouse,
        "select resident_id, min(source_system || ':' || source_record_id)"
        " from resident_source_link group by 1",
    )
    plain = {"R" + hashlib.sha256(f"{ref}#0".encode()).hexdigest()[:15].upper() for _, ref in refs}
    assert not plain & {rid for rid, _ in refs}
    key = Keyring.load(Settings.from_env({"GRIDSYNC_SECRETS_DIR": str(secrets_dir)})).key("resident_id")
    keyed = sum(rid == new_resident_id(ref, key) for rid, ref in refs)
    assert keyed == len(refs)
    secret = (secrets_dir / "gridsync.key").read_text().strip().encode()
    for path in warehouse.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path


@pytest.mark.parametrize(
    "name",
    [
        "../gridsync",
        "../../../resolved/identity",
        "/etc/passwd",
        "civil_affairs/../public_security",
        "public_security.duckdb",
        "Public_Security",
        "grid\x00",
        "",
        "housing",
    ],
)
def test_department_names_that_are_paths_or_unknown_are_refused(warehouse: Path, name: str) -> None:
    """Leak 4: --department takes a declared name only; a path, odd spelling or unknown name is refused."""
    with pytest.raises(QueryError, match="department"):
        run_query(WarehouseLayout(warehouse), "select 1", name)


def test_the_command_line_needs_the_departments_credential(
    warehouse: Path,
    credentials: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """Leak 4: a department query needs that department's credential and a purpose; it is logged."""
    query = [
        "query",
        "--warehouse",
        str(warehouse),
        "--department",
        "social_security",
        "select count(*) from resident",
    ]
    assert main(query + ["--purpose", "pension check"]) == 1
    assert "no credential" in capsys.readouterr().err
    monkeypatch.setenv("GRIDSYNC_CREDENTIAL", credentials["grid"])
    assert main(query + ["--purpose", "pension check"]) == 1
    assert "may not act for department 'social_security'" in capsys.readouterr().err
    monkeypatch.setenv("GRIDSYNC_CREDENTIAL", credentials["social_security"].replace(".", ".x", 1))
    assert main(query + ["--purpose", "pension check"]) == 1
    assert "wrong credential" in capsys.readouterr().err
    monkeypatch.setenv("GRIDSYNC_CREDENTIAL", credentials["social_security"])
    assert main(query) == 1
    assert "purpose" in capsys.readouterr().err
    assert main(query + ["--purpose", "pension check"]) == 0
    log = read_access_log(WarehouseLayout(warehouse)).to_pylist()
    last = log[-1]
    assert (last["principal"], last["department"], last["outcome"], last["rows"]) == (
        "social_security",
        "social_security",
        "ok",
        1,
    )
    assert [(e["action"], e["outcome"]) for e in log[-5:-1]] == [
        ("login", "refused"),
        ("query", "refused"),
        ("login", "refused"),
        ("query", "refused"),
    ]
    assert verify_chain(WarehouseLayout(warehouse)) is None


TRICKS = [
    "select * from read_csv('/etc/passwd')",
    "select * from read_text('/etc/hostname')",
    "select * from read_parquet('../../parquet/resident.parquet')",
    "select * from glob('/*')",
    "select * from warehouse.resident",
    "select getenv('HOME')",
    "attach '../../gridsync.duckdb' as w",
    "copy (select 1) to '/tmp/leak.csv'",
    "export database '/tmp/leak'",
    "install httpfs",
    "load httpfs",
    "set memory_limit = '50GB'",
    "set enable_external_access = true",
    "reset lock_configuration",
    "pragma enable_profiling",
    "create table mine as select 1",
    "checkpoint",
    "select 1; select * from read_csv('/etc/passwd')",
    "call pragma_database_list()",
]


@pytest.mark.parametrize("sql", TRICKS)
def test_file_and_settings_tricks_are_refused(warehouse: Path, sql: str) -> None:
    """Files, writes, extensions, settings, pragmas, environment and second statements are all refused."""
    with pytest.raises(QueryError):
        run_query(WarehouseLayout(warehouse), sql, "social_security")


def test_every_query_is_bounded_in_time_memory_rows_and_spill(warehouse: Path) -> None:
    """Queries stop at the time and memory/spill caps, rows are cut, nothing spills in the snapshot."""
    layout = WarehouseLayout(warehouse)
    snapshot = current_snapshot(layout).folder
    before = sorted(p.name for p in snapshot.rglob("*"))
    tight = QueryLimits(seconds=1.5, memory="64MB", rows=10, temp_space="1MB")
    with pytest.raises(QueryError, match="time limit of 1.5 s"):
        query_snapshot(layout, "select count(*) from range(1000000000000)", "social_security", limits=tight)
    with pytest.raises(QueryError):
        query_snapshot(
            layout,
            "select * from range(20000000) order by random()",
            "social_security",
            limits=QueryLimits(seconds=60, memory="64MB", rows=10, temp_space="1MB"),
        )
    cut = query_snapshot(layout, "select * from resident", "social_security", limits=tight)
    assert cut.truncated and cut.table.num_rows == 10
    assert sorted(p.name for p in snapshot.rglob("*")) == before
    assert not any((warehouse / ".query-scratch").iterdir())


@pytest.fixture
def reviewed(warehouse: Path, tmp_path: Path, credentials: dict[str, str]) -> WarehouseLayout:
    """A copy of the warehouse to write decisions into."""
    shutil.copytree(warehouse, tmp_path / "warehouse")
    return WarehouseLayout(tmp_path / "warehouse")


def settings_here(secrets_dir: Path) -> Settings:
    return Settings.from_env({"GRIDSYNC_SECRETS_DIR": str(secrets_dir)})


def test_reviewer_forgery_is_refused(
    reviewed: WarehouseLayout, credentials: dict[str, str], secrets_dir: Path
) -> None:
    """Unknown records, two IDs as one, a department as reviewer, unreasoned unlisted pair: refused."""
    settings = settings_here(secrets_dir)
    li = authenticate(settings, credentials["clerk_li"])
    two_people = everything(
        reviewed.root,
        "select 'public_security:' || source_record_id from source_record "
        "where source_system = 'public_security' and id_status = 'valid' order by 1 limit 2",
    )
    a, b = two_people[0][0], two_people[1][0]
    with pytest.raises(ReviewError, match="no such record"):
        submit_decision(reviewed, li, "grid:NOBODY", a, "same", "made up")
    with pytest.raises(ReviewError, match="two different valid citizen ID numbers"):
        submit_decision(reviewed, li, a, b, "same", "they look alike")
    with pytest.raises(ReviewError, match="is not a reviewer"):
        submit_decision(reviewed, authenticate(settings, credentials["grid"]), a, b, "not_same", "x")
    with pytest.raises(AuthenticationError):
        authenticate(settings, "clerk_li.forged")
    grid = everything(
        reviewed.root,
        "select 'grid:' || min(source_record_id) from source_record where source_system = 'grid'",
    )[0][0]
    with pytest.raises(ReviewError, match="not up for review"):
        submit_decision(reviewed, li, grid, a, "not_same")
    assert read_decisions(reviewed).empty


def test_an_unlisted_pair_needs_a_second_reviewer(
    reviewed: WarehouseLayout, credentials: dict[str, str], secrets_dir: Path
) -> None:
    """A reasoned decision on an unlisted pair stays proposed until a different reviewer approves it."""
    settings = settings_here(secrets_dir)
    li, wang = (authenticate(settings, credentials[n]) for n in ("clerk_li", "clerk_wang"))
    pair = everything(
        reviewed.root,
        "select 'grid:' || min(source_record_id), 'civil_affairs:' || min(source_record_id)"
        " from source_record"
        " group by source_system having source_system = 'grid'",
    )
    grid = pair[0][0]
    civil = everything(
        reviewed.root,
        "select 'civil_affairs:' || min(source_record_id) from source_record"
        " where source_system = 'civil_affairs'",
    )[0][0]
    proposed = submit_decision(reviewed, li, grid, civil, "not_same", "different flats, confirmed on visit")
    assert proposed["status"] == "proposed" and read_decisions(reviewed).empty
    with pytest.raises(ReviewError, match="another reviewer must approve"):
        approve_decision(reviewed, li, grid, civil)
    approved = approve_decision(reviewed, wang, grid, civil)
    assert (approved["status"], approved["reviewer"], approved["approved_by"]) == (
        "effective",
        "clerk_li",
        "clerk_wang",
    )
    assert read_decisions(reviewed)[["decision", "reviewer"]].values.tolist() == [["not_same", "clerk_li"]]


def test_a_listed_pair_is_decided_by_one_authenticated_reviewer(
    reviewed: WarehouseLayout, credentials: dict[str, str], secrets_dir: Path
) -> None:
    """A listed pair takes effect at once, credited to the authenticated reviewer, not a typed name."""
    listed = everything(
        reviewed.root, "select record_l, record_r from match_review where decision is null limit 1"
    )
    if not listed:
        pytest.skip("the demo produced no pair for review")  # pragma: no cover - 300 residents always do
    li = authenticate(settings_here(secrets_dir), credentials["clerk_li"])
    row = submit_decision(reviewed, li, listed[0][0], listed[0][1], "not_same")
    assert (row["status"], row["reviewer"]) == ("effective", "clerk_li")
