"""kernels keep their runtime record (to be adopted by a later server) and last activity

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kernels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runtime", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("last_activity", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_kernels_node_status", ["node_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("kernels", schema=None) as batch_op:
        batch_op.drop_index("ix_kernels_node_status")
        batch_op.drop_column("last_activity")
        batch_op.drop_column("details")
        batch_op.drop_column("runtime")
