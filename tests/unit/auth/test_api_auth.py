"""Authentication through the real app: every way a request can fail is a 401 that runs and writes nothing."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from oci.auth.signers import SecurityTokenSigner
from oci.signer import Signer

from nbplane.auth import api_tokens
from nbplane.auth.authenticator import RequestFacts
from nbplane.auth.keys import generate_rsa_keypair, load_private_key
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.auth.signature import SignedRequest, signing_string
from nbplane.bootstrap import session_signing_key
from nbplane.errors import NotAuthenticatedError
from nbplane.store import credentials
from nbplane.store.tables import KernelRow, SessionRow
from nbplane.workspaces.provisioning import provision_workspace
from tests.signing import WireRequest, sign

from .conftest import SignedApp

BODY = json.dumps({"path": "secret.ipynb", "kernel": {"name": "python3"}})


def resign(app: SignedApp, wire: WireRequest, headers: list[str]) -> WireRequest:
    """Re-sign `wire` with the right key but over the given header list only."""
    path, _, query = wire.url.removeprefix("https://testserver").partition("?")
    message = signing_string(SignedRequest(wire.method, path, query, wire.headers, wire.body), headers)
    key = load_private_key(Path(app.info.key_file).read_text())
    signature = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    key_id = f"{app.info.tenancy_id}/{app.info.user_id}/{app.info.fingerprint}"
    authorization = (
        f'Signature algorithm="rsa-sha256",headers="{" ".join(headers)}",keyId="{key_id}",'
        f'signature="{signature}",version="1"'
    )
    return replace(wire, headers={**wire.headers, "authorization": authorization})


def other_signer(tmp_path: Path, tenancy: str, user: str, fingerprint: str | None = None) -> Signer:
    pair = generate_rsa_keypair()
    key_file = tmp_path / f"other-{pair.fingerprint.replace(':', '')}.pem"
    key_file.write_text(pair.private_pem)
    return Signer(tenancy, user, fingerprint or pair.fingerprint, private_key_file_location=str(key_file))


def create(app: SignedApp, **kwargs: object) -> WireRequest:
    return sign(app.signer, "POST", app.sessions_url, BODY, headers={"opc-retry-token": "tok-1"}, **kwargs)  # type: ignore[arg-type]


def session_signer(
    app: SignedApp, *, issued: float, ttl: float = 3600, issuer: SessionTokenIssuer | None = None
) -> SecurityTokenSigner:
    pair = generate_rsa_keypair()
    issuer = issuer or SessionTokenIssuer(session_signing_key(app.settings.data_dir))
    token = issuer.issue(
        tenancy_id=app.info.tenancy_id,
        user_id=app.info.user_id,
        session_public_key_pem=pair.public_pem,
        ttl=ttl,
        now=issued,
    )
    return SecurityTokenSigner(token, pair.private_key)


Case = Callable[[SignedApp, Path], WireRequest]
BASE_HEADERS = ["date", "(request-target)", "host", "content-length", "content-type", "x-content-sha256"]


def _without(name: str) -> Case:
    return lambda app, _: resign(app, create(app), [h for h in BASE_HEADERS if h != name])


def _tamper_body(app: SignedApp, _: Path) -> WireRequest:
    wire = create(app)
    return replace(wire, body=wire.body.replace(b"secret", b"sekret"))


def _tamper_body_consistently(app: SignedApp, _: Path) -> WireRequest:
    """A new body with matching digest and length, but the signature is over the old ones."""
    wire = create(app)
    body = wire.body.replace(b"secret", b"sekret")
    digest = base64.b64encode(__import__("hashlib").sha256(body).digest()).decode()
    return replace(wire, body=body, headers={**wire.headers, "x-content-sha256": digest})


def _tamper_url(old: str, new: str) -> Case:
    def case(app: SignedApp, _: Path) -> WireRequest:
        wire = create(app)
        url = wire.url.replace(old, new)
        assert url != wire.url
        return replace(wire, url=url)

    return case


def _query_tampered(app: SignedApp, _: Path) -> WireRequest:
    wire = sign(app.signer, "POST", app.sessions_url + "?x=1", BODY)
    return replace(wire, url=wire.url.replace("?x=1", "?x=2"))


def _method_tampered(app: SignedApp, _: Path) -> WireRequest:
    wire = sign(app.signer, "PUT", app.sessions_url, BODY)
    return replace(wire, method="POST")


MATRIX: dict[str, Case] = {
    "missing Authorization": lambda app, _: replace(
        w := create(app), headers={k: v for k, v in w.headers.items() if k != "authorization"}
    ),
    "Basic scheme": lambda app, _: replace(w := create(app), headers={**w.headers, "authorization": "Basic dTpw"}),
    "Bearer that is no token": lambda app, _: replace(
        w := create(app), headers={**w.headers, "authorization": "Bearer " + w.headers["authorization"][-40:]}
    ),
    "hmac algorithm": lambda app, _: replace(
        w := create(app),
        headers={**w.headers, "authorization": w.headers["authorization"].replace("rsa-sha256", "hmac-sha256")},
    ),
    "unknown keyId": lambda app, tmp: sign(
        other_signer(tmp, app.info.tenancy_id, "ocid1.user.oc1..aaaanobody"), "POST", app.sessions_url, BODY
    ),
    "another key under the user's keyId": lambda app, tmp: sign(
        other_signer(tmp, app.info.tenancy_id, app.info.user_id, app.info.fingerprint), "POST", app.sessions_url, BODY
    ),
    "keyId of another tenancy": lambda app, tmp: sign(
        other_signer(tmp, "ocid1.tenancy.oc1..aaaaother", app.info.user_id, app.info.fingerprint),
        "POST",
        app.sessions_url,
        BODY,
    ),
    "tampered body": _tamper_body,
    "tampered body with a matching digest": _tamper_body_consistently,
    "tampered path": lambda app, _: replace(
        w := sign(app.signer, "PATCH", app.sessions_url + "/abc", '{"name":"x"}'),
        url=w.url.replace("/abc", "/abd"),
    ),
    "tampered workspace": _tamper_url("/workspaces/default/", "/workspaces/Default/"),
    "tampered query": _query_tampered,
    "tampered method": _method_tampered,
    "tampered host": lambda app, _: replace(w := create(app), headers={**w.headers, "host": "testserver:443"}),
    "headers without date": _without("date"),
    "headers without (request-target)": _without("(request-target)"),
    "headers without host": _without("host"),
    "headers without x-content-sha256": _without("x-content-sha256"),
    "headers without content-length": _without("content-length"),
    "headers without content-type": _without("content-type"),
    "date 301 s old": lambda app, _: create(app, date=app.clock.freeze() - 301),
    "date 301 s ahead": lambda app, _: create(app, date=app.clock.freeze() + 301),
    "expired session token": lambda app, _: sign(
        session_signer(app, issued=time.time() - 7200), "POST", app.sessions_url, BODY
    ),
    "session token of another server": lambda app, _: sign(
        session_signer(app, issued=time.time(), issuer=SessionTokenIssuer(generate_rsa_keypair().private_key)),
        "POST",
        app.sessions_url,
        BODY,
    ),
}


@pytest.mark.parametrize("case", list(MATRIX), ids=list(MATRIX))
async def test_security_matrix_is_401_and_runs_nothing(signed_app: SignedApp, tmp_path: Path, case: str) -> None:
    wire = MATRIX[case](signed_app, tmp_path)
    response = await signed_app.send(wire)
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "NotAuthenticated"
    assert body["message"]
    assert "signature=" not in body["message"] and "ST$" not in body["message"]
    assert await signed_app.session_count() == 0
    assert await signed_app.retry_token_count() == 0
    assert signed_app.kernels.started == []


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing Authorization", "missing Authorization"),
        ("hmac algorithm", "rsa-sha256"),
        ("unknown keyId", "unknown keyId"),
        ("tampered body", "x-content-sha256 does not match"),
        ("tampered path", "signature does not verify"),
        ("headers without date", "date"),
        ("headers without x-content-sha256", "x-content-sha256"),
        ("date 301 s old", "behind server time"),
        ("expired session token", "expired"),
        ("session token of another server", "not issued by this server"),
    ],
)
async def test_messages_say_what_was_wrong(signed_app: SignedApp, tmp_path: Path, case: str, fragment: str) -> None:
    response = await signed_app.send(MATRIX[case](signed_app, tmp_path))
    assert fragment in response.json()["message"]


async def test_signed_requests_work_and_record_the_creator(signed_app: SignedApp) -> None:
    created = await signed_app.send(create(signed_app))
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    got = await signed_app.send(sign(signed_app.signer, "GET", f"{signed_app.sessions_url}/{session_id}"))
    assert got.status_code == 200
    listed = await signed_app.send(sign(signed_app.signer, "GET", signed_app.sessions_url + "?limit=5&sortOrder=ASC"))
    assert [s["id"] for s in listed.json()["items"]] == [session_id]
    creator = f"{signed_app.info.tenancy_id}/{signed_app.info.user_id}"
    async with signed_app.services.db.read() as db:
        row = await db.get(SessionRow, session_id)
        assert row is not None and row.created_by == creator
        kernel = await db.get(KernelRow, row.kernel_id)
        assert kernel is not None and kernel.created_by == creator
    deleted = await signed_app.send(sign(signed_app.signer, "DELETE", f"{signed_app.sessions_url}/{session_id}"))
    assert deleted.status_code == 204


async def test_tampered_method_on_a_real_session_deletes_nothing(signed_app: SignedApp) -> None:
    session_id = (await signed_app.send(create(signed_app))).json()["id"]
    url = f"{signed_app.sessions_url}/{session_id}"
    wire = sign(signed_app.signer, "GET", url)
    response = await signed_app.send(replace(wire, method="DELETE"))
    assert response.status_code == 401
    assert (await signed_app.send(sign(signed_app.signer, "GET", url))).status_code == 200


async def test_replay_after_the_window_is_401(signed_app: SignedApp) -> None:
    wire = sign(signed_app.signer, "GET", signed_app.sessions_url)
    assert (await signed_app.send(wire)).status_code == 200
    signed_app.clock.offset = 301
    replayed = await signed_app.send(wire)
    assert replayed.status_code == 401
    assert "behind server time" in replayed.json()["message"]


async def test_path_and_query_are_verified_as_sent(signed_app: SignedApp) -> None:
    """The signature covers the raw path and query: percent-encodings are verified as the client sent them."""
    for suffix in ("/a%20b", "/%41bc", "?path=a%2Fb.ipynb", "?path=a/b.ipynb", "?path=%2Fx%20y"):
        response = await signed_app.send(sign(signed_app.signer, "GET", signed_app.sessions_url + suffix))
        assert response.status_code in (200, 404), (suffix, response.text)
        assert response.json().get("code", "NotAuthorizedOrNotFound") == "NotAuthorizedOrNotFound"


@pytest.mark.parametrize(
    "encoded", ["Workspace%2Fdir%2Fa%20b.ipynb", "Workspace/dir/a%20b.ipynb", "/Workspace/a.ipynb"]
)
async def test_slash_encodings_verify_against_the_raw_path(signed_app: SignedApp, encoded: str) -> None:
    """`%2F` and literal `/` (and a leading `//`) both verify: the raw ASGI path is used, never the decoded one."""
    url = f"{signed_app.base}/notebook/api/contents/{encoded}"
    wire = sign(signed_app.signer, "GET", url)
    raw_path = wire.url.removeprefix("https://testserver").encode()
    scope = {
        "type": "http",
        "method": "GET",
        "path": urllib.parse.unquote(raw_path.decode()),
        "raw_path": raw_path,
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in wire.headers.items()],
    }
    principal = await signed_app.services.authenticator.authenticate(RequestFacts.from_asgi(scope, b""))
    assert principal.user_id == signed_app.info.user_id
    if "%" in encoded:  # a server verifying the decoded path instead would refuse what the client signed
        decoded = {**scope, "raw_path": str(scope["path"]).encode()}
        with pytest.raises(NotAuthenticatedError):
            await signed_app.services.authenticator.authenticate(RequestFacts.from_asgi(decoded, b""))


async def test_session_token_is_accepted(signed_app: SignedApp) -> None:
    signer = session_signer(signed_app, issued=time.time())
    created = await signed_app.send(sign(signer, "POST", signed_app.sessions_url, BODY))
    assert created.status_code == 201, created.text
    # The same user, whichever credential it signs with.
    listed = await signed_app.send(sign(signed_app.signer, "GET", signed_app.sessions_url))
    assert [s["id"] for s in listed.json()["items"]] == [created.json()["id"]]


async def test_session_token_of_a_removed_user_is_401(signed_app: SignedApp) -> None:
    signer = session_signer(signed_app, issued=time.time())
    async with signed_app.services.db.write() as db:
        from nbplane.store.tables import UserRow

        user = await db.get(UserRow, signed_app.info.user_id)
        await db.delete(user)
    response = await signed_app.send(sign(signer, "GET", signed_app.sessions_url))
    assert response.status_code == 401


async def test_removed_api_key_is_401(signed_app: SignedApp) -> None:
    assert (await signed_app.send(sign(signed_app.signer, "GET", signed_app.sessions_url))).status_code == 200
    async with signed_app.services.db.write() as db:
        assert await credentials.remove_api_key(db, signed_app.info.user_id, signed_app.info.fingerprint.upper())
    response = await signed_app.send(sign(signed_app.signer, "GET", signed_app.sessions_url))
    assert response.status_code == 401
    assert response.json()["message"] == "unknown keyId"


async def _add_token(
    app: SignedApp, workspace_key: str | None = None, ttl: float | None = None
) -> api_tokens.NewApiToken:
    minted = api_tokens.new_token()
    async with app.services.db.write() as db:
        credentials.add_api_token(
            db,
            token_id=minted.token_id,
            token_hash=minted.token_hash,
            user_id=app.info.user_id,
            instance_id=app.info.instance_id,
            workspace_key=workspace_key or app.info.workspace_key,
            created_by="test",
            expires_at=datetime.fromtimestamp(time.time() + ttl, UTC) if ttl is not None else None,
        )
    return minted


@pytest.mark.parametrize("scheme", ["token", "Bearer", "bearer"])
async def test_api_token_reaches_its_workspace(signed_app: SignedApp, scheme: str) -> None:
    minted = await _add_token(signed_app)
    headers = {"authorization": f"{scheme} {minted.plaintext}"}
    created = await signed_app.client.post(signed_app.sessions_url, json={"path": "t.ipynb"}, headers=headers)
    assert created.status_code == 201, created.text
    assert (await signed_app.client.get(signed_app.sessions_url, headers=headers)).status_code == 200


async def test_api_token_cannot_reach_another_workspace(signed_app: SignedApp) -> None:
    async with signed_app.services.db.write() as db:
        await provision_workspace(db, signed_app.info.instance_id, "other", "Other")
    minted = await _add_token(signed_app, workspace_key="other")
    headers = {"authorization": f"token {minted.plaintext}"}
    denied = await signed_app.client.get(signed_app.sessions_url, headers=headers)
    missing = await signed_app.client.get(
        signed_app.sessions_url.replace("/workspaces/default/", "/workspaces/nope/"), headers=headers
    )
    assert denied.status_code == missing.status_code == 404
    assert denied.json()["code"] == missing.json()["code"] == "NotAuthorizedOrNotFound"
    other = signed_app.sessions_url.replace("/workspaces/default/", "/workspaces/other/")
    assert (await signed_app.client.get(other, headers=headers)).status_code == 200


@pytest.mark.parametrize("state", ["revoked", "expired", "wrong secret", "unknown"])
async def test_unusable_api_token_is_401_and_writes_nothing(signed_app: SignedApp, state: str) -> None:
    minted = await _add_token(signed_app, ttl=-1 if state == "expired" else None)
    token = minted.plaintext
    if state == "revoked":
        async with signed_app.services.db.write() as db:
            assert await credentials.revoke_api_token(db, minted.token_id, datetime.now(UTC))
    elif state == "wrong secret":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif state == "unknown":
        token = api_tokens.new_token().plaintext
    response = await signed_app.client.post(
        signed_app.sessions_url, json={"path": "t.ipynb"}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "NotAuthenticated"
    assert await signed_app.session_count() == 0
    assert signed_app.kernels.started == []


async def test_datalake_tenant_id_must_be_the_callers(signed_app: SignedApp) -> None:
    own = sign(
        signed_app.signer, "GET", signed_app.sessions_url, headers={"datalake-tenant-id": signed_app.info.tenancy_id}
    )
    assert (await signed_app.send(own)).status_code == 200
    other = sign(
        signed_app.signer, "GET", signed_app.sessions_url, headers={"datalake-tenant-id": "ocid1.tenancy.oc1..x"}
    )
    response = await signed_app.send(other)
    assert response.status_code == 404
    assert response.json()["code"] == "NotAuthorizedOrNotFound"


async def test_health_needs_no_credentials(signed_app: SignedApp) -> None:
    assert (await signed_app.client.get("/health")).status_code == 200
