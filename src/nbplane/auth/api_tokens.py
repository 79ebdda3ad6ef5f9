"""API tokens for clients that cannot sign: `nbp_<id>_<secret>`, shown once, stored as a SHA-256 hash.

The id part is a lookup key and not secret; the hash covers the whole token. Tokens carry 256 random bits,
so an unsalted fast hash is enough (a password hash would only slow every request down).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import NamedTuple

from nbplane.auth.principal import Principal
from nbplane.errors import NotAuthenticatedError

PREFIX = "nbp"
MAX_TOKEN_LEN = 256
_TOKEN = re.compile(r"nbp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_SCHEMES = frozenset({"token", "bearer"})


class NewApiToken(NamedTuple):
    """A freshly minted token: show `plaintext` once, store `token_id` and `token_hash`."""

    plaintext: str
    token_id: str
    token_hash: str


def new_token() -> NewApiToken:
    """Mint a token: `nbp_` + 16 hex id + `_` + 43 url-safe characters of secret."""
    token_id = secrets.token_hex(8)
    plaintext = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    return NewApiToken(plaintext, token_id, hash_token(plaintext))


def hash_token(plaintext: str) -> str:
    """Hex SHA-256 of the whole token, the only form that is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def token_matches(plaintext: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(hash_token(plaintext).encode("ascii"), stored_hash.encode("ascii", "replace"))


def token_id_of(plaintext: str) -> str | None:
    """The lookup id of a well-formed token, or None if it cannot be one of ours."""
    match = _TOKEN.fullmatch(plaintext) if len(plaintext) <= MAX_TOKEN_LEN else None
    return match.group(1) if match else None


def parse_token_authorization(header: str | None) -> str | None:
    """The token from `token <t>` or `Bearer <t>` (scheme case-insensitive); None for other schemes.

    Raises NotAuthenticatedError when the scheme is token/Bearer but no single token follows it.
    """
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in _SCHEMES:
        return None
    value = rest.strip()
    if not value or len(value) > MAX_TOKEN_LEN or any(c.isspace() for c in value):
        raise NotAuthenticatedError(f"{scheme} authorization needs exactly one token")
    return value


@dataclass(frozen=True, slots=True)
class StoredApiToken:
    """An API token row as the store keeps it (never the plaintext)."""

    token_id: str
    token_hash: str
    tenancy_id: str
    user_id: str
    instance_id: str
    workspace_key: str
    expires_at: float | None = None
    revoked_at: float | None = None

    @property
    def principal(self) -> Principal:
        return Principal(
            kind="token",
            tenancy_id=self.tenancy_id,
            user_id=self.user_id,
            workspace_scope=(self.instance_id, self.workspace_key),
            display=f"{self.user_id} (token {self.token_id})",
        )


def authenticate_token(plaintext: str, stored: StoredApiToken | None, *, now: float) -> Principal:
    """Check a presented token against its stored row (looked up by `token_id_of`).

    Raises NotAuthenticatedError for unknown, mismatched, revoked or expired tokens.
    """
    if stored is None or token_id_of(plaintext) != stored.token_id or not token_matches(plaintext, stored.token_hash):
        raise NotAuthenticatedError("unknown API token")
    if stored.revoked_at is not None and stored.revoked_at <= now:
        raise NotAuthenticatedError("API token has been revoked")
    if stored.expires_at is not None and stored.expires_at <= now:
        raise NotAuthenticatedError("API token has expired")
    return stored.principal
