"""Where each layer of a warehouse directory lives on disk, and how a layer is replaced atomically."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WarehouseLayout:
    """The folders of one warehouse directory (see docs/ARCHITECTURE.md)."""

    root: Path

    def landing(self, source: str) -> Path:
        """Folder of a source's immutable landing batches."""
        return self.root / "landing" / source

    def batch_dir(self, source: str, batch_id: str) -> Path:
        """Folder of one landing batch."""
        return self.landing(source) / batch_id

    def staged(self, source: str) -> Path:
        """Folder of a source's staged versions (one per applied batch) and its CURRENT pointer."""
        return self.root / "staged" / source

    @property
    def resolved(self) -> Path:
        """Folder of identity-resolution outputs (links, id events, model)."""
        return self.root / "resolved"

    @property
    def snapshots(self) -> Path:
        """Folder of published snapshots."""
        return self.root / "snapshots"

    @property
    def current_pointer(self) -> Path:
        """The file naming the live snapshot."""
        return self.root / "CURRENT"

    @property
    def runs(self) -> Path:
        """Folder of run summaries (one JSON per run)."""
        return self.root / "runs"


def write_json_atomically(path: Path, document: Any) -> None:
    """Write JSON so that a reader sees the old file or the new one, never a partial one.

    Args:
        path: Destination file.
        document: Anything ``json.dumps`` accepts (dates are written as ISO text).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(
        json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True, default=str),
        encoding="utf-8",
    )
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`write_json_atomically`; None when it does not exist."""
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@contextmanager
def scratch_directory(parent: Path) -> Iterator[Path]:
    """Yield a new hidden folder inside ``parent``; it is removed on exit unless moved away."""
    parent.mkdir(parents=True, exist_ok=True)
    scratch = parent / f".scratch-{uuid.uuid4().hex}"
    scratch.mkdir()
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def move_into_place(folder: Path, final: Path) -> None:
    """Rename a complete folder to ``final`` in one step, replacing an older ``final``."""
    if final.exists():
        retired = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
        os.replace(final, retired)
        os.replace(folder, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(folder, final)


@contextmanager
def staging_directory(final: Path) -> Iterator[Path]:
    """Yield a hidden folder to fill; on success it becomes ``final`` in one rename.

    On an exception the half-written folder is removed and ``final`` is untouched. An existing
    ``final`` (a rerun of the same step) is replaced.
    """
    with scratch_directory(final.parent) as scratch:
        yield scratch
        move_into_place(scratch, final)


PUBLISH_LOCK = ".publish.lock"

# Locks this process holds: path -> (thread lock, depth). A holder may take its lock again (the
# sync-apply of a source inside a whole run), which flock on a second handle would deadlock.
_HELD: dict[Path, tuple[threading.RLock, list[int]]] = {}
_HELD_GUARD = threading.Lock()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing), across processes and threads.

    The holding thread may take it again; the file lock is released when the outermost hold ends.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    with _HELD_GUARD:
        guard, depth = _HELD.setdefault(key, (threading.RLock(), [0]))
    with guard:
        if depth[0]:
            depth[0] += 1
            try:
                yield
            finally:
                depth[0] -= 1
            return
        with open(key, "a") as handle:  # "a": taking a lock does not touch the file
            fcntl.flock(handle, fcntl.LOCK_EX)
            depth[0] = 1
            try:
                yield
            finally:
                depth[0] = 0
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def publish_lock(layout: WarehouseLayout) -> Iterator[None]:
    """Hold the warehouse's publish lock: one sync-apply or resolve-and-publish at a time, whether
    Airflow, the command line or the demo runs it (staged states and the identity store change in
    place, and a publish must see the staged states it resolved until it is done)."""
    with file_lock(layout.root / PUBLISH_LOCK):
        yield


def source_lock(layout: WarehouseLayout, source: str) -> AbstractContextManager[None]:
    """The lock of one source's extraction (two extracts of one source must not interleave)."""
    return file_lock(layout.landing(source) / ".extract.lock")
