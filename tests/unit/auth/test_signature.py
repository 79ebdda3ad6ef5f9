"""Signature verification against requests signed by the official `oci` signers."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re

import pytest
from oci.auth.signers import SecurityTokenSigner
from oci.signer import AbstractBaseSigner, Signer

from nbplane.auth.resolver import KeyResolver
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.auth.signature import (
    ResolvedKey,
    SignedRequest,
    parse_authorization,
    verify_request,
    verify_request_async,
)
from nbplane.errors import NotAuthenticatedError

from ._helpers import HOST, NOW, TENANCY, USER, WS, Keys, http_date, sign

BODY = json.dumps({"path": "Workspace/a.ipynb", "name": "a", "type": "notebook", "kernel": {"name": "python3"}})

ACCEPTED = [
    ("GET", f"{WS}/sessions?limit=2&page=abc&sortOrder=ASC", None),
    ("HEAD", f"{WS}/sessions/s1", None),
    ("DELETE", f"{WS}/sessions/s1", None),
    ("POST", f"{WS}/sessions", BODY),
    ("PUT", f"{WS}/contents/Workspace%2Fdir%2Fa%20b.ipynb", json.dumps({"type": "notebook", "content": {}})),
    ("PUT", f"{WS}/contents//Workspace/dir/a%20b.ipynb", json.dumps({"type": "file"})),
    ("PATCH", f"{WS}/sessions/s1", json.dumps({"name": "n2", "must_refresh_context": True})),
    ("POST", "https://localhost:8443/20260430/x/actions/export/contents/%2Fa.ipynb?x=%2F", "{}"),
]


@pytest.fixture(params=["api_key", "session_token"])
def signer(request: pytest.FixtureRequest) -> AbstractBaseSigner:
    return request.getfixturevalue("api_key_signer" if request.param == "api_key" else "token_signer")


def reject(request: SignedRequest, resolver: KeyResolver, match: str, *, now: float = NOW) -> str:
    with pytest.raises(NotAuthenticatedError, match=match) as info:
        verify_request(request, public_key_lookup=resolver, now=now)
    message = info.value.message
    authorization = request.header("authorization") or ""
    for secret in re.findall(r'(?:signature|keyId)="([^"]{20,})"', authorization):
        assert secret not in message and secret[-20:] not in message
    return message


def raw_target(request: SignedRequest) -> tuple[bytes, bytes]:
    path, query = request.raw_path, request.query_string
    assert isinstance(path, bytes) and isinstance(query, bytes)
    return path, query


def with_headers(request: SignedRequest, **changes: str | None) -> SignedRequest:
    headers = {k.lower(): v for k, v in request.headers.items()}
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return dataclasses.replace(request, headers=headers)


def with_authorization(request: SignedRequest, old: str, new: str) -> SignedRequest:
    authorization = request.header("authorization") or ""
    assert old in authorization
    return with_headers(request, authorization=authorization.replace(old, new))


@pytest.mark.parametrize(("method", "url", "body"), ACCEPTED)
def test_official_signers_verify(
    signer: AbstractBaseSigner, resolver: KeyResolver, method: str, url: str, body: str | None
) -> None:
    request = sign(signer, method, url, body)

    verified = verify_request(request, public_key_lookup=resolver, now=NOW)

    assert verified.principal.user_id == USER and verified.principal.tenancy_id == TENANCY
    assert verified.principal.kind == ("session" if isinstance(signer, SecurityTokenSigner) else "user")
    assert verified.signed_headers[:3] == ("date", "(request-target)", "host")


def test_signing_string_uses_the_raw_path(api_key_signer: Signer, resolver: KeyResolver) -> None:
    request = sign(api_key_signer, "PUT", f"{WS}/contents/Workspace%2Fa.ipynb", "{}")
    path, _ = raw_target(request)
    assert b"%2F" in path
    verify_request(request, public_key_lookup=resolver, now=NOW)

    decoded = dataclasses.replace(request, raw_path=path.replace(b"%2F", b"/"))
    reject(decoded, resolver, "signature does not verify")


def test_host_with_port_is_signed_as_received(api_key_signer: Signer, resolver: KeyResolver) -> None:
    request = sign(api_key_signer, "GET", "https://localhost:8443/20260430/x")
    assert request.header("host") == "localhost:8443"
    verify_request(request, public_key_lookup=resolver, now=NOW)
    reject(with_headers(request, host="localhost"), resolver, "signature does not verify")


def test_delete_sends_unsigned_content_length(api_key_signer: Signer, resolver: KeyResolver) -> None:
    request = sign(api_key_signer, "DELETE", f"{WS}/sessions/s1")
    assert request.header("content-length") == "0"
    assert "content-length" not in verify_request(request, public_key_lookup=resolver, now=NOW).signed_headers


async def test_async_lookup(api_key_signer: Signer, resolver: KeyResolver) -> None:
    async def lookup(key_id: str, now: float) -> ResolvedKey | None:
        return resolver(key_id, now)

    request = sign(api_key_signer, "POST", f"{WS}/sessions", BODY)
    verified = await verify_request_async(request, public_key_lookup=lookup, now=NOW)
    assert verified.key_id.startswith(f"{TENANCY}/{USER}/")


def test_from_asgi_scope(token_signer: SecurityTokenSigner, resolver: KeyResolver) -> None:
    signed = sign(token_signer, "POST", f"{WS}/contents/%2FWorkspace%2Fa.ipynb?x=1", "{}")
    raw_path, query = raw_target(signed)
    headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in signed.headers.items()]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/20260430/…/contents//Workspace/a.ipynb",
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
    }
    verify_request(SignedRequest.from_asgi(scope, signed.body), public_key_lookup=resolver, now=NOW)

    # Some servers leave the query inside raw_path.
    embedded = {**scope, "raw_path": raw_path + b"?" + query, "query_string": b""}
    verify_request(SignedRequest.from_asgi(embedded, signed.body), public_key_lookup=resolver, now=NOW)


def test_repeated_headers_are_joined(api_key_signer: Signer, resolver: KeyResolver) -> None:
    signed = sign(api_key_signer, "GET", f"{WS}/sessions")
    headers = [(k.lower().encode(), v.encode()) for k, v in signed.headers.items()]
    scope = {"method": "GET", "raw_path": raw_target(signed)[0], "headers": [*headers, (b"host", b"evil")]}
    reject(SignedRequest.from_asgi(scope, b""), resolver, "signature does not verify")


# --- rejections -----------------------------------------------------------------------------------------


def test_missing_authorization(api_key_signer: Signer, resolver: KeyResolver) -> None:
    request = with_headers(sign(api_key_signer, "GET", f"{WS}/sessions"), authorization=None)
    reject(request, resolver, "missing Authorization header")


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer nbp_x", "token abc", "Signatur x"])
def test_wrong_scheme(api_key_signer: Signer, resolver: KeyResolver, value: str) -> None:
    request = with_headers(sign(api_key_signer, "GET", f"{WS}/sessions"), authorization=value)
    reject(request, resolver, "scheme must be Signature")


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "rsa-sha1", "hs2019", "RSA-SHA512"])
def test_wrong_algorithm(api_key_signer: Signer, resolver: KeyResolver, algorithm: str) -> None:
    request = with_authorization(
        sign(api_key_signer, "GET", f"{WS}/sessions"), 'algorithm="rsa-sha256"', f'algorithm="{algorithm}"'
    )
    reject(request, resolver, "algorithm must be rsa-sha256")


def test_wrong_version(api_key_signer: Signer, resolver: KeyResolver) -> None:
    request = with_authorization(sign(api_key_signer, "GET", f"{WS}/sessions"), 'version="1"', 'version="2"')
    reject(request, resolver, "version must be 1")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (',version="1"', ',version="1",version="1"', "repeats the version parameter"),
        ('headers="date ', 'headers="date date ', "lists a header twice"),
        ('signature="', 'signature="!!', "not valid base64"),
        (",keyId=", ",keyid=", "missing the keyId parameter"),
        (",keyId=", ' ,,keyId="x",keyId=', "malformed"),
    ],
)
def test_malformed_parameters(api_key_signer: Signer, resolver: KeyResolver, old: str, new: str, match: str) -> None:
    request = with_authorization(sign(api_key_signer, "GET", f"{WS}/sessions"), old, new)
    reject(request, resolver, match)


def test_unknown_key_id(keys: Keys, resolver: KeyResolver) -> None:
    stranger = Signer(
        TENANCY,
        USER,
        "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
        None,
        private_key_content=keys.user.private_pem,
    )
    reject(sign(stranger, "GET", f"{WS}/sessions"), resolver, "unknown keyId")
    other_user = Signer(
        TENANCY,
        "ocid1.user.oc1..other",
        keys.user.fingerprint,
        None,
        private_key_content=keys.user.private_pem,
    )
    reject(sign(other_user, "GET", f"{WS}/sessions"), resolver, "unknown keyId")


def test_fingerprint_case_is_ignored(keys: Keys, resolver: KeyResolver) -> None:
    upper = Signer(TENANCY, USER, keys.user.fingerprint.upper(), None, private_key_content=keys.user.private_pem)
    verify_request(sign(upper, "GET", f"{WS}/sessions"), public_key_lookup=resolver, now=NOW)


def test_another_keys_signature(keys: Keys, resolver: KeyResolver) -> None:
    impostor = Signer(TENANCY, USER, keys.user.fingerprint, None, private_key_content=keys.other.private_pem)
    reject(sign(impostor, "POST", f"{WS}/sessions", BODY), resolver, "signature does not verify")


def test_session_token_with_another_key(keys: Keys, session_token: str, resolver: KeyResolver) -> None:
    impostor = SecurityTokenSigner(session_token, keys.other.private_key)
    reject(sign(impostor, "GET", f"{WS}/sessions"), resolver, "signature does not verify")


def test_tampered_body(signer: AbstractBaseSigner, resolver: KeyResolver) -> None:
    request = sign(signer, "POST", f"{WS}/sessions", BODY)
    evil = BODY.replace('"a"', '"b"').encode()
    reject(dataclasses.replace(request, body=evil), resolver, "x-content-sha256 does not match the body")
    reject(dataclasses.replace(request, body=evil + b" "), resolver, "content-length does not match the body")

    digest = base64.b64encode(hashlib.sha256(evil).digest()).decode()
    consistent = with_headers(dataclasses.replace(request, body=evil), x_content_sha256=digest)
    reject(consistent, resolver, "signature does not verify")


@pytest.mark.parametrize(
    "change",
    [
        {"raw_path": WS.replace("/ws1/", "/ws2/").removeprefix(f"https://{HOST}").encode() + b"/sessions"},
        {"query_string": b"limit=3"},
        {"query_string": b""},
        {"method": "PUT"},
        {"method": "post"},
    ],
)
def test_tampered_target(signer: AbstractBaseSigner, resolver: KeyResolver, change: dict[str, object]) -> None:
    request = sign(signer, "POST", f"{WS}/sessions?limit=2", BODY)
    tampered = dataclasses.replace(request, **change)  # type: ignore[arg-type]  # mypy cannot check **kwargs
    if change.get("method") == "post":
        verify_request(tampered, public_key_lookup=resolver, now=NOW)  # the method is case-insensitive
        return
    reject(tampered, resolver, "signature does not verify")


@pytest.mark.parametrize("host", ["attacker.example", f"{HOST}:443", HOST.upper()])
def test_tampered_host(signer: AbstractBaseSigner, resolver: KeyResolver, host: str) -> None:
    request = sign(signer, "GET", f"{WS}/sessions")
    reject(with_headers(request, host=host), resolver, "signature does not verify")


def test_tampered_signed_header_value(signer: AbstractBaseSigner, resolver: KeyResolver) -> None:
    request = sign(signer, "POST", f"{WS}/sessions", BODY)
    reject(with_headers(request, content_type="text/plain"), resolver, "signature does not verify")


def test_signed_header_absent(signer: AbstractBaseSigner, resolver: KeyResolver) -> None:
    request = sign(signer, "POST", f"{WS}/sessions", BODY)
    reject(with_headers(request, content_type=None), resolver, "signed header content-type is missing")
    reject(with_headers(request, date=None), resolver, "signed header date is missing")


def test_unsigned_body_on_get(signer: AbstractBaseSigner, resolver: KeyResolver) -> None:
    request = sign(signer, "GET", f"{WS}/sessions")
    reject(dataclasses.replace(request, body=b"{}"), resolver, "body is not covered by the signature")


def test_unsupported_method(signer: AbstractBaseSigner, resolver: KeyResolver) -> None:
    request = sign(signer, "GET", f"{WS}/sessions")
    reject(dataclasses.replace(request, method="OPTIONS"), resolver, "method OPTIONS cannot be signed")


# --- required header lists ------------------------------------------------------------------------------

GENERIC = ["date", "(request-target)", "host"]
BODY_HEADERS = ["content-length", "content-type", "x-content-sha256"]


def custom_signer(keys: Keys, token: str, generic: list[str], body: list[str]) -> SecurityTokenSigner:
    return SecurityTokenSigner(token, keys.session.private_key, generic_headers=generic, body_headers=body)


@pytest.mark.parametrize("method", ["GET", "DELETE", "HEAD", "POST"])
@pytest.mark.parametrize(
    ("missing", "match"),
    [
        ("date", "must include date or x-date"),
        ("(request-target)", r"must include \(request-target\)"),
        ("host", "must include host"),
    ],
)
def test_generic_header_must_be_signed(
    keys: Keys, session_token: str, resolver: KeyResolver, method: str, missing: str, match: str
) -> None:
    generic = [h for h in GENERIC if h != missing]
    signer = custom_signer(keys, session_token, generic, BODY_HEADERS)
    reject(sign(signer, method, f"{WS}/sessions", "{}" if method == "POST" else None), resolver, match)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("missing", BODY_HEADERS)
def test_body_header_must_be_signed(
    keys: Keys, session_token: str, resolver: KeyResolver, method: str, missing: str
) -> None:
    signer = custom_signer(keys, session_token, GENERIC, [h for h in BODY_HEADERS if h != missing])
    reject(sign(signer, method, f"{WS}/sessions", BODY), resolver, f"signed headers must include {missing}")


def test_x_date_instead_of_date(keys: Keys, session_token: str, resolver: KeyResolver) -> None:
    signer = custom_signer(keys, session_token, ["x-date", "(request-target)", "host"], BODY_HEADERS)
    request = sign(signer, "GET", f"{WS}/sessions", date=NOW - 3600, extra_headers={"x-date": http_date(NOW)})
    verify_request(request, public_key_lookup=resolver, now=NOW)  # only the signed date counts

    stale = sign(signer, "GET", f"{WS}/sessions", extra_headers={"x-date": http_date(NOW - 400)})
    reject(stale, resolver, "x-date header is 400 s behind server time")


# --- clock window ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_date_within_window(signer: AbstractBaseSigner, resolver: KeyResolver, offset: int) -> None:
    request = sign(signer, "POST", f"{WS}/sessions", BODY, date=NOW + offset)
    verify_request(request, public_key_lookup=resolver, now=NOW)


@pytest.mark.parametrize(
    ("offset", "match"),
    [
        (-301, r"date header is 301 s behind server time \(max 300\)"),
        (301, r"date header is 301 s ahead of server time \(max 300\)"),
        (-412, r"date header is 412 s behind server time \(max 300\)"),
        (86_400 * 365, "ahead of server time"),
    ],
)
def test_date_outside_window(signer: AbstractBaseSigner, resolver: KeyResolver, offset: int, match: str) -> None:
    request = sign(signer, "GET", f"{WS}/sessions", date=NOW + offset)
    reject(request, resolver, match)


def test_max_skew_is_configurable(api_key_signer: Signer, resolver: KeyResolver) -> None:
    request = sign(api_key_signer, "GET", f"{WS}/sessions", date=NOW - 100)
    with pytest.raises(NotAuthenticatedError, match=r"100 s behind server time \(max 60\)"):
        verify_request(request, public_key_lookup=resolver, now=NOW, max_skew=60)


@pytest.mark.parametrize("value", ["yesterday", "", "Thu, 99 Nov 2026 21:18:57 GMT"])
def test_unparseable_date(api_key_signer: Signer, resolver: KeyResolver, value: str) -> None:
    request = sign(api_key_signer, "GET", f"{WS}/sessions", extra_headers={"date": value})
    reject(request, resolver, "date header is not a valid HTTP date")


# --- session tokens through the verifier ----------------------------------------------------------------


def test_expired_session_token(keys: Keys, issuer: SessionTokenIssuer, resolver: KeyResolver) -> None:
    token = issuer.issue(
        tenancy_id=TENANCY, user_id=USER, session_public_key_pem=keys.session.public_pem, ttl=60, now=NOW - 61
    )
    signer = SecurityTokenSigner(token, keys.session.private_key)
    reject(sign(signer, "GET", f"{WS}/sessions"), resolver, "session token has expired")


def test_forged_session_token(keys: Keys, resolver: KeyResolver) -> None:
    forger = SessionTokenIssuer(keys.other.private_key)
    token = forger.issue(tenancy_id=TENANCY, user_id=USER, session_public_key_pem=keys.session.public_pem, now=NOW)
    signer = SecurityTokenSigner(token, keys.session.private_key)
    reject(sign(signer, "GET", f"{WS}/sessions"), resolver, "session token was not issued by this server")


def test_tampered_session_token(keys: Keys, session_token: str, resolver: KeyResolver) -> None:
    header, payload, sig = session_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "ocid1.user.oc1..admin"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    signer = SecurityTokenSigner(f"{header}.{forged_payload}.{sig}", keys.session.private_key)
    message = reject(sign(signer, "GET", f"{WS}/sessions"), resolver, "session token is invalid")
    assert forged_payload not in message


def test_session_tokens_unknown_without_issuer(token_signer: SecurityTokenSigner, keys: Keys) -> None:
    reject(sign(token_signer, "GET", f"{WS}/sessions"), KeyResolver(), "unknown keyId")


def test_parse_authorization_reads_the_sdk_header(api_key_signer: Signer) -> None:
    request = sign(api_key_signer, "POST", f"{WS}/sessions", BODY)
    params = parse_authorization(request.header("authorization"))
    assert params.algorithm == "rsa-sha256" and params.version == "1"
    assert params.headers == ("date", "(request-target)", "host", *BODY_HEADERS)
    assert params.key_id.startswith(f"{TENANCY}/{USER}/") and len(params.signature) == 256
