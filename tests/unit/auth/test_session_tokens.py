"""Session tokens: issue, verify, and every way a token can be bad."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from nbplane.auth.keys import key_fingerprint, public_key_pem
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.errors import InvalidInputError, NotAuthenticatedError

from ._helpers import NOW, TENANCY, USER, Keys


def issue(issuer: SessionTokenIssuer, keys: Keys, *, ttl: float = 3600, now: float = NOW) -> str:
    return issuer.issue(
        tenancy_id=TENANCY, user_id=USER, session_public_key_pem=keys.session.public_pem, ttl=ttl, now=now
    )


def test_round_trip(issuer: SessionTokenIssuer, keys: Keys) -> None:
    claims = issuer.verify(issue(issuer, keys), NOW + 10)
    assert (claims.tenancy_id, claims.user_id) == (TENANCY, USER)
    assert claims.public_key.public_numbers() == keys.session.public_key.public_numbers()
    assert claims.expires_at - claims.issued_at == 3600 and claims.token_id
    assert claims.principal.kind == "session" and claims.principal.key == f"{TENANCY}/{USER}"


def test_claims_have_the_oci_shape(issuer: SessionTokenIssuer, keys: Keys) -> None:
    token = issue(issuer, keys)
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"] == keys.server.fingerprint
    assert {"sub", "tenant", "jwk", "iat", "exp", "jti", "iss"} <= payload.keys()
    assert payload["jwk"]["kty"] == "RSA" and "d" not in payload["jwk"]


def test_each_token_is_unique(issuer: SessionTokenIssuer, keys: Keys) -> None:
    assert issue(issuer, keys) != issue(issuer, keys)


def test_expiry_is_exclusive(issuer: SessionTokenIssuer, keys: Keys) -> None:
    token = issue(issuer, keys, ttl=60)
    issuer.verify(token, NOW + 59)
    for late in (NOW + 60, NOW + 10_000):
        with pytest.raises(NotAuthenticatedError, match="session token has expired"):
            issuer.verify(token, late)


def test_not_valid_before_issue(issuer: SessionTokenIssuer, keys: Keys) -> None:
    token = issue(issuer, keys, now=NOW + 3600)
    with pytest.raises(NotAuthenticatedError, match="not valid yet"):
        issuer.verify(token, NOW)


def test_forged_by_another_server(keys: Keys, issuer: SessionTokenIssuer) -> None:
    forged = issue(SessionTokenIssuer(keys.other.private_key), keys)
    with pytest.raises(NotAuthenticatedError, match="not issued by this server"):
        issuer.verify(forged, NOW)


def test_forged_with_our_kid(keys: Keys, issuer: SessionTokenIssuer) -> None:
    claims = {
        "iss": "nbplane",
        "sub": USER,
        "tenant": TENANCY,
        "jwk": {},
        "iat": NOW,
        "exp": NOW + 60,
        "jti": "j",
    }
    forged = jwt.encode(claims, keys.other.private_key, algorithm="RS256", headers={"kid": keys.server.fingerprint})
    with pytest.raises(NotAuthenticatedError, match="session token is invalid"):
        issuer.verify(forged, NOW)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_algorithm_confusion(keys: Keys, issuer: SessionTokenIssuer, alg: str) -> None:
    header = {"alg": alg, "typ": "JWT", "kid": keys.server.fingerprint}
    claims = {"iss": "nbplane", "sub": USER, "tenant": TENANCY, "iat": NOW, "exp": NOW + 60, "jti": "j"}
    if alg == "none":
        token = f"{_b64(header)}.{_b64(claims)}."
    else:  # HMAC keyed with the server's public key, the classic RS/HS confusion
        import hashlib
        import hmac

        signing_input = f"{_b64(header)}.{_b64(claims)}"
        secret = public_key_pem(keys.server.public_key).encode()
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(NotAuthenticatedError, match="session token is invalid"):
        issuer.verify(token, NOW)


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampered(issuer: SessionTokenIssuer, keys: Keys, part: int) -> None:
    pieces = issue(issuer, keys).split(".")
    piece = pieces[part]
    pieces[part] = piece[:10] + ("A" if piece[10] != "A" else "B") + piece[11:]
    with pytest.raises(NotAuthenticatedError, match="session token"):
        issuer.verify(".".join(pieces), NOW)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "é.é.é", "x" * 9000, "..", "eyJ9.eyJ9.eyJ9"])
def test_garbage(issuer: SessionTokenIssuer, token: str) -> None:
    with pytest.raises(NotAuthenticatedError, match="session token"):
        issuer.verify(token, NOW)


def test_rotation_keeps_old_tokens_valid(keys: Keys) -> None:
    old = SessionTokenIssuer(keys.other.private_key)
    token = issue(old, keys)
    rotated = SessionTokenIssuer(keys.server.private_key, previous_public_keys=[keys.other.public_key])
    assert rotated.verify(token, NOW).user_id == USER
    assert jwt.get_unverified_header(issue(rotated, keys))["kid"] == key_fingerprint(keys.server.public_key)


def test_issuer_name_is_checked(keys: Keys) -> None:
    token = issue(SessionTokenIssuer(keys.server.private_key, issuer="other"), keys)
    with pytest.raises(NotAuthenticatedError, match="session token is invalid"):
        SessionTokenIssuer(keys.server.private_key).verify(token, NOW)


@pytest.mark.parametrize("ttl", [0, -1, 86_401])
def test_ttl_bounds(issuer: SessionTokenIssuer, keys: Keys, ttl: float) -> None:
    with pytest.raises(InvalidInputError, match="ttl"):
        issue(issuer, keys, ttl=ttl)


def test_session_key_must_be_a_public_key(issuer: SessionTokenIssuer, keys: Keys) -> None:
    with pytest.raises(InvalidInputError):
        issuer.issue(tenancy_id=TENANCY, user_id=USER, session_public_key_pem="nope", now=NOW)
