"""Every way in to warehouse data, checked and logged: queries, downloads and resident verification.

The command line and the served warehouse call these functions, so each access is authorised the
same way and written to the access log (who, when, what, purpose, rows, which personal fields)
whether it succeeds, is refused or fails.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, replace

import duckdb

from pipelines.access_log import Access, personal_fields, record_access
from pipelines.keys import Keyring
from pipelines.layout import WarehouseLayout
from pipelines.principals import AuthenticationError, Principal, authenticate
from pipelines.publish import SnapshotNotFound
from pipelines.query import QueryError, QueryResult, open_snapshot, query_snapshot
from pipelines.settings import QueryLimits, Settings
from pipelines.standardize.id_number import normalize_id_number

VALID_ID = ("valid", "converted_15")


@dataclass(frozen=True)
class Caller:
    """Who is asking: an authenticated principal, or (None) the server's console user, who reads
    the warehouse files anyway.

    Attributes:
        principal: The authenticated principal; None for the console.
        client: The client's network address (served requests).
    """

    principal: Principal | None
    client: str | None = None

    @property
    def name(self) -> str:
        """The name the access log records."""
        return self.principal.name if self.principal else f"local:{getpass.getuser()}"

    @property
    def role(self) -> str:
        """The role the access log records."""
        return self.principal.role if self.principal else "operator"

    def department_for(self, department: str | None) -> str | None:
        """The grant a query runs under: a department principal's own, whatever was asked.

        Raises:
            AuthenticationError: A principal that is not a department asks for data, or a
                department asks for another department's grant.
        """
        if self.principal is None:
            return department
        if self.principal.role != "department" or self.principal.department is None:
            raise AuthenticationError(f"{self.principal.name} is a {self.principal.role}: no data access")
        if department not in (None, self.principal.department):
            raise AuthenticationError(f"{self.principal.name} may not act for department {department!r}")
        return self.principal.department


@dataclass(frozen=True)
class Verification:
    """A 核验 answer: yes/no facts about a person, within the department's grant.

    Attributes:
        registered: The warehouse holds a resident with this ID number.
        alive: Not recorded as deceased (None when not registered).
        snapshot_id: The snapshot asked.
    """

    registered: bool
    alive: bool | None
    snapshot_id: str


def authenticate_logged(
    layout: WarehouseLayout, settings: Settings, credential: str | None, client: str | None = None
) -> Principal:
    """Authenticate a credential; a failure is logged (as a refused login of the name claimed).

    Raises:
        AuthenticationError: No credential, or a wrong one.
    """
    try:
        return authenticate(settings, credential)
    except AuthenticationError as refused:
        claimed = (credential or "").partition(".")[0][:64] or "(none)"
        access = Access(principal=claimed, role="unknown", action="login", outcome="refused", client=client)
        record_access(layout, replace(access, detail=str(refused)))
        raise


def logged_query(
    layout: WarehouseLayout,
    caller: Caller,
    sql: str,
    purpose: str | None,
    department: str | None = None,
    when: str | None = None,
    limits: QueryLimits | None = None,
    action: str = "query",
) -> QueryResult:
    """Run a query for a caller within their grant and limits, and log it.

    Args:
        layout: The warehouse directory.
        caller: Who asks.
        sql: One SELECT statement.
        purpose: Why (required of department principals).
        department: The grant to run under (a department principal always runs under its own).
        when: A past snapshot's id or date.
        limits: The limits; the defaults when None.
        action: ``query`` or ``download`` (for the log).

    Returns:
        The result.

    Raises:
        AuthenticationError: The caller may not query (or not this department).
        QueryError: Refused or failed; logged as such.
    """
    entry = Access(principal=caller.name, role=caller.role, action=action, purpose=purpose, what=sql)
    entry = _with_client(entry, caller)
    try:
        department = caller.department_for(department)
        entry = _replace(entry, department=department)
        if caller.principal is not None and not (purpose and purpose.strip()):
            raise QueryError("say the purpose of the query (PIPL: processing needs a stated purpose)")
        try:
            tables = sorted(duckdb.get_table_names(sql))
        except duckdb.Error:
            tables = []
        entry = _replace(entry, personal_fields=tuple(personal_fields(sql, tables)))
        result = query_snapshot(layout, sql, department, when, limits)
    except (AuthenticationError, QueryError, SnapshotNotFound) as refused:
        outcome = "failed" if "time limit" in str(refused) else "refused"
        record_access(layout, _replace(entry, outcome=outcome, detail=str(refused)))
        raise
    record_access(layout, _replace(entry, snapshot_id=result.snapshot_id, rows=result.table.num_rows))
    return result


def verify_resident(
    layout: WarehouseLayout, caller: Caller, id_number: str, purpose: str | None, keys: Keyring | None = None
) -> Verification:
    """核验: is a person with this ID number registered, and alive? Answered yes or no.

    The department must be granted the ``resident`` table; the answer carries no other data. The
    log names the resident (or, for an unknown number, a keyed digest of it), never the number.

    Args:
        layout: The warehouse directory.
        caller: Who asks (a department principal, or the console).
        id_number: The ID number to verify (any common way of writing it).
        purpose: Why (required of department principals).
        keys: For the log's digest of unknown numbers; loaded from the settings when None.

    Returns:
        The answer.

    Raises:
        AuthenticationError: The caller may not verify.
        QueryError: No purpose, the number is not a valid citizen ID, or the grant lacks residents.
    """
    entry = _with_client(
        Access(principal=caller.name, role=caller.role, action="lookup", purpose=purpose), caller
    )
    normalized = normalize_id_number(id_number)
    digest = (keys or Keyring.load()).digest("lookup", normalized.value or id_number.strip())
    entry = _replace(entry, what=f"verify id_number #{digest[:16]}", personal_fields=("id_number",))
    try:
        department = caller.department_for(None)
        entry = _replace(entry, department=department)
        if caller.principal is not None and not (purpose and purpose.strip()):
            raise QueryError("say the purpose of the lookup")
        if normalized.status not in VALID_ID or normalized.value is None:
            raise QueryError(f"not a valid citizen ID number ({normalized.status})")
        answer, resident_id = _verify(layout, department, normalized.value)
    except (AuthenticationError, QueryError, SnapshotNotFound) as refused:
        record_access(layout, _replace(entry, outcome="refused", detail=str(refused)))
        raise
    what = f"verify resident {resident_id}" if resident_id else entry.what
    record_access(
        layout, _replace(entry, what=what, snapshot_id=answer.snapshot_id, rows=int(answer.registered))
    )
    return answer


def _verify(layout: WarehouseLayout, department: str | None, number: str) -> tuple[Verification, str | None]:
    if department is not None:
        with open_snapshot(layout, department) as (connection, _):
            granted = {row[0] for row in connection.execute("show tables").fetchall()}
        if "resident" not in granted:
            raise QueryError(f"department {department}: the grant does not include residents")
    with open_snapshot(layout) as (connection, snapshot):
        row = connection.execute(
            "select resident_id, is_deceased from resident where id_number = $n limit 1", {"n": number}
        ).fetchone()
    if row is None:
        return Verification(False, None, snapshot.snapshot_id), None
    return Verification(True, not bool(row[1]), snapshot.snapshot_id), str(row[0])


def _with_client(entry: Access, caller: Caller) -> Access:
    return _replace(entry, client=caller.client)


def _replace(entry: Access, **changes: object) -> Access:
    return replace(entry, **changes)  # type: ignore[arg-type]
