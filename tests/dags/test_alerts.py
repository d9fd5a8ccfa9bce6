"""Alerts name the source and the reason, reach a real local webhook, and never carry credentials."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from webhook import webhook_server

from pipelines.alerts import Alert, redact, send_alert
from pipelines.orchestration import alert_on_failure


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "at postgresql+psycopg2://officer:pa55@10.0.0.1:5432/hj",
            "at postgresql+psycopg2://***@10.0.0.1:5432/hj",
        ),
        ("mysql+pymysql://root:@127.0.0.1/x failed", "mysql+pymysql://***@127.0.0.1/x failed"),
        ("postgresql://127.0.0.1:1/grid refused", "postgresql://127.0.0.1:1/grid refused"),
        ("sqlite:////tmp/a.sqlite", "sqlite:////tmp/a.sqlite"),
    ],
)
def test_redact_removes_user_and_password_from_urls(text: str, expected: str) -> None:
    """Only the user:password@ part of a URL is replaced."""
    assert redact(text) == expected


def test_alert_is_posted_to_the_webhook_without_credentials() -> None:
    """The webhook receives the source, the reason with the URL's password removed, and a one-line text."""
    alert = Alert(step="sync", source="grid", reason="cannot read at postgresql://u:hunter2@127.0.0.1:1/g")
    with webhook_server() as (url, received):
        assert send_alert(alert, url) is True
    assert len(received) == 1
    assert received[0]["source"] == "grid"
    assert received[0]["reason"] == "cannot read at postgresql://***@127.0.0.1:1/g"
    assert (
        received[0]["text"]
        == "gridsync: sync of source grid failed: cannot read at postgresql://***@127.0.0.1:1/g"
    )
    assert "hunter2" not in str(received)


def test_unreachable_webhook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A webhook nobody listens on makes send_alert return False; the alert is still logged."""
    with webhook_server() as (url, _):
        pass  # the server is closed again: its port refuses connections now
    assert send_alert(Alert(step="publish", source=None, reason="blocked"), url) is False
    assert "gridsync: publish failed: blocked" in caplog.text


def _context(dag_id: str, task_id: str, exception: BaseException) -> dict[str, object]:
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id="manual__1", try_number=4)
    return {"ti": ti, "exception": exception}


class _Blocked(RuntimeError):
    source_system = "civil_affairs"


def test_failure_callback_names_the_source_of_a_sync_or_of_a_blocked_publish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync DAG's source comes from its id; a blocked publish's from the failure it was raised from."""
    try:
        raise RuntimeError(
            "publish blocked: civil_affairs id_number completeness 0.42 < 0.95"
        ) from _Blocked()
    except RuntimeError as failure:
        blocked = failure
    with webhook_server() as (url, received):
        monkeypatch.setenv("GRIDSYNC_ALERT_WEBHOOK_URL", url)
        alert_on_failure(_context("gridsync_sync_grid", "extract", OSError("connection refused\nmore")))
        alert_on_failure(_context("gridsync_publish", "publish", blocked))
    assert [(a["step"], a["source"], a["try_number"]) for a in received] == [
        ("sync", "grid", 4),
        ("publish", "civil_affairs", 4),
    ]
    assert received[0]["reason"] == "connection refused"
    assert received[1]["text"] == (
        "gridsync: publish of source civil_affairs failed (gridsync_publish.publish, run manual__1): "
        "publish blocked: civil_affairs id_number completeness 0.42 < 0.95"
    )
