"""The access log: every query, lookup and download of warehouse data, for auditors.

Kept in ``<warehouse>/audit/access-log.jsonl``, outside every snapshot and every department
database, appended under a lock and never rewritten. Each line carries the hash of the line before
it, so a line changed or removed afterwards breaks the chain, which the auditors' report checks.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa

from pipelines.canonical import canonical_fields
from pipelines.layout import WarehouseLayout
from pipelines.tables import ColumnSpec, table_specs

GENESIS = "0" * 64
ACCESS_LOG_SCHEMA = pa.schema(
    [
        ("at", pa.string()),
        ("principal", pa.string()),
        ("role", pa.string()),
        ("department", pa.string()),
        ("action", pa.string()),
        ("purpose", pa.string()),
        ("what", pa.string()),
        ("snapshot_id", pa.string()),
        ("rows", pa.int64()),
        ("personal_fields", pa.list_(pa.string())),
        ("outcome", pa.string()),
        ("detail", pa.string()),
        ("client", pa.string()),
        ("hash", pa.string()),
    ]
)


@dataclass(frozen=True)
class Access:
    """One access to warehouse data.

    Attributes:
        principal: Who (an authenticated principal, or ``local:<user>`` on the server's console).
        role: Their role.
        department: The grant the access ran under (None: the whole warehouse).
        action: query, download, lookup, catalogue, report, access_log, login or review.
        purpose: The purpose the caller gave.
        what: The SQL, the lookup's kind and subject (a resident id or a keyed digest, never an
            ID number), or the file.
        snapshot_id: The snapshot read.
        rows: Rows returned.
        personal_fields: Personal data the access could read (canonical fields, record keys...).
        outcome: ok, refused or failed.
        detail: Why it was refused or failed.
        client: The client's address (served requests).
    """

    principal: str
    role: str
    action: str
    department: str | None = None
    purpose: str | None = None
    what: str | None = None
    snapshot_id: str | None = None
    rows: int = 0
    personal_fields: Sequence[str] = field(default_factory=tuple)
    outcome: str = "ok"
    detail: str | None = None
    client: str | None = None


def access_log_path(layout: WarehouseLayout) -> Path:
    """Where the access log lives (outside the snapshots)."""
    return layout.root / "audit" / "access-log.jsonl"


def _line_hash(previous: str, entry: dict[str, object]) -> str:
    body = json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((previous + body).encode()).hexdigest()


def _last_hash(handle: int) -> str:
    size = os.lseek(handle, 0, os.SEEK_END)
    if size == 0:
        return GENESIS
    start = max(0, size - 65536)
    tail = os.pread(handle, size - start, start).decode("utf-8", errors="replace").rstrip("\n")
    return str(json.loads(tail.rsplit("\n", 1)[-1])["hash"])


def record_access(layout: WarehouseLayout, access: Access) -> None:
    """Append one access to the log (under a lock, chained to the line before, synced to disk).

    Args:
        layout: The warehouse directory.
        access: What happened.
    """
    path = access_log_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry: dict[str, object] = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")}
    entry |= asdict(access) | {"personal_fields": sorted(access.personal_fields)}
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        previous = _last_hash(handle)
        line = entry | {"prev": previous, "hash": _line_hash(previous, entry)}
        os.write(handle, (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode())
        os.fsync(handle)
    finally:
        os.close(handle)


def _entries(layout: WarehouseLayout) -> list[dict[str, object]]:
    path = access_log_path(layout)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read_access_log(layout: WarehouseLayout) -> pa.Table:
    """Every recorded access, oldest first (``ACCESS_LOG_SCHEMA``)."""
    rows = [{name: entry.get(name) for name in ACCESS_LOG_SCHEMA.names} for entry in _entries(layout)]
    return pa.Table.from_pylist(rows, schema=ACCESS_LOG_SCHEMA)


def verify_chain(layout: WarehouseLayout) -> str | None:
    """None when every line chains to the one before; else where the chain breaks."""
    previous = GENESIS
    for number, entry in enumerate(_entries(layout), start=1):
        body = {k: v for k, v in entry.items() if k not in ("prev", "hash")}
        if entry.get("prev") != previous or entry.get("hash") != _line_hash(previous, body):
            return f"line {number} of {access_log_path(layout)} was changed or a line before it removed"
        previous = str(entry["hash"])
    return None


def _is_personal(column: ColumnSpec) -> bool:
    """Whether a column holds personal information (a pii field, or identifying keys and evidence)."""
    if column.field is not None:
        return canonical_fields()[column.field].pii
    return column.carries not in (None, "resident_id")


def personal_fields(sql: str, tables: Sequence[str]) -> list[str]:
    """The personal data a query could read: for each published table it names, the personal
    columns it names (all of them for ``*`` or ``columns(...)``), as what they carry.

    An over-approximation from the query's words, which is what an auditor needs: nothing it
    could read is left out.

    Args:
        sql: The query.
        tables: Tables the query reads (``duckdb.get_table_names``).

    Returns:
        Sorted names (canonical fields, ``record_key``, ``evidence``...).
    """
    lowered = sql.lower()
    words = set(re.findall(r"[a-z_][a-z0-9_]*", lowered))
    everything = "*" in re.sub(r"count\s*\(\s*\*\s*\)", "", lowered) or "columns" in words
    found: set[str] = set()
    for table in tables:
        spec = table_specs().get(table)
        if spec is None:
            continue
        for name, column in spec.all_columns().items():
            if _is_personal(column) and (everything or name in words):
                found.add(column.carries or "")
    return sorted(found)


@dataclass(frozen=True)
class AccessSummary:
    """What the auditors' report shows of the access log.

    Attributes:
        chain: None when the log is intact, else where it was changed.
        by_principal: One row per principal, department, action and outcome: accesses, rows,
            personal fields read.
        recent: The newest accesses, newest first.
        total: Accesses recorded.
    """

    chain: str | None
    by_principal: list[dict[str, object]]
    recent: list[dict[str, object]]
    total: int


def summarize_access(layout: WarehouseLayout, recent: int = 50) -> AccessSummary:
    """The access log as the auditors' report shows it."""
    entries = read_access_log(layout).to_pylist()
    groups: dict[tuple[object, ...], dict[str, object]] = {}
    for entry in entries:
        key = (entry["principal"], entry["role"], entry["department"], entry["action"], entry["outcome"])
        group = groups.setdefault(
            key,
            dict(zip(("principal", "role", "department", "action", "outcome"), key, strict=True))
            | {"accesses": 0, "rows": 0, "fields": set()},
        )
        group["accesses"] = int(group["accesses"]) + 1  # type: ignore[call-overload]
        group["rows"] = int(group["rows"]) + int(entry["rows"] or 0)  # type: ignore[call-overload]
        group["fields"] |= set(entry["personal_fields"] or [])  # type: ignore[operator]
    by_principal = [g | {"fields": ", ".join(sorted(g["fields"]))} for g in groups.values()]  # type: ignore[call-overload]
    newest = [e | {"what": (e["what"] or "")[:160]} for e in reversed(entries[-recent:])]
    return AccessSummary(verify_chain(layout), by_principal, newest, len(entries))
