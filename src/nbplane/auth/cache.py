"""An in-memory cache of what authentication and authorisation read: API tokens, API keys, users and
workspace access, kept valid by the database's auth generation.

Every write to a table these lookups read bumps one counter in the database, by trigger (migration 0011),
whoever writes: this server, another server on the same PostgreSQL, or the admin CLI. `refresh()` reads
the counter (one primary-key row) at the start of each request and drops the whole cache when it moved,
so a removed key, a revoked token or a withdrawn grant stops working on the very next request
everywhere. PostgreSQL's LISTEN/NOTIFY was not chosen: a notification arrives some time after the
commit, so a server could accept a revoked token in between, and SQLite has nothing like it.

An entry is stored only when the generation read just before its row (same connection, the row's read
sees at least as much) is still the cache's current one: an answer read before a change can never outlive
the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nbplane.store import credentials
from nbplane.store.db import Database

MAX_ENTRIES = 10_000


class AuthCache:
    """Lookups by kind and key. Values may be None (a known miss: an unknown token is cached too)."""

    def __init__(self, db: Database, *, max_entries: int = MAX_ENTRIES) -> None:
        self._db = db
        self._max_entries = max_entries
        self._generation = -1
        self._entries: dict[tuple[str, Any], Any] = {}

    @property
    def generation(self) -> int:
        return self._generation

    async def refresh(self) -> int:
        """Read the database's generation; drop every entry if it moved. Once per request."""
        async with self._db.reading() as conn:
            generation = await credentials.auth_generation(conn)
        self._observe(generation)
        return generation

    def _observe(self, generation: int) -> None:
        if generation > self._generation:
            self._entries.clear()
            self._generation = generation

    def clear(self) -> None:
        self._entries.clear()

    async def lookup(self, kind: str, key: Any, load: Callable[[Any], Awaitable[Any]]) -> Any:
        """The cached value of (kind, key), else `load(conn)`'s, read right after the generation."""
        marker = (kind, key)
        if marker in self._entries:
            return self._entries[marker]
        async with self._db.reading() as conn:
            generation = await credentials.auth_generation(conn)
            value = await load(conn)
        self._observe(generation)
        if generation == self._generation:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[marker] = value
        return value

    def __len__(self) -> int:
        return len(self._entries)
