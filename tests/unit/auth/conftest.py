"""Fixtures for auth tests: throwaway keys, a key resolver, and the official OCI signers."""

from __future__ import annotations

from pathlib import Path

import pytest
from oci.auth.signers import SecurityTokenSigner
from oci.signer import Signer

from nbplane.auth.keys import generate_rsa_keypair
from nbplane.auth.resolver import ApiKey, KeyResolver
from nbplane.auth.session_tokens import SessionTokenIssuer

from ._helpers import NOW, TENANCY, USER, Keys


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(*(generate_rsa_keypair() for _ in range(4)))


@pytest.fixture
def issuer(keys: Keys) -> SessionTokenIssuer:
    return SessionTokenIssuer(keys.server.private_key)


@pytest.fixture
def resolver(keys: Keys, issuer: SessionTokenIssuer) -> KeyResolver:
    return KeyResolver([ApiKey(TENANCY, USER, keys.user.public_key)], session_tokens=issuer)


@pytest.fixture
def session_token(keys: Keys, issuer: SessionTokenIssuer) -> str:
    return issuer.issue(
        tenancy_id=TENANCY,
        user_id=USER,
        session_public_key_pem=keys.session.public_pem,
        ttl=3600,
        now=NOW - 60,
    )


@pytest.fixture
def api_key_signer(keys: Keys, tmp_path: Path) -> Signer:
    key_file = tmp_path / "user_key.pem"
    key_file.write_text(keys.user.private_pem)
    return Signer(TENANCY, USER, keys.user.fingerprint, private_key_file_location=str(key_file))


@pytest.fixture
def token_signer(keys: Keys, session_token: str) -> SecurityTokenSigner:
    return SecurityTokenSigner(session_token, keys.session.private_key)
