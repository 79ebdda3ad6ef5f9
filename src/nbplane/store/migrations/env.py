"""Alembic environment: nbplane always passes an open connection (see store.db.Database.migrate)."""

from __future__ import annotations

from alembic import context

from nbplane.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("nbplane migrations run through nbplane.store.db.Database.migrate()")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
