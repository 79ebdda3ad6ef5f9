"""OCI request signature verification (draft-cavage HTTP Signatures, "Signature Version 1", rsa-sha256).

Pure: it works on a `SignedRequest` built from whatever the web layer received. Every failure raises
`NotAuthenticatedError` with a message that names the problem but never repeats a signature, token or key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import cast
from urllib.parse import quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from nbplane.auth.principal import Principal
from nbplane.errors import NotAuthenticatedError

MAX_SKEW_S = 300
MAX_AUTHORIZATION_LEN = 16 * 1024

_BASIC_HEADERS = ("(request-target)", "host")
_BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SIGNABLE_METHODS = frozenset({"GET", "HEAD", "DELETE"}) | _BODY_METHODS
_DATE_HEADERS = ("date", "x-date")
_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"]*)"|([^",\s]+))\s*(?:,|$)')
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")


def _latin1(value: str | bytes) -> str:
    """Wire bytes as text, one character per byte, so the signing string is rebuilt byte for byte."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A received request, as on the wire.

    `raw_path` is the undecoded path (`%2F` stays `%2F`), `query_string` the raw query without `?`,
    `headers` the received values (names are matched case-insensitively; repeated headers should be
    joined with ", " as draft-cavage prescribes, which `from_asgi` does).
    """

    method: str
    raw_path: str | bytes
    query_string: str | bytes
    headers: Mapping[str, str]
    body: bytes = b""
    _lower: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lowered: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            lowered[key] = f"{lowered[key]}, {value}" if key in lowered else value
        object.__setattr__(self, "_lower", MappingProxyType(lowered))

    @classmethod
    def from_asgi(cls, scope: Mapping[str, object], body: bytes) -> SignedRequest:
        """Build from an ASGI HTTP or websocket scope and the fully read body."""
        raw_path = scope.get("raw_path")
        query = scope.get("query_string") or b""
        if not isinstance(raw_path, bytes | str):
            # Servers that omit raw_path lose the client's encoding; re-encoding the decoded path matches
            # the SDK's default quoting but not strict (`%2F`) encoding.
            raw_path = quote(str(scope.get("path", "")), safe="/")
        if isinstance(raw_path, bytes) and b"?" in raw_path:
            raw_path, _, embedded = raw_path.partition(b"?")
            query = query or embedded
        return cls(
            method=str(scope.get("method", "GET")),
            raw_path=raw_path,
            query_string=query if isinstance(query, bytes | str) else b"",
            headers=_join_asgi_headers(cast(Iterable[tuple[bytes, bytes]], scope.get("headers") or ())),
            body=body,
        )

    def header(self, name: str) -> str | None:
        """The received value of a header (joined if repeated), or None."""
        return self._lower.get(name.lower())

    @property
    def request_target(self) -> str:
        """`<lower method> <raw path>[?<raw query>]`, the `(request-target)` pseudo-header."""
        path = _latin1(self.raw_path)
        query = _latin1(self.query_string)
        return f"{self.method.lower()} {path}?{query}" if query else f"{self.method.lower()} {path}"


def _join_asgi_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in raw:
        key, text = _latin1(name).lower(), _latin1(value)
        joined[key] = f"{joined[key]}, {text}" if key in joined else text
    return joined


@dataclass(frozen=True, slots=True)
class SignatureParams:
    """The parsed `Authorization: Signature …` header."""

    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    version: str | None


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """What a keyId resolves to: the key that must have signed, and who that makes the caller."""

    public_key: rsa.RSAPublicKey
    principal: Principal


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A request whose signature verified."""

    key_id: str
    key: ResolvedKey
    signed_headers: tuple[str, ...]

    @property
    def principal(self) -> Principal:
        return self.key.principal


KeyLookup = Callable[[str, float], ResolvedKey | None]
"""`(key_id, now) -> ResolvedKey | None`; None means unknown. May raise NotAuthenticatedError itself."""
AsyncKeyLookup = Callable[[str, float], Awaitable[ResolvedKey | None]]


def parse_authorization(header: str | None) -> SignatureParams:
    """Parse `Signature algorithm="rsa-sha256",headers="…",keyId="…",signature="…",version="1"`."""
    if not header or not header.strip():
        raise NotAuthenticatedError("missing Authorization header")
    if len(header) > MAX_AUTHORIZATION_LEN:
        raise NotAuthenticatedError("Authorization header is too long")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "signature":
        raise NotAuthenticatedError("Authorization scheme must be Signature")
    params = _parse_params(rest)
    for required in ("keyId", "headers", "signature"):
        if not params.get(required):
            raise NotAuthenticatedError(f"Authorization is missing the {required} parameter")
    algorithm = params.get("algorithm", "")
    if algorithm.lower() != "rsa-sha256":
        raise NotAuthenticatedError("Authorization algorithm must be rsa-sha256")
    version = params.get("version")
    if version is not None and version != "1":
        raise NotAuthenticatedError("Authorization version must be 1")
    names = tuple(params["headers"].lower().split())
    if len(set(names)) != len(names):
        raise NotAuthenticatedError("Authorization headers parameter lists a header twice")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise NotAuthenticatedError("Authorization signature is not valid base64") from None
    return SignatureParams(
        key_id=params["keyId"], algorithm="rsa-sha256", headers=names, signature=signature, version=version
    )


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    pos, text = 0, text.strip()
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if match is None or match.end() == pos:
            raise NotAuthenticatedError("Authorization header is malformed")
        name = match.group(1)
        if name in params:
            raise NotAuthenticatedError(f"Authorization repeats the {name} parameter")
        params[name] = match.group(2) if match.group(2) is not None else match.group(3)
        pos = match.end()
    return params


def required_headers(method: str) -> tuple[str, ...]:
    """Headers a signature must cover for this method, besides `date` or `x-date`."""
    return _BASIC_HEADERS + _BODY_HEADERS if method.upper() in _BODY_METHODS else _BASIC_HEADERS


def signing_string(request: SignedRequest, headers: Iterable[str]) -> bytes:
    """The draft-cavage signing string: `name: value` lines joined by `\\n`, no trailing newline."""
    lines = []
    for name in headers:
        if name == "(request-target)":
            value = request.request_target
        elif name.startswith("("):
            raise NotAuthenticatedError(f"signed pseudo-header {name} is not supported")
        else:
            received = request.header(name)
            if received is None:
                raise NotAuthenticatedError(f"signed header {name} is missing from the request")
            value = received
        lines.append(f"{name}: {value}")
    try:
        return "\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise NotAuthenticatedError("signed headers contain characters that cannot be on the wire") from None


def check_request(
    request: SignedRequest, *, now: float, max_skew: float = MAX_SKEW_S, check_body: bool = True
) -> SignatureParams:
    """Every check that needs no key: header coverage, clock window, body digest and length.

    `now` is the server time in epoch seconds. With `check_body=False` the body is left for `check_body`
    (the signature itself covers only headers, so it can be verified before the body is read).
    """
    method = request.method.upper()
    if method not in _SIGNABLE_METHODS:
        raise NotAuthenticatedError(f"method {method[:16]} cannot be signed")
    params = parse_authorization(request.header("authorization"))
    signed = set(params.headers)
    if not signed & set(_DATE_HEADERS):
        raise NotAuthenticatedError("signed headers must include date or x-date")
    for name in required_headers(method):
        if name not in signed:
            raise NotAuthenticatedError(f"signed headers must include {name}")
    for name in _DATE_HEADERS:
        if name in signed:
            _check_clock(name, request.header(name), now=now, max_skew=max_skew)
    if check_body:
        check_signed_body(request, params.headers)
    return params


def _check_clock(name: str, value: str | None, *, now: float, max_skew: float) -> None:
    if value is None:
        raise NotAuthenticatedError(f"signed header {name} is missing from the request")
    try:
        parsed = parsedate_to_datetime(value)
        # "-0000" parses as naive; HTTP dates are always GMT, never local time.
        sent = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        raise NotAuthenticatedError(f"{name} header is not a valid HTTP date") from None
    skew = sent - now
    if abs(skew) > max_skew:
        direction = "behind" if skew < 0 else "ahead of"
        raise NotAuthenticatedError(
            f"{name} header is {math.ceil(abs(skew))} s {direction} server time (max {max_skew:g})"
        )


def check_signed_body(request: SignedRequest, signed: Iterable[str]) -> None:
    """The body matches the signed content-length and x-content-sha256 (a body must be covered by the latter)."""
    signed = set(signed)
    if "content-length" in signed:
        declared = request.header("content-length")
        if declared is None:
            raise NotAuthenticatedError("signed header content-length is missing from the request")
        if not _CONTENT_LENGTH.fullmatch(declared.strip()) or int(declared) != len(request.body):
            raise NotAuthenticatedError("content-length does not match the body")
    if "x-content-sha256" in signed:
        declared = request.header("x-content-sha256")
        if declared is None:
            raise NotAuthenticatedError("signed header x-content-sha256 is missing from the request")
        actual = base64.b64encode(hashlib.sha256(request.body).digest()).decode("ascii")
        if not hmac.compare_digest(declared.strip().encode("latin-1", "replace"), actual.encode("ascii")):
            raise NotAuthenticatedError("x-content-sha256 does not match the body")
    elif request.body:
        raise NotAuthenticatedError("the request body is not covered by the signature (sign x-content-sha256)")


def verify_signature(request: SignedRequest, params: SignatureParams, key: rsa.RSAPublicKey) -> None:
    """RSASSA-PKCS1-v1_5 / SHA-256 over the rebuilt signing string; raises NotAuthenticatedError."""
    message = signing_string(request, params.headers)
    try:
        key.verify(params.signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise NotAuthenticatedError("signature does not verify") from None


def verify_request(
    request: SignedRequest, *, public_key_lookup: KeyLookup, now: float, max_skew: float = MAX_SKEW_S
) -> VerifiedSignature:
    """Verify an OCI-signed request; `public_key_lookup(key_id, now)` resolves the keyId."""
    params = check_request(request, now=now, max_skew=max_skew)
    resolved = public_key_lookup(params.key_id, now)
    return _finish(request, params, resolved)


async def verify_request_async(
    request: SignedRequest,
    *,
    public_key_lookup: AsyncKeyLookup,
    now: float,
    max_skew: float = MAX_SKEW_S,
    check_body: bool = True,
) -> VerifiedSignature:
    """`verify_request` for a lookup that must await (a database of API keys). With `check_body=False` the
    caller checks the body afterwards with `check_signed_body` (see `check_request`)."""
    params = check_request(request, now=now, max_skew=max_skew, check_body=check_body)
    resolved = await public_key_lookup(params.key_id, now)
    return _finish(request, params, resolved)


def _finish(request: SignedRequest, params: SignatureParams, resolved: ResolvedKey | None) -> VerifiedSignature:
    if resolved is None:
        raise NotAuthenticatedError("unknown keyId")
    verify_signature(request, params, resolved.public_key)
    return VerifiedSignature(key_id=params.key_id, key=resolved, signed_headers=params.headers)
