"""Resolves a signature's keyId: `tenancy/user/fingerprint` API keys and `ST$<token>` session tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from nbplane.auth import keys
from nbplane.auth.principal import Principal
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.auth.signature import ResolvedKey

SESSION_TOKEN_PREFIX = "ST$"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A user's uploaded API signing key."""

    tenancy_id: str
    user_id: str
    public_key: rsa.RSAPublicKey

    @property
    def fingerprint(self) -> str:
        return keys.key_fingerprint(self.public_key)

    @property
    def key_id(self) -> str:
        """The keyId the SDK sends for this key: `<tenancy>/<user>/<fingerprint>`."""
        return f"{self.tenancy_id}/{self.user_id}/{self.fingerprint}"


def api_key_id(tenancy_id: str, user_id: str, fingerprint: str) -> str:
    """Canonical keyId; the fingerprint is compared case-insensitively, as users copy it by hand."""
    return f"{tenancy_id}/{user_id}/{fingerprint.lower()}"


class KeyResolver:
    """A `KeyLookup` over an in-memory table of API keys and, optionally, a session-token issuer.

    Call it as `resolver(key_id, now)`. Unknown keyIds give None; a bad session token raises
    NotAuthenticatedError saying what was wrong with it.
    """

    def __init__(self, api_keys: Iterable[ApiKey] = (), session_tokens: SessionTokenIssuer | None = None) -> None:
        self._api_keys: dict[str, ResolvedKey] = {}
        self._session_tokens = session_tokens
        for key in api_keys:
            self.add(key)

    def add(self, key: ApiKey) -> None:
        """Register (or replace) an API key."""
        principal = Principal(
            kind="user",
            tenancy_id=key.tenancy_id,
            user_id=key.user_id,
            workspace_scope=None,
            display=key.user_id,
        )
        self._api_keys[api_key_id(key.tenancy_id, key.user_id, key.fingerprint)] = ResolvedKey(
            key.public_key, principal
        )

    def remove(self, key_id: str) -> None:
        """Forget an API key; unknown keyIds are ignored."""
        self._api_keys.pop(self._canonical(key_id) or key_id, None)

    def __call__(self, key_id: str, now: float) -> ResolvedKey | None:
        if key_id.startswith(SESSION_TOKEN_PREFIX):
            if self._session_tokens is None:
                return None
            claims = self._session_tokens.verify(key_id[len(SESSION_TOKEN_PREFIX) :], now)
            return ResolvedKey(claims.public_key, claims.principal)
        canonical = self._canonical(key_id)
        return self._api_keys.get(canonical) if canonical else None

    @staticmethod
    def _canonical(key_id: str) -> str | None:
        parts = key_id.split("/")
        if len(parts) != 3 or not all(parts):
            return None
        return api_key_id(*parts)
