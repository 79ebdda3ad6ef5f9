"""Property: random Authorization headers, mangled signatures and random bodies never succeed and never 5xx."""

from __future__ import annotations

import base64
import email.utils
import time
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.signing import WireRequest, sign

from .conftest import SignedApp

_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)
_b64 = st.binary(min_size=0, max_size=300).map(lambda b: base64.b64encode(b).decode())
_key_ids = st.one_of(
    _text,
    st.just("ST$") | st.builds(lambda t: "ST$" + t, _text),
    st.builds(lambda a, b, c: f"{a}/{b}/{c}", _text, _text, _text),
    st.builds(lambda t: "ST$eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ." + t, _b64),
)
_signature_headers = st.builds(
    lambda alg, hdrs, key_id, sig, version: (
        f'Signature algorithm="{alg}",headers="{hdrs}",keyId="{key_id}",signature="{sig}",version="{version}"'
    ),
    st.sampled_from(["rsa-sha256", "RSA-SHA256", "hmac-sha256", "", "rsa-sha512"]),
    st.sampled_from(
        ["date (request-target) host", "date (request-target) host content-length content-type x-content-sha256", ""]
    )
    | _text,
    _key_ids,
    _b64,
    st.sampled_from(["1", "2", ""]),
)
_authorizations = st.one_of(
    st.none(),
    _text,
    _signature_headers,
    st.builds(lambda s, t: f"{s} {t}", st.sampled_from(["token", "Bearer", "bearer", "Basic", "Signature"]), _text),
    st.builds(lambda t: f"token nbp_{t}", _text),
)
_methods = st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"])
_bodies = st.one_of(st.just(b""), st.binary(max_size=200), st.just(b'{"path":"p.ipynb"}'))
_dates = st.one_of(
    st.none(),
    _text,
    st.floats(min_value=-1e6, max_value=1e6).map(lambda d: email.utils.formatdate(time.time() + d, usegmt=True)),
)

_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _assert_refused(status: int, text: str) -> None:
    assert status < 500, text
    assert not 200 <= status < 400, text


@_SETTINGS
@given(
    method=_methods,
    suffix=st.sampled_from(["", "/abc", "?limit=1"]),
    authorization=_authorizations,
    body=_bodies,
    date=_dates,
    digest=st.one_of(st.none(), _b64),
)
async def test_random_credentials_never_succeed(
    signed_app: SignedApp,
    method: str,
    suffix: str,
    authorization: str | None,
    body: bytes,
    date: str | None,
    digest: str | None,
) -> None:
    headers = {"content-type": "application/json", "host": "testserver"}
    for name, value in (("authorization", authorization), ("date", date), ("x-content-sha256", digest)):
        if value is not None:
            headers[name] = value
    wire = WireRequest(method, signed_app.sessions_url + suffix, headers, body)
    if body:
        wire.headers["content-length"] = str(len(body))
    response = await signed_app.send(wire)
    _assert_refused(response.status_code, response.text)
    assert signed_app.kernels.started == []


_mutations = st.sampled_from(["authorization", "date", "host", "path", "query", "body", "method"])


@_SETTINGS
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]), part=_mutations, noise=st.binary(min_size=1, max_size=8)
)
async def test_any_change_to_a_signed_part_is_refused(
    signed_app: SignedApp, method: str, part: str, noise: bytes
) -> None:
    body = '{"name":"n"}' if method in ("POST", "PATCH") else None
    url = signed_app.sessions_url + ("" if method == "POST" else "/abc") + "?a=1"
    wire = sign(signed_app.signer, method, url, body)
    text = base64.b64encode(noise).decode().rstrip("=") or "x"
    mutated = _mutate(wire, part, text)
    response = await signed_app.send(mutated)
    _assert_refused(response.status_code, f"{part}: {response.text}")
    assert signed_app.kernels.started == []


def _mutate(wire: WireRequest, part: str, text: str) -> WireRequest:
    headers = dict(wire.headers)
    if part == "authorization":
        auth = headers["authorization"]
        start = auth.index('signature="') + len('signature="')
        headers["authorization"] = auth[:start] + text + auth[start + len(text) :]
        if headers["authorization"] == auth:
            headers["authorization"] = auth[:start] + "A" + auth[start:]
        return replace(wire, headers=headers)
    if part == "date":
        headers["date"] = email.utils.formatdate(
            email.utils.parsedate_to_datetime(headers["date"]).timestamp() + 1, usegmt=True
        )
        return replace(wire, headers=headers)
    if part == "host":
        headers["host"] = "testserver" + text.lower()
        return replace(wire, headers=headers)
    if part == "path":
        return replace(wire, url=wire.url.replace("/sessions", "/sessions" + "/x" + text.replace("/", "_"), 1))
    if part == "query":
        return replace(wire, url=wire.url.replace("?a=1", "?a=1" + text.replace("&", "_").replace("#", "_")))
    if part == "body":
        body = wire.body + text.encode()
        headers["content-length"] = str(len(body))
        return replace(wire, body=body, headers=headers)
    return replace(wire, method={"GET": "DELETE", "DELETE": "GET", "POST": "PUT", "PATCH": "POST"}[wire.method])
