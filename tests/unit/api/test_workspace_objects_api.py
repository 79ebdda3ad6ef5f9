"""The HTTP mapping of the Workspace Object API: routes, raw objectPath decoding, headers, wire shapes and
the client mistakes the SDK and CLI cannot send. Object rules are tested in tests/unit/workspace_objects."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import nbformat
import pytest

from tests.unit.conftest import InProcess

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUMMARY_REQUIRED = ("path", "displayName", "timeCreated", "type")


def _make_nb(source: str = "x = 1") -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nbformat.writes(nb).encode()


NB = _make_nb()


def _nb() -> bytes:
    return NB


def _base(inproc: InProcess) -> str:
    return f"/20260430/aiDataPlatforms/{inproc.instance_id}/workspaces/{inproc.workspace_key}"


async def _create(inproc: InProcess, path: str, data: bytes = b"", **headers: str) -> Any:
    return await inproc.client.post(f"{_base(inproc)}/objects", content=data, headers={"path": path, **headers})


async def _list(inproc: InProcess, **params: Any) -> Any:
    return await inproc.client.get(f"{_base(inproc)}/objects", params=params)


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


async def test_create_list_get_head_update_delete(inproc: InProcess) -> None:
    folder = await _create(inproc, "/Shared", type="FOLDER")
    assert folder.status_code == 201, folder.text
    assert folder.json()["type"] == "FOLDER" and folder.json()["path"] == "/Shared"
    nb = await _create(inproc, "/Shared/a.ipynb", _nb())
    assert nb.status_code == 201, nb.text
    body = nb.json()
    assert body["type"] == "NOTEBOOK" and body["displayName"] == "a.ipynb" and body["key"] == "/Shared/a.ipynb"
    assert DATETIME.match(body["timeCreated"]) and nb.headers["etag"].startswith("sha256-")
    txt = await _create(inproc, "/Shared/notes.txt", b"hello")
    assert txt.json()["type"] == "FILE"
    await _create(inproc, "/Shared/sub", type="FOLDER")

    listing = await _list(inproc, path="/Shared", sortBy="displayName")
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert [(i["displayName"], i["type"]) for i in items] == [
        ("a.ipynb", "NOTEBOOK"),
        ("notes.txt", "FILE"),
        ("sub", "FOLDER"),
    ]
    assert all(all(i[k] is not None for k in SUMMARY_REQUIRED) for i in items)
    assert "opc-next-page" not in listing.headers
    only = await _list(inproc, path="/Shared", type="FOLDER,NOTEBOOK", sortBy="displayName")
    assert [i["displayName"] for i in only.json()["items"]] == ["a.ipynb", "sub"]

    got = await inproc.client.get(f"{_base(inproc)}/objects/Shared/notes.txt")
    assert got.status_code == 200 and got.content == b"hello"
    assert got.headers["etag"] == txt.headers["etag"] and got.headers["object-type"] == "FILE"
    assert got.headers["content-type"].startswith("text/plain")
    head = await inproc.client.head(
        f"{_base(inproc)}/objects//Shared/a.ipynb", params={"shouldIncludeMetadata": "True"}
    )
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(_nb())) and head.headers["file-metadata"] == "{}"
    assert head.headers["object-type"] == "NOTEBOOK" and head.headers["etag"] == nb.headers["etag"]
    # The CLI's strict encoding (%2F) names the same object.
    strict = await inproc.client.get(f"{_base(inproc)}/objects/%2FShared%2Fnotes.txt")
    assert strict.content == b"hello"

    stale = txt.headers["etag"]
    updated = await inproc.client.put(f"{_base(inproc)}/objects/Shared/notes.txt", content=b"v2")
    assert updated.status_code == 200 and updated.headers["etag"] != stale
    refused = await inproc.client.delete(f"{_base(inproc)}/objects/Shared/notes.txt", headers={"if-match": stale})
    assert refused.status_code == 412 and refused.json()["code"] == "NoEtagMatch"
    gone = await inproc.client.delete(
        f"{_base(inproc)}/objects/Shared/notes.txt", headers={"if-match": updated.headers["etag"]}
    )
    assert gone.status_code == 204
    assert not (inproc.workspace_root / "Shared" / "notes.txt").exists()
    # The contents API sees the same files.
    content = await inproc.client.get(f"{inproc.api_url}/contents/Shared/a.ipynb")
    assert content.status_code == 200 and content.headers["etag"] == nb.headers["etag"]


async def test_folder_get_is_its_details(inproc: InProcess) -> None:
    await _create(inproc, "/d", type="FOLDER")
    got = await inproc.client.get(f"{_base(inproc)}/objects/d")
    assert got.status_code == 200 and got.json()["type"] == "FOLDER" and got.headers["object-type"] == "FOLDER"


async def test_create_base64_and_overwrite(inproc: InProcess) -> None:
    first = await _create(inproc, "/b.bin", b"AAEC", **{"is-upload-file-base64-encoded": "True"})
    assert first.status_code == 201
    assert (inproc.workspace_root / "b.bin").read_bytes() == b"\x00\x01\x02"
    again = await _create(inproc, "/b.bin", b"x")
    assert again.status_code == 409 and again.json()["code"] == "NotAuthorizedOrResourceAlreadyExists"
    replaced = await _create(inproc, "/b.bin", b"x", **{"is-overwrite": "true"})
    assert replaced.status_code == 201 and (inproc.workspace_root / "b.bin").read_bytes() == b"x"


async def test_paging_is_keyset_and_tokens_are_bound(inproc: InProcess) -> None:
    await _create(inproc, "/p", type="FOLDER")
    for n in range(5):
        await _create(inproc, f"/p/f{n}.txt", b"x")
    seen: list[str] = []
    page = None
    while True:
        params: dict[str, Any] = {"path": "/p", "limit": 2, "sortBy": "displayName"}
        if page:
            params["page"] = page
        response = await _list(inproc, **params)
        seen += [i["displayName"] for i in response.json()["items"]]
        page = response.headers.get("opc-next-page")
        if page is None:
            break
        assert page[0].isalpha()
    assert seen == [f"f{n}.txt" for n in range(5)]
    first = await _list(inproc, path="/p", limit=2, sortBy="displayName")
    other = await _list(inproc, path="/p", limit=2, sortBy="timeCreated", page=first.headers["opc-next-page"])
    assert other.status_code == 400 and other.json()["code"] == "InvalidParameter"
    forged = await _list(inproc, path="/p", page="pnotatoken")
    assert forged.status_code == 400


async def test_copy_move_rename(inproc: InProcess) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)]
    cell.execution_count = 1
    nb.cells.append(cell)
    await _create(inproc, "/a.ipynb", nbformat.writes(nb).encode())
    await _create(inproc, "/dir", type="FOLDER")
    url = f"{_base(inproc)}/actions"
    copied = await inproc.client.post(
        f"{url}/copyObject", json={"fromPath": "/a.ipynb", "toPath": "/dir", "isIncludeOutputs": False}
    )
    assert copied.status_code == 200, copied.text
    assert copied.json()["path"] == "/dir/a.ipynb"
    stripped = json.loads((inproc.workspace_root / "dir" / "a.ipynb").read_text())
    assert stripped["cells"][0]["outputs"] == [] and stripped["cells"][0]["execution_count"] is None
    kept = await inproc.client.post(f"{url}/copyObject", json={"fromPath": "/a.ipynb", "toPath": "/b.ipynb"})
    assert json.loads((inproc.workspace_root / "b.ipynb").read_text())["cells"][0]["outputs"]
    assert kept.json()["path"] == "/b.ipynb"
    moved = await inproc.client.post(f"{url}/moveObject", json={"fromPath": "/b.ipynb", "toPath": "/dir/c.ipynb"})
    assert moved.status_code == 200 and moved.json()["path"] == "/dir/c.ipynb"
    renamed = await inproc.client.post(f"{url}/renameObject", json={"path": "/dir", "newName": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["path"] == "/renamed"
    assert sorted(p.name for p in (inproc.workspace_root / "renamed").iterdir()) == ["a.ipynb", "c.ipynb"]


async def test_sessions_follow_move_and_rename(inproc: InProcess) -> None:
    await _create(inproc, "/s.ipynb", _nb())
    session = await inproc.client.post(inproc.sessions_url, json={"path": "s.ipynb"})
    assert session.status_code == 201, session.text
    sid = session.json()["id"]
    await _create(inproc, "/d", type="FOLDER")
    await inproc.client.post(f"{_base(inproc)}/actions/moveObject", json={"fromPath": "/s.ipynb", "toPath": "/d"})
    assert (await inproc.client.get(f"{inproc.sessions_url}/{sid}")).json()["path"] == "d/s.ipynb"
    await inproc.client.post(f"{_base(inproc)}/actions/renameObject", json={"path": "/d", "newName": "e"})
    assert (await inproc.client.get(f"{inproc.sessions_url}/{sid}")).json()["path"] == "e/s.ipynb"


async def test_zip_round_trip(inproc: InProcess) -> None:
    await _create(inproc, "/proj", type="FOLDER")
    await _create(inproc, "/proj/a.ipynb", _nb())
    await _create(inproc, "/proj/sub", type="FOLDER")
    await _create(inproc, "/proj/sub/data.csv", b"a,b\n1,2\n")
    url = f"{_base(inproc)}/actions"
    started = await inproc.client.post(f"{url}/zipAndDownloadFolder", json={"sourceFolderPath": "/proj"})
    assert started.status_code == 200, started.text
    result = started.json()
    assert result["archiveName"] == "proj.zip" and result["operationKey"].startswith("op")
    download = await inproc.client.get(urlsplit(result["downloadUrl"]).path)
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    names = sorted(zipfile.ZipFile(io.BytesIO(download.content)).namelist())
    assert names == ["proj/", "proj/a.ipynb", "proj/sub/", "proj/sub/data.csv"]

    await _create(inproc, "/restore", type="FOLDER")
    create = await inproc.client.post(
        f"{url}/uploadAndExtractZip",
        json={"action": "CREATE", "zipFileName": "proj.zip", "destinationFolderPath": "/restore"},
    )
    assert create.status_code == 200, create.text
    upload_url = urlsplit(create.json()["uploadUrl"]).path
    put = await inproc.client.put(upload_url, content=download.content)
    assert put.status_code == 200
    done = await inproc.client.post(
        f"{url}/uploadAndExtractZip",
        json={
            "action": "UPDATE",
            "operationKey": create.json()["operationKey"],
            "sizeInBytes": len(download.content),
            "eTag": put.headers["etag"],
        },
    )
    assert done.status_code == 200, done.text
    assert done.json()["destinationFolderPath"] == "/restore"
    restored = inproc.workspace_root / "restore" / "proj"
    assert (restored / "a.ipynb").read_bytes() == _nb()
    assert (restored / "sub" / "data.csv").read_bytes() == b"a,b\n1,2\n"
    # The upload URL is spent, and a wrong token never works.
    assert (await inproc.client.put(upload_url, content=b"x")).status_code == 404
    bad = urlsplit(result["downloadUrl"]).path.split("/")
    bad[3] = "x" * len(bad[3])
    assert (await inproc.client.get("/".join(bad))).status_code == 404


ESCAPES = ["../outside.txt", "/../outside.txt", "a/../../outside.txt", "C:evil", "a\\..\\b", "a/./b", "x\x00y"]


@pytest.mark.parametrize("escape", ESCAPES)
async def test_path_escapes_are_400_and_touch_nothing(inproc: InProcess, escape: str) -> None:
    await _create(inproc, "/in.txt", b"inside")
    outside = inproc.data_dir / "workspaces" / inproc.instance_id
    before = _snapshot(outside)
    base = _base(inproc)
    loose, strict = quote(escape, safe="/"), quote(escape, safe="")
    calls = [
        inproc.raw("GET", f"{base}/objects", query=f"path={strict}"),
        *(inproc.raw("GET", f"{base}/objects/{e}") for e in (loose, strict)),
        *(inproc.raw("HEAD", f"{base}/objects/{e}") for e in (loose, strict)),
        *(inproc.raw("PUT", f"{base}/objects/{e}", body=b"x") for e in (loose, strict)),
        *(inproc.raw("DELETE", f"{base}/objects/{e}") for e in (loose, strict)),
        inproc.raw("POST", f"{base}/actions/copyObject", body={"fromPath": "/in.txt", "toPath": escape}),
        inproc.raw("POST", f"{base}/actions/copyObject", body={"fromPath": escape, "toPath": "/c.txt"}),
        inproc.raw("POST", f"{base}/actions/moveObject", body={"fromPath": "/in.txt", "toPath": escape}),
        inproc.raw("POST", f"{base}/actions/renameObject", body={"path": "/in.txt", "newName": escape}),
        inproc.raw("POST", f"{base}/actions/zipAndDownloadFolder", body={"sourceFolderPath": escape}),
        inproc.raw(
            "POST",
            f"{base}/actions/uploadAndExtractZip",
            body={"action": "CREATE", "zipFileName": "z.zip", "destinationFolderPath": escape},
        ),
    ]
    if "\x00" not in escape:  # a header cannot carry NUL
        calls.append(inproc.raw("POST", f"{base}/objects", body=b"x", headers={"path": escape}))
    for call in calls:
        response = await call
        assert response.status_code == 400, (escape, response.status_code, response.content)
        assert response.json()["code"] == "InvalidParameter"
    assert _snapshot(outside) == before


async def test_zip_slip_and_symlink_archives_change_nothing(inproc: InProcess) -> None:
    await _create(inproc, "/dest", type="FOLDER")
    before = _snapshot(inproc.data_dir / "workspaces")
    for build in (_zip_with("ok.txt", "../../evil.txt"), _zip_with_symlink()):
        status, body = await _upload_zip(inproc, build, "/dest")
        assert status == 400, body
        assert _snapshot(inproc.data_dir / "workspaces") == before


async def test_bad_input(inproc: InProcess) -> None:
    base = _base(inproc)
    cases = [
        (await inproc.client.get(f"{base}/objects"), 400, "MissingParameter"),
        (await _list(inproc, path="/", limit=0), 400, "InvalidParameter"),
        (await _list(inproc, path="/", sortBy="size"), 400, "InvalidParameter"),
        (await _list(inproc, path="/", type="SPREADSHEET"), 400, "InvalidParameter"),
        (await _list(inproc, path="/missing"), 404, "NotAuthorizedOrNotFound"),
        (await inproc.client.post(f"{base}/objects", content=b"x"), 400, "MissingParameter"),
        (await _create(inproc, "/n.ipynb", b"{not json"), 400, "InvalidParameter"),
        (await _create(inproc, "/x.txt", b"@@", **{"is-upload-file-base64-encoded": "True"}), 400, "InvalidParameter"),
        (await _create(inproc, "/x.txt", b"x", **{"is-overwrite": "maybe"}), 400, "InvalidParameter"),
        (await _create(inproc, "/x.txt", b"x", type="JOB"), 400, "InvalidParameter"),
        (await _create(inproc, "/f", b"body", type="FOLDER"), 400, "InvalidParameter"),
        (await _create(inproc, "/no/parent.txt", b"x"), 404, "NotAuthorizedOrNotFound"),
        (await _create(inproc, "/", b"x"), 400, "InvalidParameter"),
        (await inproc.client.put(f"{base}/objects/missing.txt", content=b"x"), 404, "NotAuthorizedOrNotFound"),
        (await inproc.client.post(f"{base}/actions/moveObject", json={"fromPath": "/a"}), 400, "MissingParameter"),
        (await inproc.client.post(f"{base}/actions/copyObject", content=b"{"), 400, "CannotParseRequest"),
        (await inproc.client.post(f"{base}/actions/renameObject", json={"path": "/a", "newName": 5}), 400, None),
        (await inproc.client.post(f"{base}/actions/uploadAndExtractZip", json={}), 400, "MissingParameter"),
        (
            await inproc.client.post(f"{base}/actions/uploadAndExtractZip", json={"action": "DELETE"}),
            400,
            "InvalidParameter",
        ),
        (
            await inproc.client.post(
                f"{base}/actions/uploadAndExtractZip", json={"action": "UPDATE", "operationKey": "op" + "0" * 32}
            ),
            400,
            "MissingParameter",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.request.url, response.text)
        if code is not None:
            assert response.json()["code"] == code, response.text
    assert sorted(p.name for p in inproc.workspace_root.iterdir()) == []


def _zip_with(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in names:
            zf.writestr(name, b"payload")
    return buffer.getvalue()


def _zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("fine.txt", b"x")
        link = zipfile.ZipInfo("link")
        link.external_attr = (0o120777) << 16
        zf.writestr(link, "/etc/passwd")
    return buffer.getvalue()


async def _upload_zip(inproc: InProcess, data: bytes, destination: str) -> tuple[int, Any]:
    url = f"{_base(inproc)}/actions/uploadAndExtractZip"
    create = await inproc.client.post(
        url, json={"action": "CREATE", "zipFileName": "u.zip", "destinationFolderPath": destination}
    )
    assert create.status_code == 200, create.text
    await inproc.client.put(urlsplit(create.json()["uploadUrl"]).path, content=data)
    done = await inproc.client.post(
        url, json={"action": "UPDATE", "operationKey": create.json()["operationKey"], "sizeInBytes": len(data)}
    )
    return done.status_code, done.json()


async def test_more_bad_input_is_4xx_never_5xx(inproc: InProcess) -> None:
    base = _base(inproc)
    await _create(inproc, "/f.txt", b"x")
    big = b"x" * (65 * 1024)  # the inproc body limit is 64 KiB
    cases = [
        (await inproc.raw("GET", f"{base}/objects/%FF%FE"), 400),
        (await inproc.raw("GET", f"{base}/objects/f.txt", query="shouldIncludeMetadata=maybe"), 400),
        (await inproc.raw("GET", f"{base}/objects", query="path=%2F&limit=abc"), 400),
        (await inproc.raw("GET", f"{base}/objects", query="path=%2F&sortOrder=UP"), 400),
        (await inproc.raw("GET", f"{base}/objects", query="path=%2F&page="), 400),
        (await inproc.raw("GET", f"{base}/objects", query="path=%2Ff.txt"), 400),
        (await inproc.raw("POST", f"{base}/objects", body=big, headers={"path": "/big.txt"}), 413),
        (await inproc.raw("PUT", f"{base}/objects/f.txt", body=big), 413),
        (await inproc.raw("POST", f"{base}/objects", body=b"x", headers={"path": "/f.txt", "type": "FOLDER"}), 400),
        (await inproc.raw("POST", f"{base}/objects", body=b"x", headers={"path": "/f.txt/in.txt"}), 404),
        (
            await inproc.raw(
                "POST", f"{base}/actions/copyObject", body={"fromPath": "/f.txt", "toPath": "/g.txt", "bufferSize": 0}
            ),
            400,
        ),
        (await inproc.raw("POST", f"{base}/actions/copyObject", body={"fromPath": 1, "toPath": "/g.txt"}), 400),
        (await inproc.raw("POST", f"{base}/actions/copyObject", body={"fromPath": "/", "toPath": "/g"}), 400),
        (await inproc.raw("POST", f"{base}/actions/renameObject", body={"path": "/f.txt", "newName": ""}), 400),
        (await inproc.raw("POST", f"{base}/actions/zipAndDownloadFolder", body={"sourceFolderPath": "/f.txt"}), 400),
        (await inproc.raw("POST", f"{base}/actions/zipAndDownloadFolder", body={}), 400),
        (
            await inproc.raw(
                "POST", f"{base}/actions/uploadAndExtractZip", body={"action": "CREATE", "zipFileName": "a.zip"}
            ),
            400,
        ),
        (
            await inproc.raw(
                "POST",
                f"{base}/actions/uploadAndExtractZip",
                body={"action": "UPDATE", "operationKey": "../../x", "sizeInBytes": 1},
            ),
            404,
        ),
        (await inproc.raw("PUT", "/p/op0/tok/a.zip", body=b"x"), 404),
        (await inproc.raw("GET", "/p/../../etc/passwd"), 404),
        # manage_workspace_object_permission is not served: 404 NotFound like other unserved operations.
        (await inproc.raw("POST", f"{base}/objects/f.txt/actions/managePermission", body={}), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, (status, response.content)
        assert set(response.json()) >= {"code", "message"}
    create = await inproc.client.post(
        f"{base}/actions/uploadAndExtractZip",
        json={"action": "CREATE", "zipFileName": "a.zip", "destinationFolderPath": "/"},
    )
    too_big = await inproc.raw("PUT", urlsplit(create.json()["uploadUrl"]).path, body=big)
    assert too_big.status_code == 413 and too_big.json()["code"] == "PayloadTooLarge"
    staged = inproc.data_dir / "uploads" / "transfers" / create.json()["operationKey"]
    assert sorted(p.name for p in staged.iterdir()) == ["meta.json"]
    assert sorted(p.name for p in inproc.workspace_root.iterdir()) == ["f.txt"]
