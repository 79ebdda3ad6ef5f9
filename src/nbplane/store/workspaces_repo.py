"""Queries and writes of workspaces and their per-user grants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nbplane.store.tables import InstanceRow, UserRow, WorkspaceGrantRow, WorkspaceRow


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _granted(user_id: str) -> ColumnElement[bool]:
    return exists().where(
        WorkspaceGrantRow.instance_id == WorkspaceRow.instance_id,
        WorkspaceGrantRow.workspace_key == WorkspaceRow.key,
        WorkspaceGrantRow.user_id == user_id,
    )


async def get(db: AsyncSession, instance_id: str, key: str) -> WorkspaceRow | None:
    return await db.get(WorkspaceRow, (instance_id, key))


async def page(
    db: AsyncSession,
    instance_id: str,
    *,
    visible_to: str | None,
    only_key: str | None,
    lifecycle_state: str | None,
    display_name: str | None,
    display_name_contains: str | None,
    type: str | None,
    sort_by_name: bool,
    ascending: bool,
    after: tuple[Any, str] | None,
    limit: int,
) -> Sequence[WorkspaceRow]:
    """A keyset page of an instance's workspaces; `visible_to` keeps those the user holds a grant on,
    `only_key` one workspace (an API token's)."""
    sort_column: Any = WorkspaceRow.display_name if sort_by_name else WorkspaceRow.time_created
    query: Select[Any] = select(WorkspaceRow).where(WorkspaceRow.instance_id == instance_id)
    if visible_to is not None:
        query = query.where(_granted(visible_to))
    if only_key is not None:
        query = query.where(WorkspaceRow.key == only_key)
    if lifecycle_state is not None:
        query = query.where(WorkspaceRow.lifecycle_state == lifecycle_state)
    if display_name is not None:
        query = query.where(WorkspaceRow.display_name == display_name)
    if display_name_contains is not None:
        pattern = f"%{_escape_like(display_name_contains.lower())}%"
        query = query.where(func.lower(WorkspaceRow.display_name).like(pattern, escape="\\"))
    if type is not None:
        query = query.where(WorkspaceRow.type == type)
    if after is not None:
        value, key = after
        if ascending:
            query = query.where(or_(sort_column > value, and_(sort_column == value, WorkspaceRow.key > key)))
        else:
            query = query.where(or_(sort_column < value, and_(sort_column == value, WorkspaceRow.key < key)))
    order = (sort_column.asc(), WorkspaceRow.key.asc()) if ascending else (sort_column.desc(), WorkspaceRow.key.desc())
    return (await db.scalars(query.order_by(*order).limit(limit))).all()


async def list_for_instance(db: AsyncSession, instance_id: str) -> Sequence[WorkspaceRow]:
    query = select(WorkspaceRow).where(WorkspaceRow.instance_id == instance_id).order_by(WorkspaceRow.key)
    return (await db.scalars(query)).all()


def add(db: AsyncSession, row: WorkspaceRow) -> WorkspaceRow:
    db.add(row)
    return row


async def remove(db: AsyncSession, instance_id: str, key: str) -> None:
    """Delete the row; sessions, kernels, tokens and grants go with it (ON DELETE CASCADE)."""
    await db.execute(delete(WorkspaceRow).where(WorkspaceRow.instance_id == instance_id, WorkspaceRow.key == key))


# ---- grants ----------------------------------------------------------------------------------


async def permissions_of(db: AsyncSession, instance_id: str, key: str, user_id: str) -> set[str]:
    query = select(WorkspaceGrantRow.permission).where(
        WorkspaceGrantRow.instance_id == instance_id,
        WorkspaceGrantRow.workspace_key == key,
        WorkspaceGrantRow.user_id == user_id,
    )
    return set((await db.scalars(query)).all())


async def grants(db: AsyncSession, instance_id: str, key: str) -> Sequence[tuple[WorkspaceGrantRow, str]]:
    """Every grant of a workspace with the grantee's name."""
    query = (
        select(WorkspaceGrantRow, UserRow.name)
        .join(UserRow, UserRow.id == WorkspaceGrantRow.user_id)
        .where(WorkspaceGrantRow.instance_id == instance_id, WorkspaceGrantRow.workspace_key == key)
    )
    return [(row, name) for row, name in (await db.execute(query)).all()]


async def grant(
    db: AsyncSession, instance_id: str, key: str, user_ids: Iterable[str], permissions: Iterable[str], now: datetime
) -> None:
    """Add grants that are not there yet (idempotent)."""
    for user_id in user_ids:
        held = await permissions_of(db, instance_id, key, user_id)
        for permission in permissions:
            if permission not in held:
                db.add(
                    WorkspaceGrantRow(
                        instance_id=instance_id,
                        workspace_key=key,
                        user_id=user_id,
                        permission=permission,
                        time_created=now,
                    )
                )
                held.add(permission)
    await db.flush()


async def revoke(
    db: AsyncSession, instance_id: str, key: str, user_ids: Iterable[str], permissions: Iterable[str]
) -> None:
    users, perms = list(user_ids), list(permissions)
    if not users or not perms:
        return
    await db.execute(
        delete(WorkspaceGrantRow).where(
            WorkspaceGrantRow.instance_id == instance_id,
            WorkspaceGrantRow.workspace_key == key,
            WorkspaceGrantRow.user_id.in_(users),
            WorkspaceGrantRow.permission.in_(perms),
        )
    )


async def count_with_permission(db: AsyncSession, instance_id: str, key: str, permission: str) -> int:
    query = select(func.count()).where(
        WorkspaceGrantRow.instance_id == instance_id,
        WorkspaceGrantRow.workspace_key == key,
        WorkspaceGrantRow.permission == permission,
    )
    return int((await db.execute(query)).scalar_one())


async def users_of_tenancy(db: AsyncSession, tenancy_id: str, user_ids: Iterable[str] | None = None) -> dict[str, str]:
    """id -> name of the tenancy's users (all of them, or those of `user_ids` that belong to it)."""
    query = select(UserRow.id, UserRow.name).where(UserRow.tenancy_id == tenancy_id)
    if user_ids is not None:
        query = query.where(UserRow.id.in_(list(user_ids)))
    return {user_id: name for user_id, name in (await db.execute(query)).all()}


@dataclass(frozen=True, slots=True)
class AccessFacts:
    """What authorising a request against one workspace needs, read in one query: the instance's tenancy
    (None: no such instance), the workspace's lifecycle state (None: no such workspace) and the user's
    permissions on it."""

    tenancy_id: str | None
    lifecycle_state: str | None
    permissions: frozenset[str]


_ACCESS = (
    select(InstanceRow.tenancy_id, WorkspaceRow.lifecycle_state, WorkspaceGrantRow.permission)
    .select_from(InstanceRow)
    .outerjoin(WorkspaceRow, and_(WorkspaceRow.instance_id == InstanceRow.id, WorkspaceRow.key == bindparam("key")))
    .outerjoin(
        WorkspaceGrantRow,
        and_(
            WorkspaceGrantRow.instance_id == WorkspaceRow.instance_id,
            WorkspaceGrantRow.workspace_key == WorkspaceRow.key,
            WorkspaceGrantRow.user_id == bindparam("user_id"),
        ),
    )
    .where(InstanceRow.id == bindparam("instance_id"))
)


async def access_facts(conn: AsyncConnection, instance_id: str, key: str, user_id: str | None) -> AccessFacts:
    """One round trip for instance, workspace and grants (`user_id=None`: no grants are looked up)."""
    rows = (await conn.execute(_ACCESS, {"instance_id": instance_id, "key": key, "user_id": user_id or ""})).all()
    if not rows:
        return AccessFacts(None, None, frozenset())
    return AccessFacts(rows[0][0], rows[0][1], frozenset(r[2] for r in rows if r[2] is not None))
