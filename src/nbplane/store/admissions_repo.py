"""Kernel admissions: the atomic quota check of a kernel start (see `nbplane.kernels.quota`).

`admit` counts the running kernels plus the starts under way and records a new admission in one transaction.
SQLite serialises write transactions (`BEGIN IMMEDIATE`); on PostgreSQL a transaction-scoped advisory lock does
the same for admissions, so two concurrent starts cannot both see room for one more kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.store.tables import KernelAdmissionRow, KernelRow, KernelStatus

_ADVISORY_LOCK = 0x6E62_6B71  # "nbkq": one lock for all kernel admissions


@dataclass(frozen=True)
class KernelCounts:
    """Running kernels plus admitted starts: in all, in the workspace, and of the user."""

    total: int
    workspace: int
    user: int


async def lock(db: AsyncSession) -> None:
    """Serialise admissions until the transaction ends (a no-op on SQLite, whose writes are serial already)."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})


async def purge_stale(db: AsyncSession, older_than: datetime) -> None:
    await db.execute(delete(KernelAdmissionRow).where(KernelAdmissionRow.time_created < older_than))


async def counts(db: AsyncSession, instance_id: str, workspace_key: str, created_by: str) -> KernelCounts:
    totals = []
    for where_kernel, where_admission in (
        ((), ()),
        (
            (KernelRow.instance_id == instance_id, KernelRow.workspace_key == workspace_key),
            (KernelAdmissionRow.instance_id == instance_id, KernelAdmissionRow.workspace_key == workspace_key),
        ),
        ((KernelRow.created_by == created_by,), (KernelAdmissionRow.created_by == created_by,)),
    ):
        running = (
            select(func.count())
            .select_from(KernelRow)
            .where(KernelRow.status == KernelStatus.RUNNING.value, *where_kernel)
        )
        admitted = select(func.count()).select_from(KernelAdmissionRow).where(*where_admission)
        totals.append((await db.execute(running)).scalar_one() + (await db.execute(admitted)).scalar_one())
    return KernelCounts(*totals)


async def insert(
    db: AsyncSession, admission_id: str, instance_id: str, workspace_key: str, created_by: str, now: datetime
) -> None:
    db.add(
        KernelAdmissionRow(
            id=admission_id,
            instance_id=instance_id,
            workspace_key=workspace_key,
            created_by=created_by,
            time_created=now,
        )
    )
    await db.flush()


async def remove(db: AsyncSession, admission_id: str) -> None:
    await db.execute(delete(KernelAdmissionRow).where(KernelAdmissionRow.id == admission_id))
