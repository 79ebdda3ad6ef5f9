"""Forwarded requests: only a node holding the cluster secret can speak for a caller, for one request, to one
node, for a short while; everything else is refused, never treated as a client request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from nbplane.auth.authenticator import RequestFacts, authenticate_before_body
from nbplane.auth.forwarded import ForwardedAuthenticator, forward_headers
from nbplane.auth.keys import generate_rsa_keypair, load_private_key
from nbplane.auth.principal import Principal
from nbplane.errors import NotAuthenticatedError
from nbplane.nodes.signing import FORWARDED_FOR, FORWARDED_SIGNATURE, NODE_SUBJECT, NodeSigner, cluster_secret

USER = Principal(kind="user", tenancy_id="ocid1.tenancy..t", user_id="ocid1.user..u", workspace_scope=None, display="u")
TOKEN = Principal(
    kind="token", tenancy_id="ocid1.tenancy..t", user_id="ocid1.user..u", workspace_scope=("i", "ws"), display="t"
)
SECRET = cluster_secret(load_private_key(generate_rsa_keypair().private_pem))


def _facts(headers: dict[str, str], *, path: str = "/a/kernels/k/interrupt", body: bytes = b"") -> RequestFacts:
    return RequestFacts("POST", path, "x=1", headers, body)


def _signed(principal: Principal = USER, *, now: float = 1000.0, target: str = "b") -> dict[str, str]:
    return forward_headers(NodeSigner(SECRET, "a", clock=lambda: now), target, _facts({}), principal)


class Inner:
    cache = None  # an authenticator without an auth cache (the protocol's `cache`)

    def __init__(self) -> None:
        self.calls = 0

    async def authenticate(self, request: RequestFacts) -> Principal:
        self.calls += 1
        return Principal.anonymous()


def test_the_secret_is_derived_alike_from_one_key_and_differs_for_another() -> None:
    pem = generate_rsa_keypair().private_pem
    assert cluster_secret(load_private_key(pem)) == cluster_secret(load_private_key(pem))
    assert cluster_secret(load_private_key(pem)) != SECRET


@pytest.mark.parametrize("principal", [USER, TOKEN])
async def test_a_signed_request_carries_its_principal(principal: Principal) -> None:
    auth = ForwardedAuthenticator(Inner(), NodeSigner(SECRET, "b", clock=lambda: 1010.0))
    assert await auth.authenticate(_facts(_signed(principal))) == principal


@pytest.mark.parametrize(
    "case",
    [
        "other path",
        "other body",
        "other target",
        "stale",
        "forged principal",
        "no secret",
        "garbled",
        "a node's own call",
    ],
)
async def test_anything_else_is_refused(case: str) -> None:
    auth = ForwardedAuthenticator(Inner(), NodeSigner(SECRET, "b", clock=lambda: 1010.0))
    headers = _signed()
    facts = _facts(headers)
    if case == "other path":
        facts = _facts(headers, path="/a/kernels/other/interrupt")
    elif case == "other body":
        facts = _facts(headers, body=b"{}")
    elif case == "other target":
        facts = _facts(_signed(target="c"))
    elif case == "stale":
        facts = _facts(_signed(now=900.0))
    elif case == "forged principal":
        admin = forward_headers(NodeSigner(SECRET, "a"), "b", _facts({}), TOKEN)[FORWARDED_FOR]
        facts = _facts({**headers, FORWARDED_FOR: admin})
    elif case == "no secret":  # a client that knows the scheme but not the secret
        other = cluster_secret(load_private_key(generate_rsa_keypair().private_pem))
        facts = _facts(forward_headers(NodeSigner(other, "a", clock=lambda: 1000.0), "b", _facts({}), USER))
    elif case == "garbled":
        facts = _facts({**headers, FORWARDED_SIGNATURE: "soon.abc"})
    elif case == "a node's own call":  # signed, but on behalf of no caller
        own = NodeSigner(SECRET, "a", clock=lambda: 1000.0).headers(
            "b", "POST", "/a/kernels/k/interrupt", "x=1", b"", NODE_SUBJECT
        )
        facts = _facts(own)
    with pytest.raises(NotAuthenticatedError):
        await auth.authenticate(facts)


async def test_the_authenticator_judges_any_forwarding_header_as_forwarded_only() -> None:
    inner = Inner()
    auth = ForwardedAuthenticator(inner, NodeSigner(SECRET, "b", clock=lambda: 1010.0))
    assert await auth.authenticate(_facts(_signed())) == USER
    with pytest.raises(NotAuthenticatedError):
        await auth.authenticate(_facts({FORWARDED_FOR: _signed()[FORWARDED_FOR]}))
    assert inner.calls == 0
    assert await auth.authenticate(_facts({})) == Principal.anonymous()
    assert inner.calls == 1


async def test_screening_verifies_the_headers_before_the_body_is_read() -> None:
    """Issue 15's rule holds for forwarded requests too: a forged one never has its body read, and a body other
    than the one signed is refused once read."""
    auth = ForwardedAuthenticator(Inner(), NodeSigner(SECRET, "b", clock=lambda: 1010.0))
    reads: list[bytes] = []

    def reader(body: bytes) -> Callable[[], Awaitable[bytes]]:
        async def read() -> bytes:
            reads.append(body)
            return body

        return read

    assert await authenticate_before_body(auth, _facts(_signed()), reader(b"")) == USER
    assert reads == [b""]
    with pytest.raises(NotAuthenticatedError, match="not the one signed"):
        await authenticate_before_body(auth, _facts(_signed()), reader(b"{}"))
    reads.clear()
    forged = {**_signed(), FORWARDED_FOR: _signed(TOKEN)[FORWARDED_FOR]}
    with pytest.raises(NotAuthenticatedError, match="does not verify"):
        await authenticate_before_body(auth, _facts(forged), reader(b"[[[[["))
    assert reads == []  # refused from the headers: the body was never read
