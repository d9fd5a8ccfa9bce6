"""Department grants: which warehouse tables, columns and rows a department sees, and what is masked.

Each grant (``schemas/grants/<department>.yaml``) becomes, at publish time, a database of its own
inside the snapshot holding only what the grant gives. A department's queries open that database,
so nothing outside the grant is reachable through gridsync.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipelines.canonical import canonical_fields, staged_field_name

MaskKind = Literal["id_number", "name", "phone", "address"]

# How each kind of masked value is shown: ID 420102********1234, name 张*, phone +86138****5678.
MASKS: dict[str, str] = {
    "id_number": "case when length({c}) > 10 then left({c}, 6) || repeat('*', length({c}) - 10)"
    " || right({c}, 4) else repeat('*', length({c})) end",
    "name": "left({c}, 1) || repeat('*', length({c}) - 1)",
    "phone": "case when length({c}) > 8 then left({c}, length({c}) - 8) || '****' || right({c}, 4)"
    " else repeat('*', length({c})) end",
    "address": "left({c}, 6) || '***'",
}


class GrantError(ValueError):
    """A grant is malformed or names a table or column that does not exist or may not be shared."""


class TableGrant(BaseModel):
    """What a department sees of one table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: list[str] | Literal["all"]
    masked: dict[str, MaskKind] = {}
    source_systems: list[str] | None = None


class Grant(BaseModel):
    """One department's grant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    department: str
    title: str
    tables: dict[str, TableGrant]
    path: Path | None = None


def load_grants(grants_dir: Path) -> list[Grant]:
    """Read every grant in a folder (none is fine: then no department database is built).

    Raises:
        GrantError: A grant is invalid; the message names the file and key.
    """
    grants = []
    for path in sorted(grants_dir.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            grants.append(Grant.model_validate({**document, "path": path}))
        except (OSError, yaml.YAMLError, TypeError) as problem:
            raise GrantError(f"{path}: cannot read grant: {problem}") from None
        except ValidationError as invalid:
            keys = "; ".join(f"key '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in invalid.errors())
            raise GrantError(f"{path}: {keys}") from None
    return grants


def _never_shared() -> set[str]:
    return {staged_field_name(f.name) for f in canonical_fields().values() if f.sharing == "none"}


def _select_list(grant: Grant, table: str, rule: TableGrant, available: list[str]) -> str:
    listed = available if rule.columns == "all" else list(rule.columns)
    wanted = list(dict.fromkeys([*listed, *rule.masked]))
    for column in wanted:
        if column not in available:
            raise GrantError(f"{grant.path}: key 'tables.{table}': no column {column!r} in {table}")
        if column in _never_shared():
            raise GrantError(f"{grant.path}: key 'tables.{table}': {column!r} is never shared")
    return ", ".join(
        MASKS[rule.masked[c]].format(c=f'"{c}"') + f' as "{c}"' if c in rule.masked else f'"{c}"'
        for c in wanted
    )


def _copy_granted_table(
    connection: duckdb.DuckDBPyConnection, grant: Grant, table: str, rule: TableGrant
) -> None:
    available = [row[0] for row in connection.execute(f'describe warehouse."{table}"').fetchall()]
    select = _select_list(grant, table, rule, available)
    statement = f'create table "{table}" as select {select} from warehouse."{table}"'
    if rule.source_systems is not None:
        connection.execute(statement + " where source_system in (select unnest($1))", [rule.source_systems])
    else:
        connection.execute(statement)


def write_department_databases(
    snapshot_folder: Path, database: Path, grants: list[Grant], config: Mapping[str, str]
) -> None:
    """Build ``departments/<department>.duckdb`` in a snapshot for every grant.

    Args:
        snapshot_folder: The snapshot being written (not yet live).
        database: Its main DuckDB file.
        grants: The grants to apply.
        config: DuckDB settings of each department's connection (memory limit, spill folder).

    Raises:
        GrantError: A grant names a table or column the snapshot lacks, or one never shared.
    """
    folder = snapshot_folder / "departments"
    folder.mkdir(exist_ok=True)
    for grant in grants:
        connection = duckdb.connect(str(folder / f"{grant.department}.duckdb"), config=dict(config))
        try:
            connection.execute("attach $1 as warehouse (read_only)", [str(database)])
            tables = {r[0] for r in connection.execute("show tables from warehouse").fetchall()}
            for table, rule in grant.tables.items():
                if table not in tables:
                    raise GrantError(f"{grant.path}: key 'tables.{table}': no such warehouse table")
                _copy_granted_table(connection, grant, table, rule)
            connection.execute("detach warehouse")
        finally:
            connection.close()
