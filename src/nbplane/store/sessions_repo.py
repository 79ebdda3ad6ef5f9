"""Queries over sessions and their kernels. Every query is scoped to one workspace."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.store.tables import KernelRow, SessionRow


def _scoped(query: Select[Any], instance_id: str, workspace_key: str) -> Select[Any]:
    return query.where(SessionRow.instance_id == instance_id, SessionRow.workspace_key == workspace_key)


async def get(db: AsyncSession, instance_id: str, workspace_key: str, session_id: str) -> SessionRow | None:
    query = _scoped(select(SessionRow), instance_id, workspace_key).where(SessionRow.id == session_id)
    return (await db.scalars(query)).one_or_none()


async def get_with_kernel_status(
    db: AsyncSession, instance_id: str, workspace_key: str, session_id: str
) -> tuple[SessionRow, str | None] | None:
    query = (
        _scoped(select(SessionRow, KernelRow.status), instance_id, workspace_key)
        .outerjoin(KernelRow, KernelRow.id == SessionRow.kernel_id)
        .where(SessionRow.id == session_id)
    )
    row = (await db.execute(query)).one_or_none()
    return None if row is None else (row[0], row[1])


async def get_by_path(db: AsyncSession, instance_id: str, workspace_key: str, path: str) -> SessionRow | None:
    query = _scoped(select(SessionRow), instance_id, workspace_key).where(SessionRow.path == path)
    return (await db.scalars(query)).one_or_none()


async def with_path(db: AsyncSession, instance_id: str, workspace_key: str) -> Sequence[SessionRow]:
    """Every session of the workspace that has a path (for rewriting paths after a rename)."""
    query = _scoped(select(SessionRow), instance_id, workspace_key).where(SessionRow.path.is_not(None))
    return (await db.scalars(query)).all()


async def page(
    db: AsyncSession,
    instance_id: str,
    workspace_key: str,
    *,
    path: str | None,
    cluster_id: str | None,
    agent_flow_key: str | None,
    after: tuple[datetime, str] | None,
    ascending: bool,
    limit: int,
) -> Sequence[tuple[SessionRow, str | None]]:
    """One indexed query: a page of sessions with their kernel's stored status, keyset-paginated."""
    query = _scoped(select(SessionRow, KernelRow.status), instance_id, workspace_key).outerjoin(
        KernelRow, KernelRow.id == SessionRow.kernel_id
    )
    if path is not None:
        query = query.where(SessionRow.path == path)
    if cluster_id is not None:
        query = query.where(SessionRow.cluster_id == cluster_id)
    if agent_flow_key is not None:
        query = query.where(SessionRow.agent_flow_key == agent_flow_key)
    if after is not None:
        stamp, ident = after
        if ascending:
            query = query.where(
                or_(
                    SessionRow.time_created > stamp,
                    and_(SessionRow.time_created == stamp, SessionRow.id > ident),
                )
            )
        else:
            query = query.where(
                or_(
                    SessionRow.time_created < stamp,
                    and_(SessionRow.time_created == stamp, SessionRow.id < ident),
                )
            )
    if ascending:
        query = query.order_by(SessionRow.time_created.asc(), SessionRow.id.asc())
    else:
        query = query.order_by(SessionRow.time_created.desc(), SessionRow.id.desc())
    rows = (await db.execute(query.limit(limit))).all()
    return [(r[0], r[1]) for r in rows]


async def sessions_using_kernel(db: AsyncSession, kernel_id: str) -> int:
    query = select(func.count()).select_from(SessionRow).where(SessionRow.kernel_id == kernel_id)
    return int((await db.execute(query)).scalar_one())


async def delete_session(db: AsyncSession, session_id: str) -> None:
    await db.execute(delete(SessionRow).where(SessionRow.id == session_id))


async def get_kernel(db: AsyncSession, instance_id: str, workspace_key: str, kernel_id: str) -> KernelRow | None:
    query = select(KernelRow).where(
        KernelRow.id == kernel_id,
        KernelRow.instance_id == instance_id,
        KernelRow.workspace_key == workspace_key,
    )
    return (await db.scalars(query)).one_or_none()


async def running_kernels(db: AsyncSession, instance_id: str, workspace_key: str) -> list[KernelRow]:
    """A workspace's kernels recorded as running, oldest first."""
    query = (
        select(KernelRow)
        .where(
            KernelRow.instance_id == instance_id,
            KernelRow.workspace_key == workspace_key,
            KernelRow.status == "running",
        )
        .order_by(KernelRow.time_created, KernelRow.id)
    )
    return list((await db.scalars(query)).all())


async def set_kernel_status(db: AsyncSession, kernel_ids: Sequence[str], status: str) -> None:
    if kernel_ids:
        await db.execute(update(KernelRow).where(KernelRow.id.in_(kernel_ids)).values(status=status))


async def running_kernel_ids(db: AsyncSession, node_id: str) -> list[str]:
    """Kernels recorded as running on this node (or on no recorded node: rows from before nodes were kept)."""
    query = select(KernelRow.id).where(
        KernelRow.status == "running", or_(KernelRow.node_id == node_id, KernelRow.node_id.is_(None))
    )
    return list((await db.scalars(query)).all())
