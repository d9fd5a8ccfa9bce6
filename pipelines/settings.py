"""Everything gridsync takes from the environment, resolved in one place.

No other module reads ``os.environ``: they receive a :class:`Settings` or the values it resolved.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES_DIR = PROJECT_ROOT / "schemas" / "sources"
DEFAULT_GRANTS_DIR = PROJECT_ROOT / "schemas" / "grants"
DEFAULT_WAREHOUSE_DIR = PROJECT_ROOT / "warehouse" / "data"
DEFAULT_AIRFLOW_HOME = PROJECT_ROOT / ".airflow"
DEFAULT_AIRFLOW_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/gridsync_airflow"
DEFAULT_AIRFLOW_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SECRETS_DIR = PROJECT_ROOT / ".secrets"

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingEnvironmentVariable(KeyError):
    """A ``${VAR}`` reference names a variable that is not set."""


def expand_env_vars(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every ``${VAR}`` in ``text`` with the variable's value.

    Args:
        text: A string such as ``${SOCIAL_SECURITY_URL}``.
        environ: Where to look the variables up; the process environment by default.

    Returns:
        The text with every reference replaced.

    Raises:
        MissingEnvironmentVariable: A referenced variable is not set; its name is the message.
    """
    env = os.environ if environ is None else environ

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise MissingEnvironmentVariable(name)
        return env[name]

    return _ENV_REFERENCE.sub(value_of, text)


@dataclass(frozen=True)
class QueryLimits:
    """What one department query may use (time, memory, result rows, spill space).

    Attributes:
        seconds: Wall time before the query is interrupted.
        memory: DuckDB's memory limit for the query.
        rows: Most rows a result returns (a download included); a longer result is cut and says so.
        temp_space: Most disk the query may spill (in a scratch folder outside the snapshot).
    """

    seconds: float = 30.0
    memory: str = "1GB"
    rows: int = 1_000_000
    temp_space: str = "2GB"


@dataclass(frozen=True)
class Settings:
    """Paths and switches of one gridsync installation.

    Attributes:
        sources_dir: Folder of source contracts (``*.yaml``).
        warehouse_dir: Root of the warehouse (landing, staged, snapshots).
        grants_dir: Folder of department grants.
        alert_webhook_url: Optional URL that failed syncs and blocking checks are posted to.
        sync_retries: Retries of a failed sync task in Airflow.
        sync_retry_delay_seconds: First delay before a retry (it doubles with each retry).
        airflow_home: AIRFLOW_HOME of ``gridsync airflow`` (logs, generated passwords).
        airflow_database_url: Airflow's metadata database for ``gridsync airflow``.
        airflow_broker_url: Celery broker for ``gridsync airflow --executor celery``.
        secrets_dir: Folder outside the warehouse holding the installation's key (``gridsync.key``,
            made on first use) and the principals' hashed credentials (``principals.json``).
        secret_key: The key as hex text, when it comes from a secret store instead of the file.
        credential: The caller's credential (``principal.secret``) for commands that need one.
        limits: What one department query may use.
        keep_snapshots: How many of the newest snapshots are always kept.
        keep_daily_days: For how many days the last snapshot of each day is kept (time travel).
        environ: The environment that ``${VAR}`` references in contracts resolve against.
    """

    sources_dir: Path = DEFAULT_SOURCES_DIR
    warehouse_dir: Path = DEFAULT_WAREHOUSE_DIR
    grants_dir: Path = DEFAULT_GRANTS_DIR
    alert_webhook_url: str | None = None
    sync_retries: int = 3
    sync_retry_delay_seconds: float = 60.0
    airflow_home: Path = DEFAULT_AIRFLOW_HOME
    airflow_database_url: str = DEFAULT_AIRFLOW_DATABASE_URL
    airflow_broker_url: str = DEFAULT_AIRFLOW_BROKER_URL
    secrets_dir: Path = DEFAULT_SECRETS_DIR
    secret_key: str | None = field(default=None, repr=False)
    credential: str | None = field(default=None, repr=False)
    limits: QueryLimits = field(default_factory=lambda: QueryLimits())
    keep_snapshots: int = 5
    keep_daily_days: int = 30
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``GRIDSYNC_*`` variables, with the repository defaults.

        Args:
            environ: The environment to read; the process environment by default.

        Returns:
            The resolved settings.
        """
        env = dict(os.environ if environ is None else environ)
        return cls(
            sources_dir=Path(env.get("GRIDSYNC_SOURCES_DIR", DEFAULT_SOURCES_DIR)),
            warehouse_dir=Path(env.get("GRIDSYNC_WAREHOUSE_DIR", DEFAULT_WAREHOUSE_DIR)),
            grants_dir=Path(env.get("GRIDSYNC_GRANTS_DIR", DEFAULT_GRANTS_DIR)),
            alert_webhook_url=env.get("GRIDSYNC_ALERT_WEBHOOK_URL") or None,
            sync_retries=int(env.get("GRIDSYNC_SYNC_RETRIES", 3)),
            sync_retry_delay_seconds=float(env.get("GRIDSYNC_SYNC_RETRY_DELAY_SECONDS", 60)),
            airflow_home=Path(env.get("GRIDSYNC_AIRFLOW_HOME", DEFAULT_AIRFLOW_HOME)),
            airflow_database_url=env.get("GRIDSYNC_AIRFLOW_DATABASE_URL", DEFAULT_AIRFLOW_DATABASE_URL),
            airflow_broker_url=env.get("GRIDSYNC_AIRFLOW_BROKER_URL", DEFAULT_AIRFLOW_BROKER_URL),
            secrets_dir=Path(env.get("GRIDSYNC_SECRETS_DIR", DEFAULT_SECRETS_DIR)),
            secret_key=env.get("GRIDSYNC_SECRET_KEY") or None,
            credential=env.get("GRIDSYNC_CREDENTIAL") or None,
            limits=QueryLimits(
                seconds=float(env.get("GRIDSYNC_QUERY_SECONDS", QueryLimits.seconds)),
                memory=env.get("GRIDSYNC_QUERY_MEMORY", QueryLimits.memory),
                rows=int(env.get("GRIDSYNC_QUERY_ROWS", QueryLimits.rows)),
                temp_space=env.get("GRIDSYNC_QUERY_TEMP_SPACE", QueryLimits.temp_space),
            ),
            keep_snapshots=int(env.get("GRIDSYNC_KEEP_SNAPSHOTS", 5)),
            keep_daily_days=int(env.get("GRIDSYNC_KEEP_DAILY_DAYS", 30)),
            environ=env,
        )
