"""Kernel identities: one uid per workspace, allocated once from a range and never reused by another."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.errors import AlreadyExistsError
from nbplane.store.tables import KernelIdentityRow, utcnow


async def find_uid(db: AsyncSession, instance_id: str, workspace_key: str) -> int | None:
    row = await db.get(KernelIdentityRow, (instance_id, workspace_key))
    return None if row is None else row.uid


async def allocate_uid(db: AsyncSession, instance_id: str, workspace_key: str, base: int) -> int:
    """The next free uid at or above `base` for the workspace. AlreadyExistsError when a concurrent writer took
    that uid or the workspace's identity first (call again in a new transaction)."""
    highest = (await db.execute(select(func.max(KernelIdentityRow.uid)))).scalar_one_or_none()
    uid = max(base, (highest or 0) + 1)
    db.add(KernelIdentityRow(instance_id=instance_id, workspace_key=workspace_key, uid=uid, time_created=utcnow()))
    try:
        await db.flush()
    except IntegrityError as exc:
        raise AlreadyExistsError("a kernel identity was allocated concurrently") from exc
    return uid
