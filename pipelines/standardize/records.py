"""Standardize a landing batch into canonical staged records, quarantine rows and findings.

Every value normalizer runs once per distinct raw value (source columns repeat a lot), so a batch
of millions of rows costs a few seconds. No row is dropped silently: a row that cannot be used goes
to quarantine with its rule and reason; a usable row with a problem is kept and gets a finding.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.canonical import (
    ADDRESS_FIELDS,
    FINDING_SCHEMA,
    PROGRAMME_TYPE,
    QUARANTINE_SCHEMA,
    address_parts_column,
    name_parts,
    staged_field_name,
    staged_schema,
)
from pipelines.contracts import FieldMapping, ProgrammeMapping, SourceContract
from pipelines.places.divisions import load_divisions
from pipelines.quality_rules import rule
from pipelines.standardize.addresses import AddressParser, parse_addresses
from pipelines.standardize.dates import parse_date
from pipelines.standardize.id_number import normalize_id_number
from pipelines.standardize.names import name_pinyin, normalize_name
from pipelines.standardize.phones import DEFAULT_REGION, normalize_phone

DATE_FIELDS = ("birth_date", "death_date")
VALID_ID_STATUSES = ("valid", "converted_15", "not_cn_resident_id")
_ID_STATUS_RULES = {
    "invalid_checksum": "invalid_id_number",
    "invalid_format": "invalid_id_number",
    "placeholder": "invalid_id_number",
    "masked": "masked_id_number",
    "missing": "missing_id_number",
}
_TRUE_TEXT = frozenset({"1", "true", "t", "yes", "y", "是", "死亡", "已死亡"})
_FALSE_TEXT = frozenset({"0", "false", "f", "no", "n", "否", "正常", ""})


@dataclass(frozen=True)
class StagedBatch:
    """The outcome of standardizing one landing batch (or one chunk of it).

    Attributes:
        records: Usable rows in the staged schema.
        quarantine: Rejected rows with rule, reason and raw values.
        findings: Problems of kept rows, one row per problem.
    """

    records: pa.Table
    quarantine: pa.Table
    findings: pa.Table


class _Problems:
    """Collects quarantine rows and findings of one batch, built into tables in one pass at the end."""

    def __init__(self, contract: SourceContract, raw: pd.DataFrame, batch_id: str) -> None:
        self.contract, self.raw, self.batch_id = contract, raw, batch_id
        self.rejected: list[pd.DataFrame] = []
        self.reported: list[pd.DataFrame] = []

    def _frame(
        self, mask: pd.Series, rule_id: str, column: str | None, reasons: pd.Series | str
    ) -> pd.DataFrame:
        rows = mask.to_numpy(dtype=bool)
        reason = reasons if isinstance(reasons, str) else reasons[rows].astype(str).to_numpy()
        value = self.raw[column][rows].astype(object).to_numpy() if column in self.raw.columns else None
        return pd.DataFrame(
            {"at": mask.index[rows], "rule": rule_id, "column": column, "reason": reason, "value": value}
        )

    def reject(self, mask: pd.Series, rule_id: str, column: str | None, reason: str) -> None:
        """Quarantine every row where ``mask`` holds."""
        if mask.any():
            self.rejected.append(self._frame(mask, rule_id, column, reason))

    def report(self, mask: pd.Series, rule_id: str, column: str | None, reasons: pd.Series | str) -> None:
        """Record a finding (the row stays) for every row where ``mask`` holds."""
        if mask.any():
            self.reported.append(
                self._frame(mask, rule_id, column, reasons).assign(severity=rule(rule_id).severity)
            )

    def _table(self, frames: list[pd.DataFrame], schema: pa.Schema) -> pa.Table:
        if not frames:
            return schema.empty_table()
        problems = pd.concat(frames, ignore_index=True)
        raw_rows = self.raw.loc[problems["at"]]
        problems["source_system"] = self.contract.name
        problems["source_record_id"] = raw_rows[self.contract.primary_key].astype(object).to_numpy()
        problems["batch_id"] = self.batch_id
        problems["raw_values"] = json_objects(raw_rows, list(self.raw.columns))
        return pa.Table.from_pandas(problems[schema.names], schema=schema, preserve_index=False)

    def tables(self, kept: pd.Series) -> tuple[pa.Table, pa.Table]:
        """The quarantine table, and the findings of the rows that were kept."""
        findings = [f[kept.loc[f["at"]].to_numpy(dtype=bool)] for f in self.reported]
        return self._table(self.rejected, QUARANTINE_SCHEMA), self._table(findings, FINDING_SCHEMA)


def _map_distinct(values: pd.Series, normalize: Callable[[Any], Any]) -> pd.Series:
    """Apply ``normalize`` once per distinct non-null value; nulls stay null."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    results = np.empty(len(distinct) + 1, dtype=object)
    results[:-1] = [normalize(value) for value in distinct]
    results[-1] = None  # code -1 (a null) picks the last slot
    return pd.Series(results[codes], index=values.index, dtype=object)


def _source_values(raw: pd.DataFrame, mapping: FieldMapping) -> pd.Series:
    """The raw text of a mapped field, trimmed, empty as null; or the contract's constant."""
    if mapping.column is None:
        return pd.Series([str(mapping.value)] * len(raw), index=raw.index, dtype=object)
    trimmed = pc.utf8_trim_whitespace(pa.array(raw[mapping.column], pa.string(), from_pandas=True))
    blank = pc.equal(trimmed, "")
    text = pc.if_else(blank, pa.scalar(None, pa.string()), trimmed)
    return pd.Series(text.to_numpy(zero_copy_only=False), index=raw.index, dtype=object)


def _decode(field: str, raw: pd.DataFrame, mapping: FieldMapping, problems: _Problems) -> pd.Series:
    """Read a field and translate it through the contract's ``codes``; unlisted codes are findings."""
    values = _source_values(raw, mapping)
    if mapping.codes is None:
        return values.astype(object)
    decoded = _map_distinct(values, mapping.codes.get)
    unlisted = values.notna() & decoded.isna()
    if unlisted.any():
        listed = ", ".join(sorted(mapping.codes))
        reasons = pd.Series(None, index=values.index, dtype=object)
        reasons[unlisted] = [f"{field}: code {v!r} is not one of {listed}" for v in values[unlisted]]
        problems.report(unlisted, "unlisted_code", mapping.column, reasons)
    return decoded


def _parse_dates(field: str, values: pd.Series, mapping: FieldMapping, problems: _Problems) -> pd.Series:
    parsed = _map_distinct(values, lambda v: parse_date(v, mapping.format))
    unparsed = values.notna() & parsed.isna()
    formats = ", ".join(mapping.format) or "the common formats"
    problems.report(unparsed, "unparseable_date", mapping.column, f"{field} fits none of {formats}")
    return parsed


def _parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO-like timestamps in one vectorized pass; the rest one distinct value at a time."""
    stamps = pd.to_datetime(values, errors="coerce", format="ISO8601")
    left = values.notna() & stamps.isna()
    if left.any():
        stamps[left] = pd.to_datetime(_map_distinct(values[left], _parse_timestamp))
    return stamps


def _parse_timestamp(value: Any) -> dt.datetime | None:
    try:
        stamp = pd.Timestamp(unicodedata.normalize("NFKC", str(value)))
    except (ValueError, TypeError):
        return None
    return None if pd.isna(stamp) else stamp.tz_localize(None).to_pydatetime()


def _parse_flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE_TEXT else False if text in _FALSE_TEXT else None


def _clean_text(value: Any) -> str | None:
    text = " ".join(unicodedata.normalize("NFKC", str(value)).split())
    return text or None


def _digits(value: Any) -> str | None:
    text = "".join(ch for ch in unicodedata.normalize("NFKC", str(value)) if ch.isdigit())
    return text or None


def _compact_code(value: Any) -> str | None:
    """A code without spaces or punctuation, upper-cased ('4201-0600 1001 001' → '420106001001001')."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", str(value)) if ch.isalnum()).upper()
    return text or None


_TEXT_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "address": _clean_text,
    "registered_address": _clean_text,
    "household_number": _compact_code,
    "grid_code": _compact_code,
    "division_code": _digits,
}


def _canonical_values(
    contract: SourceContract, raw: pd.DataFrame, problems: _Problems
) -> dict[str, pd.Series]:
    """Every mapped canonical field, decoded and parsed (ID number and name come later).

    An address mapped with ``kind: registered`` is the registered address; name parts are joined
    into the name.
    """
    values: dict[str, pd.Series] = {}
    for field, mapping in contract.fields.items():
        if field == "address" and mapping.kind == "registered":
            field = "registered_address"
        decoded = _decode(field, raw, mapping, problems)
        if field in DATE_FIELDS:
            decoded = _parse_dates(field, decoded, mapping, problems)
        elif field == "updated_at":
            decoded = _parse_timestamps(decoded)
        elif field == "deceased":
            decoded = _map_distinct(decoded, _parse_flag)
        elif field in _TEXT_NORMALIZERS:
            decoded = _map_distinct(decoded, _TEXT_NORMALIZERS[field])
        values[field] = decoded
    return _join_name_parts(values)


def _join_name_parts(values: dict[str, pd.Series]) -> dict[str, pd.Series]:
    """Add the name that mapped name parts make (see ``canonical.yaml`` name_parts); the parts
    stay, normalized like names, so that matching can tell a changed family name."""
    parts = [values[part] for part in name_parts() if part in values]
    for part in name_parts():
        if part in values:
            values[part] = _map_distinct(values[part], normalize_name)
    if not parts:
        return values
    if len(parts) == 1:
        values["name"] = parts[0]
        return values
    family, given = parts
    han = family.fillna("").str.contains(_HAN) & given.fillna("").str.contains(_HAN)
    latin = given.fillna("").str.cat(family.fillna(""), sep=" ").str.strip()
    joined = latin.where(~han, family.fillna("") + given.fillna(""))
    values["name"] = joined.mask(joined == "").astype(object)
    return values


_HAN = r"[\u3400-\u9fff]"


def _identity_columns(
    contract: SourceContract, values: dict[str, pd.Series], problems: _Problems
) -> dict[str, pd.Series]:
    """Normalize the ID number (using a declared id_type as hint) and report invalid ones."""
    raw_numbers = values.get("id_number")
    if raw_numbers is None:
        return {}
    hints = values.get("id_type", pd.Series(None, index=raw_numbers.index, dtype=object))
    parsed = _parse_id_numbers(raw_numbers, hints)
    column = contract.fields["id_number"].column
    reasons = parsed["reason"].where(parsed["reason"].notna(), parsed["status"])
    for id_status, rule_id in _ID_STATUS_RULES.items():
        problems.report(parsed["status"] == id_status, rule_id, column, reasons)
    return {
        "id_number": parsed["value"],
        "id_type": parsed["id_type"],
        "id_status": parsed["status"],
        "id_number_masked": parsed["masked"],
        "id_number_raw": raw_numbers,
        "_id_birth_date": parsed["birth_date"],
        "_id_gender": parsed["gender"],
    }


_ID_NUMBER_PARTS = ("value", "id_type", "status", "masked", "birth_date", "gender", "reason")


def _parse_id_numbers(numbers: pd.Series, hints: pd.Series) -> dict[str, pd.Series]:
    """Normalize each distinct (number, type hint) pair once; one column per IdNumber attribute."""
    keys = numbers.fillna("") + "\x1f" + hints.fillna("") if hints.notna().any() else numbers.fillna("")
    codes, distinct = pd.factorize(keys)
    parsed = []
    for key in distinct:
        number, _, hint = key.partition("\x1f")
        parsed.append(normalize_id_number(number or None, hint or None))
    columns = {}
    for part in _ID_NUMBER_PARTS:
        values = np.empty(len(parsed), dtype=object)
        values[:] = [getattr(p, part) for p in parsed]
        columns[part] = pd.Series(values[codes], index=numbers.index, dtype=object)
    return columns


def _name_columns(values: dict[str, pd.Series]) -> dict[str, pd.Series]:
    raw_names = values.get("name")
    if raw_names is None:
        return {}
    names = _map_distinct(raw_names, normalize_name)
    return {"name": names, "name_raw": raw_names, "name_pinyin": _map_distinct(names, name_pinyin)}


def _phone_column(
    contract: SourceContract, values: dict[str, pd.Series], problems: _Problems
) -> dict[str, pd.Series]:
    raw_phones = values.get("phone")
    if raw_phones is None:
        return {}
    region = contract.fields["phone"].region or DEFAULT_REGION
    phones = _map_distinct(raw_phones, lambda raw: normalize_phone(raw, region))
    invalid = raw_phones.notna() & phones.isna()
    column = contract.fields["phone"].column
    problems.report(invalid, "invalid_phone", column, "not a valid mobile or landline number")
    return {"phone": phones}


@cache
def _address_parser() -> AddressParser:
    """The parser of staging: the national table and every district reference in schemas/."""
    return AddressParser(load_divisions())


def _address_columns(
    contract: SourceContract, values: dict[str, pd.Series], problems: _Problems
) -> dict[str, pa.Array]:
    """The parsed parts of each address field; an address that names no building is a finding."""
    columns = {}
    for field in ADDRESS_FIELDS:
        texts = values.get(field)
        if texts is None:
            continue
        parts = parse_addresses(pa.array(texts, pa.string(), from_pandas=True), _address_parser())
        status = pd.Series(parts.column("status").to_numpy(zero_copy_only=False), index=texts.index)
        unplaced = texts.notna() & status.isin(("partial", "unparsed"))
        reasons = pd.Series(parts.column("reason").to_numpy(zero_copy_only=False), index=texts.index)
        problems.report(unplaced, "address_not_placed", _column_of(contract, field), reasons)
        columns[address_parts_column(field)] = pa.StructArray.from_arrays(
            [column.combine_chunks() for column in parts.columns], names=parts.column_names
        )
    return columns


def _column_of(contract: SourceContract, field: str) -> str | None:
    """The source column a canonical field is read from (an address of kind registered too)."""
    mapping = contract.fields.get(field) or (
        contract.fields.get("address") if field == "registered_address" else None
    )
    return mapping.column if mapping is not None else None


def _programme_entries(
    mapping: ProgrammeMapping, raw: pd.DataFrame, problems: _Problems, position: np.ndarray
) -> pa.Table:
    """One programme mapping's entries: ``row, programme, status, since`` for rows naming a programme."""
    programme = _decode("programme", raw, mapping.programme, problems)
    status = _decode("programme status", raw, mapping.status, problems)
    since = pd.Series(None, index=raw.index, dtype=object)
    if mapping.since is not None:
        since = _parse_dates(
            "programme since", _decode("since", raw, mapping.since, problems), mapping.since, problems
        )
    entries = pa.table(
        {
            "row": position,
            "programme": pa.array(programme, pa.string(), from_pandas=True),
            "status": pa.array(status, pa.string(), from_pandas=True),
            "since": pa.array(since, pa.date32(), from_pandas=True),
        }
    )
    return entries.filter(pc.is_valid(entries.column("programme")))


def _programmes_column(contract: SourceContract, raw: pd.DataFrame, problems: _Problems) -> pa.Array:
    """Per row, the list of programmes its record is about (empty when the contract declares none)."""
    position = np.arange(len(raw))
    parts = [_programme_entries(mapping, raw, problems, position) for mapping in contract.programmes]
    if not parts:
        return pa.nulls(len(raw), PROGRAMME_TYPE)
    entries = pa.concat_tables(parts).sort_by([("row", "ascending")])
    counts = np.bincount(entries.column("row").to_numpy(), minlength=len(raw))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    structs = pa.StructArray.from_arrays(
        [entries.column(name).combine_chunks() for name in ("programme", "status", "since")],
        fields=list(PROGRAMME_TYPE.value_type),
    )
    return pa.ListArray.from_arrays(pa.array(offsets), structs, type=PROGRAMME_TYPE)


def _gender_column(values: dict[str, pd.Series], problems: _Problems) -> pd.Series:
    gender = values.get("gender")
    if gender is None:
        return pd.Series(["U"] * len(problems.raw), index=problems.raw.index, dtype=object)
    return gender.where(gender.isin(["M", "F", "U"]), "U")


def _check_against_id_number(
    contract: SourceContract, staged: dict[str, pd.Series], problems: _Problems
) -> None:
    """Report birth dates and genders that disagree with what the citizen ID number encodes, and
    mark the number ``contradicts_record`` where the record is plainly another person's.

    A number is another person's (a household member's, copied into this record) when the
    record's own gender differs from the one it encodes, or its own birth date is far from the
    encoded one: not the same date with one digit mistyped, nor day and month swapped, nor within
    a month. Such a number is kept, but matching treats it as suspect evidence, not as proof.
    """
    if "_id_birth_date" not in staged:
        return
    contradicted = pd.Series(False, index=staged["_id_birth_date"].index)
    for field, encoded, rule_id in (
        ("birth_date", staged["_id_birth_date"], "birth_date_disagrees_with_id_number"),
        ("gender", staged["_id_gender"], "gender_disagrees_with_id_number"),
    ):
        if field not in contract.fields:
            continue
        recorded = staged[field]
        known = recorded.notna() & encoded.notna() & (recorded != "U")
        disagree = known & (recorded != encoded)
        reasons = recorded.astype(str) + " recorded, " + encoded.astype(str) + " in the ID number"
        problems.report(disagree, rule_id, contract.fields[field].column, reasons)
        if field == "birth_date":
            near = _near_dates(recorded[disagree], encoded[disagree]).reindex(
                disagree.index, fill_value=False
            )
            disagree &= ~near
        contradicted |= disagree.astype(bool)
    contradicted &= staged["id_status"].isin(("valid", "converted_15"))
    column = contract.fields["id_number"].column
    problems.report(
        contradicted,
        "id_number_contradicts_record",
        column,
        "the number encodes another birth date or gender than the record's own",
    )
    staged["id_status"] = staged["id_status"].mask(contradicted, "contradicts_record")


def _near_dates(recorded: pd.Series, encoded: pd.Series) -> pd.Series:
    """Dates that are one slip apart: within 31 days, one digit mistyped, or day and month swapped."""
    left = pd.to_datetime(recorded, errors="coerce")
    right = pd.to_datetime(encoded, errors="coerce")
    within_month = (left - right).abs() <= pd.Timedelta(days=31)
    swapped = (
        (left.dt.year == right.dt.year) & (left.dt.month == right.dt.day) & (left.dt.day == right.dt.month)
    )
    left_text, right_text = left.dt.strftime("%Y%m%d"), right.dt.strftime("%Y%m%d")
    one_digit = pd.Series(
        [
            isinstance(a, str) and isinstance(b, str) and sum(x != y for x, y in zip(a, b, strict=True)) == 1
            for a, b in zip(left_text, right_text, strict=True)
        ],
        index=recorded.index,
    )
    return (within_month | swapped | one_digit).fillna(False).astype(bool)


def _check_birth_dates(
    contract: SourceContract, staged: dict[str, pd.Series], problems: _Problems, today: dt.date
) -> None:
    births = staged.get("birth_date")
    if births is None:
        return
    stamps = pd.to_datetime(births, errors="coerce")
    oldest = pd.Timestamp(today.replace(year=today.year - 130))
    implausible = (stamps > pd.Timestamp(today)) | (stamps < oldest)
    column = contract.fields["birth_date"].column
    problems.report(implausible, "implausible_birth_date", column, "birth date out of range")


def _reject_unusable(
    contract: SourceContract, staged: dict[str, pd.Series], problems: _Problems
) -> pd.Series:
    """Quarantine rows without a key, repeated keys, and rows that identify nobody.

    Returns:
        The mask of rows that stay.
    """
    keys = problems.raw[contract.primary_key].str.strip()
    keys = keys.mask(keys == "")
    missing_key = keys.isna()
    problems.reject(missing_key, "missing_primary_key", contract.primary_key, "no primary key")
    repeated = keys.notna() & keys.duplicated(keep="first")
    problems.reject(repeated, "duplicate_primary_key", contract.primary_key, "primary key repeated in batch")
    usable_id = staged.get("id_status", pd.Series(None, index=keys.index)).isin(VALID_ID_STATUSES)
    nameless = staged.get("name", pd.Series(None, index=keys.index, dtype=object)).isna()
    unidentifiable = ~missing_key & ~repeated & nameless & ~usable_id
    problems.reject(unidentifiable, "unidentifiable_record", None, "neither a name nor a usable ID number")
    return ~(missing_key | repeated | unidentifiable)


def json_objects(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One JSON object per row of ``frame`` with the given columns (built by DuckDB, in row order)."""
    rows = pa.Table.from_pandas(frame[columns], preserve_index=False)
    fields = ", ".join('"{0}" := "{0}"'.format(column.replace('"', '""')) for column in columns)
    connection = duckdb.connect()
    try:
        connection.register("rows", rows)
        return connection.sql(f"select to_json(struct_pack({fields})) as row_json from rows").fetchnumpy()[
            "row_json"
        ]
    finally:
        connection.close()


def _attributes_json(contract: SourceContract, raw: pd.DataFrame) -> np.ndarray | list[None]:
    """The source-specific columns as one JSON object per row."""
    if not contract.attributes:
        return [None] * len(raw)
    return json_objects(raw, list(contract.attributes))


def _record_hash(contract: SourceContract, raw: pd.DataFrame) -> pd.Series:
    """A hash of the row's raw values, so changed records can be told from unchanged ones."""
    hashed = pd.util.hash_pandas_object(raw[contract.source_columns], index=False)
    return hashed.map(lambda h: f"{h:016x}")


def standardize_batch(
    contract: SourceContract, raw: pd.DataFrame, batch_id: str, today: dt.date | None = None
) -> StagedBatch:
    """Turn raw landing rows into canonical staged records.

    Args:
        contract: The source contract (field mappings, codes, formats, primary key).
        raw: Landing rows, every column as text, with the contract's source columns.
        batch_id: The landing batch the rows come from.
        today: Reference date for plausibility checks; the current date by default.

    Returns:
        Staged records, quarantined rows and findings; every raw row is in records or quarantine.
    """
    raw = raw.reset_index(drop=True)
    problems = _Problems(contract, raw, batch_id)
    values = _canonical_values(contract, raw, problems)
    staged: dict[str, pd.Series] = dict(values)
    staged |= _identity_columns(contract, values, problems)
    staged |= _name_columns(values)
    staged |= _phone_column(contract, values, problems)
    staged["gender"] = _gender_column(values, problems)
    programmes = _programmes_column(contract, raw, problems)
    addresses = _address_columns(contract, values, problems)
    _check_against_id_number(contract, staged, problems)
    _check_birth_dates(contract, staged, problems, today or dt.date.today())
    keep = _reject_unusable(contract, staged, problems)
    records = _records_table(contract, raw, staged, {"programmes": programmes, **addresses}, batch_id, keep)
    quarantine, findings = problems.tables(keep)
    return StagedBatch(records=records, quarantine=quarantine, findings=findings)


def _records_table(
    contract: SourceContract,
    raw: pd.DataFrame,
    staged: dict[str, pd.Series],
    arrow_columns: dict[str, pa.Array],
    batch_id: str,
    keep: pd.Series,
) -> pa.Table:
    schema = staged_schema()
    columns: dict[str, Any] = {
        "source_system": [contract.name] * len(raw),
        "source_record_id": raw[contract.primary_key],
        "batch_id": [batch_id] * len(raw),
        "attributes": _attributes_json(contract, raw),
        "record_hash": _record_hash(contract, raw),
    }
    for field, series in staged.items():
        if not field.startswith("_"):
            columns[staged_field_name(field)] = series
    arrow_names = {"programmes", *(address_parts_column(field) for field in ADDRESS_FIELDS)}
    arrow_columns = {
        name: arrow_columns.get(name, pa.nulls(len(raw), schema.field(name).type)) for name in arrow_names
    }
    pandas_names = [name for name in schema.names if name not in arrow_columns]
    frame = pd.DataFrame({name: columns.get(name, [None] * len(raw)) for name in pandas_names})
    kept = keep.to_numpy(dtype=bool)
    table = pa.Table.from_pandas(
        frame[kept], schema=pa.schema([schema.field(name) for name in pandas_names]), preserve_index=False
    )
    for name, values in arrow_columns.items():
        table = table.append_column(schema.field(name), pc.filter(values, pa.array(kept)))
    return table.select(schema.names)
