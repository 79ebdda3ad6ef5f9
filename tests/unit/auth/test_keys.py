"""Key loading, OCI fingerprints and JWK conversion."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from nbplane.auth import keys as keys_mod
from nbplane.errors import InvalidInputError

from ._helpers import Keys

# Public test key; its fingerprint was computed with
# `openssl rsa -pubin -outform DER | openssl md5 -c`, independently of nbplane.
KNOWN_PUBLIC_PEM = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3yOls/QUqD0C1J6mtDoK
geU4ggOoVxVUnXT8fyX7yxrJiqB1XITq0NHhvQbageLB/bL6/4lp5u5kOXhs0Ipq
2m62sovP2014L4ta06VRXb7tRT6s2L4840rNG1GPx62wWqNeC2+3otq3UcIsavnG
U5JpU2WF0CbFA2qCAZNP/YO9LSEF+8+NxUCKPtz9DQYjjVFRxbpHFYLGKTFZOs3f
b2an3cQ41Y4QVwsVl+XYnvvSGaDuwe9z/X74uxzEatkTC8QsyE/O9bnIAgut8s+K
bEMfhmNpnNMJ1xyo6jsxuf7kUwy4CKGPYUm71S+x0C6YVmpBcT6o90BerOFAu++F
GQIDAQAB
-----END PUBLIC KEY-----
"""
KNOWN_FINGERPRINT = "35:54:f5:68:f2:b9:14:27:37:5d:df:c6:2f:7a:47:08"


def test_fingerprint_known_answer() -> None:
    assert keys_mod.fingerprint(KNOWN_PUBLIC_PEM) == KNOWN_FINGERPRINT
    assert keys_mod.fingerprint(KNOWN_PUBLIC_PEM.encode()) == KNOWN_FINGERPRINT


def test_generated_pair_round_trips(keys: Keys) -> None:
    pair = keys.user
    assert re.fullmatch(r"([0-9a-f]{2}:){15}[0-9a-f]{2}", pair.fingerprint)
    assert keys_mod.fingerprint(pair.public_pem) == pair.fingerprint
    assert keys_mod.load_private_key(pair.private_pem).private_numbers() == pair.private_key.private_numbers()
    assert pair.public_key.key_size == 2048


@pytest.mark.parametrize(
    "pem",
    ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"],
)
def test_load_public_key_rejects_garbage(pem: str) -> None:
    with pytest.raises(InvalidInputError, match="not a PEM public key"):
        keys_mod.load_public_key(pem)


def test_private_key_is_not_a_public_key(keys: Keys) -> None:
    with pytest.raises(InvalidInputError):
        keys_mod.load_public_key(keys.user.private_pem)


def test_small_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidInputError, match="at least 2048"):
        keys_mod.load_public_key(keys_mod.public_key_pem(small.public_key()))
    with pytest.raises(ValueError):
        keys_mod.generate_rsa_keypair(1024)


def test_encrypted_private_key() -> None:
    from cryptography.hazmat.primitives import serialization

    pair = keys_mod.generate_rsa_keypair()
    pem = pair.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    assert keys_mod.load_private_key(pem, "s3cret").key_size == 2048
    with pytest.raises(InvalidInputError, match="wrong passphrase") as info:
        keys_mod.load_private_key(pem, "wrong")
    assert "s3cret" not in str(info.value) and "BEGIN" not in str(info.value)


def test_jwk_round_trip(keys: Keys) -> None:
    jwk = keys_mod.public_key_to_jwk(keys.session.public_key)
    assert jwk["kty"] == "RSA" and jwk["kid"] == keys.session.fingerprint and "d" not in jwk
    back = keys_mod.public_key_from_jwk(jwk)
    assert back.public_numbers() == keys.session.public_key.public_numbers()


@pytest.mark.parametrize(
    "jwk",
    [
        None,
        "x",
        {},
        {"kty": "EC"},
        {"kty": "RSA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "n": 1},
    ],
)
def test_jwk_rejects_garbage(jwk: object) -> None:
    with pytest.raises(InvalidInputError):
        keys_mod.public_key_from_jwk(jwk)
