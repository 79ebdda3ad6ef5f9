"""kernels record the node that runs them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kernels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kernels", schema=None) as batch_op:
        batch_op.drop_column("node_id")
