"""Authentication: OCI request signatures, session tokens, API tokens, and per-principal rate limits."""

from nbplane.auth.api_tokens import (
    NewApiToken,
    StoredApiToken,
    authenticate_token,
    hash_token,
    new_token,
    parse_token_authorization,
    token_id_of,
    token_matches,
)
from nbplane.auth.keys import (
    RsaKeyPair,
    fingerprint,
    generate_rsa_keypair,
    key_fingerprint,
    load_private_key,
    load_public_key,
)
from nbplane.auth.principal import Principal, PrincipalKind
from nbplane.auth.ratelimit import TokenBucketLimiter
from nbplane.auth.resolver import ApiKey, KeyResolver, api_key_id
from nbplane.auth.session_tokens import SessionTokenClaims, SessionTokenIssuer
from nbplane.auth.signature import (
    AsyncKeyLookup,
    KeyLookup,
    ResolvedKey,
    SignatureParams,
    SignedRequest,
    VerifiedSignature,
    parse_authorization,
    verify_request,
    verify_request_async,
)

__all__ = [
    "ApiKey",
    "AsyncKeyLookup",
    "KeyLookup",
    "KeyResolver",
    "NewApiToken",
    "Principal",
    "PrincipalKind",
    "ResolvedKey",
    "RsaKeyPair",
    "SessionTokenClaims",
    "SessionTokenIssuer",
    "SignatureParams",
    "SignedRequest",
    "StoredApiToken",
    "TokenBucketLimiter",
    "VerifiedSignature",
    "api_key_id",
    "authenticate_token",
    "fingerprint",
    "generate_rsa_keypair",
    "hash_token",
    "key_fingerprint",
    "load_private_key",
    "load_public_key",
    "new_token",
    "parse_authorization",
    "parse_token_authorization",
    "token_id_of",
    "token_matches",
    "verify_request",
    "verify_request_async",
]
