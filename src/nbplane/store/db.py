"""Engine, session factories and schema migration.

SQLite (the embedded default) runs in WAL mode. Writers take the database lock up front with
BEGIN IMMEDIATE, so concurrent read-then-write transactions wait instead of failing with SQLITE_BUSY;
readers use a separate engine with plain BEGIN and never wait on writers. Within one process, writers
queue on an asyncio lock before BEGIN IMMEDIATE: SQLite has one writer anyway, and a writer waiting in
SQLite's busy handler sleeps in growing steps (up to 100 ms) after the lock is free again, while one
waiting on the asyncio lock runs the moment it is released. busy_timeout still covers other processes
(the admin CLI).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Executable, create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SLOW_WRITE_S = 0.05
"""A write transaction held longer than this is logged (the bench counts these lines)."""

log = logging.getLogger(__name__)


def _sqlite_engine(url: str, *, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 60})
    _sqlite_hooks(engine.sync_engine, begin=begin, busy_ms=60000)
    return engine


def _sqlite_hooks(engine: Engine, *, begin: str, busy_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)


def _inline_reader(url: str) -> Engine | None:
    """A synchronous engine for short reads on the event loop's own thread (SQLite files only).

    A read through aiosqlite hands each statement to a worker thread and back: for the one-row lookups and
    small pages of the REST hot path that hand-off costs ten times the query (0.4 vs 0.03 ms of CPU for the
    auth generation). In WAL mode a reader never waits for a writer, so these reads do not block the loop;
    the busy timeout bounds the rare wait (another connection recovering or resetting the WAL). Statements
    run in autocommit: each sees everything committed before it started.
    """
    parsed = make_url(url)
    if not parsed.database or parsed.database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    engine = create_engine(
        parsed.set(drivername="sqlite"), connect_args={"check_same_thread": False}, isolation_level="AUTOCOMMIT"
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")
        dbapi_connection.execute("PRAGMA query_only=ON")

    return engine


INLINE_BUSY_MS = 1000


class _RawResult:
    """The part of a SQLAlchemy result that plain-SQL callers use."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def all(self) -> list[tuple[Any, ...]]:
        return self._rows

    def first(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise ValueError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]


class InlineConnection:
    """An `AsyncConnection` look-alike over a synchronous connection: `await conn.execute(...)` runs the
    statement at once and returns the (fully buffered) result."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Executable, parameters: Mapping[str, Any] | None = None) -> Result[Any]:
        return self._conn.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> _RawResult:
        """Straight to the sqlite3 connection: plain SQL needs none of SQLAlchemy's statement machinery."""
        cursor = self._conn.connection.driver_connection.execute(statement, parameters or ())  # type: ignore[union-attr]
        try:
            return _RawResult(cursor.fetchall())
        finally:
            cursor.close()

    def close(self) -> None:
        self._conn.close()


class Database:
    """Owns the engines; hands out one AsyncSession per unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self._write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
            self._read_engine = _sqlite_engine(url, begin="BEGIN")
            self._inline = _inline_reader(url)
            self._inline_idle: InlineConnection | None = None
            self._inline_opened = False
        else:
            self._write_engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self._read_engine = self._write_engine
            self._inline = None
            self._inline_idle = None
            self._inline_opened = True
        self._writer = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits on success and rolls back on any error."""
        if self._write_lock is None:
            async with self._writer() as session, session.begin():
                yield session
            return
        queued = time.perf_counter()
        async with self._write_lock:
            began = time.perf_counter()
            try:
                async with self._writer() as session, session.begin():
                    yield session
            finally:
                held = time.perf_counter() - began
                if held > SLOW_WRITE_S:
                    log.info(
                        "slow write transaction: held %.1f ms (queued %.1f ms)", held * 1e3, (began - queued) * 1e3
                    )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction."""
        async with self._reader() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection | InlineConnection]:
        """A plain connection for short Core reads on hot paths (no ORM session, no identity map): a read
        transaction on PostgreSQL; on an SQLite file, autocommit statements run inline on the event loop
        (see `_inline_reader`), each seeing all that was committed before it."""
        if self._inline is not None:
            if not self._inline_opened:  # opened on first use: the database file exists by then
                self._inline_idle, self._inline_opened = InlineConnection(self._inline.connect()), True
            if self._inline_idle is not None:  # the one kept open; a body that awaited elsewhere may hold it
                conn, self._inline_idle = self._inline_idle, None
                try:
                    yield conn
                finally:
                    self._inline_idle = conn
                return
            with self._inline.connect() as extra:
                yield InlineConnection(extra)
            return
        async with self._read_engine.connect() as conn:
            yield conn

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision. Alembic (and Mako, some 30 MB) is only imported
        when there is something to upgrade: a server starting on a current schema never loads it."""
        async with self._write_engine.connect() as conn:
            if await conn.run_sync(_current_revision) == head_revision():
                return
            await conn.run_sync(_upgrade)
            await conn.commit()

    async def dispose(self) -> None:
        await self._write_engine.dispose()
        if self._inline is not None:
            if self._inline_idle is not None:
                self._inline_idle.close()
                self._inline_idle = None
            self._inline.dispose()
        if self._read_engine is not self._write_engine:
            await self._read_engine.dispose()


_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the migration scripts, read from their text (None unless exactly one head)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = script.read_text()
        if found := _REVISION.search(text):
            revisions.add(found.group(1))
        if down := _DOWN_REVISION.search(text):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _current_revision(connection: Connection) -> str | None:
    try:
        with connection.begin_nested() if connection.in_transaction() else connection.begin():
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DBAPIError:
        return None
    return rows[0][0] if len(rows) == 1 else None


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")
