"""Tenancies, users, keys and instances (workspaces: `workspaces_repo`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.store.tables import ApiKeyRow, InstanceRow, TenancyRow, UserRow


async def get_tenancy(db: AsyncSession, tenancy_id: str) -> TenancyRow | None:
    return await db.get(TenancyRow, tenancy_id)


async def get_instance(db: AsyncSession, instance_id: str) -> InstanceRow | None:
    return await db.get(InstanceRow, instance_id)


async def list_instances(db: AsyncSession) -> list[InstanceRow]:
    return list((await db.scalars(select(InstanceRow).order_by(InstanceRow.time_created))).all())


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
