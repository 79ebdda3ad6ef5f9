"""clusters: a workspace's compute targets, a default (local) cluster for every workspace, kernels.cluster_key

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("workspace_key", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=48), nullable=False),
        sa.Column("state_details", sa.Text(), nullable=True),
        sa.Column("gateway_url", sa.String(length=2048), nullable=True),
        sa.Column("gateway_token", sa.Text(), nullable=True),
        sa.Column("gateway_ca", sa.Text(), nullable=True),
        sa.Column("kernel_env", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_by_name", sa.String(length=255), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("updated_by_name", sa.String(length=255), nullable=True),
        sa.Column("stopped_by", sa.String(length=255), nullable=True),
        sa.Column("stopped_by_name", sa.String(length=255), nullable=True),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_updated", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id", "workspace_key"], ["workspaces.instance_id", "workspaces.key"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("instance_id", "workspace_key", "key"),
    )
    op.create_index("ix_clusters_scope_created", "clusters", ["instance_id", "workspace_key", "time_created", "key"])
    op.add_column("kernels", sa.Column("cluster_key", sa.String(length=255), nullable=True))
    op.execute(
        "INSERT INTO clusters (instance_id, workspace_key, key, display_name, description, is_default, kind, "
        "state, created_by, created_by_name, time_created) "
        "SELECT instance_id, key, 'default', 'Default cluster', 'Runs kernels on the nbplane server', "
        "TRUE, 'local', 'ACTIVE', 'nbplane', 'nbplane', time_created FROM workspaces"
    )


def downgrade() -> None:
    op.drop_column("kernels", "cluster_key")
    op.drop_index("ix_clusters_scope_created", table_name="clusters")
    op.drop_table("clusters")
