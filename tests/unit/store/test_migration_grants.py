"""Migration 0006 keeps today's access: every user of an instance's tenancy administers its workspaces."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from nbplane.store.db import Database, alembic_config

_ROWS = [
    "INSERT INTO tenancies (id, name, time_created) VALUES ('t1', 't', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO tenancies (id, name, time_created) VALUES ('t2', 't', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO users (id, tenancy_id, name, time_created) VALUES ('u1', 't1', 'a', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO users (id, tenancy_id, name, time_created) VALUES ('u2', 't1', 'b', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO users (id, tenancy_id, name, time_created) VALUES ('u3', 't2', 'c', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO instances (id, tenancy_id, display_name, time_created) "
    "VALUES ('i1', 't1', 'i', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO workspaces (instance_id, key, display_name, time_created) "
    "VALUES ('i1', 'default', 'D', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO workspaces (instance_id, key, display_name, time_created) "
    "VALUES ('i1', 'other', 'O', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO sessions (id, instance_id, workspace_key, path, name, kernel_name, lifecycle_state, "
    "time_created, time_updated) VALUES ('s1', 'i1', 'other', 'a.ipynb', 'a', 'python3', 'ACTIVE', "
    "'2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
]


async def test_existing_workspaces_get_their_tenancys_users_as_administrators(database_url: str) -> None:
    db = Database(database_url)
    try:

        def to_0004(connection: Connection) -> None:
            command.upgrade(alembic_config(connection), "0005")
            for statement in _ROWS:
                connection.execute(text(statement))

        async with db._write_engine.connect() as conn:
            await conn.run_sync(to_0004)
            await conn.commit()
        await db.migrate()
        async with db.read() as session:
            grants = await session.execute(text("SELECT workspace_key, user_id, permission FROM workspace_grants"))
            workspaces = await session.execute(text("SELECT key, type, lifecycle_state FROM workspaces ORDER BY key"))
            sessions = await session.execute(text("SELECT id FROM sessions"))
            assert sorted(grants.all()) == [
                ("default", "u1", "ADMINISTRATOR"),
                ("default", "u2", "ADMINISTRATOR"),
                ("other", "u1", "ADMINISTRATOR"),
                ("other", "u2", "ADMINISTRATOR"),
            ]
            assert workspaces.all() == [("default", "DEFAULT", "ACTIVE"), ("other", "USER", "ACTIVE")]
            assert sessions.all() == [("s1",)]  # nothing cascaded away
    finally:
        await db.dispose()
