"""The OS file lock through which processes on one SQLite database take turns at writing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy handler alone arbitrates between processes
    fcntl = None  # type: ignore[assignment]


def writer_lock_for(database_path: str | None) -> WriterLock | None:
    """The lock of the SQLite database at ``database_path``; None for an in-memory database or
    where there is no ``flock`` (Windows: SQLite's busy handler alone arbitrates there)."""
    if fcntl is None or not database_path or database_path == ":memory:":
        return None
    return WriterLock(database_path)


class WriterLock:
    """An OS lock on a file beside a SQLite database, held around each transaction.

    SQLite lets one process write at a time; a process that finds the write lock taken polls for
    it, sleeping 1, 2, 5 ... 100 ms between tries, so under load one process can keep the lock for
    long stretches while another's requests wait seconds. Processes queued on ``flock`` are woken
    the moment it is released instead. The kernel releases it when its holder dies.
    """

    def __init__(self, database_path: str) -> None:
        self._fd = os.open(f"{database_path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def held(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)
