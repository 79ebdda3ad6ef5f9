"""Tenancies, users, keys, instances and workspaces."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.store.tables import ApiKeyRow, InstanceRow, TenancyRow, UserRow, WorkspaceRow


async def get_tenancy(db: AsyncSession, tenancy_id: str) -> TenancyRow | None:
    return await db.get(TenancyRow, tenancy_id)


async def get_instance(db: AsyncSession, instance_id: str) -> InstanceRow | None:
    return await db.get(InstanceRow, instance_id)


async def get_workspace(db: AsyncSession, instance_id: str, key: str) -> WorkspaceRow | None:
    return await db.get(WorkspaceRow, (instance_id, key))


async def list_instances(db: AsyncSession) -> list[InstanceRow]:
    return list((await db.scalars(select(InstanceRow).order_by(InstanceRow.time_created))).all())


async def list_workspaces(db: AsyncSession, instance_id: str) -> list[WorkspaceRow]:
    query = select(WorkspaceRow).where(WorkspaceRow.instance_id == instance_id).order_by(WorkspaceRow.key)
    return list((await db.scalars(query)).all())


def add_tenancy(db: AsyncSession, tenancy_id: str, name: str) -> TenancyRow:
    row = TenancyRow(id=tenancy_id, name=name)
    db.add(row)
    return row


def add_user(db: AsyncSession, user_id: str, tenancy_id: str, name: str) -> UserRow:
    row = UserRow(id=user_id, tenancy_id=tenancy_id, name=name)
    db.add(row)
    return row


def add_api_key(db: AsyncSession, user_id: str, fingerprint: str, public_key_pem: str) -> ApiKeyRow:
    row = ApiKeyRow(user_id=user_id, fingerprint=fingerprint, public_key_pem=public_key_pem)
    db.add(row)
    return row


def add_instance(db: AsyncSession, instance_id: str, tenancy_id: str, display_name: str) -> InstanceRow:
    row = InstanceRow(id=instance_id, tenancy_id=tenancy_id, display_name=display_name)
    db.add(row)
    return row


def add_workspace(db: AsyncSession, instance_id: str, key: str, display_name: str) -> WorkspaceRow:
    row = WorkspaceRow(instance_id=instance_id, key=key, display_name=display_name)
    db.add(row)
    return row
