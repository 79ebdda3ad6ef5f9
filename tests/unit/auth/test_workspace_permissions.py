"""Workspace permissions through the signed app: a user of the tenancy without a grant meets 404 on every
workspace route and on the kernel websocket, exactly as for a workspace that does not exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from oci.signer import Signer

from nbplane.auth.keys import generate_rsa_keypair
from nbplane.bootstrap import new_ocid
from nbplane.store import directory
from tests.signing import sign

from .conftest import SignedApp

API = "https://testserver/20260430/aiDataPlatforms"


async def _second_user(app: SignedApp, tmp_path: Path, name: str = "bob") -> Signer:
    """Another user of the bootstrap tenancy, with an API key and no workspace grant."""
    user_id, pair = new_ocid("user"), generate_rsa_keypair()
    async with app.services.db.write() as db:
        directory.add_user(db, user_id, app.info.tenancy_id, name)
        await db.flush()
        directory.add_api_key(db, user_id, pair.fingerprint, pair.public_pem)
    key_file = tmp_path / f"{name}.pem"
    key_file.write_text(pair.private_pem)
    signer = Signer(app.info.tenancy_id, user_id, pair.fingerprint, private_key_file_location=str(key_file))
    signer.user_id = user_id  # type: ignore[attr-defined]
    return signer


async def _call(app: SignedApp, signer: Signer, method: str, url: str, body: object | None = None) -> httpx.Response:
    return await app.send(sign(signer, method, url, json.dumps(body) if body is not None else None))


def _routes(instance: str, key: str, kernel_id: str, session_id: str) -> list[tuple[str, str, Any]]:
    ws = f"{API}/{instance}/workspaces/{key}"
    nb = f"{ws}/notebook"
    return [
        ("GET", ws, None),
        ("PUT", ws, {"displayName": "mine now"}),
        ("DELETE", ws, None),
        ("GET", f"{ws}/permissions", None),
        (
            "POST",
            f"{ws}/actions/managePermission",
            {
                "assignWorkspacePermissionDetails": {
                    "assignees": {"type": "USER", "targets": ["x"]},
                    "permissions": ["USER"],
                }
            },
        ),
        ("GET", f"{nb}/api/sessions", None),
        ("POST", f"{nb}/api/sessions", {"path": "intruder.ipynb"}),
        ("GET", f"{nb}/api/sessions/{session_id}", None),
        ("PATCH", f"{nb}/api/sessions/{session_id}", {"name": "x"}),
        ("DELETE", f"{nb}/api/sessions/{session_id}", None),
        ("GET", f"{nb}/api/contents/a.txt", None),
        ("PUT", f"{nb}/api/contents/b.txt", {"type": "file", "format": "text", "content": "x"}),
        ("POST", f"{nb}/api/actions/export/contents/a.txt", {}),
        ("GET", f"{nb}/api/kernels", None),
        ("POST", f"{nb}/api/kernels", {}),
        ("GET", f"{nb}/api/kernels/{kernel_id}", None),
        ("POST", f"{nb}/api/kernels/{kernel_id}/interrupt", {}),
        ("DELETE", f"{nb}/api/kernels/{kernel_id}", None),
        ("GET", f"{nb}/api/kernelspecs", None),
    ]


async def _websocket_status(app: SignedApp, signer: Signer, url: str) -> int:
    """Open the kernel websocket through the ASGI app; the status of the denial (or 101 when accepted)."""
    wire = sign(signer, "GET", url)
    path = url.removeprefix("https://testserver")
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "path": path.split("?")[0],
        "raw_path": path.split("?")[0].encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in wire.headers.items()],
        "server": ("testserver", 443),
        "client": ("127.0.0.1", 50000),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
        "state": {},
    }
    sent: list[dict[str, Any]] = []
    connected = False

    async def receive() -> dict[str, Any]:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app.app(scope, receive, send)
    first = sent[0]
    if first["type"] == "websocket.accept":
        return 101
    assert first["type"] == "websocket.http.response.start", sent
    return int(first["status"])


@pytest.fixture
async def setup(signed_app: SignedApp, tmp_path: Path) -> dict[str, Any]:
    """A workspace made by the bootstrap user (its ADMINISTRATOR) with a session, a kernel and a file."""
    admin = signed_app.signer
    instance = signed_app.info.instance_id
    created = await _call(signed_app, admin, "POST", f"{API}/{instance}/workspaces", {"displayName": "private"})
    assert created.status_code == 200, created.text
    key = created.json()["key"]
    nb = f"{API}/{instance}/workspaces/{key}/notebook/api"
    session = await _call(signed_app, admin, "POST", f"{nb}/sessions", {"path": "a.ipynb"})
    assert session.status_code == 201, session.text
    file = {"type": "file", "format": "text", "content": "secret"}
    assert (await _call(signed_app, admin, "PUT", f"{nb}/contents/a.txt", file)).status_code == 200
    return {
        "key": key,
        "session": session.json()["id"],
        "kernel": session.json()["kernel"]["id"],
        "bob": await _second_user(signed_app, tmp_path),
    }


async def test_a_user_without_a_grant_gets_404_everywhere(signed_app: SignedApp, setup: dict[str, Any]) -> None:
    instance, bob = signed_app.info.instance_id, setup["bob"]
    ours = _routes(instance, setup["key"], setup["kernel"], setup["session"])
    missing = _routes(instance, "wsnosuchthing", setup["kernel"], setup["session"])
    for (method, url, body), (_, missing_url, _) in zip(ours, missing, strict=True):
        theirs = await _call(signed_app, bob, method, url, body)
        nothing = await _call(signed_app, bob, method, missing_url, body)
        assert theirs.status_code == nothing.status_code == 404, (method, url, theirs.text)
        assert theirs.json()["code"] == "NotAuthorizedOrNotFound"
        assert theirs.json() == json.loads(json.dumps(nothing.json()).replace("wsnosuchthing", setup["key"]))
    ws_url = f"{API}/{instance}/workspaces/{setup['key']}/notebook/api/kernels/{setup['kernel']}/channels"
    assert await _websocket_status(signed_app, bob, ws_url) == 404
    assert await _websocket_status(signed_app, signed_app.signer, ws_url) == 101

    listed = await _call(signed_app, bob, "GET", f"{API}/{instance}/workspaces")
    assert listed.status_code == 200 and listed.json()["items"] == []
    # nothing changed: the admin still sees its session, file and name
    admin = signed_app.signer
    nb = f"{API}/{instance}/workspaces/{setup['key']}/notebook/api"
    assert (await _call(signed_app, admin, "GET", f"{nb}/sessions/{setup['session']}")).status_code == 200
    assert (await _call(signed_app, admin, "GET", f"{nb}/contents/a.txt")).json()["content"] == "secret"
    assert not (signed_app.settings.data_dir / "workspaces" / instance / setup["key"] / "b.txt").exists()
    got = await _call(signed_app, admin, "GET", f"{API}/{instance}/workspaces/{setup['key']}")
    assert got.json()["displayName"] == "private"


def _manage(assign: tuple[str, list[str]] | None = None, revoke: tuple[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if assign:
        body["assignWorkspacePermissionDetails"] = {
            "assignees": {"type": "USER", "targets": [assign[0]]},
            "permissions": assign[1],
        }
    if revoke:
        body["revokeWorkspacePermissionDetails"] = {
            "assignees": {"type": "USER", "targets": [revoke[0]]},
            "permissions": revoke[1],
        }
    return body


async def test_grants_open_the_workspace_and_administrators_manage_it(
    signed_app: SignedApp, setup: dict[str, Any]
) -> None:
    instance, bob, admin = signed_app.info.instance_id, setup["bob"], signed_app.signer
    ws = f"{API}/{instance}/workspaces/{setup['key']}"
    manage = f"{ws}/actions/managePermission"
    granted = await _call(signed_app, admin, "POST", manage, _manage(assign=(bob.user_id, ["USER"])))
    assert granted.status_code == 204, granted.text

    assert (await _call(signed_app, bob, "GET", f"{ws}/notebook/api/contents/a.txt")).status_code == 200
    assert (await _call(signed_app, bob, "GET", ws)).status_code == 200
    listed = await _call(signed_app, bob, "GET", f"{API}/{instance}/workspaces")
    assert [w["key"] for w in listed.json()["items"]] == [setup["key"]]
    ws_url = f"{ws}/notebook/api/kernels/{setup['kernel']}/channels"
    assert await _websocket_status(signed_app, bob, ws_url) == 101
    perms = (await _call(signed_app, bob, "GET", f"{ws}/permissions")).json()["items"]
    assert {p["granteeName"]: p["granteePermissions"] for p in perms} == {
        "bob": ["USER"],
        "local-admin": ["ADMINISTRATOR"],
    }

    # a USER may not administer: update, delete and manage look like a missing workspace
    for method, url, body in [
        ("PUT", ws, {"displayName": "bob's"}),
        ("DELETE", ws, None),
        ("POST", manage, _manage(assign=(bob.user_id, ["ADMINISTRATOR"]))),
    ]:
        denied = await _call(signed_app, bob, method, url, body)
        assert denied.status_code == 404 and denied.json()["code"] == "NotAuthorizedOrNotFound", (method, denied.text)

    # the last ADMINISTRATOR cannot be revoked, bad grantees are 400, and nothing changes on failure
    last = await _call(signed_app, admin, "POST", manage, _manage(revoke=(signed_app.info.user_id, ["ADMINISTRATOR"])))
    assert last.status_code == 409 and last.json()["code"] == "Conflict"
    for body in (
        _manage(assign=("ocid1.user.oc1..nobody", ["USER"])),
        {
            "assignWorkspacePermissionDetails": {
                "assignees": {"type": "GROUP", "targets": ["g"]},
                "permissions": ["USER"],
            }
        },
        _manage(assign=(bob.user_id, ["OWNER"])),
        {},
    ):
        bad = await _call(signed_app, admin, "POST", manage, body)
        assert bad.status_code == 400, (body, bad.text)

    # hand over: bob becomes ADMINISTRATOR, the first admin leaves, bob administers
    swap = _manage(assign=(bob.user_id, ["ADMINISTRATOR"]), revoke=(signed_app.info.user_id, ["ADMINISTRATOR"]))
    assert (await _call(signed_app, admin, "POST", manage, swap)).status_code == 204
    assert (await _call(signed_app, admin, "GET", ws)).status_code == 404
    assert (await _call(signed_app, bob, "PUT", ws, {"displayName": "bob's"})).json()["displayName"] == "bob's"

    # revoking every permission closes the workspace again
    revoke_user = _manage(revoke=(bob.user_id, ["USER"]))
    assert (await _call(signed_app, bob, "POST", manage, revoke_user)).status_code == 204
    assert (await _call(signed_app, bob, "GET", f"{ws}/notebook/api/sessions")).status_code == 200  # still ADMIN


async def test_an_api_token_of_a_user_without_a_grant_reaches_nothing(
    signed_app: SignedApp, setup: dict[str, Any]
) -> None:
    from nbplane.auth import api_tokens
    from nbplane.store import credentials

    minted = api_tokens.new_token()
    async with signed_app.services.db.write() as db:
        credentials.add_api_token(
            db,
            token_id=minted.token_id,
            token_hash=minted.token_hash,
            user_id=setup["bob"].user_id,
            instance_id=signed_app.info.instance_id,
            workspace_key=setup["key"],
            created_by="test",
            expires_at=None,
            name=None,
        )
    url = f"{API}/{signed_app.info.instance_id}/workspaces/{setup['key']}/notebook/api/sessions"
    denied = await signed_app.client.get(url, headers={"authorization": f"token {minted.plaintext}"})
    assert denied.status_code == 404 and denied.json()["code"] == "NotAuthorizedOrNotFound"


async def test_another_tenancy_sees_no_workspace_api_of_this_one(
    signed_app: SignedApp, setup: dict[str, Any], tmp_path: Path
) -> None:
    from .test_isolation import _second_tenancy

    outsider = await _second_tenancy(signed_app, tmp_path)
    instance = signed_app.info.instance_id
    base = f"{API}/{instance}/workspaces"
    ghost = f"{API}/ocid1.aidataplatform.oc1..aaaaghost/workspaces"
    for method, path, body in [
        ("GET", "", None),
        ("POST", "", {"displayName": "intruder"}),
        ("GET", f"/{setup['key']}", None),
        ("PUT", f"/{setup['key']}", {"displayName": "x"}),
        ("DELETE", f"/{setup['key']}", None),
        ("GET", f"/{setup['key']}/permissions", None),
    ]:
        theirs = await _call(signed_app, outsider, method, base + path, body)
        nothing = await _call(signed_app, outsider, method, ghost + path, body)
        assert theirs.status_code == nothing.status_code == 404, (method, path, theirs.text)
    listed = await _call(signed_app, signed_app.signer, "GET", base)
    assert "intruder" not in {w["displayName"] for w in listed.json()["items"]}
    # the datalake-tenant-id header can only narrow what a caller sees
    other_tenant = sign(signed_app.signer, "GET", base, headers={"datalake-tenant-id": outsider.api_key.split("/")[0]})
    assert (await signed_app.send(other_tenant)).status_code == 404
