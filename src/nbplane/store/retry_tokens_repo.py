"""`opc-retry-token` rows: claim, complete, release, purge. A concurrent claim of the same token leaves as
`AlreadyExistsError`; rows leave as `StoredRetryToken` values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.errors import AlreadyExistsError
from nbplane.store.tables import RetryTokenRow


@dataclass(frozen=True)
class StoredRetryToken:
    request_hash: str
    state: str
    status_code: int | None
    body: str | None
    etag: str | None
    resource_id: str | None
    expires_at: datetime


async def get(db: AsyncSession, scope: str, token: str) -> StoredRetryToken | None:
    row = await db.get(RetryTokenRow, (scope, token))
    if row is None:
        return None
    return StoredRetryToken(
        row.request_hash, row.state, row.status_code, row.body, row.etag, row.resource_id, row.expires_at
    )


async def claim(db: AsyncSession, scope: str, token: str, request_hash: str, expires_at: datetime) -> None:
    """Insert a pending claim, replacing an expired row. AlreadyExistsError when another request claimed it."""
    existing = await db.get(RetryTokenRow, (scope, token))
    if existing is not None:
        await db.delete(existing)
        await db.flush()
    db.add(RetryTokenRow(scope=scope, token=token, request_hash=request_hash, state="pending", expires_at=expires_at))
    try:
        await db.flush()
    except IntegrityError as exc:
        raise AlreadyExistsError("the retry token was claimed concurrently") from exc


async def complete(
    db: AsyncSession, scope: str, token: str, *, status_code: int, body: str, etag: str | None, resource_id: str | None
) -> None:
    row = await db.get(RetryTokenRow, (scope, token))
    if row is not None:
        row.state = "done"
        row.status_code = status_code
        row.body = body
        row.etag = etag
        row.resource_id = resource_id


async def release_pending(db: AsyncSession, scope: str, token: str) -> None:
    await db.execute(
        delete(RetryTokenRow).where(
            RetryTokenRow.scope == scope, RetryTokenRow.token == token, RetryTokenRow.state == "pending"
        )
    )


async def purge_expired(db: AsyncSession, now: datetime) -> None:
    await db.execute(delete(RetryTokenRow).where(RetryTokenRow.expires_at <= now))
