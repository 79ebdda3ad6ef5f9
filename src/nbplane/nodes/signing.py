"""Signatures between nodes: an HMAC under the cluster secret over the target node, the signing node, a
timestamp, the request (method, raw path, query, body digest) and a subject (what the request is on behalf
of: a caller's principal, encoded by `nbplane.auth.forwarded`, or `NODE_SUBJECT` for a node's own calls).

The cluster secret is derived from the session-token signing key (`<data-dir>/keys/session_signing_key.pem`),
which servers sharing one database must share anyway: one secret to distribute and to rotate.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nbplane.errors import NotAuthenticatedError

FORWARDED_BY = "x-nbplane-forwarded-by"
FORWARDED_FOR = "x-nbplane-forwarded-for"
FORWARDED_SIGNATURE = "x-nbplane-forwarded-signature"
HEADERS = (FORWARDED_BY, FORWARDED_FOR, FORWARDED_SIGNATURE)
NODE_SUBJECT = "node"
"""The subject of a node's own calls to another node (never a caller's principal)."""
MAX_SKEW_S = 60.0
_CONTEXT = b"nbplane node forwarding v1"


def cluster_secret(signing_key: rsa.RSAPrivateKey) -> bytes:
    """A 32-byte secret every server holding the same signing key derives alike (and nobody else can)."""
    der = signing_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return hmac.new(der, _CONTEXT, hashlib.sha256).digest()


def is_signed(headers: Mapping[str, str]) -> bool:
    """Whether a request carries any node-signature header (keys lower-cased)."""
    return any(name in headers for name in HEADERS)


class NodeSigner:
    """Signs requests to other nodes and verifies requests signed for this one."""

    def __init__(self, secret: bytes, node_id: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._node_id = node_id
        self._clock = clock

    def _mac(self, target: str, origin: str, stamp: str, request: tuple[str, str, str, bytes], subject: str) -> str:
        method, raw_path, query, body = request
        parts = [_CONTEXT.decode(), target, origin, stamp, method.upper(), raw_path, query, subject]
        parts.append(hashlib.sha256(body).hexdigest())
        return hmac.new(self._secret, "\n".join(parts).encode(), hashlib.sha256).hexdigest()

    def headers(
        self, target_node: str, method: str, raw_path: str, query: str, body: bytes, subject: str
    ) -> dict[str, str]:
        """The headers that sign this request, as it will reach `target_node`, on behalf of `subject`."""
        stamp = str(int(self._clock()))
        mac = self._mac(target_node, self._node_id, stamp, (method, raw_path, query, body), subject)
        return {FORWARDED_BY: self._node_id, FORWARDED_FOR: subject, FORWARDED_SIGNATURE: f"{stamp}.{mac}"}

    def verify(self, method: str, raw_path: str, query: str, body: bytes, headers: Mapping[str, str]) -> str:
        """The subject of a request signed for this node (header keys lower-cased); NotAuthenticatedError
        unless its signature is valid, fresh and addressed to this node."""
        origin = headers.get(FORWARDED_BY, "")
        subject = headers.get(FORWARDED_FOR, "")
        stamp, _, mac = headers.get(FORWARDED_SIGNATURE, "").partition(".")
        if not origin or not subject or not stamp or not mac:
            raise NotAuthenticatedError("a forwarded request needs all three x-nbplane-forwarded-* headers")
        try:
            skew = abs(self._clock() - int(stamp))
        except ValueError as exc:
            raise NotAuthenticatedError("the forwarded request's timestamp is malformed") from exc
        if skew > MAX_SKEW_S:
            raise NotAuthenticatedError("the forwarded request is too old (or the servers' clocks disagree)")
        expected = self._mac(self._node_id, origin, stamp, (method, raw_path, query, body), subject)
        if not hmac.compare_digest(expected, mac):
            raise NotAuthenticatedError("the forwarded request's signature does not verify")
        return subject
