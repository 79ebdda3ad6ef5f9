"""Workspace objects with authentication on: unsigned calls are 401, another tenancy's workspace is 404 on
every operation (and nothing of it changes), transfer URLs need no signature but their own token."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from oci.signer import Signer

from tests.signing import sign

from .conftest import SignedApp
from .test_isolation import _second_tenancy


def _base(instance_id: str) -> str:
    return f"https://testserver/20260430/aiDataPlatforms/{instance_id}/workspaces/default"


def _ops(base: str) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    def action(name: str, body: dict[str, object]) -> tuple[str, str, bytes | None, dict[str, str]]:
        return ("POST", f"{base}/actions/{name}", json.dumps(body).encode(), {})

    return [
        ("GET", f"{base}/objects?path=%2F", None, {}),
        ("POST", f"{base}/objects", b"intruder", {"path": "/intruder.txt"}),
        ("GET", f"{base}/objects/mine.txt", None, {}),
        ("HEAD", f"{base}/objects/mine.txt", None, {}),
        ("PUT", f"{base}/objects/mine.txt", b"pwned", {}),
        ("DELETE", f"{base}/objects/mine.txt", None, {}),
        action("copyObject", {"fromPath": "/mine.txt", "toPath": "/copy.txt"}),
        action("moveObject", {"fromPath": "/mine.txt", "toPath": "/moved.txt"}),
        action("renameObject", {"path": "/mine.txt", "newName": "renamed.txt"}),
        action("zipAndDownloadFolder", {"sourceFolderPath": "/"}),
        action("uploadAndExtractZip", {"action": "CREATE", "zipFileName": "z.zip", "destinationFolderPath": "/"}),
    ]


async def _call(
    app: SignedApp,
    signer: Signer,
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await app.send(sign(signer, method, url, body, headers=headers))


async def test_unsigned_requests_are_401(signed_app: SignedApp) -> None:
    for method, url, body, headers in _ops(_base(signed_app.info.instance_id)):
        response = await signed_app.client.request(method, url, content=body, headers=headers)
        assert response.status_code == 401, (method, url)


async def test_another_tenancys_workspace_objects_are_not_found(signed_app: SignedApp, tmp_path: Path) -> None:
    other = await _second_tenancy(signed_app, tmp_path)
    theirs = _base(other.instance_id)  # type: ignore[attr-defined]
    made = await _call(signed_app, other, "POST", f"{theirs}/objects", b"secret", {"path": "/mine.txt"})
    assert made.status_code == 201, made.text
    root = signed_app.settings.data_dir / "workspaces" / other.instance_id / "default"  # type: ignore[attr-defined]
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    for method, url, body, headers in _ops(theirs):
        response = await _call(signed_app, signed_app.signer, method, url, body, headers)
        assert response.status_code == 404, (method, url, response.text)
        if method != "HEAD":
            assert response.json()["code"] == "NotAuthorizedOrNotFound"
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before


async def test_transfer_urls_need_their_token_and_no_signature(signed_app: SignedApp, tmp_path: Path) -> None:
    base = _base(signed_app.info.instance_id)
    zipped = await _call(
        signed_app, signed_app.signer, "POST", f"{base}/actions/zipAndDownloadFolder", b'{"sourceFolderPath": "/"}'
    )
    assert zipped.status_code == 200, zipped.text
    url = urlsplit(zipped.json()["downloadUrl"]).path
    assert (await signed_app.client.get(url)).status_code == 200
    op, token, name = url.split("/")[2:]
    forged = f"/p/{op}/{token[:-2]}xx/{name}"
    assert (await signed_app.client.get(forged)).status_code == 404
    # Another tenancy cannot finish this workspace's upload with the operation key alone.
    other = await _second_tenancy(signed_app, tmp_path)
    created = await _call(
        signed_app,
        signed_app.signer,
        "POST",
        f"{base}/actions/uploadAndExtractZip",
        b'{"action": "CREATE", "zipFileName": "z.zip", "destinationFolderPath": "/"}',
    )
    key = created.json()["operationKey"]
    finish = json.dumps({"action": "UPDATE", "operationKey": key, "sizeInBytes": 0}).encode()
    theirs = _base(other.instance_id)  # type: ignore[attr-defined]
    refused = await _call(signed_app, other, "POST", f"{theirs}/actions/uploadAndExtractZip", finish)
    assert refused.status_code == 404 and refused.json()["code"] == "NotAuthorizedOrNotFound"
    # The operation's status: the owner sees it, another tenancy gets what an unknown key gets.
    operations = f"https://testserver/20260430/aiDataPlatforms/{signed_app.info.instance_id}/asyncOperations"
    mine = await _call(signed_app, signed_app.signer, "GET", f"{operations}/{key}")
    assert mine.status_code == 200 and mine.json()["status"] == "IN_PROGRESS", mine.text
    assert (await signed_app.client.get(f"{operations}/{key}")).status_code == 401
    stranger = await _call(signed_app, other, "GET", f"{operations}/{key}")
    unknown = await _call(signed_app, other, "GET", f"{operations}/op{'0' * 32}")
    assert stranger.status_code == unknown.status_code == 404
    assert stranger.json()["message"] == unknown.json()["message"].replace("op" + "0" * 32, key)


@pytest.mark.parametrize("header", ["path", "type"])
async def test_retry_token_covers_the_object_headers(signed_app: SignedApp, header: str) -> None:
    base = _base(signed_app.info.instance_id)
    first_headers = {"path": "/r.txt", "type": "FILE", "opc-retry-token": f"tok-{header}"}
    first = await _call(signed_app, signed_app.signer, "POST", f"{base}/objects", b"x", first_headers)
    replay = await _call(signed_app, signed_app.signer, "POST", f"{base}/objects", b"x", first_headers)
    assert first.status_code == replay.status_code == 201 and first.json() == replay.json()
    changed = {**first_headers, header: "/other.txt" if header == "path" else "NOTEBOOK"}
    conflict = await _call(signed_app, signed_app.signer, "POST", f"{base}/objects", b"x", changed)
    assert conflict.status_code == 409 and conflict.json()["code"] == "Conflict"
