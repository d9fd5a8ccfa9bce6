"""Quality state that survives runs: batches held back by a blocking check, and their release.

When a blocking check fails on a source's rows, every batch of that source that the publish would
have brought in is *held* (``quality/holds.json`` in the warehouse). A held batch stays held until
a person releases it (``gridsync release``) or a later publish no longer needs it: a corrected batch
superseded it (its rows were pulled again and replaced it), and that publish passed its checks.
While a batch is held, extraction resumes from before it, so rows the source corrects are pulled
again even when their update time did not advance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.layout import WarehouseLayout, read_json, write_json_atomically

HOLDS_FILE = Path("quality") / "holds.json"


class ReleaseError(ValueError):
    """A release names a batch that is not held."""


@dataclass(frozen=True)
class Hold:
    """One held batch.

    Attributes:
        source_system: The source.
        batch_id: The batch held back.
        run_id: The run whose checks held it.
        reason: The blocking check that failed (one line).
        held_at: When (UTC, ISO text).
        released_by: Who released it (None while it is held).
        released_at: When it was released.
        note: The releaser's note.
    """

    source_system: str
    batch_id: str
    run_id: str
    reason: str
    held_at: str
    released_by: str | None = None
    released_at: str | None = None
    note: str | None = None

    @property
    def is_released(self) -> bool:
        """Whether a person released it."""
        return self.released_by is not None


def _path(layout: WarehouseLayout) -> Path:
    return layout.root / HOLDS_FILE


def read_holds(layout: WarehouseLayout) -> list[Hold]:
    """Every hold of the warehouse (released ones included), oldest first."""
    document = read_json(_path(layout)) or {"holds": []}
    return [Hold(**entry) for entry in document["holds"]]


def _write(layout: WarehouseLayout, holds: Iterable[Hold]) -> None:
    write_json_atomically(_path(layout), {"holds": [asdict(hold) for hold in holds]})


def held_batches(layout: WarehouseLayout, source: str) -> set[str]:
    """Batches of a source held back and not released."""
    return {h.batch_id for h in read_holds(layout) if h.source_system == source and not h.is_released}


def released_batches(layout: WarehouseLayout, source: str) -> dict[str, Hold]:
    """Batches of a source a person released, with the release."""
    return {h.batch_id: h for h in read_holds(layout) if h.source_system == source and h.is_released}


def hold_batches(
    layout: WarehouseLayout, batches: Mapping[str, Iterable[str]], run_id: str, reason: str
) -> None:
    """Hold the given batches of each source (a batch already held keeps its first hold).

    Args:
        layout: The warehouse directory.
        batches: Batch ids per source.
        run_id: The run whose checks failed.
        reason: The failed check, one line.
    """
    holds = read_holds(layout)
    known = {(h.source_system, h.batch_id) for h in holds}
    now = dt.datetime.now(dt.UTC).isoformat()
    for source, ids in batches.items():
        for batch_id in sorted(ids):
            if (source, batch_id) not in known:
                holds.append(Hold(source, batch_id, run_id, reason, now))
    _write(layout, holds)


def release_batch(layout: WarehouseLayout, source: str, batch_id: str, by: str, note: str | None) -> Hold:
    """Release a held batch: its blocking failures no longer stop a publish.

    Args:
        layout: The warehouse directory.
        source: The source.
        batch_id: The held batch.
        by: Who releases it (kept with the release).
        note: Why.

    Returns:
        The released hold.

    Raises:
        ReleaseError: The batch is not held.
    """
    holds = read_holds(layout)
    for position, hold in enumerate(holds):
        if (hold.source_system, hold.batch_id) == (source, batch_id) and not hold.is_released:
            released = Hold(
                **{**asdict(hold), "released_by": by, "released_at": dt.datetime.now(dt.UTC).isoformat()}
                | {"note": note}
            )
            holds[position] = released
            _write(layout, holds)
            return released
    held = sorted(f"{h.source_system} {h.batch_id}" for h in holds if not h.is_released)
    raise ReleaseError(f"source {source}: batch {batch_id} is not held (held: {', '.join(held) or 'none'})")


def settle_holds(layout: WarehouseLayout, done: Mapping[str, Iterable[str]]) -> None:
    """Forget the holds of batches a publish has settled (published or superseded); releases are
    kept, as the record of who let a batch through.

    Args:
        layout: The warehouse directory.
        done: Per source, the batches the published snapshot holds or replaced.
    """
    settled = {(source, batch) for source, batches in done.items() for batch in batches}
    holds = read_holds(layout)
    kept = [h for h in holds if h.is_released or (h.source_system, h.batch_id) not in settled]
    if len(kept) != len(holds):
        _write(layout, kept)
