"""Alerts: tell a data officer that a sync failed or a blocking check stopped a publish.

An alert is always logged; when a webhook URL is configured (``GRIDSYNC_ALERT_WEBHOOK_URL``) it is
also posted there as JSON. A webhook that cannot be reached is logged, never raised: an alert must
not turn one failure into two. Messages go through :func:`redact` so that a URL with credentials
never leaves the process.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10.0
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/@\s:]*:[^/@\s]*@")


def redact(text: str) -> str:
    """Remove ``user:password@`` from every URL in a text.

    Args:
        text: A message that may quote a connection URL.

    Returns:
        The text with each URL's credentials replaced by ``***@``.
    """
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


@dataclass(frozen=True)
class Alert:
    """What went wrong, where.

    Attributes:
        step: What failed: ``sync`` (one source) or ``publish`` (reconcile, validate, publish).
        source: The source system at fault, when one is known.
        reason: Why, in one line (the failure's message, credentials removed).
        dag_id: The Airflow DAG, when raised from Airflow.
        task_id: The Airflow task.
        run_id: The Airflow run.
        try_number: The attempt that failed.
    """

    step: str
    source: str | None
    reason: str
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None

    @property
    def message(self) -> str:
        """One line a data officer can act on."""
        what = f"{self.step} of source {self.source}" if self.source else self.step
        where = f" ({self.dag_id}.{self.task_id}, run {self.run_id})" if self.dag_id else ""
        return f"gridsync: {what} failed{where}: {self.reason}"


def send_alert(alert: Alert, webhook_url: str | None) -> bool:
    """Log an alert and post it to the webhook, if one is configured.

    Args:
        alert: The alert.
        webhook_url: Where to POST the alert as JSON (``{"text", "step", "source", "reason", ...}``).

    Returns:
        True when the webhook accepted the alert; False when there is no webhook or it failed.
    """
    alert = Alert(**{**asdict(alert), "reason": redact(alert.reason)})
    log.error("%s", alert.message)
    if not webhook_url:
        return False
    body = json.dumps({"text": alert.message, **asdict(alert)}, ensure_ascii=False).encode()
    request = urllib.request.Request(
        webhook_url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, TimeoutError, OSError) as failure:
        log.error("gridsync: alert webhook %s failed: %s", redact(webhook_url), failure)
        return False
