"""API tokens: minting, hashing, header parsing and authentication."""

from __future__ import annotations

import re

import pytest

from nbplane.auth import api_tokens
from nbplane.auth.api_tokens import StoredApiToken, authenticate_token, new_token, parse_token_authorization
from nbplane.errors import NotAuthenticatedError

from ._helpers import NOW, TENANCY, USER


def stored(plaintext: str, **changes: float | None) -> StoredApiToken:
    token_id = api_tokens.token_id_of(plaintext)
    assert token_id is not None
    return StoredApiToken(
        token_id=token_id,
        token_hash=api_tokens.hash_token(plaintext),
        tenancy_id=TENANCY,
        user_id=USER,
        instance_id="inst",
        workspace_key="ws1",
        **changes,  # type: ignore[arg-type]
    )


def test_new_token_shape() -> None:
    plaintext, token_id, token_hash = new_token()
    assert re.fullmatch(r"nbp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", plaintext)
    assert plaintext[0].isalpha() and api_tokens.token_id_of(plaintext) == token_id
    assert token_hash == api_tokens.hash_token(plaintext) and plaintext not in token_hash
    assert re.fullmatch(r"[0-9a-f]{64}", token_hash)
    assert new_token().plaintext != plaintext


def test_token_matches() -> None:
    token = new_token()
    assert api_tokens.token_matches(token.plaintext, token.token_hash)
    assert not api_tokens.token_matches(token.plaintext + "x", token.token_hash)
    assert not api_tokens.token_matches(token.plaintext, "é")


@pytest.mark.parametrize("value", ["", "nbp_", "nbp_xyz_abc", "ghp_0123456789abcdef_" + "a" * 43, "x" * 1000])
def test_token_id_of_rejects_foreign_strings(value: str) -> None:
    assert api_tokens.token_id_of(value) is None


@pytest.mark.parametrize("scheme", ["token", "Token", "TOKEN", "Bearer", "bearer", "BEARER"])
def test_parse_both_schemes(scheme: str) -> None:
    assert parse_token_authorization(f"{scheme} nbp_abc_def") == "nbp_abc_def"
    assert parse_token_authorization(f"  {scheme}   nbp_abc_def  ") == "nbp_abc_def"


@pytest.mark.parametrize("header", [None, "", "Signature keyId=x", "Basic dXNlcg==", "tokens x", "Bearerx y"])
def test_parse_other_schemes(header: str | None) -> None:
    assert parse_token_authorization(header) is None


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", "token a b", "Bearer " + "x" * 300])
def test_parse_malformed(header: str) -> None:
    with pytest.raises(NotAuthenticatedError, match="needs exactly one token"):
        parse_token_authorization(header)


def test_authenticate_gives_a_workspace_scoped_principal() -> None:
    token = new_token()
    principal = authenticate_token(token.plaintext, stored(token.plaintext), now=NOW)
    assert principal.kind == "token" and principal.workspace_scope == ("inst", "ws1")
    assert principal.key == f"{TENANCY}/{USER}" and token.plaintext not in principal.display


def test_authenticate_rejections() -> None:
    token = new_token()
    row = stored(token.plaintext)
    other = new_token().plaintext
    cases = [
        (token.plaintext, None, "unknown API token"),
        (other, row, "unknown API token"),
        (token.plaintext[:-1] + ("A" if token.plaintext[-1] != "A" else "B"), row, "unknown API token"),
        (token.plaintext, stored(token.plaintext, revoked_at=NOW - 1), "revoked"),
        (token.plaintext, stored(token.plaintext, expires_at=NOW), "expired"),
    ]
    for plaintext, record, match in cases:
        with pytest.raises(NotAuthenticatedError, match=match) as info:
            authenticate_token(plaintext, record, now=NOW)
        assert plaintext not in info.value.message
    assert authenticate_token(token.plaintext, stored(token.plaintext, expires_at=NOW + 1), now=NOW)
