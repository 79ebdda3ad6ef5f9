"""Node rows (`nbplane.nodes` is their only caller): registration, lease renewal, and the nodes whose
lease ran out. Rows leave as `StoredNode` values."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.store.tables import NodeRow


@dataclass(frozen=True)
class StoredNode:
    id: str
    address: str | None
    started: datetime
    heartbeat: datetime
    lease_expires: datetime


def _stored(row: NodeRow) -> StoredNode:
    return StoredNode(row.id, row.address, row.started, row.heartbeat, row.lease_expires)


async def register(
    db: AsyncSession, node_id: str, address: str | None, *, now: datetime, lease_until: datetime
) -> None:
    """Record (or re-record, after a restart) a node as started now with a fresh lease."""
    values = {"address": address, "started": now, "heartbeat": now, "lease_expires": lease_until}
    result = await db.execute(update(NodeRow).where(NodeRow.id == node_id).values(**values))
    if result.rowcount:  # type: ignore[attr-defined]
        return
    db.add(NodeRow(id=node_id, **values))
    await db.flush()


async def renew(db: AsyncSession, node_id: str, *, now: datetime, lease_until: datetime) -> datetime | None:
    """Extend a node's lease; returns the expiry it had (None when the row is gone)."""
    previous = await db.scalar(select(NodeRow.lease_expires).where(NodeRow.id == node_id))
    if previous is None:
        return None
    await db.execute(update(NodeRow).where(NodeRow.id == node_id).values(heartbeat=now, lease_expires=lease_until))
    return previous


async def get(db: AsyncSession, node_id: str) -> StoredNode | None:
    row = await db.get(NodeRow, node_id)
    return None if row is None else _stored(row)


async def get_many(db: AsyncSession, node_ids: Collection[str]) -> dict[str, StoredNode]:
    if not node_ids:
        return {}
    rows = (await db.scalars(select(NodeRow).where(NodeRow.id.in_(list(node_ids))))).all()
    return {row.id: _stored(row) for row in rows}


async def expired_before(db: AsyncSession, cutoff: datetime, *, exclude: str) -> list[StoredNode]:
    """Nodes (other than `exclude`) whose lease ended before `cutoff`."""
    query = select(NodeRow).where(NodeRow.lease_expires < cutoff, NodeRow.id != exclude)
    return [_stored(row) for row in (await db.scalars(query)).all()]


async def list_all(db: AsyncSession) -> list[StoredNode]:
    """Every node ever registered, most recently started first."""
    return [_stored(row) for row in (await db.scalars(select(NodeRow).order_by(NodeRow.started.desc()))).all()]
