"""Authentication comes before the body: an unauthenticated caller's body is never read or parsed (a malformed
or hostile body is a 401, not a 400 or 500), while a signature still covers the body it was made over."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.signing import sign

from .conftest import SignedApp

MALFORMED = b'{"path": "a.ipynb",'
DEEP = b"[" * 960 + b"]" * 960


@pytest.mark.parametrize("body", [MALFORMED, DEEP, b"[1, 2]"], ids=["malformed", "deep", "not-an-object"])
@pytest.mark.parametrize(
    "authorization", [None, "token nbp_not-a-real-token", "Signature keyId=x"], ids=["none", "bad-token", "bad-sig"]
)
async def test_unauthenticated_bad_body_is_401(signed_app: SignedApp, body: bytes, authorization: str | None) -> None:
    headers = {"content-type": "application/json"}
    if authorization:
        headers["authorization"] = authorization
    response = await signed_app.client.post(signed_app.sessions_url, content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "NotAuthenticated"
    assert await signed_app.session_count() == 0


async def _call_without_reading(signed_app: SignedApp, method: str, url: str, headers: dict[str, str]) -> int:
    """Send a request whose body the app must never ask for; returns the status."""
    parts = urlsplit(url)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "server": ("testserver", 443),
        "client": ("127.0.0.1", 50000),
    }
    read = []
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        read.append(True)
        return {"type": "http.request", "body": MALFORMED, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await signed_app.app(scope, receive, send)
    assert not read, "the body was read before the caller was authenticated"
    return status[0]


async def test_body_is_not_read_before_authentication(signed_app: SignedApp) -> None:
    headers = {"content-type": "application/json", "content-length": str(len(MALFORMED))}
    assert await _call_without_reading(signed_app, "POST", signed_app.sessions_url, headers) == 401
    bad_token = {**headers, "authorization": "token nbp_nope"}
    assert await _call_without_reading(signed_app, "POST", signed_app.sessions_url, bad_token) == 401


async def test_signed_malformed_body_is_400_after_authentication(signed_app: SignedApp) -> None:
    response = await signed_app.send(sign(signed_app.signer, "POST", signed_app.sessions_url, MALFORMED))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "CannotParseRequest"
    response = await signed_app.send(sign(signed_app.signer, "POST", signed_app.sessions_url, DEEP))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameter"


async def test_signature_still_covers_the_body_read_after_screening(signed_app: SignedApp) -> None:
    body = json.dumps({"path": "a.ipynb", "type": "notebook"})
    wire = sign(signed_app.signer, "POST", signed_app.sessions_url, body)
    swapped = body.replace("a.ipynb", "b.ipynb").encode()
    tampered = await signed_app.send(type(wire)(wire.method, wire.url, wire.headers, swapped))
    assert tampered.status_code == 401, tampered.text
    assert "x-content-sha256 does not match" in tampered.json()["message"]
    assert await signed_app.session_count() == 0
    ok = await signed_app.send(wire)
    assert ok.status_code == 201, ok.text


async def test_the_openapi_document_needs_authentication(signed_app: SignedApp) -> None:
    refused = await signed_app.client.get("/openapi.json")
    assert refused.status_code == 401 and refused.json()["code"] == "NotAuthenticated"
    assert (await signed_app.client.get("/docs")).status_code == 404  # no interactive docs are served
    served = await signed_app.send(sign(signed_app.signer, "GET", "https://testserver/openapi.json"))
    assert served.status_code == 200 and served.json()["openapi"].startswith("3.")
