"""Session tokens: short-lived RS256 JWTs issued by nbplane and bound to a session public key.

A client signs requests with `keyId="ST$<token>"` and the private half of the key in the token's `jwk` claim,
which is the shape OCI's own session tokens have.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from nbplane.auth import keys
from nbplane.auth.principal import Principal
from nbplane.errors import InvalidInputError, NotAuthenticatedError

DEFAULT_TTL_S = 3600.0
MAX_TOKEN_LEN = 8 * 1024
_ISSUED_AT_LEEWAY_S = 60.0
_REQUIRED_CLAIMS = ["sub", "tenant", "jwk", "iat", "exp", "jti", "iss"]


@dataclass(frozen=True, slots=True)
class SessionTokenClaims:
    """The verified contents of a session token."""

    token_id: str
    tenancy_id: str
    user_id: str
    public_key: rsa.RSAPublicKey
    issued_at: float
    expires_at: float

    @property
    def principal(self) -> Principal:
        return Principal(
            kind="session",
            tenancy_id=self.tenancy_id,
            user_id=self.user_id,
            workspace_scope=None,
            display=f"{self.user_id} (session)",
        )


class SessionTokenIssuer:
    """Issues and verifies session tokens with one server signing key.

    `previous_public_keys` keeps tokens signed by a rotated-out key valid until they expire.
    """

    def __init__(
        self,
        signing_private_key: rsa.RSAPrivateKey,
        *,
        issuer: str = "nbplane",
        max_ttl: float = 24 * 3600.0,
        previous_public_keys: Sequence[rsa.RSAPublicKey] = (),
    ) -> None:
        if signing_private_key.key_size < keys.MIN_RSA_BITS:
            raise ValueError(f"the signing key must have at least {keys.MIN_RSA_BITS} bits")
        self._private_key = signing_private_key
        self._kid = keys.key_fingerprint(signing_private_key.public_key())
        self._verification_keys = {self._kid: signing_private_key.public_key()}
        for key in previous_public_keys:
            self._verification_keys.setdefault(keys.key_fingerprint(key), key)
        self._issuer = issuer
        self._max_ttl = max_ttl

    def issue(
        self,
        *,
        tenancy_id: str,
        user_id: str,
        session_public_key_pem: str | bytes,
        ttl: float = DEFAULT_TTL_S,
        now: float | None = None,
    ) -> str:
        """A token for `user_id` in `tenancy_id`, bound to the given session public key.

        Raises InvalidInputError if the key is not an RSA public key of at least 2048 bits.
        """
        if not 0 < ttl <= self._max_ttl:
            raise InvalidInputError(f"ttl must be between 0 and {self._max_ttl:g} s")
        if not tenancy_id or not user_id:
            raise InvalidInputError("tenancy_id and user_id are required")
        session_key = keys.load_public_key(session_public_key_pem)
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": user_id,
            "tenant": tenancy_id,
            "jwk": keys.public_key_to_jwk(session_key),
            "iat": issued,
            "exp": issued + int(ttl),
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self._kid})

    def verify(self, token: str, now: float) -> SessionTokenClaims:
        """Verify signature, issuer and lifetime; raises NotAuthenticatedError on any problem."""
        if not token or len(token) > MAX_TOKEN_LEN or not token.isascii():
            raise NotAuthenticatedError("session token is malformed")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except (jwt.PyJWTError, ValueError, TypeError):
            raise NotAuthenticatedError("session token is malformed") from None
        key = self._verification_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise NotAuthenticatedError("session token was not issued by this server")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self._issuer,
                # Lifetime is checked below against the injected clock, not PyJWT's.
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise NotAuthenticatedError("session token is invalid") from None
        return self._claims(claims, now)

    def _claims(self, claims: dict[str, Any], now: float) -> SessionTokenClaims:
        sub, tenant, jti = (_text(claims, name) for name in ("sub", "tenant", "jti"))
        iat, exp = _number(claims, "iat"), _number(claims, "exp")
        if now >= exp:
            raise NotAuthenticatedError("session token has expired")
        if iat > now + _ISSUED_AT_LEEWAY_S:
            raise NotAuthenticatedError("session token is not valid yet")
        try:
            public_key = keys.public_key_from_jwk(claims.get("jwk"))
        except InvalidInputError:
            raise NotAuthenticatedError("session token carries no usable public key") from None
        return SessionTokenClaims(
            token_id=jti, tenancy_id=tenant, user_id=sub, public_key=public_key, issued_at=iat, expires_at=exp
        )


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise NotAuthenticatedError("session token is invalid")
    return value


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NotAuthenticatedError("session token is invalid")
    try:
        number = float(value)
    except OverflowError:
        raise NotAuthenticatedError("session token is invalid") from None
    if not math.isfinite(number):
        raise NotAuthenticatedError("session token is invalid")
    return number
