"""kernel admissions: kernel starts admitted under the kernel quotas and still under way

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kernel_admissions",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("workspace_key", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=512), nullable=False),
        sa.Column("time_created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_kernel_admissions_scope", "kernel_admissions", ["instance_id", "workspace_key"])


def downgrade() -> None:
    op.drop_index("ix_kernel_admissions_scope", table_name="kernel_admissions")
    op.drop_table("kernel_admissions")
