"""Fixtures shared by every layer: database URLs (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from nbplane.settings import normalize_database_url

POSTGRES_ENV = "NBPLANE_TEST_POSTGRES_URL"
SKIP_NO_POSTGRES = "NBPLANE_TEST_POSTGRES_URL is not set; PostgreSQL tests need a server (.ci/run sets it)"


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


class PostgresDatabases:
    """Creates a fresh database per request and drops them all at the end of the run."""

    def __init__(self, base_url: str) -> None:
        self.base_url = normalize_database_url(base_url)
        self.run_id = uuid.uuid4().hex[:10]
        self.created: list[str] = []

    def new(self) -> str:
        name = f"nbplane_test_{self.run_id}_{len(self.created)}"
        asyncio.run(_admin(self.base_url, f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.created:
            asyncio.run(_admin(self.base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        yield None
        return
    databases = PostgresDatabases(base)
    yield databases
    databases.drop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases | None) -> str:
    """Each test gets an empty database of its own: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    if postgres_databases is None:
        pytest.skip(SKIP_NO_POSTGRES)
    return postgres_databases.new()
