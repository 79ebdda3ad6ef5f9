"""one OS identity per workspace for isolated local kernels

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kernel_identities",
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("workspace_key", sa.String(length=255), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id", "workspace_key"], ["workspaces.instance_id", "workspaces.key"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("instance_id", "workspace_key"),
        sa.UniqueConstraint("uid"),
    )


def downgrade() -> None:
    op.drop_table("kernel_identities")
