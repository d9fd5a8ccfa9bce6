"""Fixtures shared by every test folder: fresh databases on this machine's PostgreSQL and MariaDB.

``postgres_url`` and ``mariadb_url`` each create a uniquely named, empty database, yield its
SQLAlchemy URL and drop the database afterwards. When the server cannot be reached the test is
skipped with the reason, unless ``GRIDSYNC_REQUIRE_SERVICES=1`` (as in CI), where it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa

POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
MARIADB_SERVER = "mysql+pymysql://root@127.0.0.1:3306"
CONNECT_TIMEOUT_SECONDS = 5


def _unavailable(server: str, problem: Exception) -> NoReturn:
    """Skip with the reason a server cannot be used; fail instead when services are required."""
    first_line = (str(problem).strip().splitlines() or [type(problem).__name__])[0]
    reason = f"{server} is not usable: {first_line}"
    if os.environ.get("GRIDSYNC_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (GRIDSYNC_REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def service_unavailable() -> Callable[[str, Exception], NoReturn]:
    """The skip-or-fail reaction to an unusable server, for fixtures that reach servers themselves."""
    return _unavailable


def _fresh_database(server: str, admin_url: str, create: str, drop: str, url: str) -> Iterator[str]:
    name = f"gridsync_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(create.format(name=name))
    except sa.exc.DBAPIError as problem:
        engine.dispose()
        _unavailable(server, problem)
    try:
        yield url.format(name=name)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(drop.format(name=name))
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database (127.0.0.1:5432, user postgres), dropped afterwards."""
    yield from _fresh_database(
        "PostgreSQL at 127.0.0.1:5432",
        f"{POSTGRES_SERVER}/postgres",
        "CREATE DATABASE {name}",
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        POSTGRES_SERVER + "/{name}",
    )


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """URL of a new, empty MariaDB database (127.0.0.1:3306, user root), dropped afterwards."""
    yield from _fresh_database(
        "MariaDB at 127.0.0.1:3306",
        f"{MARIADB_SERVER}/",
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        "DROP DATABASE IF EXISTS `{name}`",
        MARIADB_SERVER + "/{name}?charset=utf8mb4",
    )


@pytest.fixture(scope="session", autouse=True)
def session_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Fixtures wider than a test (module-scoped demos) get a secrets folder of the session too,
    never the repository's ``.secrets``."""
    folder = tmp_path_factory.mktemp("session-secrets")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRIDSYNC_SECRETS_DIR", str(folder))
        yield folder


@pytest.fixture(autouse=True)
def own_secrets(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own secrets folder (key file, principals), never the repository's."""
    folder = tmp_path_factory.mktemp("secrets")
    monkeypatch.setenv("GRIDSYNC_SECRETS_DIR", str(folder))
    monkeypatch.delenv("GRIDSYNC_SECRET_KEY", raising=False)
    monkeypatch.delenv("GRIDSYNC_CREDENTIAL", raising=False)
    return folder
