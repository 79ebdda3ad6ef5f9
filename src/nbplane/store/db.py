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
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SLOW_WRITE_S = 0.05
"""A write transaction held longer than this is logged (the bench counts these lines)."""

log = logging.getLogger(__name__)


def _sqlite_engine(url: str, *, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    """Owns the engines; hands out one AsyncSession per unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self._write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
            self._read_engine = _sqlite_engine(url, begin="BEGIN")
        else:
            self._write_engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self._read_engine = self._write_engine
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
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction on a plain connection, for Core queries on hot paths (no ORM session,
        no identity map)."""
        async with self._read_engine.connect() as conn:
            yield conn

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        async with self._write_engine.connect() as conn:
            await conn.run_sync(_upgrade)
            await conn.commit()

    async def dispose(self) -> None:
        await self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            await self._read_engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
