"""Run Airflow locally against gridsync: metadata on PostgreSQL, DAGs from ``dags/``, UI on 127.0.0.1.

``gridsync airflow`` (and ``make airflow``) and the end-to-end tests start Airflow through this
module, so that what a data officer runs is what CI proves. Each component (api-server,
scheduler, dag-processor, triggerer, and a Celery worker with the CeleryExecutor) runs in its own
process group and is stopped by signalling the whole group.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from pipelines.settings import PROJECT_ROOT

DAGS_FOLDER = PROJECT_ROOT / "dags"
LOCAL_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}


class AirflowStartError(RuntimeError):
    """An Airflow component exited or did not become healthy in time; names it and its log."""


@dataclass(frozen=True)
class AirflowSetup:
    """How to run one local Airflow.

    Attributes:
        home: AIRFLOW_HOME (config, logs, generated passwords).
        database_url: Metadata database (PostgreSQL), SQLAlchemy form.
        port: Port of the api-server on 127.0.0.1.
        executor: ``local`` or ``celery``.
        broker_url: Celery broker (Redis or RabbitMQ) for the ``celery`` executor.
        queue: Celery queue the tasks go to and the worker serves.
        parallelism: Task slots of the executor.
        log_server_port: Port the task-log server of the scheduler or worker listens on.
        all_admins: Skip login (every request is admin): for tests only.
        secret_key: Shared JWT secret and Fernet key of all components; when None, Airflow takes
            them from ``home/airflow.cfg`` (written by the first ``airflow db migrate``).
        dags_folder: Folder of DAG files.
        extra_env: More environment for every component (GRIDSYNC_*, source URLs, connections).
    """

    home: Path
    database_url: str
    port: int = 8080
    executor: str = "local"
    broker_url: str | None = None
    queue: str = "default"
    parallelism: int = 4
    log_server_port: int = 8793
    all_admins: bool = False
    secret_key: str | None = field(default=None, repr=False)
    dags_folder: Path = DAGS_FOLDER
    extra_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def base_url(self) -> str:
        """The api-server's URL (UI and REST API)."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Component:
    """One running Airflow process (the leader of its own process group)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


def airflow_environment(setup: AirflowSetup, base: Mapping[str, str]) -> dict[str, str]:
    """The environment every component of one local Airflow runs with.

    Args:
        setup: The local Airflow.
        base: The environment to start from (the caller's, from ``Settings.environ``).

    Returns:
        ``base`` with the Airflow settings of ``setup`` and its ``extra_env``.
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **base,
        "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
        "AIRFLOW_HOME": str(setup.home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": setup.database_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(setup.dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS[setup.executor],
        "AIRFLOW__CORE__PARALLELISM": str(setup.parallelism),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{setup.base_url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(setup.port),
        "AIRFLOW__API__BASE_URL": setup.base_url,
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(setup.log_server_port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(setup.all_admins),
    }
    if setup.secret_key:
        env["AIRFLOW__API_AUTH__JWT_SECRET"] = setup.secret_key
        env["AIRFLOW__CORE__FERNET_KEY"] = base64.urlsafe_b64encode(
            hashlib.sha256(setup.secret_key.encode()).digest()
        ).decode()
    if setup.executor == "celery":
        env["AIRFLOW__CELERY__BROKER_URL"] = setup.broker_url or ""
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + setup.database_url.replace("+psycopg2", "")
        env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] = setup.queue
        env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(setup.parallelism)
    return env | dict(setup.extra_env)


def _admin_engine(database_url: str) -> sa.Engine:
    """An autocommit engine on the server's ``postgres`` database (CREATE/DROP DATABASE)."""
    url = sa.make_url(database_url).set(database="postgres")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


def _quoted(name: str | None) -> str:
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"unsupported database name {name!r}")
    return f'"{name}"'


def ensure_database(database_url: str, template: str | None = None) -> bool:
    """Create the PostgreSQL database of a URL if it does not exist.

    Args:
        database_url: SQLAlchemy URL of the database.
        template: Copy this (already migrated) database instead of starting empty.

    Returns:
        True when it was created.
    """
    name = sa.make_url(database_url).database
    engine = _admin_engine(database_url)
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                sa.text("select 1 from pg_database where datname = :name"), {"name": name}
            ).first()
            if exists:
                return False
            copy = f" template {_quoted(template)}" if template else ""
            connection.execute(sa.text(f"create database {_quoted(name)}{copy}"))
            return True
    finally:
        engine.dispose()


def drop_database(database_url: str) -> None:
    """Drop the PostgreSQL database of a URL, closing its remaining sessions first."""
    name = sa.make_url(database_url).database
    engine = _admin_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f"drop database if exists {_quoted(name)} with (force)"))
    finally:
        engine.dispose()


def airflow_command(env: Mapping[str, str], *args: str, timeout: float = 300) -> str:
    """Run one ``airflow`` CLI command to its end and return its output.

    Raises:
        AirflowStartError: The command failed; the message holds the end of its output.
    """
    airflow = str(Path(sys.executable).parent / "airflow")
    done = subprocess.run([airflow, *args], env=dict(env), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise AirflowStartError(f"airflow {' '.join(args)} failed:\n" + "\n".join(tail))
    return done.stdout


def component_commands(setup: AirflowSetup, components: Iterable[str]) -> dict[str, list[str]]:
    """The command line of each component (``celery-worker`` serves the setup's queue)."""
    airflow = str(Path(sys.executable).parent / "airflow")
    commands = {}
    for name in components:
        if name == "celery-worker":
            commands[name] = [
                airflow,
                "celery",
                "worker",
                "--queues",
                setup.queue,
                "--concurrency",
                str(setup.parallelism),
                "--without-gossip",
                "--without-mingle",
            ]
        elif name == "api-server":
            commands[name] = [airflow, "api-server", "--host", "127.0.0.1", "--port", str(setup.port)]
        else:
            commands[name] = [airflow, name]
    return commands


def start_components(
    setup: AirflowSetup, env: Mapping[str, str], components: Iterable[str]
) -> list[Component]:
    """Start each component in a new session (its own process group), logging to ``home/``.

    Returns:
        The started components; stop them with :func:`stop_components`.
    """
    log_dir = setup.home / "component-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = []
    try:
        for name, command in component_commands(setup, components).items():
            log_path = log_dir / f"{name}.log"
            with open(log_path, "ab") as log_file:
                process = _spawn(command, env, log_file)
            started.append(Component(name, process, log_path))
    except BaseException:
        stop_components(started)
        raise
    return started


def _spawn(command: list[str], env: Mapping[str, str], log_file: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_components(components: Iterable[Component], grace_seconds: float = 20) -> None:
    """Stop every component: SIGTERM to its whole process group, SIGKILL after the grace time."""
    components = list(components)
    for component in components:
        _signal_group(component.process, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for component in components:
        with contextlib.suppress(subprocess.TimeoutExpired):
            component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Children (task runners, gunicorn/uvicorn workers) may outlive the leader: kill the group.
        _signal_group(component.process, signal.SIGKILL)
        component.process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def wait_until_healthy(setup: AirflowSetup, components: list[Component], timeout: float = 120) -> None:
    """Wait until the api-server answers and reports a healthy scheduler and dag-processor.

    Raises:
        AirflowStartError: A component exited, or the deadline passed; names it and its log.
    """
    deadline = time.monotonic() + timeout
    status = "no answer"
    while time.monotonic() < deadline:
        for component in components:
            if component.process.poll() is not None:
                raise AirflowStartError(
                    f"airflow {component.name} exited with {component.process.returncode}; "
                    f"see {component.log_path}:\n{_tail(component.log_path)}"
                )
        status = _health(setup)
        if status == "healthy":
            return
        time.sleep(1)
    raise AirflowStartError(
        f"Airflow at {setup.base_url} not healthy after {timeout:.0f}s ({status}); "
        f"logs in {setup.home / 'component-logs'}"
    )


def _health(setup: AirflowSetup) -> str:
    import json

    try:
        with urllib.request.urlopen(f"{setup.base_url}/api/v2/monitor/health", timeout=5) as reply:
            health = json.load(reply)
    except (urllib.error.URLError, OSError, ValueError):
        return "no answer"
    wanted = ("metadatabase", "scheduler", "dag_processor")
    unhealthy = [name for name in wanted if (health.get(name) or {}).get("status") != "healthy"]
    return "healthy" if not unhealthy else f"not yet healthy: {', '.join(unhealthy)}"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_local(setup: AirflowSetup, base_env: Mapping[str, str], say: Callable[[str], None] = print) -> int:
    """Migrate the metadata database, start every component, wait for Ctrl-C, stop them all.

    Args:
        setup: The local Airflow.
        base_env: The environment to start from.
        say: Where progress lines go.

    Returns:
        0 after a clean stop; 1 when a component failed.
    """
    # Ctrl-C, and SIGTERM from a service manager, both end in the ``finally`` that stops everything.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    env = airflow_environment(setup, base_env)
    if ensure_database(setup.database_url):
        say(f"created the metadata database {sa.make_url(setup.database_url).database}")
    say("migrating the metadata database (airflow db migrate)")
    airflow_command(env, "db", "migrate")
    components = list(LOCAL_COMPONENTS)
    if setup.executor == "celery":
        components.append("celery-worker")
    started = start_components(setup, env, components)
    try:
        wait_until_healthy(setup, started)
        say(f"Airflow is up: {setup.base_url}  (DAGs from {setup.dags_folder})")
        if not setup.all_admins:
            say(f"log in as admin; password in {setup.home / 'simple_auth_manager_passwords.json.generated'}")
        say(f"component logs in {setup.home / 'component-logs'}; Ctrl-C stops everything")
        while all(c.process.poll() is None for c in started):
            time.sleep(1)
        failed = [c for c in started if c.process.poll() is not None]
        say(f"airflow {failed[0].name} exited; see {failed[0].log_path}")
        return 1
    except KeyboardInterrupt:
        say("stopping Airflow")
        return 0
    finally:
        stop_components(started)
