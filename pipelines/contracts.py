"""Source contracts: one YAML file per department system (``schemas/sources/<name>.yaml``).

A contract is validated when it is loaded; every error names the file and the key at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.canonical import canonical_fields, name_parts, programme_statuses, programmes
from pipelines.quality.spec import CheckSpec
from pipelines.settings import MissingEnvironmentVariable, expand_env_vars

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
DEFAULT_PRIORITY = 50


class ContractError(ValueError):
    """A source contract is missing, malformed or refers to something that does not exist."""


class FieldMapping(BaseModel):
    """How one canonical field is read from a source row.

    Exactly one of ``column`` (read a column) or ``value`` (a constant) is given.
    ``codes`` maps source codes to canonical values; ``format`` lists accepted date formats;
    ``region`` (phone only) is the ISO 3166 region whose national format the source's phone numbers
    without a country code follow ('FR' reads '06 12 34 56 78'); CN when not given. ``kind``
    (address only) says which address the column holds: ``actual`` (where the person lives, the
    default) or ``registered`` (the 户籍 address, staged as ``registered_address``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str | None = None
    value: Any = None
    codes: dict[str, Any] | None = None
    format: tuple[str, ...] = ()
    region: str | None = None
    kind: Literal["actual", "registered"] | None = None

    @field_validator("format", mode="before")
    @classmethod
    def _one_or_many_formats(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_keyed_by_text(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(code): canonical for code, canonical in value.items()}
        return value

    @field_validator("region")
    @classmethod
    def _known_phone_region(cls, value: str | None) -> str | None:
        if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region with a numbering plan (an ISO 3166 code such as FR)")
        return value

    @model_validator(mode="after")
    def _column_or_value(self) -> FieldMapping:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of 'column' or 'value'")
        return self


class ProgrammeMapping(BaseModel):
    """What a source record means for one of the person's programmes (``schemas/programmes.yaml``).

    ``programme`` is a programme name, or a mapping reading it from a column through ``codes``
    (a column of assistance kinds); ``status`` maps the record's status codes onto ``active``,
    ``suspended`` or ``stopped`` (or is a constant ``value``); ``since`` optionally reads the date
    the record entered the programme.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    programme: FieldMapping
    status: FieldMapping
    since: FieldMapping | None = None

    @field_validator("programme", mode="before")
    @classmethod
    def _name_or_mapping(cls, value: Any) -> Any:
        return {"value": value} if isinstance(value, str) else value

    @field_validator("programme")
    @classmethod
    def _known_programmes(cls, mapping: FieldMapping) -> FieldMapping:
        named = [mapping.value] if mapping.value is not None else list((mapping.codes or {}).values())
        if mapping.column is not None and mapping.codes is None:
            raise ValueError(
                "a programme read from a column needs 'codes' mapping its values onto programmes"
            )
        _check_listed("programme", named, tuple(programmes()))
        return mapping

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, mapping: FieldMapping) -> FieldMapping:
        named = [mapping.value] if mapping.value is not None else list((mapping.codes or {}).values())
        if mapping.column is not None and mapping.codes is None:
            raise ValueError("a status read from a column needs 'codes' mapping its values onto statuses")
        _check_listed("status", named, programme_statuses())
        return mapping

    @property
    def columns(self) -> list[str]:
        """The source columns this mapping reads."""
        mappings = (self.programme, self.status, self.since)
        return [m.column for m in mappings if m is not None and m.column is not None]


def _check_listed(what: str, named: list[Any], known: tuple[str, ...]) -> None:
    unknown = sorted({str(name) for name in named} - set(known))
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; known: {list(known)}")


class SourceContract(BaseModel):
    """One department system, as a data officer declares it.

    Besides where the data is and how its columns map onto the canonical fields, a contract says
    what its records mean: ``priority`` (per canonical field, 0-100, default 50: which source's
    value a golden resident field takes, the highest first), ``roster`` (the source is a grid
    roster of the people actually living in each grid) and ``programmes`` (what a record means for
    the person's programmes).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    owner: str
    connection: str | None = None
    conn_id: str | None = None
    table: str | None = None
    query: str | None = None
    primary_key: str
    incremental_column: str | None = None
    schedule: str | None = None
    fields: dict[str, FieldMapping]
    attributes: tuple[str, ...] = ()
    carries: dict[str, str] = {}
    checks: tuple[CheckSpec, ...] = Field(default=())
    priority: dict[str, int] = Field(default_factory=dict)
    roster: bool = False
    programmes: tuple[ProgrammeMapping, ...] = ()
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not _SNAKE_CASE.match(value):
            raise ValueError(f"{value!r} is not snake_case")
        return value

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand_columns(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {field: {"column": spec} if isinstance(spec, str) else spec for field, spec in value.items()}

    @field_validator("fields")
    @classmethod
    def _canonical_names(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        known = [*canonical_fields(), *name_parts()]
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; known: {sorted(known)}")
        regional = sorted(field for field, mapping in value.items() if mapping.region and field != "phone")
        if regional:
            raise ValueError(f"'region' is only read for phone, not for {', '.join(regional)}")
        kinds = sorted(field for field, mapping in value.items() if mapping.kind and field != "address")
        if kinds:
            raise ValueError(f"'kind' is only read for address, not for {', '.join(kinds)}")
        address = value.get("address")
        if address is not None and address.kind == "registered" and "registered_address" in value:
            raise ValueError("'address' has kind registered and 'registered_address' is mapped too")
        if "name" in value and set(name_parts()) & set(value):
            raise ValueError(f"map either 'name' or its parts {list(name_parts())}, not both")
        return value

    @field_validator("priority")
    @classmethod
    def _priority_of_canonical_fields(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(canonical_fields()))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; known: {sorted(canonical_fields())}")
        out_of_range = sorted(field for field, rank in value.items() if not 0 <= rank <= 100)
        if out_of_range:
            raise ValueError(f"priorities lie between 0 and 100, not for {', '.join(out_of_range)}")
        return value

    @field_validator("carries")
    @classmethod
    def _carried_fields_are_canonical(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted({field for field in value.values()} - set(canonical_fields()))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; known: {sorted(canonical_fields())}")
        return value

    @model_validator(mode="after")
    def _one_connection_and_one_relation(self) -> SourceContract:
        if (self.connection is None) == (self.conn_id is None):
            raise ValueError("key 'connection'/'conn_id': give exactly one of the two")
        if (self.table is None) == (self.query is None):
            raise ValueError("key 'table'/'query': give exactly one of the two")
        return self

    def priority_of(self, field: str) -> int:
        """How strongly a golden field prefers this source's value (0-100; 50 unless declared)."""
        return self.priority.get(field, DEFAULT_PRIORITY)

    @property
    def relation(self) -> str:
        """The table name, or ``query`` for a query source (used in messages)."""
        return self.table or "query"

    @property
    def column_fields(self) -> dict[str, str]:
        """Source column -> the canonical field whose values it holds: the mapped columns, and the
        ``carries`` declared for others (a primary key or an attribute holding an ID or phone)."""
        mapped = {m.column: field for field, m in self.fields.items() if m.column is not None}
        return mapped | dict(self.carries)

    @property
    def key_field(self) -> str | None:
        """The canonical field the record key holds (a key that is the citizen ID), or None."""
        return self.column_fields.get(self.primary_key)

    @property
    def source_columns(self) -> list[str]:
        """Every source column the contract reads, primary key first, without repeats."""
        columns = [self.primary_key]
        columns += [m.column for m in self.fields.values() if m.column is not None]
        columns += [column for programme in self.programmes for column in programme.columns]
        columns += list(self.attributes)
        if self.incremental_column:
            columns.append(self.incremental_column)
        return list(dict.fromkeys(columns))

    def connection_url(self, environ: Mapping[str, str]) -> str:
        """Resolve the SQLAlchemy URL of the source.

        Args:
            environ: Environment that ``${VAR}`` references resolve against.

        Returns:
            The URL. Contracts naming an Airflow ``conn_id`` are resolved by the Airflow layer.

        Raises:
            ContractError: The URL references an unset variable, or only a conn_id is given.
        """
        if self.connection is None:
            raise ContractError(
                f"source {self.name}: uses conn_id {self.conn_id!r}, which only Airflow resolves"
            )
        try:
            return expand_env_vars(self.connection, environ)
        except MissingEnvironmentVariable as missing:
            raise ContractError(
                f"source {self.name}: connection needs environment variable {missing.args[0]}, "
                "which is not set"
            ) from None


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    return f"key '{'.'.join(str(part) for part in error['loc'])}': {message}"


def load_contract(path: Path) -> SourceContract:
    """Read and validate one source contract.

    Args:
        path: The YAML file.

    Returns:
        The validated contract.

    Raises:
        ContractError: The file cannot be read or parsed, or a key is missing or wrong;
            the message names the file and every key at fault.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as problem:
        raise ContractError(f"{path}: cannot read contract: {problem}") from None
    if not isinstance(document, dict):
        raise ContractError(f"{path}: a contract is a mapping of keys, got {type(document).__name__}")
    try:
        return SourceContract.model_validate({**document, "path": path})
    except ValidationError as invalid:
        problems = "; ".join(_describe(e) for e in invalid.errors())
        raise ContractError(f"{path}: {problems}") from None


def load_contracts(sources_dir: Path) -> list[SourceContract]:
    """Read every ``*.yaml`` contract in a folder, sorted by source name.

    Args:
        sources_dir: The folder of contracts.

    Returns:
        The validated contracts.

    Raises:
        ContractError: The folder holds no contract, a contract is invalid, or two share a name.
    """
    paths = sorted(sources_dir.glob("*.yaml")) + sorted(sources_dir.glob("*.yml"))
    if not paths:
        raise ContractError(f"{sources_dir}: no source contracts (*.yaml) found")
    contracts = [load_contract(path) for path in paths]
    seen: dict[str, Path | None] = {}
    for contract in contracts:
        if contract.name in seen:
            raise ContractError(
                f"{contract.path}: key 'name': {contract.name!r} is also used by {seen[contract.name]}"
            )
        seen[contract.name] = contract.path
    return sorted(contracts, key=lambda c: c.name)
