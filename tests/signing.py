"""Sign requests exactly as the official SDK does (oci.signer on the vendored requests), for raw HTTP tests."""

from __future__ import annotations

import email.utils
from collections.abc import Generator
from dataclasses import dataclass

import httpx
from oci._vendor import requests as oci_requests
from oci.signer import AbstractBaseSigner


@dataclass
class WireRequest:
    """A signed request as it goes on the wire; tests may tamper with it before sending."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""


def sign(
    signer: AbstractBaseSigner,
    method: str,
    url: str,
    body: bytes | str | None = None,
    *,
    date: float | None = None,
    headers: dict[str, str] | None = None,
) -> WireRequest:
    """Prepare and sign like the SDK: `content-type: application/json` always, `date` now unless given."""
    sent = {"content-type": "application/json", "accept": "application/json", **(headers or {})}
    if date is not None:
        sent["date"] = email.utils.formatdate(date, usegmt=True)
    prepared = oci_requests.Request(method, url, headers=sent, data=body).prepare()
    signer(prepared)
    raw = prepared.body or b""
    return WireRequest(
        method=prepared.method,
        url=prepared.url,
        headers={k.lower(): v for k, v in prepared.headers.items()},
        body=raw.encode() if isinstance(raw, str) else raw,
    )


def build(client: httpx.Client | httpx.AsyncClient, wire: WireRequest) -> httpx.Request:
    """An httpx request carrying exactly the signed method, URL, headers and body."""
    request = client.build_request(wire.method, wire.url, content=wire.body or None)
    for name in list(request.headers):
        if name.lower() not in ("accept-encoding", "connection", "user-agent"):
            del request.headers[name]
    request.headers.update(wire.headers)
    if not wire.body and "content-length" not in wire.headers:
        request.headers.pop("content-length", None)
    return request


class OciAuth(httpx.Auth):
    """httpx auth that signs each request with an OCI signer (API key or session token)."""

    requires_request_body = True

    def __init__(self, signer: AbstractBaseSigner) -> None:
        self.signer = signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        wire = sign(self.signer, request.method, str(request.url), request.content or None)
        for name, value in wire.headers.items():
            request.headers[name] = value
        yield request
