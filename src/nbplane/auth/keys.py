"""RSA key helpers: PEM loading, OCI-style fingerprints, JWK conversion and key generation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from nbplane.errors import InvalidInputError

MIN_RSA_BITS = 2048


def _check_size(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> None:
    if key.key_size < MIN_RSA_BITS:
        raise InvalidInputError(f"RSA key is {key.key_size} bits; at least {MIN_RSA_BITS} are required")


def _as_bytes(pem: str | bytes) -> bytes:
    return pem.encode("ascii", "replace") if isinstance(pem, str) else pem


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key (PEM SubjectPublicKeyInfo or PKCS#1); raises InvalidInputError."""
    try:
        key = serialization.load_pem_public_key(_as_bytes(pem).strip())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInputError("not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidInputError("only RSA public keys are supported")
    _check_size(key)
    return key


def load_private_key(pem: str | bytes, passphrase: str | bytes | None = None) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM; raises InvalidInputError (never echoing key material)."""
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        key = serialization.load_pem_private_key(_as_bytes(pem).strip(), password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInputError("not a PEM private key, or wrong passphrase") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInputError("only RSA private keys are supported")
    _check_size(key)
    return key


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    """PEM SubjectPublicKeyInfo, the format OCI asks users to upload."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """Unencrypted PKCS#8 PEM, as `oci setup keys` writes without a passphrase."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def key_fingerprint(key: rsa.RSAPublicKey) -> str:
    """OCI fingerprint: colon-separated lower-case MD5 hex of the DER SubjectPublicKeyInfo."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.md5(der, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def fingerprint(public_pem: str | bytes) -> str:
    """OCI fingerprint of a PEM public key, e.g. `89:f4:83:…` (16 colon-separated bytes)."""
    return key_fingerprint(load_public_key(public_pem))


def public_key_to_jwk(key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The public key as a JWK dict (`kty`, `n`, `e`), with `kid` set to its OCI fingerprint."""
    jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"], "kid": key_fingerprint(key)}


def public_key_from_jwk(jwk: object) -> rsa.RSAPublicKey:
    """Load an RSA public JWK; raises InvalidInputError for anything else (including private JWKs)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or "d" in jwk:
        raise InvalidInputError("not an RSA public JWK")
    try:
        key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": jwk.get("n"), "e": jwk.get("e")})
    except Exception as exc:  # PyJWT raises several types for malformed members
        raise InvalidInputError("not an RSA public JWK") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidInputError("not an RSA public JWK")
    _check_size(key)
    return key


@dataclass(frozen=True, slots=True)
class RsaKeyPair:
    """A generated key pair with its PEM forms and OCI fingerprint."""

    private_key: rsa.RSAPrivateKey

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @property
    def private_pem(self) -> str:
        return private_key_pem(self.private_key)

    @property
    def public_pem(self) -> str:
        return public_key_pem(self.public_key)

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_key)


def generate_rsa_keypair(bits: int = 2048) -> RsaKeyPair:
    """A fresh RSA key pair (public exponent 65537), like `oci setup keys`."""
    if bits < MIN_RSA_BITS:
        raise ValueError(f"bits must be at least {MIN_RSA_BITS}")
    return RsaKeyPair(rsa.generate_private_key(public_exponent=65537, key_size=bits))
