"""Node-to-node forwarding: a request one server received for a kernel another server runs is sent on to that
server on behalf of the caller it already authenticated.

The forwarding server signs, with an HMAC under the cluster secret, the target node, itself, a timestamp, the
request (method, raw path, query, body digest) and the principal it verified; the owning server accepts the
principal only if the signature checks, the request is addressed to it, and the timestamp is fresh. A client
cannot forge one without the secret, and a forwarded request is authorised again on the owning server (the
principal's tenancy, grants and API-token scope apply there as everywhere).

The cluster secret is derived from the session-token signing key (`<data-dir>/keys/session_signing_key.pem`),
which servers sharing one database must share anyway: one secret to distribute and to rotate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nbplane.auth.authenticator import Authenticator, RequestFacts
from nbplane.auth.principal import Principal
from nbplane.errors import NotAuthenticatedError

FORWARDED_BY = "x-nbplane-forwarded-by"
FORWARDED_FOR = "x-nbplane-forwarded-for"
FORWARDED_SIGNATURE = "x-nbplane-forwarded-signature"
HEADERS = (FORWARDED_BY, FORWARDED_FOR, FORWARDED_SIGNATURE)
MAX_SKEW_S = 60.0
_CONTEXT = b"nbplane node forwarding v1"


def cluster_secret(signing_key: rsa.RSAPrivateKey) -> bytes:
    """A 32-byte secret every server holding the same signing key derives alike (and nobody else can)."""
    der = signing_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return hmac.new(der, _CONTEXT, hashlib.sha256).digest()


def _encode_principal(principal: Principal) -> str:
    data = {
        "kind": principal.kind,
        "tenancy_id": principal.tenancy_id,
        "user_id": principal.user_id,
        "workspace_scope": list(principal.workspace_scope) if principal.workspace_scope else None,
        "display": principal.display,
    }
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _decode_principal(text: str) -> Principal:
    try:
        data = json.loads(base64.urlsafe_b64decode(text.encode()))
        scope = data["workspace_scope"]
        return Principal(
            kind=data["kind"],
            tenancy_id=data["tenancy_id"],
            user_id=data["user_id"],
            workspace_scope=(scope[0], scope[1]) if scope else None,
            display=data["display"],
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise NotAuthenticatedError("the forwarded principal is malformed") from exc


class ForwardSigner:
    """Signs and verifies forwarded requests for one node."""

    def __init__(self, secret: bytes, node_id: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._node_id = node_id
        self._clock = clock

    def _mac(self, target: str, origin: str, stamp: str, facts: RequestFacts, principal_text: str) -> str:
        parts = [
            _CONTEXT.decode(),
            target,
            origin,
            stamp,
            facts.method.upper(),
            facts.raw_path,
            facts.query_string,
            principal_text,
            hashlib.sha256(facts.body).hexdigest(),
        ]
        return hmac.new(self._secret, "\n".join(parts).encode(), hashlib.sha256).hexdigest()

    def headers(self, target_node: str, facts: RequestFacts, principal: Principal) -> dict[str, str]:
        """The headers that make `facts` (as it will reach `target_node`) a request on behalf of `principal`."""
        stamp = str(int(self._clock()))
        principal_text = _encode_principal(principal)
        mac = self._mac(target_node, self._node_id, stamp, facts, principal_text)
        return {FORWARDED_BY: self._node_id, FORWARDED_FOR: principal_text, FORWARDED_SIGNATURE: f"{stamp}.{mac}"}

    def verify(self, facts: RequestFacts) -> Principal:
        """The principal a forwarded request carries; NotAuthenticatedError unless its signature is valid,
        fresh and addressed to this node."""
        origin = facts.headers.get(FORWARDED_BY, "")
        principal_text = facts.headers.get(FORWARDED_FOR, "")
        stamp, _, mac = facts.headers.get(FORWARDED_SIGNATURE, "").partition(".")
        if not origin or not principal_text or not stamp or not mac:
            raise NotAuthenticatedError("a forwarded request needs all three x-nbplane-forwarded-* headers")
        try:
            skew = abs(self._clock() - int(stamp))
        except ValueError as exc:
            raise NotAuthenticatedError("the forwarded request's timestamp is malformed") from exc
        if skew > MAX_SKEW_S:
            raise NotAuthenticatedError("the forwarded request is too old (or the servers' clocks disagree)")
        expected = self._mac(self._node_id, origin, stamp, facts, principal_text)
        if not hmac.compare_digest(expected, mac):
            raise NotAuthenticatedError("the forwarded request's signature does not verify")
        return _decode_principal(principal_text)


def is_forwarded(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in HEADERS)


class ForwardedAuthenticator:
    """Accepts requests another node forwarded (see the module doc); everything else goes to `inner`. A
    request with any forwarding header is judged as forwarded only: a bad one is refused, never retried as
    a client request."""

    def __init__(self, inner: Authenticator, signer: ForwardSigner) -> None:
        self._inner = inner
        self._signer = signer

    async def authenticate(self, request: RequestFacts) -> Principal:
        if is_forwarded(request.headers):
            return self._signer.verify(request)
        return await self._inner.authenticate(request)
