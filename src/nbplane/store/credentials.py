"""Users' API signing keys and workspace API tokens: the rows authentication reads and admins write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nbplane.store.tables import ApiKeyRow, ApiTokenRow, AuthGenerationRow, InstanceRow, UserRow


async def get_user(db: AsyncSession, user_id: str) -> UserRow | None:
    return await db.get(UserRow, user_id)


async def list_users(db: AsyncSession, tenancy_id: str | None = None) -> list[UserRow]:
    query = select(UserRow).order_by(UserRow.time_created, UserRow.id)
    if tenancy_id is not None:
        query = query.where(UserRow.tenancy_id == tenancy_id)
    return list((await db.scalars(query)).all())


async def find_api_key_pem(db: AsyncSession, tenancy_id: str, user_id: str, fingerprint: str) -> str | None:
    """The PEM registered for keyId `tenancy/user/fingerprint` (fingerprint compared case-insensitively)."""
    query = (
        select(ApiKeyRow.public_key_pem)
        .join(UserRow, UserRow.id == ApiKeyRow.user_id)
        .where(
            ApiKeyRow.user_id == user_id,
            UserRow.tenancy_id == tenancy_id,
            func.lower(ApiKeyRow.fingerprint) == fingerprint.lower(),
        )
    )
    return (await db.scalars(query)).first()


async def list_api_keys(db: AsyncSession, user_id: str) -> list[ApiKeyRow]:
    query = select(ApiKeyRow).where(ApiKeyRow.user_id == user_id).order_by(ApiKeyRow.time_created)
    return list((await db.scalars(query)).all())


async def remove_api_key(db: AsyncSession, user_id: str, fingerprint: str) -> bool:
    """Delete a key; False if there was none."""
    result = await db.execute(
        delete(ApiKeyRow).where(ApiKeyRow.user_id == user_id, func.lower(ApiKeyRow.fingerprint) == fingerprint.lower())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def add_api_token(
    db: AsyncSession,
    *,
    token_id: str,
    token_hash: str,
    user_id: str,
    instance_id: str,
    workspace_key: str,
    created_by: str,
    expires_at: datetime | None,
    name: str | None = None,
) -> ApiTokenRow:
    row = ApiTokenRow(
        id=token_id,
        token_hash=token_hash,
        user_id=user_id,
        instance_id=instance_id,
        workspace_key=workspace_key,
        created_by=created_by,
        expires_at=expires_at,
        name=name,
    )
    db.add(row)
    return row


async def find_api_token(db: AsyncSession, token_id: str) -> tuple[ApiTokenRow, str] | None:
    """The token row with its instance's tenancy, or None."""
    query = select(ApiTokenRow, InstanceRow.tenancy_id).join(InstanceRow, InstanceRow.id == ApiTokenRow.instance_id)
    found = (await db.execute(query.where(ApiTokenRow.id == token_id))).first()
    return None if found is None else (found[0], found[1])


async def list_api_tokens(db: AsyncSession) -> list[ApiTokenRow]:
    return list((await db.scalars(select(ApiTokenRow).order_by(ApiTokenRow.time_created))).all())


async def revoke_api_token(db: AsyncSession, token_id: str, at: datetime) -> bool:
    """Mark a token revoked (idempotent: the first revocation time is kept); False if unknown."""
    row = await db.get(ApiTokenRow, token_id)
    if row is None:
        return False
    if row.revoked_at is None:
        await db.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(revoked_at=at))
    return True


# ---- hot-path lookups (Core, on a plain connection) -------------------------------------------------------------

_GENERATION = f"SELECT value FROM {AuthGenerationRow.__tablename__} WHERE id = 1"


async def auth_generation(conn: AsyncConnection) -> int:
    """The counter that triggers bump on every write to a credential or access table (migration 0011).
    Plain SQL: it runs on every request, and has nothing for SQLAlchemy to compile."""
    return int((await conn.exec_driver_sql(_GENERATION)).scalar_one())


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """An API token row with its instance's tenancy (the plaintext is never stored)."""

    token_id: str
    token_hash: str
    tenancy_id: str
    user_id: str
    instance_id: str
    workspace_key: str
    expires_at: datetime | None
    revoked_at: datetime | None


_TOKEN = (
    select(
        ApiTokenRow.id,
        ApiTokenRow.token_hash,
        InstanceRow.tenancy_id,
        ApiTokenRow.user_id,
        ApiTokenRow.instance_id,
        ApiTokenRow.workspace_key,
        ApiTokenRow.expires_at,
        ApiTokenRow.revoked_at,
    )
    .join(InstanceRow, InstanceRow.id == ApiTokenRow.instance_id)
    .where(ApiTokenRow.id == bindparam("token_id"))
)


async def token_facts(conn: AsyncConnection, token_id: str) -> TokenFacts | None:
    row = (await conn.execute(_TOKEN, {"token_id": token_id})).first()
    return None if row is None else TokenFacts(*row)


_KEY_PEM = (
    select(ApiKeyRow.public_key_pem)
    .join(UserRow, UserRow.id == ApiKeyRow.user_id)
    .where(
        ApiKeyRow.user_id == bindparam("user_id"),
        UserRow.tenancy_id == bindparam("tenancy_id"),
        func.lower(ApiKeyRow.fingerprint) == bindparam("fingerprint"),
    )
)


async def api_key_pem(conn: AsyncConnection, tenancy_id: str, user_id: str, fingerprint: str) -> str | None:
    """`find_api_key_pem` on a plain connection."""
    params = {"tenancy_id": tenancy_id, "user_id": user_id, "fingerprint": fingerprint.lower()}
    return (await conn.execute(_KEY_PEM, params)).scalars().first()


_USER_TENANCY = select(UserRow.tenancy_id).where(UserRow.id == bindparam("user_id"))


async def user_tenancy(conn: AsyncConnection, user_id: str) -> str | None:
    """The tenancy of a user, or None when the user does not exist."""
    return (await conn.execute(_USER_TENANCY, {"user_id": user_id})).scalars().first()
