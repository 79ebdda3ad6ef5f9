"""Migration 0008 gives every existing workspace its default (local) cluster and keeps its sessions."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from nbplane.store.db import Database, alembic_config

_ROWS = [
    "INSERT INTO tenancies (id, name, time_created) VALUES ('t1', 't', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO instances (id, tenancy_id, display_name, time_created) "
    "VALUES ('i1', 't1', 'i', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO workspaces (instance_id, key, display_name, time_created) "
    "VALUES ('i1', 'default', 'D', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO workspaces (instance_id, key, display_name, time_created) "
    "VALUES ('i1', 'other', 'O', '2026-01-02 00:00:00+00:00')",
    "INSERT INTO sessions (id, instance_id, workspace_key, path, name, kernel_name, lifecycle_state, "
    "time_created, time_updated) VALUES ('s1', 'i1', 'other', 'a.ipynb', 'a', 'python3', 'ACTIVE', "
    "'2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
]


async def test_existing_workspaces_get_a_default_local_cluster(database_url: str) -> None:
    db = Database(database_url)
    try:

        def to_0006(connection: Connection) -> None:
            command.upgrade(alembic_config(connection), "0006")
            for statement in _ROWS:
                connection.execute(text(statement))

        async with db._write_engine.connect() as conn:
            await conn.run_sync(to_0006)
            await conn.commit()
        await db.migrate()
        async with db.read() as session:
            clusters = await session.execute(
                text("SELECT workspace_key, key, kind, state, is_default FROM clusters ORDER BY workspace_key")
            )
            sessions = await session.execute(text("SELECT id FROM sessions"))
            assert [tuple(r) for r in clusters.all()] == [
                ("default", "default", "local", "ACTIVE", True),
                ("other", "default", "local", "ACTIVE", True),
            ]
            assert sessions.all() == [("s1",)]
    finally:
        await db.dispose()
