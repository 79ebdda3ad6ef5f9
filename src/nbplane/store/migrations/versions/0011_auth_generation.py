"""auth_generation: one counter that every change to a credential or an access rule bumps

Servers cache API keys, API tokens, users and workspace access in memory. Triggers (not application code)
bump `auth_generation.value` on any insert, update or delete of those tables, whoever writes them: this
server, another server on the same PostgreSQL, or the admin CLI. Each request reads the counter (one
primary-key row) and drops its cache when the counter moved, so a removed key or a revoked token stops
working on the next request everywhere.

The keyset index of sessions, (instance_id, workspace_key, time_created, id), exists since 0001.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WATCHED = ("tenancies", "users", "api_keys", "api_tokens", "instances", "workspaces", "workspace_grants")
_BUMP = "UPDATE auth_generation SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "auth_generation",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO auth_generation (id, value) VALUES (1, 0)")
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION nbplane_bump_auth_generation() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_auth_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION nbplane_bump_auth_generation()"
            )
        return
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_auth_generation_{event.lower()} AFTER {event} ON {table} BEGIN {_BUMP}; END"
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_generation ON {table}")
        op.execute("DROP FUNCTION IF EXISTS nbplane_bump_auth_generation()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_generation_{event}")
    op.drop_table("auth_generation")
