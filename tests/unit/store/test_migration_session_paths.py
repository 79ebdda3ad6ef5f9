"""Migration 0009 reports the stored session paths that break the rules and changes none of them."""

from __future__ import annotations

import logging

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from nbplane.store.db import Database, alembic_config

_BASE = [
    "INSERT INTO tenancies (id, name, time_created) VALUES ('t1', 't', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO instances (id, tenancy_id, display_name, time_created) "
    "VALUES ('i1', 't1', 'i', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO workspaces (instance_id, key, display_name, time_created) "
    "VALUES ('i1', 'default', 'D', '2026-01-01 00:00:00+00:00')",
]
_PATHS = {"s1": "a.ipynb", "s2": "../../../../tmp/evil.ipynb", "s3": "/data/ok.ipynb", "s4": "d//x.ipynb", "s5": None}


def _session(session_id: str, path: str | None) -> str:
    value = "NULL" if path is None else "'" + path.replace("'", "''") + "'"
    return (
        "INSERT INTO sessions (id, instance_id, workspace_key, path, name, kernel_name, lifecycle_state, "
        f"time_created, time_updated) VALUES ('{session_id}', 'i1', 'default', {value}, 'n', 'python3', 'ACTIVE', "
        "'2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')"
    )


async def test_bad_session_paths_are_reported_not_changed(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    db = Database(database_url)
    try:

        def to_0006(connection: Connection) -> None:
            command.upgrade(alembic_config(connection), "0006")
            for statement in [*_BASE, *(_session(k, v) for k, v in _PATHS.items())]:
                connection.execute(text(statement))

        async with db._write_engine.connect() as conn:
            await conn.run_sync(to_0006)
            await conn.commit()
        caplog.set_level(logging.WARNING, logger="alembic.runtime.migration")
        await db.migrate()
        async with db.read() as session:
            stored = dict((await session.execute(text("SELECT id, path FROM sessions"))).all())
        assert stored == _PATHS  # nothing rewritten
        reported = [r.getMessage() for r in caplog.records if "breaks the session path rules" in r.getMessage()]
        assert len(reported) == 2, reported
        assert "session s2 " in reported[0] and "'..'" in reported[0]
        assert "session s4 " in reported[1] and "'d/x.ipynb'" in reported[1]
        assert any("2 session path(s) break the rules" in r.getMessage() for r in caplog.records)
    finally:
        await db.dispose()
