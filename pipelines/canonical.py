"""The canonical person model, loaded once from ``schemas/canonical.yaml``.

Everything that lists canonical fields (contract validation, the staged Arrow schema, the warehouse
columns) derives from this module instead of repeating the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

CANONICAL_PATH = Path(__file__).resolve().parent.parent / "schemas" / "canonical.yaml"
PROGRAMMES_PATH = CANONICAL_PATH.with_name("programmes.yaml")

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date": pa.date32(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
}


@dataclass(frozen=True)
class CanonicalField:
    """One field of the canonical person model."""

    name: str
    type: str
    sharing: str
    description: str
    values: tuple[str, ...] = ()
    pii: bool = False
    mask: str | None = None
    conflict: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type that staged records store this field as."""
        return _ARROW_TYPES[self.type]


@cache
def _canonical_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CANONICAL_PATH.read_text(encoding="utf-8"))
    return document


@cache
def canonical_fields() -> dict[str, CanonicalField]:
    """Return the canonical fields by name, in declaration order."""
    declared = _canonical_document()["fields"]
    return {
        name: CanonicalField(
            name=name,
            type=spec["type"],
            sharing=spec["sharing"],
            description=spec["description"],
            values=tuple(spec.get("values", ())),
            pii=bool(spec.get("pii", False)),
            mask=spec.get("mask"),
            conflict=bool(spec.get("conflict", False)),
        )
        for name, spec in declared.items()
    }


@cache
def name_parts() -> tuple[str, ...]:
    """Fields a contract may map instead of ``name`` (family and given name), in joining order."""
    return tuple(_canonical_document().get("name_parts", ()))


@dataclass(frozen=True)
class Programme:
    """A programme a source record can be about (``schemas/programmes.yaml``).

    Attributes:
        name: Snake-case name contracts refer to.
        title: What it is, for people.
        pays_person: It pays money to the person while alive.
        groups: Special groups it puts a person in (``low_income``).
    """

    name: str
    title: str
    pays_person: bool
    groups: tuple[str, ...] = ()


@cache
def programmes() -> dict[str, Programme]:
    """The declared programmes by name."""
    declared = yaml.safe_load(PROGRAMMES_PATH.read_text(encoding="utf-8"))["programmes"]
    return {
        name: Programme(name, spec["title"], bool(spec["pays_person"]), tuple(spec.get("groups", ())))
        for name, spec in declared.items()
    }


@cache
def programme_statuses() -> tuple[str, ...]:
    """The canonical statuses of a record in a programme (``active``, ``suspended``, ``stopped``)."""
    return tuple(yaml.safe_load(PROGRAMMES_PATH.read_text(encoding="utf-8"))["statuses"])


# A staged record's programmes: one entry per programme the record is about (usually one).
PROGRAMME_TYPE = pa.list_(
    pa.struct([("programme", pa.string()), ("status", pa.string()), ("since", pa.date32())])
)

# Columns that staging adds around the canonical fields (lineage and matching aids).
_STAGED_EXTRA: list[tuple[str, pa.DataType]] = [
    ("id_number_raw", pa.string()),
    ("id_status", pa.string()),
    ("id_number_masked", pa.string()),
    ("name_raw", pa.string()),
    ("name_pinyin", pa.string()),
    # the name's parts, when the source keeps them apart (normalized like the name)
    ("family_name", pa.string()),
    ("given_name", pa.string()),
    ("programmes", PROGRAMME_TYPE),
    ("attributes", pa.string()),
    ("record_hash", pa.string()),
]

_LINEAGE: list[tuple[str, pa.DataType]] = [
    ("source_system", pa.string()),
    ("source_record_id", pa.string()),
    ("batch_id", pa.string()),
]


def staged_field_name(canonical_name: str) -> str:
    """Column name of a canonical field in staged data (booleans start with ``is_``)."""
    return "is_deceased" if canonical_name == "deceased" else canonical_name


# The parsed parts of each address field (`pipelines.standardize.addresses.ADDRESS_PARTS`).
ADDRESS_FIELDS = ("address", "registered_address")


def address_parts_column(field: str) -> str:
    """The staged column holding the parsed parts of an address field."""
    return f"{field}_parts"


@cache
def staged_schema() -> pa.Schema:
    """Arrow schema of staged records: lineage, canonical fields, then staging extras."""
    from pipelines.standardize.addresses import ADDRESS_PARTS  # the parser's own declaration

    canonical = [(staged_field_name(f.name), f.arrow_type) for f in canonical_fields().values()]
    parts = pa.struct([(name, pa.string()) for name in ADDRESS_PARTS])
    addresses = [(address_parts_column(field), parts) for field in ADDRESS_FIELDS]
    return pa.schema(_LINEAGE + canonical + _STAGED_EXTRA + addresses)


QUARANTINE_SCHEMA = pa.schema(
    _LINEAGE
    + [
        ("rule", pa.string()),
        ("column", pa.string()),
        ("reason", pa.string()),
        ("raw_values", pa.string()),
    ]
)

FINDING_SCHEMA = pa.schema(
    list(QUARANTINE_SCHEMA) + [pa.field("severity", pa.string()), pa.field("value", pa.string())]
)
