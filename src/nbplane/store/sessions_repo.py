"""Session rows: queries and all writes. Every query is scoped to one workspace; rows leave as
`StoredSession` values, and the unique path constraint leaves as `AlreadyExistsError`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, Select, String, bindparam, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nbplane.errors import AlreadyExistsError, NotFoundError
from nbplane.store.tables import KernelRow, KernelStatus, SessionRow, utcnow


class StoredSession(NamedTuple):
    """A session row (a tuple: built straight from a result row, cheaply, on the list's hot path)."""

    id: str
    instance_id: str
    workspace_key: str
    path: str | None
    name: str
    type: str | None
    cluster_id: str | None
    agent_flow_key: str | None
    kernel_id: str | None
    kernel_name: str
    lifecycle_state: str
    lifecycle_details: str | None
    created_by: str | None
    time_created: datetime
    time_updated: datetime


@dataclass(frozen=True)
class KernelState:
    """What the kernel row says of a session's kernel (None fields: no row)."""

    status: KernelStatus | None
    reason: str | None
    node_id: str | None = None


_FIELDS = StoredSession._fields
UPDATABLE = frozenset(_FIELDS) - {"id", "instance_id", "workspace_key", "time_created"}


def _stored(row: SessionRow) -> StoredSession:
    return StoredSession(**{f: getattr(row, f) for f in _FIELDS})


def _kernel_state(status: str | None, reason: str | None, node_id: str | None = None) -> KernelState:
    return KernelState(None if status is None else KernelStatus(status), reason, node_id)


def _scoped(query: Select[Any], instance_id: str, workspace_key: str) -> Select[Any]:
    return query.where(SessionRow.instance_id == instance_id, SessionRow.workspace_key == workspace_key)


async def insert(db: AsyncSession, session: StoredSession) -> None:
    """Add a session. AlreadyExistsError when its path is taken in the workspace, NotFoundError when the
    workspace is gone."""
    db.add(SessionRow(**{f: getattr(session, f) for f in _FIELDS}))
    try:
        await db.flush()
    except IntegrityError as exc:
        raise _integrity(exc) from exc


def _integrity(exc: IntegrityError) -> Exception:
    text = str(exc.orig).lower()
    if "foreign key" in text:
        return NotFoundError("The workspace no longer exists")
    return AlreadyExistsError("Another session already uses that path.")


async def update_session(db: AsyncSession, session_id: str, **changes: Any) -> bool:
    """Change fields of a session (`time_updated` is set); False when there is no such session.
    AlreadyExistsError when a new path is taken."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    changes.setdefault("time_updated", utcnow())
    try:
        result = await db.execute(update(SessionRow).where(SessionRow.id == session_id).values(**changes))
    except IntegrityError as exc:
        raise _integrity(exc) from exc
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get(db: AsyncSession, instance_id: str, workspace_key: str, session_id: str) -> StoredSession | None:
    query = _scoped(select(SessionRow), instance_id, workspace_key).where(SessionRow.id == session_id)
    row = (await db.scalars(query)).one_or_none()
    return None if row is None else _stored(row)


async def get_by_id(db: AsyncSession, session_id: str) -> StoredSession | None:
    row = await db.get(SessionRow, session_id)
    return None if row is None else _stored(row)


async def get_with_kernel_state(
    db: AsyncSession, instance_id: str, workspace_key: str, session_id: str
) -> tuple[StoredSession, KernelState] | None:
    query = (
        _scoped(select(SessionRow, KernelRow.status, KernelRow.reason, KernelRow.node_id), instance_id, workspace_key)
        .outerjoin(KernelRow, KernelRow.id == SessionRow.kernel_id)
        .where(SessionRow.id == session_id)
    )
    row = (await db.execute(query)).one_or_none()
    return None if row is None else (_stored(row[0]), _kernel_state(row[1], row[2], row[3]))


async def get_by_path(db: AsyncSession, instance_id: str, workspace_key: str, path: str) -> StoredSession | None:
    query = _scoped(select(SessionRow), instance_id, workspace_key).where(SessionRow.path == path)
    row = (await db.scalars(query)).one_or_none()
    return None if row is None else _stored(row)


async def with_path(db: AsyncSession, instance_id: str, workspace_key: str) -> Sequence[StoredSession]:
    """Every session of the workspace that has a path (for rewriting paths after a rename)."""
    query = _scoped(select(SessionRow), instance_id, workspace_key).where(SessionRow.path.is_not(None))
    return [_stored(r) for r in (await db.scalars(query)).all()]


_PAGE_COLUMNS = (*(getattr(SessionRow, f) for f in _FIELDS), KernelRow.status, KernelRow.reason, KernelRow.node_id)
_KEYSET = tuple_(SessionRow.time_created, SessionRow.id)


def page_query(
    instance_id: str,
    workspace_key: str,
    *,
    path: str | None = None,
    cluster_id: str | None = None,
    agent_flow_key: str | None = None,
    after: tuple[datetime, str] | None = None,
    ascending: bool = False,
    limit: int = 100,
) -> tuple[Select[Any], dict[str, Any]]:
    """A keyset page in Core: a statement built once per shape, and its parameters. The cursor is a row-value
    comparison, `(time_created, id) < (?, ?)` (`>` when ascending), so SQLite and PostgreSQL both seek
    ix_sessions_scope_created straight to the page in either order, where `t < ? OR (t = ? AND id < ?)`
    read and skipped every earlier row."""
    params: dict[str, Any] = {"instance_id": instance_id, "workspace_key": workspace_key, "limit": limit}
    if path is not None:
        params["path"] = path
    if cluster_id is not None:
        params["cluster_id"] = cluster_id
    if agent_flow_key is not None:
        params["agent_flow_key"] = agent_flow_key
    if after is not None:
        params["after_time"], params["after_id"] = after
    shape = (path is not None, cluster_id is not None, agent_flow_key is not None, after is not None, ascending)
    return _page_statement(*shape), params


@functools.cache
def _page_statement(by_path: bool, by_cluster: bool, by_flow: bool, seek: bool, ascending: bool) -> Select[Any]:
    query = (
        select(*_PAGE_COLUMNS)
        .outerjoin(KernelRow, KernelRow.id == SessionRow.kernel_id)
        .where(
            SessionRow.instance_id == bindparam("instance_id"), SessionRow.workspace_key == bindparam("workspace_key")
        )
    )
    if by_path:
        query = query.where(SessionRow.path == bindparam("path"))
    if by_cluster:
        query = query.where(SessionRow.cluster_id == bindparam("cluster_id"))
    if by_flow:
        query = query.where(SessionRow.agent_flow_key == bindparam("agent_flow_key"))
    if seek:
        cursor = tuple_(
            bindparam("after_time", type_=SessionRow.time_created.type), bindparam("after_id", type_=String())
        )
        query = query.where(_KEYSET > cursor if ascending else _KEYSET < cursor)
    if ascending:
        query = query.order_by(SessionRow.time_created.asc(), SessionRow.id.asc())
    else:
        query = query.order_by(SessionRow.time_created.desc(), SessionRow.id.desc())
    return query.limit(bindparam("limit", type_=Integer()))


async def page(
    conn: AsyncConnection,
    instance_id: str,
    workspace_key: str,
    *,
    path: str | None,
    cluster_id: str | None,
    agent_flow_key: str | None,
    after: tuple[datetime, str] | None,
    ascending: bool,
    limit: int,
) -> Sequence[tuple[StoredSession, KernelState]]:
    """One indexed query: a page of sessions with their kernel's stored status, keyset-paginated."""
    query, params = page_query(
        instance_id,
        workspace_key,
        path=path,
        cluster_id=cluster_id,
        agent_flow_key=agent_flow_key,
        after=after,
        ascending=ascending,
        limit=limit,
    )
    count = len(_FIELDS)
    rows = (await conn.execute(query, params)).all()
    return [(StoredSession(*r[:count]), _kernel_state(r[count], r[count + 1], r[count + 2])) for r in rows]


async def sessions_using_kernel(db: AsyncSession, kernel_id: str) -> int:
    query = select(func.count()).select_from(SessionRow).where(SessionRow.kernel_id == kernel_id)
    return int((await db.execute(query)).scalar_one())


async def delete_session(db: AsyncSession, session_id: str) -> None:
    await db.execute(delete(SessionRow).where(SessionRow.id == session_id))
