"""`opc-retry-token` records: the first response to a create is replayed for the token's lifetime.

A record is claimed (state "pending") before the work runs, so two concurrent requests with one token
run the work once; the second waits for the first and replays its response.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nbplane.errors import AlreadyExistsError, ConflictError, InvalidatedRetryTokenError, InvalidInputError
from nbplane.store import retry_tokens_repo
from nbplane.store.db import Database

_TOKEN = re.compile(r"^[\x21-\x7e]{1,64}$")


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: str
    etag: str | None
    resource_id: str | None


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


def validate_token(token: str) -> str:
    if not _TOKEN.match(token):
        raise InvalidInputError("opc-retry-token must be 1 to 64 printable ASCII characters without spaces.")
    return token


class RetryTokens:
    def __init__(self, db: Database, ttl: timedelta, *, wait_timeout: float = 120.0) -> None:
        self._db = db
        self._ttl = ttl
        self._wait_timeout = wait_timeout

    async def claim(
        self,
        scope: str,
        token: str,
        fingerprint: str,
        resource_exists: Callable[[str], Awaitable[bool]],
    ) -> StoredResponse | None:
        """None: the caller owns the token and must `complete` or `release` it.
        A StoredResponse: replay it. Raises ConflictError for a different request under the same token
        and InvalidatedRetryTokenError when the resource it created is gone."""
        validate_token(token)
        deadline = asyncio.get_running_loop().time() + self._wait_timeout
        while True:
            now = datetime.now(UTC)
            try:
                async with self._db.write() as db:
                    row = await retry_tokens_repo.get(db, scope, token)
                    if row is None or row.expires_at <= now:
                        await retry_tokens_repo.claim(db, scope, token, fingerprint, now + self._ttl)
                        return None
                    if row.request_hash != fingerprint:
                        raise ConflictError(
                            "This opc-retry-token was already used for a different request; use a new token."
                        )
                    if row.state == "done" and row.status_code is not None:
                        stored = StoredResponse(row.status_code, row.body or "", row.etag, row.resource_id)
                    else:
                        stored = None
            except AlreadyExistsError:
                continue  # a concurrent request claimed it first; look again
            if stored is not None:
                if stored.resource_id and not await resource_exists(stored.resource_id):
                    raise InvalidatedRetryTokenError(
                        "The resource created with this opc-retry-token no longer exists; use a new token."
                    )
                return stored
            if asyncio.get_running_loop().time() > deadline:
                raise ConflictError("A request with this opc-retry-token is still in progress.")
            await asyncio.sleep(0.05)

    async def complete(self, scope: str, token: str, response: StoredResponse) -> None:
        async with self._db.write() as db:
            await retry_tokens_repo.complete(
                db,
                scope,
                token,
                status_code=response.status_code,
                body=response.body,
                etag=response.etag,
                resource_id=response.resource_id,
            )

    async def release(self, scope: str, token: str) -> None:
        """Forget a pending claim whose work failed, so a retry runs the work again."""
        async with self._db.write() as db:
            await retry_tokens_repo.release_pending(db, scope, token)

    async def purge_expired(self) -> None:
        async with self._db.write() as db:
            await retry_tokens_repo.purge_expired(db, datetime.now(UTC))
