"""Queries and writes of workspace clusters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.store.tables import ClusterRow, KernelRow, KernelStatus, SessionRow, utcnow

DEFAULT_CLUSTER_KEY = "default"
DEFAULT_CLUSTER_NAME = "Default cluster"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def add_default(db: AsyncSession, instance_id: str, workspace_key: str, actor: tuple[str, str]) -> ClusterRow:
    """The workspace's default cluster (local); added with the workspace, in its transaction."""
    row = ClusterRow(
        instance_id=instance_id,
        workspace_key=workspace_key,
        key=DEFAULT_CLUSTER_KEY,
        display_name=DEFAULT_CLUSTER_NAME,
        description="Runs kernels on the nbplane server",
        is_default=True,
        kind="local",
        state="ACTIVE",
        created_by=actor[0],
        created_by_name=actor[1],
        time_created=utcnow(),
    )
    db.add(row)
    return row


def add(db: AsyncSession, row: ClusterRow) -> ClusterRow:
    db.add(row)
    return row


async def get(db: AsyncSession, instance_id: str, workspace_key: str, key: str) -> ClusterRow | None:
    return await db.get(ClusterRow, (instance_id, workspace_key, key))


async def get_default(db: AsyncSession, instance_id: str, workspace_key: str) -> ClusterRow | None:
    query = select(ClusterRow).where(
        ClusterRow.instance_id == instance_id,
        ClusterRow.workspace_key == workspace_key,
        ClusterRow.is_default.is_(True),
    )
    return (await db.scalars(query.limit(1))).first()


async def of_workspace(db: AsyncSession, instance_id: str, workspace_key: str) -> Sequence[ClusterRow]:
    """Every cluster of a workspace, the default first."""
    query = (
        select(ClusterRow)
        .where(ClusterRow.instance_id == instance_id, ClusterRow.workspace_key == workspace_key)
        .order_by(ClusterRow.is_default.desc(), ClusterRow.time_created, ClusterRow.key)
    )
    return (await db.scalars(query)).all()


async def of_instance(db: AsyncSession, instance_id: str) -> Sequence[ClusterRow]:
    query = (
        select(ClusterRow)
        .where(ClusterRow.instance_id == instance_id)
        .order_by(ClusterRow.workspace_key, ClusterRow.time_created, ClusterRow.key)
    )
    return (await db.scalars(query)).all()


async def page(
    db: AsyncSession,
    instance_id: str,
    workspace_key: str,
    *,
    state: str | None,
    display_name: str | None,
    display_name_contains: str | None,
    sort_by_name: bool,
    ascending: bool,
    after: tuple[Any, str] | None,
    limit: int,
) -> Sequence[ClusterRow]:
    """A keyset page of a workspace's clusters."""
    sort_column: Any = ClusterRow.display_name if sort_by_name else ClusterRow.time_created
    query: Select[Any] = select(ClusterRow).where(
        ClusterRow.instance_id == instance_id, ClusterRow.workspace_key == workspace_key
    )
    if state is not None:
        query = query.where(ClusterRow.state == state)
    if display_name is not None:
        query = query.where(ClusterRow.display_name == display_name)
    if display_name_contains is not None:
        pattern = f"%{_escape_like(display_name_contains.lower())}%"
        query = query.where(func.lower(ClusterRow.display_name).like(pattern, escape="\\"))
    if after is not None:
        value, key = after
        if ascending:
            query = query.where(or_(sort_column > value, and_(sort_column == value, ClusterRow.key > key)))
        else:
            query = query.where(or_(sort_column < value, and_(sort_column == value, ClusterRow.key < key)))
    order = (sort_column.asc(), ClusterRow.key.asc()) if ascending else (sort_column.desc(), ClusterRow.key.desc())
    return (await db.scalars(query.order_by(*order).limit(limit))).all()


async def remove(db: AsyncSession, instance_id: str, workspace_key: str, key: str) -> None:
    await db.execute(
        delete(ClusterRow).where(
            ClusterRow.instance_id == instance_id, ClusterRow.workspace_key == workspace_key, ClusterRow.key == key
        )
    )


async def attached_sessions(
    db: AsyncSession, instance_id: str, workspace_key: str, keys: Sequence[str], default_key: str | None
) -> dict[str, list[tuple[str | None, str | None]]]:
    """(path, type) of the sessions on each cluster; sessions without a cluster count on the default."""
    query = select(SessionRow.cluster_id, SessionRow.path, SessionRow.type).where(
        SessionRow.instance_id == instance_id, SessionRow.workspace_key == workspace_key
    )
    found: dict[str, list[tuple[str | None, str | None]]] = {k: [] for k in keys}
    for cluster_id, path, type_ in (await db.execute(query)).all():
        key = cluster_id or default_key
        if key in found:
            found[key].append((path, type_))
    return found


async def running_kernel_ids(
    db: AsyncSession, instance_id: str, workspace_key: str, key: str, is_default: bool
) -> list[str]:
    """Kernels recorded as running on a cluster (rows from before clusters count on the default)."""
    on_cluster = KernelRow.cluster_key == key
    if is_default:
        on_cluster = or_(on_cluster, KernelRow.cluster_key.is_(None))
    query = select(KernelRow.id).where(
        KernelRow.instance_id == instance_id,
        KernelRow.workspace_key == workspace_key,
        KernelRow.status == KernelStatus.RUNNING.value,
        on_cluster,
    )
    return list((await db.scalars(query)).all())


async def sessions_on_cluster(db: AsyncSession, instance_id: str, workspace_key: str, key: str) -> int:
    query = select(func.count()).where(
        SessionRow.instance_id == instance_id, SessionRow.workspace_key == workspace_key, SessionRow.cluster_id == key
    )
    return int((await db.execute(query)).scalar_one())


async def set_state(
    db: AsyncSession, instance_id: str, workspace_key: str, key: str, state: str, **changes: Any
) -> None:
    await db.execute(
        update(ClusterRow)
        .where(ClusterRow.instance_id == instance_id, ClusterRow.workspace_key == workspace_key, ClusterRow.key == key)
        .values(state=state, **changes)
    )
