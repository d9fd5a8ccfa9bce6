"""What a demo district's department systems look like and how wrong they are: one typed spec.

A profile (``pipelines/demo/profiles/<name>.yaml``, or any YAML file of the same shape) says all
that differs between two districts' systems: the district, each system's table, column names,
code lists and date layouts, whom it covers, and which errors it suffers at what rate. The
default profile ``wuchang`` is the demo as it has always been. ``load_spec`` reads a profile and
lays an optional overrides file over it (``gridsync demo --errors FILE``), so tests can generate
data with rates, coverage and seeds nobody tuned on::

    error_scale: 2.0            # every error rate doubled (capped at 1)
    systems:
      grid:
        coverage: 0.8
        errors:
          id_number: {missing: 0.15, masked: 0.0}

Mappings are merged key by key; any other value replaces the profile's. The spec is validated
when loaded (unknown keys, roles and error kinds are errors naming the file and key) and saved with
the demo, so a next-day update continues with the same systems.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.demo.errors import KINDS_BY_VALUE
from pipelines.demo.geography import DistrictMap, load_map
from pipelines.demo.population import PopulationSpec
from pipelines.demo.strings import concat, format_time, zero_pad

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "wuchang"

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Rates = dict[str, Rate]

_VARCHAR = re.compile(r"^varchar\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")


class SpecError(ValueError):
    """A demo profile or overrides file is missing, malformed or names something unknown."""


class Column(BaseModel):
    """One column of a department table, and how the department writes its values.

    Attributes:
        name: the column's name in the department's database.
        type: ``varchar(N)``, ``datetime`` or ``numeric(P,S)``.
        comment: the column comment (what a data dictionary says).
        codes: canonical value to the department's code (``M: "1"``); a value not listed is
            written as NULL.
        format: date layout (``%Y%m%d``, ``%Y年%-m月%-d日``) of a date column.
        prefix: text before the record number of a key column.
        digits: width the record number is zero-padded to.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str
    comment: str = ""
    codes: dict[str, str] = Field(default_factory=dict)
    format: str | None = None
    prefix: str = ""
    digits: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _known_type(self) -> Column:
        self.sql_type()
        return self

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        """The column's SQLAlchemy type.

        Returns:
            ``String(N)``, ``DateTime()`` or ``Numeric(P, S)``.

        Raises:
            ValueError: the type is none of those.
        """
        if match := _VARCHAR.match(self.type):
            return sa.String(int(match.group(1)))
        if match := _NUMERIC.match(self.type):
            return sa.Numeric(int(match.group(1)), int(match.group(2)))
        if self.type == "datetime":
            return sa.DateTime()
        raise ValueError(f"type {self.type!r}: give varchar(N), datetime or numeric(P,S)")

    def code(self, values: pa.Array) -> pa.Array:
        """Write canonical values in the department's codes.

        Args:
            values: canonical values (``M``/``F``, ``active`` …), as text or booleans.

        Returns:
            The codes; values the code list lacks become null.
        """
        text = pc.cast(values, pa.string())
        if pa.types.is_boolean(values.type):
            text = pc.if_else(values, "true", "false")
        index = pc.index_in(text, value_set=pa.array(list(self.codes), pa.string()))
        return pa.array(list(self.codes.values()), pa.string()).take(index)

    def dates(self, values: pa.Array) -> pa.Array:
        """Write dates in the column's layout.

        Args:
            values: a date32 or timestamp array.

        Returns:
            The text; nulls stay null.

        Raises:
            ValueError: the column has no date format.
        """
        if self.format is None:
            raise ValueError(f"column {self.name} has no date format")
        return format_time(values, self.format)

    def keys(self, numbers: np.ndarray) -> pa.Array:
        """Record keys: the prefix, then the number zero-padded to ``digits``.

        Args:
            numbers: record numbers.

        Returns:
            The keys.
        """
        return concat(self.prefix, zero_pad(numbers, self.digits))


PrefixForm = Literal[
    "none", "district", "city_district", "province_city_district", "full_admin", "street_community",
    "district_street",
]  # fmt: skip
PlaceForm = Literal["compound", "road", "road_compound"]
BuildingForm = Literal["栋", "幢", "号楼", "座", "#", "dashed"]
UnitForm = Literal["单元", "门"]
RoomForm = Literal["室", "号", "房", "none", "floor_door"]


class CommunityForm(BaseModel):
    """How often a building is named by its community instead (后湖社区2栋1单元302).

    Attributes:
        single_compound: share of the rows of buildings in a community that has one compound.
        other: share of the rows of buildings in other communities.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    single_compound: Rate = 0.0
    other: Rate = 0.0


class AddressStyle(BaseModel):
    """How a department writes where someone lives; every share is drawn per row.

    Weights (normalised) of each part's forms:

    Attributes:
        prefix: what comes first: ``none``, ``district`` (武昌区), ``city_district`` (武汉市武昌区),
            ``province_city_district``, ``full_admin`` (province, city, district, street and
            community), ``street_community`` (积玉桥街道临江社区), ``district_street``.
        place: how a building of a compound is named: ``compound`` (翠苑城), ``road`` (三阳路27号)
            or ``road_compound`` (三阳路27号翠苑城). Houses without a compound are always named by
            road and number.
        community_form: how often the community names the building instead.
        building: the building's marker (4栋, 4幢, 4号楼, 4座, 4#), or ``dashed`` for
            building-unit-room written 4-1-1302.
        unit: the unit's marker (2单元, 2门).
        room: the room's marker (803室, 803号, 803房, 803), or ``floor_door`` (8楼3号).
        single_unit_omitted: share of the rows of one-unit buildings that leave the unit out.
        zero_padded_room: share of rooms written with four digits (0803).
        full_width: share of rows with full-width digits (４栋).
        chinese_numerals: share of rows with the building and unit in Chinese numerals (三栋二单元).
        compound_typo: share of rows naming a compound with one character mistyped.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: dict[PrefixForm, Annotated[float, Field(ge=0.0)]] = {"none": 1.0}
    place: dict[PlaceForm, Annotated[float, Field(ge=0.0)]] = {"compound": 1.0}
    community_form: CommunityForm = Field(default_factory=CommunityForm)
    building: dict[BuildingForm, Annotated[float, Field(ge=0.0)]] = {"栋": 1.0}
    unit: dict[UnitForm, Annotated[float, Field(ge=0.0)]] = {"单元": 1.0}
    room: dict[RoomForm, Annotated[float, Field(ge=0.0)]] = {"室": 1.0}
    single_unit_omitted: Rate = 0.0
    zero_padded_room: Rate = 0.0
    full_width: Rate = 0.0
    chinese_numerals: Rate = 0.0
    compound_typo: Rate = 0.0

    @model_validator(mode="after")
    def _some_weight_in_each_part(self) -> AddressStyle:
        for part in ("prefix", "place", "building", "unit", "room"):
            if not sum(getattr(self, part).values()) > 0:
                raise ValueError(f"{part}: give at least one form a positive weight")
        return self


class SystemSpec(BaseModel):
    """What every department system declares; each kind of system adds its own shares.

    Attributes:
        kind: which kind of system (household register, grid roster, assistance, insurance).
        title: what the table is, as its department calls it.
        table: the table's name.
        primary_key: the role (a key of ``columns``) of the record key.
        columns: role to column, in the table's order. Roles a kind writes but the table lacks
            are left out; a kind's required roles must all be there.
        coverage: the share of its people the system holds (see each kind).
        errors: role to error kind to the share of the rows that kind can apply to; kinds are
            drawn in the order given, each row getting at most one kind per column.
        unusable: quarantine rule to the share of the table's rows that trip it.
        same_day: kind of life change (``address``, ``registered_address``, ``phone``, ``death``)
            to the share of such changes the department records the day they happen.
        address: how the system writes addresses (its ``address`` or ``registered_address``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    REQUIRED_ROLES: ClassVar[tuple[str, ...]] = ()
    OPTIONAL_ROLES: ClassVar[tuple[str, ...]] = ()
    ERROR_VALUES: ClassVar[Mapping[str, str]] = {}
    """Role to the kind of value its errors rewrite (a key of ``errors.KINDS_BY_VALUE``)."""
    CHANGES: ClassVar[tuple[str, ...]] = ()

    kind: str
    title: str
    table: str
    primary_key: str
    columns: dict[str, Column]
    coverage: Rate
    errors: dict[str, Rates] = Field(default_factory=dict)
    unusable: Rates = Field(default_factory=dict)
    same_day: Rates = Field(default_factory=dict)
    address: AddressStyle = Field(default_factory=AddressStyle)

    @model_validator(mode="after")
    def _known_roles_and_kinds(self) -> SystemSpec:
        missing = [role for role in self.REQUIRED_ROLES if role not in self.columns]
        if missing:
            raise ValueError(f"columns: roles {missing} are required for a {self.kind}")
        known = set(self.REQUIRED_ROLES) | set(self.OPTIONAL_ROLES)
        unknown = sorted(set(self.columns) - known)
        if unknown:
            raise ValueError(f"columns: unknown roles {unknown}; a {self.kind} knows {sorted(known)}")
        if self.primary_key not in self.columns:
            raise ValueError(f"primary_key: {self.primary_key!r} is not a role in columns")
        for role, rates in self.errors.items():
            if role not in self.ERROR_VALUES:
                raise ValueError(f"errors: a {self.kind} has no errors in {role!r}")
            if role not in self.columns:
                raise ValueError(f"errors: {role!r} is not a role in columns")
            unknown = sorted(set(rates) - KINDS_BY_VALUE[self.ERROR_VALUES[role]])
            if unknown:
                raise ValueError(f"errors.{role}: unknown error kinds {unknown}")
        unknown = sorted(set(self.same_day) - set(self.CHANGES))
        if unknown:
            raise ValueError(f"same_day: a {self.kind} does not record {unknown}")
        return self

    def column(self, role: str) -> Column:
        """The column of a role.

        Raises:
            KeyError: the table has no column of that role.
        """
        return self.columns[role]

    def name(self, role: str) -> str:
        """The column name of a role (for the error log)."""
        return self.columns[role].name

    def code(self, role: str, values: pa.Array) -> pa.Array:
        """Canonical values in the codes of a role's column (unchanged if the table lacks the role)."""
        return self.columns[role].code(values) if role in self.columns else values

    def dates(self, role: str, values: pa.Array) -> pa.Array:
        """Dates in the layout of a role's column (unchanged if the table lacks the role)."""
        return self.columns[role].dates(values) if role in self.columns else values

    def rates(self, role: str, scale: float = 1.0) -> dict[str, float]:
        """Error kind to rate for one role, each rate multiplied by ``scale`` and capped at one."""
        return {kind: min(rate * scale, 1.0) for kind, rate in self.errors.get(role, {}).items()}


class HouseholdRegisterSpec(SystemSpec):
    """The public-security household register (户籍): registered residents, living or dead.

    ``coverage`` is the share of registered residents it holds.
    """

    REQUIRED_ROLES = ("id_number", "gender", "birth_date", "deceased", "updated_at")
    OPTIONAL_ROLES = (
        "record_id", "name", "family_name", "given_name", "ethnicity", "registered_address",
        "registered_division_code", "household_number", "death_date",
    )  # fmt: skip
    ERROR_VALUES = {"id_number": "register_id_number", "name": "name"}
    CHANGES = ("registered_address", "death")

    kind: Literal["household_register"]


class GridRosterSpec(SystemSpec):
    """The grid roster of actual residents (实有人口), collected door to door.

    ``coverage`` is the share of everyone living in the district it lists.

    Attributes:
        keeps_deceased: share of the deceased it covered still on the roster.
        duplicates: share of its people registered a second time.
    """

    REQUIRED_ROLES = ("record_id", "name", "id_number", "updated_at")
    OPTIONAL_ROLES = (
        "gender", "id_type", "birth_date", "phone", "address", "division_code", "grid_code",
        "residency", "registered_at",
    )  # fmt: skip
    ERROR_VALUES = {
        "id_number": "id_number",
        "id_type": "code",
        "name": "name",
        "gender": "code",
        "birth_date": "date",
        "phone": "phone",
        "address": "address",
    }
    CHANGES = ("address", "phone")

    kind: Literal["grid_roster"]
    keeps_deceased: Rate
    duplicates: Rate


class AssistanceSpec(SystemSpec):
    """The civil-affairs register of social-assistance recipients (救助对象).

    ``coverage`` is the share of all residents it holds, drawn among registered ones, the elderly
    2.5 times as often.

    Attributes:
        second_records: share of recipients with a second record (a one-off 临时救助).
        paid_after_death: share of deceased recipients whose payment goes on (a conflict to find).
        suspended: share of living recipients whose payment is suspended.
    """

    REQUIRED_ROLES = ("record_id", "name", "id_number", "payment_status", "updated_at")
    OPTIONAL_ROLES = ("gender", "birth_date", "phone", "address", "assistance_kind", "amount", "since")
    ERROR_VALUES = {"id_number": "id_number", "name": "name", "phone": "phone"}
    CHANGES = ("address", "phone", "death")

    kind: Literal["assistance"]
    second_records: Rate
    paid_after_death: Rate
    suspended: Rate


class InsuranceSpec(SystemSpec):
    """The social-security register of insured persons (参保人员).

    ``coverage`` is the share of adults registered or working here that it holds.

    Attributes:
        foreign_coverage: the share of foreign adults it holds (foreigners employed here are insured).
        duplicates: share insured twice (重复参保), the second record suspended.
        terminated_after_death: share of the deceased insured whose insurance was terminated.
        suspended: share of the living insured under 60 whose insurance is suspended.
        stale_contact: share of rows with an address they moved from, and of rows with an old phone.
    """

    REQUIRED_ROLES = ("record_id", "id_number", "name", "insurance_status", "updated_at")
    OPTIONAL_ROLES = ("id_type", "gender", "birth_date", "phone", "address", "retired_on")
    ERROR_VALUES = {"id_number": "id_number", "name": "name", "phone": "phone"}
    CHANGES = ("address", "phone", "death")

    kind: Literal["insurance"]
    foreign_coverage: Rate
    duplicates: Rate
    terminated_after_death: Rate
    suspended: Rate
    stale_contact: Rate


SYSTEM_KINDS = ("household_register", "grid_roster", "assistance", "insurance")
AnySystemSpec = Annotated[
    HouseholdRegisterSpec | GridRosterSpec | AssistanceSpec | InsuranceSpec, Field(discriminator="kind")
]


class DemoSpec(BaseModel):
    """A district and its department systems.

    Attributes:
        name: the profile's name.
        district: the 6-digit division code of the district; its divisions are read from
            ``schemas/divisions/<district>.csv``.
        buildings: the district's building register (a CSV file; a relative path is relative to
            the profile's folder).
        population: shares and rates of the synthetic population.
        error_scale: every rate in the systems' ``errors`` is multiplied by this (capped at one).
        systems: source name to system, in the order they are built (each draws from its own
            random generator, seeded with the demo's seed and its position).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    district: str = Field(pattern=r"^\d{6}$")
    buildings: Path
    population: PopulationSpec = Field(default_factory=PopulationSpec)
    error_scale: float = Field(default=1.0, ge=0.0)
    systems: dict[str, AnySystemSpec]

    def document(self) -> dict[str, Any]:
        """The spec as plain data (what ``demo.json`` keeps)."""
        return self.model_dump(mode="json")

    def district_map(self) -> DistrictMap:
        """The district's divisions and buildings.

        Raises:
            MapError: a map file is missing or inconsistent.
        """
        return load_map(self.district, self.buildings)


def profile_path(profile: str | Path) -> Path:
    """The YAML file of a profile given by name or path.

    Args:
        profile: a built-in profile's name (``wuchang``), a YAML file, or a folder holding
            ``profile.yaml``.

    Returns:
        The file.

    Raises:
        SpecError: no such profile.
    """
    path = Path(profile)
    if path.is_dir():
        path = path / "profile.yaml"
    if path.is_file():
        return path
    built_in = PROFILES_DIR / f"{profile}.yaml"
    if isinstance(profile, str) and built_in.is_file():
        return built_in
    known = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
    raise SpecError(f"{profile}: no such demo profile (a YAML file, or one of {known})")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as problem:
        raise SpecError(f"{path}: cannot read: {problem}") from None
    if not isinstance(document, dict):
        raise SpecError(f"{path}: expected a mapping of keys, got {type(document).__name__}")
    return document


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Lay ``overrides`` over ``base``: mappings merge key by key, other values replace.

    Args:
        base: the profile's document.
        overrides: the overriding document.

    Returns:
        A new document.
    """
    result = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    location = [str(part) for part in error["loc"]]
    if location[:1] == ["systems"] and len(location) > 2 and location[2] in SYSTEM_KINDS:
        del location[2]  # the kind pydantic chose by the 'kind' key, not a key of the file
    return f"key '{'.'.join(location)}': {message}" if location else message


def validate_spec(document: Mapping[str, Any], origin: str) -> DemoSpec:
    """Validate a spec document.

    Args:
        document: the (merged) YAML document.
        origin: what to name in errors (the file or files it came from).

    Returns:
        The spec.

    Raises:
        SpecError: a key is missing, unknown or wrong; the message names each.
    """
    try:
        return DemoSpec.model_validate(document)
    except ValidationError as invalid:
        problems = "; ".join(_describe(e) for e in invalid.errors())
        raise SpecError(f"{origin}: {problems}") from None


def load_spec(profile: str | Path = DEFAULT_PROFILE, overrides: Path | None = None) -> DemoSpec:
    """Read a profile and lay an overrides file over it.

    Args:
        profile: a built-in profile's name or a profile file or folder (see ``profile_path``).
        overrides: a YAML file of keys to change (rates, coverage, ``error_scale`` …).

    Returns:
        The validated spec.

    Raises:
        SpecError: a file cannot be read, or the result is not a valid spec.
    """
    path = profile_path(profile)
    document = _read_yaml(path)
    if "buildings" in document:
        document["buildings"] = str((path.parent / document["buildings"]).resolve())
    origin = str(path)
    if overrides is not None:
        document = merged(document, _read_yaml(overrides))
        origin = f"{path} with {overrides}"
    return validate_spec(document, origin)
