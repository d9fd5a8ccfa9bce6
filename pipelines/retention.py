"""Which published snapshots are kept, so earlier ones stay queryable for audits (time travel).

The rule: the newest ``keep_latest`` snapshots, and for each of the last ``keep_daily_days`` days
the last snapshot published that day (the one that was live at the day's end). A query ``as of`` a
day within that window therefore reads what was live at the end of that day; a snapshot outside the
rule is removed by the next publish.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.settings import Settings


@dataclass(frozen=True)
class Retention:
    """How many snapshots are kept.

    Attributes:
        keep_latest: The newest snapshots always kept.
        keep_daily_days: Days for which the last snapshot of the day is kept.
    """

    keep_latest: int = 5
    keep_daily_days: int = 30

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Retention:
        """The installation's rule (``GRIDSYNC_KEEP_SNAPSHOTS``, ``GRIDSYNC_KEEP_DAILY_DAYS``)."""
        settings = settings or Settings.from_env()
        return cls(max(1, settings.keep_snapshots), max(0, settings.keep_daily_days))

    def kept(self, snapshot_ids: Sequence[str], now: dt.datetime) -> set[str]:
        """The snapshots to keep among these ids (``%Y%m%dT%H%M%S%fZ``, UTC).

        Args:
            snapshot_ids: Every snapshot present.
            now: The current time (UTC).

        Returns:
            The ids to keep.
        """
        ordered = sorted(snapshot_ids)
        keep = set(ordered[-self.keep_latest :])
        first_day = (now - dt.timedelta(days=self.keep_daily_days)).strftime("%Y%m%d")
        last_of_day: dict[str, str] = {}
        for snapshot_id in ordered:
            last_of_day[snapshot_id[:8]] = snapshot_id
        keep |= {sid for day, sid in last_of_day.items() if day > first_day and self.keep_daily_days}
        return keep
