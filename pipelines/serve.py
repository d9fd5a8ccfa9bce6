"""The served warehouse (``gridsync serve``): departments' analysts and systems use it over HTTP.

Built on FastAPI (already in the locked environment: Airflow 3's own API server runs on it) and
served by uvicorn, with TLS when given a certificate. People log in on a page (``/``) with their
department's credential and get a session cookie; systems send the credential as a bearer token.
Every answer goes through ``pipelines.access`` (the department's grant, the query limits, the
access log): resident verification (核验), grant-limited SQL, CSV/Parquet download, the data
catalogue, and for auditors the access log and the auditors' report.
"""

import hashlib
import io
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel

from pipelines.access import Caller, authenticate_logged, logged_query, verify_resident
from pipelines.access_log import Access, read_access_log, record_access, verify_chain
from pipelines.catalogue import build_catalogue, catalogue_json
from pipelines.contracts import ContractError, load_contracts
from pipelines.grants import load_grants
from pipelines.layout import WarehouseLayout
from pipelines.principals import AuthenticationError, Principal
from pipelines.publish import SnapshotNotFound
from pipelines.query import QueryError, kept_snapshots
from pipelines.settings import QueryLimits, Settings

WEB = Path(__file__).resolve().parent / "web"
SESSION_COOKIE = "gridsync_session"
SESSION_SECONDS = 8 * 3600
SHOWN_ROWS = 1000  # rows a query shows on the page or in JSON; a download gives up to the row limit
LOOKUPS_PER_MINUTE = 30
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class _Sessions:
    """Logged-in people (in memory: a restart logs everyone out) and a short cache of checked
    bearer credentials (scrypt is deliberately slow)."""

    by_token: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    bearers: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    lookups: dict[str, deque[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, principal: Principal) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.by_token[token] = (principal, time.monotonic() + SESSION_SECONDS)
        return token

    def find(self, token: str | None) -> Principal | None:
        with self.lock:
            found = self.by_token.get(token or "")
            if found is None or found[1] < time.monotonic():
                self.by_token.pop(token or "", None)
                return None
            return found[0]

    def close(self, token: str | None) -> None:
        with self.lock:
            self.by_token.pop(token or "", None)

    def allow_lookup(self, principal: str) -> bool:
        """At most ``LOOKUPS_PER_MINUTE`` verifications per principal per minute (no enumeration)."""
        now = time.monotonic()
        with self.lock:
            recent = self.lookups.setdefault(principal, deque())
            while recent and recent[0] < now - 60:
                recent.popleft()
            if len(recent) >= LOOKUPS_PER_MINUTE:
                return False
            recent.append(now)
            return True


class LoginRequest(BaseModel):
    """A person's login: their credential (``principal.secret``)."""

    credential: str


class QueryRequest(BaseModel):
    """A grant-limited query."""

    sql: str
    purpose: str
    snapshot: str | None = None


class VerifyRequest(BaseModel):
    """A 核验 request: an ID number and why it is asked."""

    id_number: str
    purpose: str


def _json_safe(table: pa.Table) -> list[list[Any]]:
    return (
        [
            [None if v is None else v if isinstance(v, int | float | bool | str) else str(v) for v in row]
            for row in zip(*(c.to_pylist() for c in table.columns), strict=True)
        ]
        if table.num_columns
        else []
    )


def create_app(settings: Settings, warehouse: Path, secure_cookies: bool = False) -> FastAPI:
    """The served warehouse's application.

    Args:
        settings: The installation's settings (secrets folder, limits, grants and contracts).
        warehouse: The warehouse directory.
        secure_cookies: Mark the session cookie Secure (when served over TLS).

    Returns:
        The FastAPI application.
    """
    app = FastAPI(title="gridsync", docs_url=None, redoc_url=None, openapi_url=None)
    layout = WarehouseLayout(warehouse)
    sessions = _Sessions()

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def caller(request: Request) -> Caller:
        client = request.client.host if request.client else None
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            credential = bearer[7:].strip()
            digest = hashlib.sha256(credential.encode()).hexdigest()
            cached = sessions.bearers.get(digest)
            if cached is not None and cached[1] > time.monotonic():
                return Caller(cached[0], client)
            try:
                principal = authenticate_logged(layout, settings, credential, client)
            except AuthenticationError as refused:
                raise HTTPException(401, str(refused)) from None
            sessions.bearers[digest] = (principal, time.monotonic() + 60)
            return Caller(principal, client)
        person = sessions.find(request.cookies.get(SESSION_COOKIE))
        if person is None:
            raise HTTPException(401, "log in first")
        return Caller(person, client)

    Who = Annotated[Caller, Depends(caller)]

    def auditor(who: Who) -> Caller:
        if who.principal is None or who.principal.role != "auditor":
            raise HTTPException(403, "auditors only")
        return who

    Auditor = Annotated[Caller, Depends(auditor)]

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse((WEB / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in ("app.js", "app.css"):
            raise HTTPException(404, "no such file")
        return FileResponse(WEB / name)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/login")
    def login(body: LoginRequest, request: Request, response: Response) -> dict[str, str | None]:
        client = request.client.host if request.client else None
        try:
            principal = authenticate_logged(layout, settings, body.credential, client)
        except AuthenticationError as refused:
            raise HTTPException(401, str(refused)) from None
        record_access(
            layout,
            Access(
                principal=principal.name,
                role=principal.role,
                action="login",
                department=principal.department,
                client=client,
            ),
        )
        response.set_cookie(
            SESSION_COOKIE,
            sessions.open(principal),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=secure_cookies,
        )
        return {"principal": principal.name, "role": principal.role, "department": principal.department}

    @app.post("/api/logout")
    def logout(request: Request, response: Response) -> dict[str, str]:
        sessions.close(request.cookies.get(SESSION_COOKIE))
        response.delete_cookie(SESSION_COOKIE)
        return {"status": "logged out"}

    @app.get("/api/me")
    def me(who: Who) -> dict[str, str | None]:
        assert who.principal is not None
        return {"principal": who.name, "role": who.role, "department": who.principal.department}

    def _query(who: Caller, body: QueryRequest, action: str, rows: int) -> Any:
        limits = QueryLimits(
            settings.limits.seconds, settings.limits.memory, rows, settings.limits.temp_space
        )
        try:
            return logged_query(layout, who, body.sql, body.purpose, None, body.snapshot, limits, action)
        except AuthenticationError as refused:
            raise HTTPException(403, str(refused)) from None
        except (QueryError, SnapshotNotFound) as refused:
            raise HTTPException(400, str(refused)) from None

    @app.post("/api/query")
    def query(body: QueryRequest, who: Who) -> dict[str, Any]:
        result = _query(who, body, "query", min(SHOWN_ROWS, settings.limits.rows))
        return {
            "snapshot_id": result.snapshot_id,
            "columns": result.table.column_names,
            "rows": _json_safe(result.table),
            "truncated": result.truncated,
        }

    @app.get("/api/download")
    def download(
        sql: str, purpose: str, who: Who, format: str = "csv", snapshot: str | None = None
    ) -> Response:
        if format not in ("csv", "parquet"):
            raise HTTPException(400, "format is csv or parquet")
        result = _query(
            who, QueryRequest(sql=sql, purpose=purpose, snapshot=snapshot), "download", settings.limits.rows
        )
        buffer = io.BytesIO()
        if format == "csv":
            buffer.write(b"\xef\xbb\xbf")
            pa_csv.write_csv(result.table, buffer)
            media = "text/csv; charset=utf-8"
        else:
            pq.write_table(result.table, buffer)
            media = "application/vnd.apache.parquet"
        name = f"gridsync-{result.snapshot_id}.{format}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if result.truncated:
            headers["X-Gridsync-Truncated"] = str(settings.limits.rows)
        return Response(buffer.getvalue(), media_type=media, headers=headers)

    @app.post("/api/verify")
    def verify(body: VerifyRequest, who: Who) -> dict[str, Any]:
        if not sessions.allow_lookup(who.name):
            raise HTTPException(429, f"at most {LOOKUPS_PER_MINUTE} verifications a minute")
        try:
            answer = verify_resident(layout, who, body.id_number, body.purpose)
        except AuthenticationError as refused:
            raise HTTPException(403, str(refused)) from None
        except (QueryError, SnapshotNotFound) as refused:
            raise HTTPException(400, str(refused)) from None
        return {"registered": answer.registered, "alive": answer.alive, "snapshot_id": answer.snapshot_id}

    @app.get("/api/catalogue")
    def catalogue(who: Who) -> Response:
        try:
            contracts = load_contracts(settings.sources_dir)
        except ContractError:
            contracts = []
        record_access(
            layout, Access(principal=who.name, role=who.role, action="catalogue", client=who.client)
        )
        text = catalogue_json(build_catalogue(load_grants(settings.grants_dir), contracts))
        return Response(text, media_type="application/json")

    @app.get("/api/snapshots")
    def snapshots(who: Who) -> list[dict[str, str]]:
        return [{"snapshot_id": s.snapshot_id, "created_at": s.created_at} for s in kept_snapshots(layout)]

    @app.get("/api/access-log")
    def access_log(who: Auditor, limit: int = 200) -> dict[str, Any]:
        table = read_access_log(layout)
        record_access(
            layout,
            Access(
                principal=who.name,
                role=who.role,
                action="access_log",
                client=who.client,
                rows=min(limit, table.num_rows),
            ),
        )
        shown = table.slice(max(0, table.num_rows - limit)).drop_columns(["hash"])
        return {
            "intact": verify_chain(layout) is None,
            "columns": shown.column_names,
            "rows": _json_safe(shown),
        }

    @app.get("/report", response_class=HTMLResponse)
    def report(who: Auditor) -> HTMLResponse:
        from pipelines.report.render import build_report

        record_access(layout, Access(principal=who.name, role=who.role, action="report", client=who.client))
        titles = {c.name: c.title for c in _contracts_or_none(settings)}
        files = build_report(layout, layout.root / ".served-report", None, titles)
        return HTMLResponse(files.report.read_text(encoding="utf-8"))

    @app.exception_handler(SnapshotNotFound)
    def no_snapshot(request: Request, failure: SnapshotNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(failure)}, status_code=503)

    return app


def _contracts_or_none(settings: Settings) -> list[Any]:
    try:
        return list(load_contracts(settings.sources_dir))
    except ContractError:
        return []


def serve(
    settings: Settings,
    warehouse: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Serve the warehouse until stopped (uvicorn; HTTPS when a certificate and key are given).

    Args:
        settings: The installation's settings.
        warehouse: The warehouse directory.
        host: The address to listen on (the loopback address by default).
        port: The port.
        tls_cert: A PEM certificate (chain) for HTTPS.
        tls_key: Its private key.
    """
    import uvicorn

    app = create_app(settings, warehouse, secure_cookies=tls_cert is not None)
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level="warning",
        server_header=False,
    )
