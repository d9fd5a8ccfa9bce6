"""The data catalogue (数据目录): every published table and column, what it means, where it comes
from, its sharing class, whether it is personal information, and how each department sees it.

Generated from ``schemas/tables.yaml``, the canonical model, the source contracts and the grants, so
it cannot drift from what department databases hold (a test compares it with a real warehouse).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.canonical import canonical_fields
from pipelines.contracts import SourceContract
from pipelines.grants import DepartmentView, Grant, source_carriers
from pipelines.keys import Keyring
from pipelines.tables import ColumnSpec, table_specs

SHARING_CLASSES = {"shared": "无条件共享", "grant": "有条件共享", "none": "不予共享"}


@dataclass(frozen=True)
class CatalogueEntry:
    """One published column.

    Attributes:
        table: The table.
        table_title: Its title.
        grain: What one row is.
        column: The column.
        description: What it means.
        carries: What personal data it holds (a canonical field, record_key, evidence...), or "".
        sharing: 无条件共享, 有条件共享 or 不予共享.
        personal: Whether it is personal information (个人信息).
        sources: Which source columns feed it (``source.COLUMN``), for canonical fields.
        departments: Department -> how it sees the column (clear, masked, pseudonym, year,
            own rows only, not shown, table not granted).
    """

    table: str
    table_title: str
    grain: str
    column: str
    description: str
    carries: str
    sharing: str
    personal: bool
    sources: tuple[str, ...]
    departments: Mapping[str, str]


def _sharing_and_personal(spec: ColumnSpec) -> tuple[str, bool]:
    if spec.field is not None:
        field = canonical_fields()[spec.field]
        return SHARING_CLASSES[field.sharing], field.pii
    if spec.carries is None:
        return SHARING_CLASSES["shared"], False
    return SHARING_CLASSES["grant"], True


def _how(view: DepartmentView, table: str, column: str, spec: ColumnSpec) -> str:
    rule = view.grant.tables.get(table)
    if rule is None:
        return "table not granted"
    if rule.columns is not None and column not in rule.columns:
        return "not shown"
    own_rows = rule.rows == "own"
    if view.column(table, column, spec, own_rows) is None:
        return "not shown"
    if own_rows:
        return "clear (own rows only)"
    if spec.field is not None:
        shown = view.grant.view(spec.field) or "own rows only"
        if shown == "masked" and spec.field == "id_number" and view.grant.reveals_birth_date:
            return "masked (region only)"
        return shown
    if spec.carries == "record_key" or spec.carries == "record_ref":
        clear = view.clear_key_sources()
        return f"clear for {', '.join(clear) or 'no source'}; pseudonym otherwise"
    if spec.carries in ("evidence", "source_values", "column_value"):
        return "each value as its field is shown"
    return "clear"


def build_catalogue(
    grants: Sequence[Grant], contracts: Sequence[SourceContract], keys: Keyring | None = None
) -> list[CatalogueEntry]:
    """The catalogue: one entry per published column, in table order.

    Args:
        grants: The department grants.
        contracts: The source contracts.
        keys: Only needed to build the department views (no value is computed); a throwaway key
            by default.

    Returns:
        The entries.
    """
    keys = keys or Keyring(bytes(32))
    carriers = source_carriers(contracts)
    views = [DepartmentView(grant, carriers, keys) for grant in grants]
    feeds: dict[str, list[str]] = {}
    for contract in contracts:
        for source_column, field in contract.column_fields.items():
            feeds.setdefault(field, []).append(f"{contract.name}.{source_column}")
    entries = []
    for table, spec in table_specs().items():
        for column, declared in spec.all_columns().items():
            sharing, personal = _sharing_and_personal(declared)
            entries.append(
                CatalogueEntry(
                    table=table,
                    table_title=spec.title,
                    grain=spec.grain,
                    column=column,
                    description=declared.description,
                    carries=declared.carries or "",
                    sharing=sharing,
                    personal=personal,
                    sources=tuple(sorted(feeds.get(declared.field or "", []))),
                    departments={v.grant.department: _how(v, table, column, declared) for v in views},
                )
            )
    return entries


def catalogue_json(entries: Sequence[CatalogueEntry]) -> str:
    """The catalogue as JSON text (a list of entries)."""
    return json.dumps([asdict(e) for e in entries], ensure_ascii=False, indent=1)


def catalogue_csv(entries: Sequence[CatalogueEntry]) -> str:
    """The catalogue as CSV text (UTF-8 with BOM for spreadsheet programs), a column per department."""
    departments = sorted({d for e in entries for d in e.departments})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["table", "column", "description", "carries", "sharing", "personal", "sources", *departments]
    )
    for e in entries:
        row = [e.table, e.column, e.description, e.carries, e.sharing, "是" if e.personal else "否"]
        writer.writerow([*row, " ".join(e.sources), *(e.departments.get(d, "") for d in departments)])
    return "\ufeff" + out.getvalue()


def write_catalogue(entries: Sequence[CatalogueEntry], path: Path) -> Path:
    """Write the catalogue as ``.json`` or ``.csv`` (by the file's suffix); return the path."""
    text = catalogue_csv(entries) if path.suffix == ".csv" else catalogue_json(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
