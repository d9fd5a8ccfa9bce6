"""Principals (departments, reviewers, auditors) and their credentials.

A credential is ``<principal>.<secret>``; only a salted scrypt hash of the secret is kept, in
``<secrets_dir>/principals.json`` (outside the warehouse, like the key). Issuing again rotates it:
the old secret stops working at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelines.grants import DEPARTMENT_NAME
from pipelines.settings import Settings

Role = Literal["department", "reviewer", "auditor"]
ROLES: tuple[str, ...] = ("department", "reviewer", "auditor")
PRINCIPALS_FILE = "principals.json"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class AuthenticationError(PermissionError):
    """A credential is missing, malformed, unknown or wrong, or the principal may not do this."""


@dataclass(frozen=True)
class Principal:
    """Who is asking.

    Attributes:
        name: The principal's name.
        role: department, reviewer or auditor.
        department: The department whose grant a department principal queries under.
    """

    name: str
    role: str
    department: str | None = None


def principals_path(settings: Settings) -> Path:
    """Where hashed credentials are kept."""
    return settings.secrets_dir / PRINCIPALS_FILE


def _read(settings: Settings) -> dict[str, dict[str, str | None]]:
    path = principals_path(settings)
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _write(settings: Settings, principals: dict[str, dict[str, str | None]]) -> None:
    path = principals_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(principals, handle, indent=1, sort_keys=True)
    os.replace(temporary, path)


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex()


def issue_credential(settings: Settings, name: str, role: str, department: str | None = None) -> str:
    """Issue (or rotate) a principal's credential.

    Args:
        settings: Where principals are kept.
        name: The principal (a plain name: lower-case letters, digits, _).
        role: department, reviewer or auditor.
        department: For a department principal, the department it acts for (its name by default).

    Returns:
        The new credential ``<name>.<secret>``; it is shown once and never stored.

    Raises:
        AuthenticationError: The name or role is not valid.
    """
    if not DEPARTMENT_NAME.match(name):
        raise AuthenticationError(f"{name!r} is not a principal name (lower-case letters, digits, _)")
    if role not in ROLES:
        raise AuthenticationError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "department":
        department = department or name
        if not DEPARTMENT_NAME.match(department):
            raise AuthenticationError(f"{department!r} is not a department name")
    else:
        department = None
    secret = secrets.token_urlsafe(24)
    salt = secrets.token_bytes(16)
    principals = _read(settings)
    principals[name] = {
        "role": role,
        "department": department,
        "salt": salt.hex(),
        "hash": _hash(secret, salt),
        "issued_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _write(settings, principals)
    return f"{name}.{secret}"


def revoke_credential(settings: Settings, name: str) -> bool:
    """Remove a principal; True when it existed."""
    principals = _read(settings)
    existed = principals.pop(name, None) is not None
    _write(settings, principals)
    return existed


def list_principals(settings: Settings) -> list[dict[str, str | None]]:
    """Every principal with its role, department and issue time (no hashes)."""
    return [
        {"principal": name, "role": p["role"], "department": p["department"], "issued_at": p["issued_at"]}
        for name, p in sorted(_read(settings).items())
    ]


def authenticate(settings: Settings, credential: str | None) -> Principal:
    """The principal a credential belongs to.

    Args:
        settings: Where principals are kept.
        credential: ``<principal>.<secret>``.

    Returns:
        The principal.

    Raises:
        AuthenticationError: No credential, or it is malformed, unknown or wrong.
    """
    if not credential:
        raise AuthenticationError("no credential given (GRIDSYNC_CREDENTIAL or --credential-file)")
    name, _, secret = credential.strip().partition(".")
    stored = _read(settings).get(name)
    if stored is None or not secret:
        raise AuthenticationError("unknown principal or wrong credential")
    expected = str(stored["hash"])
    if not hmac.compare_digest(_hash(secret, bytes.fromhex(str(stored["salt"]))), expected):
        raise AuthenticationError("unknown principal or wrong credential")
    return Principal(name=name, role=str(stored["role"]), department=stored["department"])


def require(principal: Principal, role: str, department: str | None = None) -> None:
    """Check that a principal has a role (and, for a department principal, acts for ``department``).

    Raises:
        AuthenticationError: It does not.
    """
    if principal.role != role:
        raise AuthenticationError(f"{principal.name} is a {principal.role}, not a {role}")
    if department is not None and principal.department != department:
        raise AuthenticationError(f"{principal.name} may not act for department {department!r}")
