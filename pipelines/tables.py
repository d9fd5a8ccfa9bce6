"""The published tables and what each column means and carries, from ``schemas/tables.yaml``.

Department databases and the data catalogue are generated from these declarations together with the
canonical model: a column that carries a canonical field is shown as each grant shows that field.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from pipelines.canonical import canonical_fields, staged_field_name

TABLES_PATH = Path(__file__).resolve().parent.parent / "schemas" / "tables.yaml"

# What a column holds besides a canonical field's values (see schemas/tables.yaml).
Carrier = Literal[
    "resident_id", "record_key", "record_ref", "evidence", "source_values", "column_value", "text"
]
CARRIERS: tuple[str, ...] = Carrier.__args__  # type: ignore[attr-defined]


class ColumnSpec(BaseModel):
    """One published column: its meaning and what personal data it carries (None: none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    carries: str | None = None
    quotes: tuple[str, ...] = ()

    @property
    def field(self) -> str | None:
        """The canonical field whose values the column holds, if any."""
        return self.carries if self.carries in canonical_fields() else None


class TableSpec(BaseModel):
    """One published table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    grain: str
    canonical: Literal["golden", "staged"] | None = None
    without: tuple[str, ...] = ()
    columns: dict[str, ColumnSpec]

    def all_columns(self) -> dict[str, ColumnSpec]:
        """The declared columns with the canonical ones the table holds, in warehouse order."""
        if self.canonical is None:
            return dict(self.columns)
        generated: dict[str, ColumnSpec] = {}
        for field in canonical_fields().values():
            if field.name in self.without:
                continue
            name = staged_field_name(field.name)
            generated[name] = ColumnSpec(description=field.description, carries=field.name)
            if self.canonical == "golden":
                generated[f"{name}_source"] = ColumnSpec(
                    description=f"The source system whose value of {field.name} the golden record took."
                )
        return {**self.columns, **generated}


class TablesError(ValueError):
    """``schemas/tables.yaml`` is malformed (the message names the table and column)."""


@cache
def table_specs() -> dict[str, TableSpec]:
    """Every published table's declaration, by name.

    Raises:
        TablesError: A column carries something that is neither a canonical field nor a carrier.
    """
    document = yaml.safe_load(TABLES_PATH.read_text(encoding="utf-8"))
    specs = {name: TableSpec.model_validate(spec) for name, spec in document["tables"].items()}
    known = set(CARRIERS) | set(canonical_fields())
    for table, spec in specs.items():
        for column, declared in spec.columns.items():
            if declared.carries is not None and declared.carries not in known:
                raise TablesError(f"{TABLES_PATH}: {table}.{column} carries unknown {declared.carries!r}")
            unknown = set(declared.quotes) - set(canonical_fields())
            if unknown:
                raise TablesError(f"{TABLES_PATH}: {table}.{column} quotes unknown fields {sorted(unknown)}")
    return specs


def staged_column_fields() -> dict[str, str]:
    """Staged column name -> the canonical field it carries (``id_number_raw`` -> ``id_number``)."""
    columns = table_specs()["source_record"].all_columns()
    return {name: spec.field for name, spec in columns.items() if spec.field is not None}
