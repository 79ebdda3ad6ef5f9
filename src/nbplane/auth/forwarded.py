"""Forwarded requests: a request one server received for a kernel another server runs is sent on to that
server on behalf of the caller it already authenticated (`nbplane.nodes.signing` signs it).

The owning server accepts the caller only if the signature checks, the request is addressed to it and the
timestamp is fresh. A client cannot forge one without the cluster secret, and a forwarded request is
authorised again on the owning server (the principal's tenancy, grants and API-token scope apply there as
everywhere).
"""

from __future__ import annotations

import base64
import json
from functools import partial

from nbplane.auth.authenticator import Authenticator, RequestFacts, Screened, authenticate_before_body
from nbplane.auth.cache import AuthCache
from nbplane.auth.principal import Principal
from nbplane.errors import NotAuthenticatedError
from nbplane.nodes.signing import HEADERS, NodeSigner, check_digest, is_signed

__all__ = ["HEADERS", "ForwardedAuthenticator", "decode_principal", "encode_principal", "forward_headers"]


def encode_principal(principal: Principal) -> str:
    data = {
        "kind": principal.kind,
        "tenancy_id": principal.tenancy_id,
        "user_id": principal.user_id,
        "workspace_scope": list(principal.workspace_scope) if principal.workspace_scope else None,
        "display": principal.display,
    }
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def decode_principal(text: str) -> Principal:
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


def forward_headers(signer: NodeSigner, target_node: str, facts: RequestFacts, principal: Principal) -> dict[str, str]:
    """The headers that make `facts` (as it will reach `target_node`) a request on behalf of `principal`."""
    return signer.headers(
        target_node, facts.method, facts.raw_path, facts.query_string, facts.body, encode_principal(principal)
    )


class ForwardedAuthenticator:
    """Accepts requests another node forwarded; everything else goes to `inner`. A request with any
    forwarding header is judged as forwarded only: a bad one is refused, never retried as a client request."""

    def __init__(self, inner: Authenticator, signer: NodeSigner) -> None:
        self._inner = inner
        self._signer = signer

    @property
    def cache(self) -> AuthCache | None:
        return self._inner.cache

    async def authenticate(self, request: RequestFacts) -> Principal:
        if is_signed(request.headers):
            subject = self._signer.verify(
                request.method, request.raw_path, request.query_string, request.body, request.headers
            )
            principal = decode_principal(subject)
            if self.cache is not None:  # authorisation reads the cache: current as of this request, here too
                await self.cache.refresh()
            return principal
        return await self._inner.authenticate(request)

    async def screen(self, request: RequestFacts) -> Screened:
        """From the headers alone, like the inner authenticator's: the body is checked against the signed digest
        once read, so a forged forwarded request never has its body parsed."""
        if is_signed(request.headers):
            subject, digest = self._signer.verify_headers(
                request.method, request.raw_path, request.query_string, request.headers
            )
            principal = decode_principal(subject)
            if self.cache is not None:  # authorisation reads the cache: current as of this request, here too
                await self.cache.refresh()
            return Screened(principal, check_body=partial(check_digest, digest))

        async def no_body() -> bytes:
            return b""

        inner = getattr(self._inner, "screen", None)
        if inner is not None:
            return await inner(request)
        return Screened(await authenticate_before_body(self._inner, request, no_body))
