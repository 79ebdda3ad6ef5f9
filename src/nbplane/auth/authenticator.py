"""The authentication seam: turn the facts of a request into a Principal, or refuse it.

`SignatureAuthenticator` is the production one: OCI request signatures by API keys (`tenancy/user/fingerprint`)
or nbplane session tokens (`ST$<token>`), and workspace API tokens (`token <t>` / `Bearer <t>`).
`RateLimitedAuthenticator` charges each verified principal against a token bucket.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncConnection

from nbplane.auth import api_tokens, keys
from nbplane.auth.cache import AuthCache
from nbplane.auth.principal import Principal
from nbplane.auth.ratelimit import TokenBucketLimiter
from nbplane.auth.resolver import SESSION_TOKEN_PREFIX
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.auth.signature import (
    MAX_SKEW_S,
    ResolvedKey,
    SignedRequest,
    check_signed_body,
    verify_request_async,
)
from nbplane.errors import InvalidInputError, NotAuthenticatedError
from nbplane.store import credentials
from nbplane.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestFacts:
    """What authentication may look at, independent of the web framework.
    `raw_path` and `query_string` are exactly as received (undecoded); repeated headers are joined with ", "."""

    method: str
    raw_path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def from_asgi(cls, scope: Mapping[str, object], body: bytes) -> RequestFacts:
        """From an ASGI HTTP or websocket scope (uses `raw_path`, so `%2F` stays `%2F`)."""
        signed = SignedRequest.from_asgi(scope, body)
        raw_path, query = signed.raw_path, signed.query_string
        return cls(
            method=signed.method,
            raw_path=raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path,
            query_string=query.decode("latin-1") if isinstance(query, bytes) else query,
            headers=signed.headers,
            body=body,
        )


@dataclass(frozen=True)
class Screened:
    """A caller authenticated from the request's headers. `check_body`, when set, must pass on the body once it
    is read (a signature covers the body through its signed content-length and x-content-sha256)."""

    principal: Principal
    check_body: Callable[[bytes], None] | None = None


class Authenticator(Protocol):
    @property
    def cache(self) -> AuthCache | None:
        """The cache this authenticator refreshes at the start of each request (authorisation reads it too)."""
        ...

    async def authenticate(self, request: RequestFacts) -> Principal:
        """Return the verified caller; raise NotAuthenticatedError when it cannot be established."""
        ...


class ScreeningAuthenticator(Authenticator, Protocol):
    async def screen(self, request: RequestFacts) -> Screened:
        """Authenticate from the headers alone (`request.body` is not looked at), before the body is read."""
        ...


async def authenticate_before_body(
    authenticator: Authenticator, request: RequestFacts, read_body: Callable[[], Awaitable[bytes]]
) -> Principal:
    """Authenticate `request` (its body ignored) before `read_body` is awaited, then check the body against the
    signature if it covers one. So an unauthenticated caller never has its body read or parsed. Authenticators
    without `screen` (test doubles) are given the body as before."""
    screen = getattr(authenticator, "screen", None)
    if screen is None:
        return await authenticator.authenticate(replace(request, body=await read_body()))
    screened: Screened = await screen(request)
    if screened.check_body is not None:
        screened.check_body(await read_body())
    return screened.principal


class OpenAuthenticator:
    """Accepts every request as the anonymous principal (loopback development only)."""

    cache: AuthCache | None = None

    async def authenticate(self, request: RequestFacts) -> Principal:
        return Principal.anonymous()

    async def screen(self, request: RequestFacts) -> Screened:
        return Screened(Principal.anonymous())


@functools.lru_cache(maxsize=1024)
def _public_key(pem: str) -> rsa.RSAPublicKey:
    return keys.load_public_key(pem)


class SignatureAuthenticator:
    """Verifies OCI signatures and API tokens against the keys and tokens in the database.

    Rows are cached in an `AuthCache` that is checked against the database's auth generation at the start
    of every request, so removing a key or revoking a token takes effect on the next request, in this
    server and in every other server on the same database.
    """

    def __init__(
        self,
        db: Database,
        session_tokens: SessionTokenIssuer,
        *,
        clock: Callable[[], float] = time.time,
        max_skew: float = MAX_SKEW_S,
        cache: AuthCache | None = None,
    ) -> None:
        self._db = db
        self._session_tokens = session_tokens
        self._clock = clock
        self._max_skew = max_skew
        self.cache = cache or AuthCache(db)

    async def authenticate(self, request: RequestFacts) -> Principal:
        screened = await self.screen(request)
        if screened.check_body is not None:
            screened.check_body(request.body)
        return screened.principal

    async def screen(self, request: RequestFacts) -> Screened:
        now = self._clock()
        try:
            signed = SignedRequest(
                method=request.method,
                raw_path=request.raw_path,
                query_string=request.query_string,
                headers=request.headers,
                body=request.body,
            )
            token = api_tokens.parse_token_authorization(signed.header("authorization"))
            await self.cache.refresh()
            if token is not None:
                return Screened(await self._api_token(token, now))
            verified = await verify_request_async(
                signed, public_key_lookup=self._lookup, now=now, max_skew=self._max_skew, check_body=False
            )
        except NotAuthenticatedError as exc:
            self._log_failure(request, exc)
            raise

        def check_body(body: bytes) -> None:
            try:
                check_signed_body(replace(signed, body=body), verified.signed_headers)
            except NotAuthenticatedError as exc:
                self._log_failure(request, exc)
                raise

        return Screened(verified.principal, check_body)

    @staticmethod
    def _log_failure(request: RequestFacts, exc: NotAuthenticatedError) -> None:
        # The message never carries key material, tokens or signatures; keyIds may (ST$…), so none is logged.
        log.info("authentication failed: %s %s: %s", request.method, request.raw_path[:200], exc.message)

    async def _api_token(self, token: str, now: float) -> Principal:
        token_id = api_tokens.token_id_of(token)
        if token_id is None:
            raise NotAuthenticatedError("unknown API token")
        stored = await self.cache.lookup("token", token_id, functools.partial(_load_token, token_id=token_id))
        return api_tokens.authenticate_token(token, stored, now=now)

    async def _lookup(self, key_id: str, now: float) -> ResolvedKey | None:
        if key_id.startswith(SESSION_TOKEN_PREFIX):
            claims = self._session_tokens.verify(key_id[len(SESSION_TOKEN_PREFIX) :], now)
            tenancy = await self.cache.lookup(
                "user", claims.user_id, functools.partial(credentials.user_tenancy, user_id=claims.user_id)
            )
            if tenancy is None or tenancy != claims.tenancy_id:
                raise NotAuthenticatedError("the session token's user no longer exists")
            return ResolvedKey(claims.public_key, claims.principal)
        parts = key_id.split("/")
        if len(parts) != 3 or not all(parts):
            raise NotAuthenticatedError("keyId must be tenancy/user/fingerprint or ST$<session token>")
        tenancy_id, user_id, fingerprint = parts
        found = await self.cache.lookup(
            "key",
            (tenancy_id, user_id, fingerprint.lower()),
            functools.partial(_load_key, tenancy_id=tenancy_id, user_id=user_id, fingerprint=fingerprint),
        )
        if found is None:
            return None
        public_key, principal = found
        return ResolvedKey(public_key, principal)


async def _load_token(conn: AsyncConnection, *, token_id: str) -> api_tokens.StoredApiToken | None:
    row = await credentials.token_facts(conn, token_id)
    if row is None:
        return None
    return api_tokens.StoredApiToken(
        token_id=row.token_id,
        token_hash=row.token_hash,
        tenancy_id=row.tenancy_id,
        user_id=row.user_id,
        instance_id=row.instance_id,
        workspace_key=row.workspace_key,
        expires_at=_timestamp(row.expires_at),
        revoked_at=_timestamp(row.revoked_at),
    )


def _timestamp(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


async def _load_key(
    conn: AsyncConnection, *, tenancy_id: str, user_id: str, fingerprint: str
) -> tuple[rsa.RSAPublicKey, Principal] | None:
    pem = await credentials.api_key_pem(conn, tenancy_id, user_id, fingerprint)
    if pem is None:
        return None
    try:
        public_key = _public_key(pem)
    except InvalidInputError:
        log.warning("API key %s of user %s is not a usable RSA public key", fingerprint, user_id)
        return None
    principal = Principal(kind="user", tenancy_id=tenancy_id, user_id=user_id, workspace_scope=None, display=user_id)
    return public_key, principal


class RateLimitedAuthenticator:
    """Authenticates with `inner`, then spends one request of the principal's budget (429 when empty)."""

    def __init__(self, inner: ScreeningAuthenticator, limiter: TokenBucketLimiter) -> None:
        self._inner = inner
        self._limiter = limiter

    @property
    def cache(self) -> AuthCache | None:
        return self._inner.cache

    async def authenticate(self, request: RequestFacts) -> Principal:
        principal = await self._inner.authenticate(request)
        self._limiter.check(principal.key)
        return principal

    async def screen(self, request: RequestFacts) -> Screened:
        """Charged before the body is read: a caller over its budget never has its body read."""
        screened = await self._inner.screen(request)  # type: ignore[attr-defined]
        self._limiter.check(screened.principal.key)
        return screened
