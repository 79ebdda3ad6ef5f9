"""workspaces: type, lifecycle and audit columns; per-user workspace grants

Existing workspaces keep today's access: every user of the instance's tenancy becomes an ADMINISTRATOR.
Columns are added with plain ADD COLUMN (no batch copy): on SQLite a table copy would drop `workspaces`
and, with foreign keys on, cascade to its sessions, kernels and tokens.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NEW_COLUMNS = (
    sa.Column("type", sa.String(length=16), server_default="USER", nullable=False),
    sa.Column("lifecycle_state", sa.String(length=16), server_default="ACTIVE", nullable=False),
    sa.Column("lifecycle_details", sa.Text(), nullable=True),
    sa.Column("default_catalog_key", sa.String(length=255), nullable=True),
    sa.Column("created_by", sa.String(length=255), nullable=True),
    sa.Column("created_by_name", sa.String(length=255), nullable=True),
    sa.Column("updated_by", sa.String(length=255), nullable=True),
    sa.Column("updated_by_name", sa.String(length=255), nullable=True),
    sa.Column("time_updated", sa.DateTime(timezone=True), nullable=True),
)


def upgrade() -> None:
    for column in _NEW_COLUMNS:
        op.add_column("workspaces", column)
    op.create_index("ix_workspaces_instance_created", "workspaces", ["instance_id", "time_created", "key"])
    op.execute("UPDATE workspaces SET type = 'DEFAULT' WHERE key = 'default'")
    op.create_table(
        "workspace_grants",
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("workspace_key", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("permission", sa.String(length=32), nullable=False),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id", "workspace_key"], ["workspaces.instance_id", "workspaces.key"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("instance_id", "workspace_key", "user_id", "permission"),
    )
    op.create_index(op.f("ix_workspace_grants_user_id"), "workspace_grants", ["user_id"])
    op.execute(
        "INSERT INTO workspace_grants (instance_id, workspace_key, user_id, permission, time_created) "
        "SELECT w.instance_id, w.key, u.id, 'ADMINISTRATOR', w.time_created FROM workspaces w "
        "JOIN instances i ON i.id = w.instance_id JOIN users u ON u.tenancy_id = i.tenancy_id"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_workspace_grants_user_id"), table_name="workspace_grants")
    op.drop_table("workspace_grants")
    op.drop_index("ix_workspaces_instance_created", table_name="workspaces")
    for column in reversed(_NEW_COLUMNS):
        op.drop_column("workspaces", column.name)
