"""The Alembic migrations produce exactly the schema the ORM tables describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from nbplane.store.db import Database
from nbplane.store.tables import Base


async def test_migrations_match_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        await db.migrate()  # idempotent

        def diff(connection):  # type: ignore[no-untyped-def]
            context = MigrationContext.configure(connection)
            return compare_metadata(context, Base.metadata)

        async with db._write_engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()
