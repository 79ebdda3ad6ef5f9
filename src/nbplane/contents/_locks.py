"""An async mutual-exclusion lock that also holds across processes via flock(2) on a lock file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX: in-process locking only
    fcntl = None  # type: ignore[assignment]

_POLL_START = 0.005
_POLL_MAX = 0.1


class FileLock:
    """asyncio.Lock for tasks of this process, then an exclusive flock for other processes.

    The flock is taken non-blocking in a poll loop rather than in a worker thread, so a cancelled
    waiter can never leave a lock held by an orphaned thread.
    """

    def __init__(self, lock_path: Path) -> None:
        self._path = lock_path
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._lock:
            if fcntl is None:
                yield
                return
            fd = await asyncio.to_thread(self._open)
            try:
                delay = _POLL_START
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, _POLL_MAX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock

    def _open(self) -> int:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
