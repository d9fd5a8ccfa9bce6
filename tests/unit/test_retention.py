"""Snapshot retention: the newest snapshots and the last one of each recent day are kept."""

from __future__ import annotations

import datetime as dt

from pipelines.retention import Retention

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def ids(*stamps: str) -> list[str]:
    return [f"{stamp}000000Z" for stamp in stamps]


def test_newest_and_last_of_each_recent_day_are_kept() -> None:
    """The two latest are kept; of older ones each day's last within 30 days; older days go."""
    present = ids(
        "20261001T010000",
        "20261125T080000",
        "20261125T200000",
        "20261130T100000",
        "20261201T090000",
        "20261202T070000",
        "20261202T080000",
    )
    kept = Retention(keep_latest=2, keep_daily_days=30).kept(present, NOW)
    expected = ids(
        "20261125T200000", "20261130T100000", "20261201T090000", "20261202T070000", "20261202T080000"
    )
    assert kept == set(expected)


def test_without_daily_days_only_the_newest_are_kept() -> None:
    """keep_daily_days 0 keeps just the newest N, as before time travel."""
    present = ids("20261130T100000", "20261201T090000", "20261202T080000")
    assert Retention(keep_latest=1, keep_daily_days=0).kept(present, NOW) == set(ids("20261202T080000"))
