"""Property: whatever arrives, verification fails with NotAuthenticatedError and nothing else."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from nbplane.auth.resolver import ApiKey, KeyResolver
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.auth.signature import SignedRequest, verify_request
from nbplane.errors import NotAuthenticatedError

from ._helpers import HOST, NOW, TENANCY, USER, Keys, http_date

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
METHODS = st.sampled_from(["GET", "HEAD", "DELETE", "POST", "PUT", "PATCH"] * 3 + ["OPTIONS", "get", ""])
HEADER_NAMES = st.sampled_from(
    ["date", "x-date", "(request-target)", "host", "content-length", "content-type", "x-content-sha256",
     "(created)", "digest", "DATE", "Host", ""]
)  # fmt: skip
PARAM_NAMES = st.sampled_from(["algorithm", "headers", "keyId", "signature", "version", "created", "keyid", "x"])


@pytest.fixture(scope="module")
def world(keys: Keys) -> tuple[KeyResolver, str]:
    issuer = SessionTokenIssuer(keys.server.private_key)
    token = issuer.issue(tenancy_id=TENANCY, user_id=USER, session_public_key_pem=keys.session.public_pem, now=NOW)
    resolver = KeyResolver([ApiKey(TENANCY, USER, keys.user.public_key)], session_tokens=issuer)
    return resolver, token


@st.composite
def key_ids(draw: st.DrawFn, token: str, api_key_id: str) -> str:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return api_key_id
    if choice == 1:
        return "ST$" + token
    if choice == 2:
        cut = draw(st.integers(0, len(token) - 1))
        return "ST$" + token[:cut] + draw(st.text(max_size=3)) + token[cut + 1 :]
    if choice == 3:
        return "ST$" + draw(st.text(max_size=40))
    return draw(st.text(max_size=60))


FULL_HEADERS = "date (request-target) host content-length content-type x-content-sha256"


@st.composite
def signature_headers(draw: st.DrawFn, token: str, api_key_id: str) -> str:
    """Mostly well-formed headers with a few random mutations, so every check gets exercised."""
    params = {
        "algorithm": "rsa-sha256",
        "headers": draw(st.sampled_from([FULL_HEADERS, "date (request-target) host"])),
        "keyId": draw(key_ids(token, api_key_id)),
        "signature": base64.b64encode(draw(st.binary(min_size=250, max_size=260))).decode(),
        "version": "1",
    }
    mutated = {
        "algorithm": st.sampled_from(["RSA-SHA256", "hmac-sha256", ""]) | st.text(max_size=10),
        "headers": st.lists(HEADER_NAMES, max_size=8).map(" ".join),
        "keyId": st.text(max_size=20),
        "signature": st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=40),
        "version": st.sampled_from(["2", ""]),
    }
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(mutated)))
        action = draw(st.sampled_from(["drop", "change"]))
        if action == "drop":
            params.pop(name, None)
        else:
            params[name] = draw(mutated[name])
    parts = [f'{name}="{value}"' for name, value in params.items()]
    if draw(st.integers(0, 9)) == 0:
        parts.append(draw(st.sampled_from(['keyId="x"', "created=12", 'x="', "=", ""])))
    scheme = draw(st.sampled_from(["Signature"] * 8 + ["signature", "Bearer"]))
    return f"{scheme} {','.join(parts)}"


@st.composite
def requests_(draw: st.DrawFn, token: str, api_key_id: str) -> SignedRequest:
    body = draw(st.binary(max_size=64))
    authorization = draw(st.one_of(signature_headers(token, api_key_id), st.text(max_size=200)))
    headers = {
        "authorization": authorization,
        "date": draw(st.sampled_from([http_date(NOW)] * 4 + [http_date(NOW - 400)]) | st.text(max_size=30)),
        "host": HOST,
        "content-type": "application/json",
    }
    if draw(st.integers(0, 4)):
        headers["content-length"] = str(len(body))
        headers["x-content-sha256"] = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if not draw(st.integers(0, 4)):
        headers["x-date"] = draw(st.text(max_size=30))
    return SignedRequest(
        method=draw(METHODS),
        raw_path=draw(st.just(b"/20260430/x") | st.binary(max_size=40) | st.text(max_size=40)),
        query_string=draw(st.binary(max_size=20) | st.text(max_size=20)),
        headers=headers,
        body=body,
    )


@given(data=st.data())
@SETTINGS
def test_random_requests_never_verify(world: tuple[KeyResolver, str], keys: Keys, data: st.DataObject) -> None:
    resolver, token = world
    api_key_id = f"{TENANCY}/{USER}/{keys.user.fingerprint}"
    request = data.draw(requests_(token, api_key_id))
    with pytest.raises(NotAuthenticatedError) as info:
        verify_request(request, public_key_lookup=resolver, now=NOW)
    event(re.sub(r"\d+", "N", info.value.message))


@given(authorization=st.text(max_size=500), body=st.binary(max_size=200))
@SETTINGS
def test_arbitrary_authorization_text(world: tuple[KeyResolver, str], authorization: str, body: bytes) -> None:
    resolver, _ = world
    request = SignedRequest("POST", b"/x", b"", {"authorization": authorization, "host": HOST}, body)
    with pytest.raises(NotAuthenticatedError):
        verify_request(request, public_key_lookup=resolver, now=NOW)


@given(data=st.data())
@SETTINGS
def test_mangled_session_tokens_are_rejected(world: tuple[KeyResolver, str], data: st.DataObject) -> None:
    resolver, token = world
    cut = data.draw(st.integers(0, len(token) - 1))
    mangled = data.draw(
        st.one_of(
            st.just(token[:cut] + token[cut + 1 :]),
            st.text(max_size=3).filter(lambda t: t != token[cut]).map(lambda t: token[:cut] + t + token[cut + 1 :]),
            st.text(max_size=100),
        )
    )
    # Base64 can spell the same bytes twice (unused low bits); such a token is not a tampered one.
    assume(_segments(mangled) != _segments(token))
    with pytest.raises(NotAuthenticatedError):
        resolver("ST$" + mangled, NOW)


def _segments(token: str) -> list[bytes] | None:
    try:
        return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]
    except ValueError:
        return None
