"""The canonical person model, loaded once from ``schemas/canonical.yaml``.

Everything that lists canonical fields (contract validation, the staged Arrow schema, the warehouse
columns) derives from this module instead of repeating the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import yaml

CANONICAL_PATH = Path(__file__).resolve().parent.parent / "schemas" / "canonical.yaml"

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

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type that staged records store this field as."""
        return _ARROW_TYPES[self.type]


@cache
def canonical_fields() -> dict[str, CanonicalField]:
    """Return the canonical fields by name, in declaration order."""
    declared = yaml.safe_load(CANONICAL_PATH.read_text(encoding="utf-8"))["fields"]
    return {
        name: CanonicalField(
            name=name,
            type=spec["type"],
            sharing=spec["sharing"],
            description=spec["description"],
            values=tuple(spec.get("values", ())),
            pii=bool(spec.get("pii", False)),
            mask=spec.get("mask"),
        )
        for name, spec in declared.items()
    }


# Columns that staging adds around the canonical fields (lineage and matching aids).
_STAGED_EXTRA: list[tuple[str, pa.DataType]] = [
    ("id_number_raw", pa.string()),
    ("id_status", pa.string()),
    ("id_number_masked", pa.string()),
    ("name_raw", pa.string()),
    ("name_pinyin", pa.string()),
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


@cache
def staged_schema() -> pa.Schema:
    """Arrow schema of staged records: lineage, canonical fields, then staging extras."""
    canonical = [(staged_field_name(f.name), f.arrow_type) for f in canonical_fields().values()]
    return pa.schema(_LINEAGE + canonical + _STAGED_EXTRA)


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
