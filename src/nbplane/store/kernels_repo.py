"""Kernel rows: the only module that writes them (called by `nbplane.kernels.service`). Rows leave as
`StoredKernel` values, never as ORM objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.errors import AlreadyExistsError, NotFoundError
from nbplane.store.tables import KernelRow, KernelStatus, utcnow


@dataclass(frozen=True)
class StoredKernel:
    id: str
    instance_id: str
    workspace_key: str
    name: str
    status: KernelStatus
    reason: str | None
    node_id: str | None
    runtime: str | None
    details: Mapping[str, Any] | None
    connection_info: Mapping[str, Any] | None
    pid: int | None
    last_activity: datetime | None
    created_by: str | None
    time_created: datetime


def _stored(row: KernelRow) -> StoredKernel:
    return StoredKernel(
        id=row.id,
        instance_id=row.instance_id,
        workspace_key=row.workspace_key,
        name=row.name,
        status=KernelStatus(row.status),
        reason=row.reason,
        node_id=row.node_id,
        runtime=row.runtime,
        details=row.details,
        connection_info=row.connection_info,
        pid=row.pid,
        last_activity=row.last_activity,
        created_by=row.created_by,
        time_created=row.time_created,
    )


async def insert(
    db: AsyncSession,
    *,
    kernel_id: str,
    instance_id: str,
    workspace_key: str,
    name: str,
    runtime: str,
    details: Mapping[str, Any],
    connection_info: Mapping[str, Any] | None,
    pid: int | None,
    node_id: str,
    created_by: str,
    status: KernelStatus = KernelStatus.RUNNING,
) -> None:
    """Record a running (or pooled) kernel. AlreadyExistsError for a duplicate id, NotFoundError when the
    workspace is gone."""
    db.add(
        KernelRow(
            id=kernel_id,
            instance_id=instance_id,
            workspace_key=workspace_key,
            name=name,
            connection_info=dict(connection_info) if connection_info is not None else None,
            pid=pid,
            status=status.value,
            node_id=node_id,
            runtime=runtime,
            details=dict(details),
            created_by=created_by,
            time_created=utcnow(),
        )
    )
    try:
        await db.flush()
    except IntegrityError as exc:
        if await db.get(KernelRow, kernel_id) is not None:
            raise AlreadyExistsError(f"Kernel {kernel_id} already exists") from exc
        raise NotFoundError("The workspace no longer exists") from exc


async def get(db: AsyncSession, instance_id: str, workspace_key: str, kernel_id: str) -> StoredKernel | None:
    query = select(KernelRow).where(
        KernelRow.id == kernel_id,
        KernelRow.instance_id == instance_id,
        KernelRow.workspace_key == workspace_key,
    )
    row = (await db.scalars(query)).one_or_none()
    return None if row is None else _stored(row)


async def running_in_workspace(db: AsyncSession, instance_id: str, workspace_key: str) -> list[StoredKernel]:
    """A workspace's kernels recorded as running, oldest first."""
    query = (
        select(KernelRow)
        .where(
            KernelRow.instance_id == instance_id,
            KernelRow.workspace_key == workspace_key,
            KernelRow.status == KernelStatus.RUNNING.value,
        )
        .order_by(KernelRow.time_created, KernelRow.id)
    )
    return [_stored(r) for r in (await db.scalars(query)).all()]


async def running_on_node(db: AsyncSession, node_id: str) -> list[StoredKernel]:
    """Kernels recorded as running on this node (or on no recorded node: rows from before nodes were kept)."""
    query = select(KernelRow).where(
        KernelRow.status == KernelStatus.RUNNING.value,
        or_(KernelRow.node_id == node_id, KernelRow.node_id.is_(None)),
    )
    return [_stored(r) for r in (await db.scalars(query)).all()]


async def known_ids_on_node(db: AsyncSession, node_id: str) -> set[str]:
    """Ids of every kernel row of this node, whatever its status (for telling orphans from known kernels)."""
    query = select(KernelRow.id).where(or_(KernelRow.node_id == node_id, KernelRow.node_id.is_(None)))
    return set((await db.scalars(query)).all())


async def set_status(
    db: AsyncSession,
    kernel_ids: Sequence[str],
    status: KernelStatus,
    reason: str | None = None,
    *,
    only_running: bool = False,
) -> None:
    """Move kernels to `status`; `only_running` leaves rows that already reached a final status alone
    (pooled rows count as running here)."""
    if not kernel_ids:
        return
    query = update(KernelRow).where(KernelRow.id.in_(kernel_ids))
    if only_running:
        query = query.where(KernelRow.status.in_((KernelStatus.RUNNING.value, KernelStatus.POOLED.value)))
    await db.execute(query.values(status=status.value, reason=reason))


async def claim_pooled(
    db: AsyncSession,
    kernel_id: str,
    *,
    created_by: str,
    details: Mapping[str, Any],
    connection_info: Mapping[str, Any] | None,
    pid: int | None,
) -> bool:
    """Hand a pooled kernel out: it becomes a running kernel of `created_by`, created now (with its record as
    the hand-out left it). False when the row is no longer pooled (or gone with its workspace)."""
    result = await db.execute(
        update(KernelRow)
        .where(KernelRow.id == kernel_id, KernelRow.status == KernelStatus.POOLED.value)
        .values(
            status=KernelStatus.RUNNING.value,
            created_by=created_by,
            time_created=utcnow(),
            details=dict(details),
            connection_info=None if connection_info is None else dict(connection_info),
            pid=pid,
        )
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def end_pooled_on_node(db: AsyncSession, node_id: str, reason: str) -> list[str]:
    """Record every pooled kernel of this node as stopped (a new server does not take over an old pool);
    returns their ids."""
    query = select(KernelRow.id).where(
        KernelRow.status == KernelStatus.POOLED.value,
        or_(KernelRow.node_id == node_id, KernelRow.node_id.is_(None)),
    )
    ids = list((await db.scalars(query)).all())
    await set_status(db, ids, KernelStatus.STOPPED, reason)
    return ids


async def set_last_activity(db: AsyncSession, activity: Mapping[str, datetime]) -> None:
    for kernel_id, when in activity.items():
        await db.execute(update(KernelRow).where(KernelRow.id == kernel_id).values(last_activity=when))


async def update_record(
    db: AsyncSession,
    kernel_id: str,
    *,
    details: Mapping[str, Any],
    connection_info: Mapping[str, Any] | None,
    pid: int | None,
) -> None:
    """A running kernel's new runtime record (after its process was relaunched)."""
    await db.execute(
        update(KernelRow)
        .where(KernelRow.id == kernel_id, KernelRow.status == KernelStatus.RUNNING.value)
        .values(
            details=dict(details), connection_info=None if connection_info is None else dict(connection_info), pid=pid
        )
    )


NODE_BOUND_RUNTIMES = ("local", "fake")
"""Runtimes whose kernels live and die with the node that runs them (a gateway kernel is reachable from any
node, so a node's lease says nothing about it)."""


async def mark_node_lost(db: AsyncSession, node_id: str, reason: str) -> list[str]:
    """Record every kernel still running (or pooled) on `node_id` as dead, in one conditional update: when several
    nodes sweep at once, each row changes once, and a row another node already changed is left alone."""
    condition = (
        KernelRow.node_id == node_id,
        KernelRow.status.in_((KernelStatus.RUNNING.value, KernelStatus.POOLED.value)),
        or_(KernelRow.runtime.is_(None), KernelRow.runtime.in_(NODE_BOUND_RUNTIMES)),
    )
    ids = list((await db.scalars(select(KernelRow.id).where(*condition))).all())
    if not ids:
        return []
    result = await db.execute(
        update(KernelRow)
        .where(KernelRow.id.in_(ids), *condition)
        .values(status=KernelStatus.DEAD.value, reason=reason)
        .returning(KernelRow.id)
    )
    return list(result.scalars().all())


async def no_longer_running_here(db: AsyncSession, node_id: str, kernel_ids: Sequence[str]) -> list[str]:
    """Of `kernel_ids` (kernels this node's backend runs), the recorded ones whose row no longer says they run
    (or wait in the pool) here: stopped, culled or declared dead by another node (after this node's lease ran
    out). Unrecorded ids (a kernel whose row is being written) are not returned."""
    if not kernel_ids:
        return []
    still_here = (KernelStatus.RUNNING.value, KernelStatus.POOLED.value)
    query = select(KernelRow.id).where(
        KernelRow.id.in_(list(kernel_ids)),
        or_(KernelRow.status.not_in(still_here), KernelRow.node_id != node_id),
    )
    return list((await db.scalars(query)).all())


async def running_count_by_node(db: AsyncSession) -> dict[str | None, int]:
    """How many kernels each node is recorded as running."""
    query = (
        select(KernelRow.node_id, func.count())
        .where(KernelRow.status == KernelStatus.RUNNING.value)
        .group_by(KernelRow.node_id)
    )
    return {node: int(count) for node, count in (await db.execute(query)).all()}
