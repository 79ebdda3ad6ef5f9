"""session paths: report the stored paths that break the session path rules, change nothing

Session paths are now checked by the contents rules (`nbplane.sessions.paths`) when a session is created or
patched. Rows written before may break them (`../../x.ipynb`, NUL, backslashes...). Rewriting them silently
could merge two sessions or point one at another file, so this revision only reports them, one warning per row
(and on stdout for `nbplane admin migrate`); an operator decides what to do (delete or patch the session).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from nbplane.sessions.paths import problem

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    rows = op.get_bind().execute(
        sa.text("SELECT id, instance_id, workspace_key, path FROM sessions WHERE path IS NOT NULL ORDER BY id")
    )
    found = 0
    for session_id, instance_id, workspace_key, path in rows:
        why = problem(path)
        if why is None:
            continue
        found += 1
        log.warning(
            "session %s (instance %s, workspace %s) has path %r that breaks the session path rules: %s; left unchanged",
            session_id,
            instance_id,
            workspace_key,
            path,
            why,
        )
    if found:
        log.warning("%d session path(s) break the rules; they were reported, not changed", found)


def downgrade() -> None:
    """Nothing was changed."""
