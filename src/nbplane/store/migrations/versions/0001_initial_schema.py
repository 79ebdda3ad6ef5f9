"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 22:38:55.429002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "retry_tokens",
        sa.Column("scope", sa.String(length=1024), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("etag", sa.String(length=255), nullable=True),
        sa.Column("resource_id", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "token"),
    )
    with op.batch_alter_table("retry_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retry_tokens_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "tenancies",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("tenancy_id", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenancy_id"], ["tenancies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instances_tenancy_id"), ["tenancy_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("tenancy_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenancy_id"], ["tenancies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_tenancy_id"), ["tenancy_id"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "fingerprint"),
    )
    op.create_table(
        "workspaces",
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instances.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("instance_id", "key"),
    )
    op.create_table(
        "kernels",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("workspace_key", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("connection_info", sa.JSON(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=512), nullable=True),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id", "workspace_key"], ["workspaces.instance_id", "workspaces.key"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kernels", schema=None) as batch_op:
        batch_op.create_index("ix_kernels_scope", ["instance_id", "workspace_key"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("workspace_key", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=True),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("cluster_id", sa.String(length=255), nullable=True),
        sa.Column("agent_flow_key", sa.String(length=255), nullable=True),
        sa.Column("kernel_id", sa.String(length=64), nullable=True),
        sa.Column("kernel_name", sa.String(length=255), nullable=False),
        sa.Column("lifecycle_state", sa.String(length=32), nullable=False),
        sa.Column("lifecycle_details", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=512), nullable=True),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id", "workspace_key"], ["workspaces.instance_id", "workspaces.key"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "workspace_key", "path", name="uq_sessions_path"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index("ix_sessions_kernel", ["kernel_id"], unique=False)
        batch_op.create_index(
            "ix_sessions_scope_created", ["instance_id", "workspace_key", "time_created", "id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_scope_created")
        batch_op.drop_index("ix_sessions_kernel")

    op.drop_table("sessions")
    with op.batch_alter_table("kernels", schema=None) as batch_op:
        batch_op.drop_index("ix_kernels_scope")

    op.drop_table("kernels")
    op.drop_table("workspaces")
    op.drop_table("api_keys")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_tenancy_id"))

    op.drop_table("users")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instances_tenancy_id"))

    op.drop_table("instances")
    op.drop_table("tenancies")
    with op.batch_alter_table("retry_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retry_tokens_expires_at"))

    op.drop_table("retry_tokens")
