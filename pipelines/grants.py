"""Department grants: which tables and rows a department sees, and how it sees each personal field.

A grant (``schemas/grants/<department>.yaml``) says how the department sees each conditionally shared
(有条件共享) canonical field: ``clear``, ``masked`` (the field's declared mask), ``pseudonym`` (a
digest keyed per department: joinable, not readable) or ``year`` (dates). Every column that carries a
field (``schemas/tables.yaml``: the field itself, raw and derived copies, record keys that are citizen
IDs, JSON evidence, quoted values) is shown the same way, so no join or derivation gives back what a
mask hides. Records of the sources a department owns (``owns``) are shown as it delivered them.

At publish time each grant becomes a database of its own in the snapshot, written in an older
storage format that DuckDB 1.x clients read (``DEPARTMENT_STORAGE_VERSION``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from pipelines.canonical import canonical_fields, staged_field_name
from pipelines.contracts import SourceContract
from pipelines.keys import Keyring, hmac_sql
from pipelines.tables import ColumnSpec, staged_column_fields, table_specs

log = logging.getLogger(__name__)

View = Literal["clear", "masked", "pseudonym", "year"]
DEPARTMENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Department files are written in this storage format: DuckDB 1.0 and later (and 2.x) open them.
DEPARTMENT_STORAGE_VERSION = "v1.0.0"

_ID_REGION_AND_TAIL = (
    "case when length({c}) > 10 then left({c}, 6) || repeat('*', length({c}) - 10) || right({c}, 4)"
    " else repeat('*', length({c})) end"
)
# With the birth date visible elsewhere, the last four characters (sequence and check) would give the
# number back: only the region stays.
_ID_REGION = (
    "case when length({c}) > 10 then left({c}, 6) || repeat('*', length({c}) - 6)"
    " else repeat('*', length({c})) end"
)
MASKS: dict[str, str] = {
    "id_number": _ID_REGION_AND_TAIL,
    "name": "left({c}, 1) || repeat('*', length({c}) - 1)",
    "phone": "case when length({c}) > 8 then left({c}, length({c}) - 8) || '****' || right({c}, 4)"
    " else repeat('*', length({c})) end",
    "address": "left({c}, 6) || '***'",
}


class GrantError(ValueError):
    """A grant is malformed or names a table, column or field that does not exist or is not shared."""


class TableGrant(BaseModel):
    """What a department sees of one table: its rows (``own``: records of owned sources only) and,
    optionally, fewer columns than its fields allow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: Literal["all", "own"] = "all"
    columns: tuple[str, ...] | None = None


class Grant(BaseModel):
    """One department's grant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    department: str
    title: str
    owns: tuple[str, ...] = ()
    fields: dict[str, View] = {}
    tables: dict[str, TableGrant]
    path: Path | None = None

    @field_validator("department")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not DEPARTMENT_NAME.match(value):
            raise ValueError(f"{value!r} is not a department name (snake_case letters, digits, _)")
        return value

    @field_validator("fields")
    @classmethod
    def _views_fit_fields(cls, value: dict[str, View]) -> dict[str, View]:
        known = canonical_fields()
        for name, view in value.items():
            field = known.get(name)
            if field is None:
                raise ValueError(f"{name!r} is not a canonical field")
            if field.sharing == "none":
                raise ValueError(f"{name!r} is never shared (不予共享)")
            if view == "masked" and field.mask is None:
                raise ValueError(f"{name!r} has no mask; give clear, pseudonym or year")
            if view == "year" and field.type not in ("date", "timestamp"):
                raise ValueError(f"{name!r} is not a date; 'year' applies to dates only")
        return value

    @model_validator(mode="after")
    def _tables_exist(self) -> Grant:
        specs = table_specs()
        for table, rule in self.tables.items():
            if table not in specs:
                raise ValueError(f"tables.{table}: no such published table (schemas/tables.yaml)")
            if rule.rows == "own" and "source_system" not in specs[table].columns:
                raise ValueError(f"tables.{table}: rows 'own' needs a source_system column")
            if rule.rows == "own" and not self.owns:
                raise ValueError(f"tables.{table}: rows 'own' but the grant owns no source ('owns')")
        return self

    def view(self, field: str) -> View | None:
        """How the department sees a canonical field (None: not at all)."""
        sharing = canonical_fields()[field].sharing
        if sharing == "shared":
            return "clear"
        return None if sharing == "none" else self.fields.get(field)

    @property
    def reveals_birth_date(self) -> bool:
        """Whether the grant shows the birth date (or its year), which an ID number encodes."""
        return self.view("birth_date") in ("clear", "year")


@dataclass(frozen=True)
class SourceCarriers:
    """What one source's record key and columns hold (from its contract).

    Attributes:
        key_field: The canonical field the record key is (e.g. a citizen ID as primary key), or None.
        column_fields: Source column -> canonical field it holds.
    """

    key_field: str | None
    column_fields: Mapping[str, str]


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
            keys = "; ".join(
                f"key '{'.'.join(map(str, e['loc']))}': {str(e['msg']).removeprefix('Value error, ')}"
                for e in invalid.errors()
            )
            raise GrantError(f"{path}: {keys}") from None
    names = [grant.department for grant in grants]
    for name in names:
        if names.count(name) > 1:
            raise GrantError(f"{grants_dir}: department {name!r} has more than one grant")
    return grants


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join(_quote(v) for v in values) + ")" if values else "(null)"


def _map_literal(entries: Mapping[str, str]) -> str:
    if not entries:
        return "map([]::varchar[], []::varchar[])"
    return "map {" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in sorted(entries.items())) + "}"


class DepartmentView:
    """The SQL that shows each published column to one department, as its grant says."""

    def __init__(self, grant: Grant, carriers: Mapping[str, SourceCarriers], keys: Keyring) -> None:
        self.grant = grant
        self.carriers = carriers
        self.keys = keys
        self.own = list(grant.owns)
        self.fields = canonical_fields()
        self.staged_names = {staged_field_name(name): name for name in self.fields}

    # -- values -------------------------------------------------------------------------------
    def pseudonym(self, purpose: str, value_sql: str, prefix: str) -> str:
        """A keyed digest of a value, per department and purpose (the same value gives the same
        pseudonym in every table and run of this department, and another one in other departments)."""
        key = self.keys.key(f"department:{self.grant.department}:{purpose}")
        return f"('{prefix}' || upper(left({hmac_sql(key, f'cast({value_sql} as varchar)')}, 16)))"

    def shown(self, field: str, value_sql: str, text: bool = False) -> str | None:
        """A field's value as the grant shows it (None: not shown); ``text`` for JSON text values."""
        view = self.grant.view(field)
        if view is None:
            return None
        if view == "clear":
            return value_sql
        if view == "year":
            return f"left({value_sql}, 4)" if text else f"year({value_sql})"
        if view == "pseudonym":
            return self.pseudonym(f"field:{field}", value_sql, "P")
        mask = self.fields[field].mask or ""
        template = _ID_REGION if mask == "id_number" and self.grant.reveals_birth_date else MASKS[mask]
        return template.format(c=value_sql)

    def _by_field(self, field_sql: str, value_sql: str, fallback: str) -> str:
        """``case`` over the field named by ``field_sql``: each field's shown value, ``fallback`` for
        a value that carries no field."""
        branches = []
        for name in self.fields:
            shown = self.shown(name, value_sql, text=True)
            branches.append(f"when {_quote(name)} then {shown if shown is not None else 'null'}")
        return f"case {field_sql} {' '.join(branches)} else {fallback} end"

    # -- record keys --------------------------------------------------------------------------
    def clear_key_sources(self) -> list[str]:
        """Sources whose record keys this department may read as they are."""
        clear = [
            source
            for source, carried in self.carriers.items()
            if carried.key_field is None or self.grant.view(carried.key_field) == "clear"
        ]
        return sorted(set(clear) | set(self.own))

    def record_key(self, source_sql: str, key_sql: str) -> str:
        """A record key: as is for the sources in ``clear_key_sources``, else a pseudonym."""
        digest = self.pseudonym("record", f"{source_sql} || ':' || {key_sql}", "K")
        return (
            f"case when {source_sql} in {_in_list(self.clear_key_sources())} then {key_sql} else {digest} end"
        )

    def record_ref(self, ref_sql: str) -> str:
        """A ``source:key`` reference, its key shown as ``record_key`` shows it."""
        source = f"left({ref_sql}, strpos({ref_sql}, ':') - 1)"
        key = f"substr({ref_sql}, strpos({ref_sql}, ':') + 1)"
        return f"{source} || ':' || ({self.record_key(source, key)})"

    # -- columns ------------------------------------------------------------------------------
    def column(self, table: str, name: str, spec: ColumnSpec, own_rows: bool) -> str | None:
        """The expression showing one column (None: the column is not shown at all).

        Args:
            table: The table.
            name: The column.
            spec: Its declaration.
            own_rows: Every row of the table, as granted, belongs to an owned source.
        """
        column = f'"{name}"'
        has_source = "source_system" in table_specs()[table].columns
        if spec.carries is None or spec.carries == "resident_id" or own_rows:
            return column
        if spec.field is not None:
            return self._field_column(spec.field, column, has_source)
        if spec.carries == "record_key":
            return self.record_key("source_system", column)
        if spec.carries == "record_ref":
            return self.record_ref(column)
        if spec.carries == "evidence":
            return self._evidence(column)
        if spec.carries == "source_values":
            return self._source_values(column)
        if spec.carries == "column_value":
            return self._column_value(column)
        return self._text(spec.quotes, column, has_source)

    def _own_or(self, column: str, other: str | None) -> str | None:
        """``column`` on owned sources' rows, ``other`` (or null) elsewhere."""
        if not self.own:
            return other
        return f"case when source_system in {_in_list(self.own)} then {column} else {other or 'null'} end"

    def _field_column(self, field: str, column: str, has_source: bool) -> str | None:
        view = self.grant.view(field)
        shown = self.shown(field, column)
        keeps_type = view in ("clear", "masked") or self.fields[field].type == "string"
        if has_source and keeps_type and view != "clear":
            return self._own_or(column, shown)
        return shown

    def _evidence(self, column: str) -> str:
        entry_source = "left(e.key, strpos(e.key, ':') - 1)"
        staged = {staged: name for staged, name in self.staged_names.items()}
        field = f'{_map_literal(staged)}["field"]'
        value = self._by_field(field, "e.value", "e.value")
        own = f"{entry_source} in {_in_list(self.own)}"
        entries = (
            f"list_transform(map_entries({column}::json::map(varchar, varchar)), lambda e: "
            f"{{'key': {self.record_ref('e.key')}, 'value': case when {own} then e.value else {value} end}})"
        )
        return f"map_from_entries({entries})::json"

    def visible_staged_fields(self) -> list[str]:
        """Staged names of the fields this department sees in some form."""
        return [staged for staged, name in self.staged_names.items() if self.grant.view(name) is not None]

    def _source_values(self, column: str) -> str | None:
        field = f"{_map_literal(self._source_column_fields())}[source_system || '|' || e.key]"
        hidden = [name for name in self.fields if self.grant.view(name) is None]
        keep = f"({field} is null or {field} not in {_in_list(hidden)})"
        value = self._by_field(field, "e.value", "e.value")
        entries = (
            f"list_transform(list_filter(map_entries({column}::json::map(varchar, varchar)), "
            f"lambda e: {keep}), lambda e: {{'key': e.key, 'value': {value}}})"
        )
        # A source without a contract: what its columns hold is unknown, so nothing is shown.
        known = _in_list(sorted(self.carriers))
        shown = f"case when source_system in {known} then map_from_entries({entries})::json end"
        return self._own_or(column, shown)

    def _column_value(self, column: str) -> str | None:
        staged = f'{_map_literal(staged_column_fields())}["column"]'
        by_source = f"{_map_literal(self._source_column_fields())}[source_system || '|' || \"column\"]"
        keys = {source: c.key_field for source, c in self.carriers.items() if c.key_field is not None}
        by_key = f"case when \"column\" = 'source_record_id' then {_map_literal(keys)}[source_system] end"
        field = f"coalesce({staged}, {by_source}, {by_key})"
        # A source without a contract: only values of staged columns are known to be what they are.
        known = f"source_system in {_in_list(sorted(self.carriers))} or {staged} is not null"
        return self._own_or(column, f"case when {known} then {self._by_field(field, column, column)} end")

    def _source_column_fields(self) -> dict[str, str]:
        """``source|column`` -> the canonical field it holds, over every source."""
        return {
            f"{source}|{source_column}": field
            for source, carriers in self.carriers.items()
            for source_column, field in carriers.column_fields.items()
        }

    def _text(self, quotes: Sequence[str], column: str, has_source: bool) -> str | None:
        if all(self.grant.view(field) == "clear" for field in quotes):
            return column
        return self._own_or(column, None) if has_source and self.own else None

    # -- tables -------------------------------------------------------------------------------
    def select(self, table: str, available: Sequence[str]) -> str:
        """The statement giving the department's rows and columns of one warehouse table.

        Raises:
            GrantError: The grant lists a column that the table lacks or that its fields hide.
        """
        rule = self.grant.tables[table]
        spec = table_specs()[table]
        declared = spec.all_columns()
        own_rows = rule.rows == "own"
        shown: dict[str, str] = {}
        for name in available:
            if name not in declared:
                log.warning("%s.%s is not declared in schemas/tables.yaml: not shared", table, name)
                continue
            expression = self.column(table, name, declared[name], own_rows)
            if expression is not None:
                shown[name] = expression
        wanted = list(shown) if rule.columns is None else list(rule.columns)
        for name in wanted:
            if name not in shown:
                why = "no such column" if name not in available else "its field is not granted"
                raise GrantError(f"{self.grant.path}: key 'tables.{table}.columns': {name!r}: {why}")
        select = ", ".join(f'{shown[name]} as "{name}"' for name in wanted)
        conditions = []
        if own_rows:
            conditions.append(f"source_system in {_in_list(self.own)}")
        if any(declared[name].carries == "evidence" for name in available if name in declared):
            conditions.append(f'"field" in {_in_list(self.visible_staged_fields())}')
        where = f" where {' and '.join(conditions)}" if conditions else ""
        return f'select {select} from warehouse."{table}"{where}'


def source_carriers(contracts: Sequence[SourceContract]) -> dict[str, SourceCarriers]:
    """What each source's record key and columns hold, from the source contracts.

    Args:
        contracts: The source contracts.

    Returns:
        Source name -> its carriers.
    """
    return {c.name: SourceCarriers(c.key_field, dict(c.column_fields)) for c in contracts}


def write_department_databases(
    snapshot_folder: Path,
    database: Path,
    grants: Sequence[Grant],
    config: Mapping[str, str],
    carriers: Mapping[str, SourceCarriers],
    keys: Keyring,
) -> None:
    """Build ``departments/<department>.duckdb`` in a snapshot for every grant.

    Args:
        snapshot_folder: The snapshot being written (not yet live).
        database: Its main DuckDB file.
        grants: The grants to apply.
        config: DuckDB settings of the building connection (memory limit, spill folder).
        carriers: What each source's keys and columns hold (``source_carriers``).
        keys: The keyring pseudonyms derive from (the keys never enter a department file).

    Raises:
        GrantError: A grant names a table or column the snapshot lacks or its fields hide.
    """
    folder = snapshot_folder / "departments"
    folder.mkdir(exist_ok=True)
    for grant in grants:
        view = DepartmentView(grant, carriers, keys)
        target = folder / f"{grant.department}.duckdb"
        connection = duckdb.connect(config=dict(config))
        try:
            connection.execute("attach $1 as warehouse (read_only)", [str(database)])
            connection.execute(
                f"attach $1 as department (storage_version '{DEPARTMENT_STORAGE_VERSION}')", [str(target)]
            )
            tables = {r[0] for r in connection.execute("show tables from warehouse").fetchall()}
            for table in grant.tables:
                if table not in tables:
                    raise GrantError(f"{grant.path}: key 'tables.{table}': no such warehouse table")
                available = [r[0] for r in connection.execute(f'describe warehouse."{table}"').fetchall()]
                connection.execute(f'create table department."{table}" as {view.select(table, available)}')
            connection.execute("detach department")
        finally:
            connection.close()
