"""The HTTP mapping of the contents operations: routing and decoding, status codes, headers, wire shapes and
errors. Content rules themselves are tested at the domain level (test_get, test_create, ...)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import quote

import nbformat
import pytest

from tests.unit.conftest import InProcess

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
REQUIRED = ("name", "path", "type", "writable", "created", "last_modified", "mimetype", "content", "format")


def _nb(source: str = "print(1)") -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"id": "c1", "cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
        ],
    }


async def _put_nb(inproc: InProcess, path: str, source: str = "print(1)", **headers: str) -> Any:
    return await inproc.client.put(
        f"{inproc.api_url}/contents/{quote(path, safe='/')}",
        json={"type": "notebook", "format": "json", "content": _nb(source)},
        headers=headers,
    )


def _check_shape(body: dict[str, Any]) -> None:
    for key in REQUIRED:
        assert key in body, key
    assert DATETIME.match(body["created"]) and DATETIME.match(body["last_modified"])


# ---- routing and decoding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        "dir/a%20b.ipynb",  # SDK default: literal '/'
        "/dir/a%20b.ipynb",  # SDK default for '/dir/a b.ipynb': a double slash after contents
        "dir%2Fa%20b.ipynb",  # CLI / strict encoding
        "%2Fdir%2Fa%20b.ipynb",
        "dir//a%20b.ipynb",
    ],
)
async def test_both_encodings_name_one_file(inproc: InProcess, sent: str) -> None:
    await inproc.client.put(f"{inproc.api_url}/contents/dir", json={"type": "directory"})
    assert (await _put_nb(inproc, "dir/a b.ipynb")).status_code == 200
    got = await inproc.raw("GET", f"{inproc.api_url}/contents/{sent}", query="content=0")
    assert got.status_code == 200, got.content
    assert got.json()["path"] == "dir/a b.ipynb"
    assert got.json()["name"] == "a b.ipynb"


async def test_percent_is_decoded_exactly_once(inproc: InProcess) -> None:
    """`%252E%252E` is the literal name `%2E%2E`, not `..`."""
    created = await inproc.raw(
        "PUT", f"{inproc.api_url}/contents/%252E%252E", body={"type": "file", "format": "text", "content": "x"}
    )
    assert created.status_code == 200, created.content
    assert created.json()["name"] == "%2E%2E"
    assert (inproc.workspace_root / "%2E%2E").read_text() == "x"


async def test_invalid_utf8_escape_is_400(inproc: InProcess) -> None:
    got = await inproc.raw("GET", f"{inproc.api_url}/contents/%FF.txt")
    assert got.status_code == 400


async def test_no_redirects_for_trailing_or_missing_slashes(inproc: InProcess) -> None:
    await inproc.client.put(f"{inproc.api_url}/contents/dir", json={"type": "directory"})
    for sent in ("dir/", "dir//", ""):
        got = await inproc.raw("GET", f"{inproc.api_url}/contents/{sent}", query="content=0")
        assert got.status_code == 200, (sent, got.content)
        assert got.json()["type"] == "directory"
    root = await inproc.raw("GET", f"{inproc.api_url}/contents", query="content=0")
    assert root.status_code == 200 and root.json()["path"] == ""
    # and sessions, sharing the app, are not redirected either
    assert (await inproc.raw("GET", f"{inproc.sessions_url}/")).status_code == 404


async def test_raw_path_mismatch_is_not_routed(inproc: InProcess) -> None:
    """`contents%2Fa` decodes to a contents route but is not one on the wire."""
    got = await inproc.raw("GET", f"{inproc.api_url}/contents%2Fa.ipynb")
    assert got.status_code == 404


# ---- get ---------------------------------------------------------------------------------------------


async def test_get_notebook_file_and_directory(inproc: InProcess) -> None:
    put = await _put_nb(inproc, "a.ipynb")
    assert put.status_code == 200
    _check_shape(put.json())
    got = await inproc.client.get(f"{inproc.api_url}/contents/a.ipynb")
    assert got.status_code == 200
    body = got.json()
    _check_shape(body)
    assert body["type"] == "notebook" and body["format"] == "json" and body["mimetype"] is None
    assert body["content"]["cells"][0]["source"] == "print(1)"
    assert got.headers["etag"] == put.headers["etag"]
    assert body["size"] == (inproc.workspace_root / "a.ipynb").stat().st_size
    assert body["hash"] is None

    hashed = await inproc.client.get(f"{inproc.api_url}/contents/a.ipynb", params={"hash": "1", "content": "0"})
    raw = (inproc.workspace_root / "a.ipynb").read_bytes()
    assert hashed.json()["hash"] == hashlib.sha256(raw).hexdigest()
    assert hashed.json()["hash_algorithm"] == "sha256"
    assert hashed.json()["content"] is None and hashed.json()["format"] is None

    (inproc.workspace_root / "blob.bin").write_bytes(b"\x89PNG\xff\x00")
    blob = (await inproc.client.get(f"{inproc.api_url}/contents/blob.bin")).json()
    assert blob["format"] == "base64" and base64.b64decode(blob["content"]) == b"\x89PNG\xff\x00"
    assert blob["mimetype"] == "application/octet-stream"

    await inproc.client.put(f"{inproc.api_url}/contents/d", json={"type": "directory"})
    meta = await inproc.client.get(f"{inproc.api_url}/contents/d", params={"content": "0"})
    assert meta.status_code == 200 and meta.json()["type"] == "directory" and meta.json()["content"] is None
    assert meta.headers["etag"]


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("a.ipynb", {"type": "directory", "content": "0"}, "bad type"),
        ("a.ipynb", {"format": "text", "type": "notebook"}, "bad format"),
        ("blob.bin", {"format": "text"}, "bad format"),
        ("blob.bin", {"format": "json"}, "bad format"),
        ("d", {"type": "file", "content": "0"}, "bad type"),
    ],
)
async def test_unsatisfiable_get_is_400_with_reason(
    inproc: InProcess, path: str, params: dict[str, str], reason: str
) -> None:
    await _put_nb(inproc, "a.ipynb")
    (inproc.workspace_root / "blob.bin").write_bytes(b"\xff\xfe\x00")
    (inproc.workspace_root / "d").mkdir()
    got = await inproc.client.get(f"{inproc.api_url}/contents/{path}", params=params)
    assert got.status_code == 400
    assert got.json()["reason"] == reason
    assert got.json()["code"] == "InvalidParameter"


@pytest.mark.parametrize(
    "params",
    [
        {"content": "2"},
        {"content": "true"},
        {"content": ""},
        {"hash": "yes"},
        {"hash": "-1"},
        {"type": "folder"},
        {"format": "xml"},
        {"type": "directory"},  # content defaults to 1: listings are not supported
        {"type": "directory", "content": "1"},
    ],
)
async def test_bad_get_query_is_400(inproc: InProcess, params: dict[str, str]) -> None:
    (inproc.workspace_root / "d").mkdir(parents=True)
    got = await inproc.client.get(f"{inproc.api_url}/contents/d", params=params)
    assert got.status_code == 400, got.text
    assert got.json()["code"] == "InvalidParameter"


async def test_get_missing_is_404(inproc: InProcess) -> None:
    got = await inproc.client.get(f"{inproc.api_url}/contents/nope.ipynb")
    assert got.status_code == 404 and got.json()["code"] == "NotAuthorizedOrNotFound"


@pytest.mark.parametrize(("value", "status"), [("True", 200), ("false", 200), ("TRUE", 200), ("maybe", 400)])
async def test_should_update_recent_header(inproc: InProcess, value: str, status: int) -> None:
    await _put_nb(inproc, "a.ipynb")
    got = await inproc.client.get(f"{inproc.api_url}/contents/a.ipynb", headers={"should-update-recent": value})
    assert got.status_code == status


# ---- create ------------------------------------------------------------------------------------------


async def test_create_untitled_each_type_and_copy(inproc: InProcess) -> None:
    url = f"{inproc.api_url}/contents/"
    notebook = await inproc.client.post(url, json={"type": "notebook"})
    assert notebook.status_code == 201 and notebook.json()["name"] == "Untitled.ipynb"
    assert notebook.headers["etag"]
    _check_shape(notebook.json())
    assert (await inproc.client.post(url, json={"ext": ".ipynb", "type": "notebook"})).json()["name"] == (
        "Untitled1.ipynb"
    )
    assert (await inproc.client.post(url, json={})).json()["name"] == "untitled"
    assert (await inproc.client.post(url, json={"ext": ".txt"})).json()["name"] == "untitled.txt"
    folder = await inproc.client.post(url, json={"type": "directory"})
    assert folder.json()["name"] == "Untitled Folder" and folder.json()["type"] == "directory"
    copy = await inproc.client.post(url, json={"copy_from": "/Untitled.ipynb"})
    assert copy.status_code == 201 and copy.json()["name"] == "Untitled-Copy1.ipynb"
    named = await inproc.client.post(f"{url}Untitled%20Folder%2Fmine.ipynb", json={"copy_from": "Untitled.ipynb"})
    assert named.status_code == 201 and named.json()["path"] == "Untitled Folder/mine.ipynb"


async def test_create_errors(inproc: InProcess) -> None:
    url = f"{inproc.api_url}/contents"
    await _put_nb(inproc, "a.ipynb")
    assert (await inproc.client.post(f"{url}/a.ipynb", json={})).status_code == 409
    assert (await inproc.client.post(f"{url}/no/such/dir.ipynb", json={})).status_code == 404
    assert (await inproc.client.post(f"{url}/x.ipynb", json={"copy_from": "missing.ipynb"})).status_code == 404
    assert (await inproc.client.post(f"{url}/", json={"format": "text"})).status_code == 400


async def test_create_honours_retry_token(inproc: InProcess) -> None:
    url = f"{inproc.api_url}/contents/"
    headers = {"opc-retry-token": "tok1"}
    first = await inproc.client.post(url, json={"type": "notebook"}, headers=headers)
    again = await inproc.client.post(url, json={"type": "notebook"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["etag"] == first.headers["etag"]
    assert sorted(p.name for p in inproc.workspace_root.iterdir()) == ["Untitled.ipynb"]
    other = await inproc.client.post(url, json={"type": "directory"}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "Conflict"
    await inproc.client.delete(f"{url}Untitled.ipynb")
    gone = await inproc.client.post(url, json={"type": "notebook"}, headers=headers)
    assert gone.status_code == 409 and gone.json()["code"] == "InvalidatedRetryToken"


# ---- chunked upload ----------------------------------------------------------------------------------


def _chunks(data: bytes, size: int) -> list[dict[str, Any]]:
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    digest = hashlib.sha256(data).hexdigest()
    return [
        {
            "upload_id": "up-1",
            "upload_chunk_index": -1 if i == len(parts) - 1 else i + 1,
            "total_chunks": len(parts),
            "total_size_bytes": len(data),
            "sha256": digest,
            "format": "json",
            "content": base64.b64encode(part).decode(),
        }
        for i, part in enumerate(parts)
    ]


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_chunked_upload(inproc: InProcess, method: str) -> None:
    data = json.dumps(_nb("x = 1\n" * 500)).encode()
    url = f"{inproc.api_url}/contents/big.ipynb"
    chunks = _chunks(data, 1000)
    for chunk in chunks[:-1]:
        ack = await inproc.client.request(
            method, url, json=chunk, headers={"opc-retry-token": f"t{chunk['upload_chunk_index']}"}
        )
        assert ack.status_code == (201 if method == "POST" else 200), ack.text
        assert ack.json()["upload_chunk_index"] == chunk["upload_chunk_index"]
        assert ack.json()["upload_id"] == "up-1" and ack.json()["total_chunks"] == len(chunks)
        assert not (inproc.workspace_root / "big.ipynb").exists()
    done = await inproc.client.request(method, url, json=chunks[-1])
    assert done.status_code in (200, 201), done.text
    assert done.json()["upload_chunk_index"] == -1 and done.json()["type"] == "notebook"
    assert done.headers["etag"]
    stored = (await inproc.client.get(url)).json()["content"]
    assert stored["cells"][0]["source"] == "x = 1\n" * 500


@pytest.mark.parametrize("field", ["sha256", "total_size_bytes"])
async def test_chunked_upload_with_wrong_digest_or_size_stores_nothing(inproc: InProcess, field: str) -> None:
    data = json.dumps(_nb()).encode()
    chunks = _chunks(data, 100)
    for chunk in chunks:
        chunk[field] = "0" * 64 if field == "sha256" else len(data) + 1
    url = f"{inproc.api_url}/contents/bad.ipynb"
    for chunk in chunks[:-1]:
        assert (await inproc.client.post(url, json=chunk)).status_code == 201
    final = await inproc.client.post(url, json=chunks[-1])
    assert final.status_code == 400 and final.json()["code"] == "InvalidParameter"
    assert not (inproc.workspace_root / "bad.ipynb").exists()
    assert not any((inproc.data_dir / "uploads" / "uploads").glob("*/*.chunk"))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"upload_chunk_index": 1}, "InvalidParameter"),  # chunk fields without upload_id
        ({"upload_id": "u"}, "MissingParameter"),
        ({"upload_id": "u", "upload_chunk_index": "1", "content": "e30="}, "InvalidParameter"),
        ({"upload_id": "u", "upload_chunk_index": 0, "content": "e30="}, "InvalidParameter"),
        ({"upload_id": "../u", "upload_chunk_index": 1, "content": "e30="}, "InvalidParameter"),
        ({"upload_id": "u", "upload_chunk_index": 1, "content": "not base64!"}, "InvalidParameter"),
        ({"upload_id": "u", "upload_chunk_index": -1, "content": "e30="}, "MissingParameter"),
        ({"upload_id": "u", "upload_chunk_index": 1, "total_size_bytes": 10**12, "content": ""}, "PayloadTooLarge"),
    ],
)
async def test_bad_chunk_bodies(inproc: InProcess, body: dict[str, Any], code: str) -> None:
    got = await inproc.client.post(f"{inproc.api_url}/contents/c.ipynb", json=body)
    assert got.json()["code"] == code, got.text
    assert got.status_code in (400, 413)


# ---- update ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"type": "notebook", "content": {"cells": "nope"}}, "InvalidParameter", "invalid notebook"),
        (
            {"type": "notebook", "format": "json", "content": {**_nb(), "nbformat": 4, "cells": [{"cell_type": "x"}]}},
            "InvalidParameter",
            "invalid notebook",
        ),
        ({"type": "notebook"}, "MissingParameter", "content"),
        ({"type": "file", "format": "base64", "content": "%%%"}, "InvalidParameter", "base64"),
        ({"type": "table", "content": "x"}, "InvalidParameter", "type"),
        ({"type": "file", "format": "xml", "content": "x"}, "InvalidParameter", "format"),
        ({"type": "notebook", "content": _nb(), "name": "other.ipynb"}, "InvalidParameter", "name"),
    ],
)
async def test_bad_update_bodies(inproc: InProcess, body: dict[str, Any], code: str, fragment: str) -> None:
    got = await inproc.client.put(f"{inproc.api_url}/contents/a.ipynb", json=body)
    assert got.status_code == 400, got.text
    assert got.json()["code"] == code and fragment in got.json()["message"]
    assert not (inproc.workspace_root / "a.ipynb").exists()


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b'{"type": "file",', "CannotParseRequest"), (b"", "MissingParameter"), (b"[1]", "InvalidParameter")],
)
async def test_unparseable_bodies(inproc: InProcess, raw: bytes, code: str) -> None:
    for method in ("POST", "PUT", "PATCH"):
        got = await inproc.client.request(method, f"{inproc.api_url}/contents/a.txt", content=raw)
        assert got.status_code == 400 and got.json()["code"] == code
    got = await inproc.client.post(f"{inproc.api_url}/actions/export/contents/a.ipynb", content=raw)
    assert got.status_code == 400 and got.json()["code"] == code


async def test_update_file_and_null_format(inproc: InProcess) -> None:
    saved = await inproc.client.put(
        f"{inproc.api_url}/contents/notes.txt", json={"type": "file", "format": "text", "content": "hi"}
    )
    assert saved.status_code == 200 and saved.json()["type"] == "file"
    null_format = await inproc.client.put(
        f"{inproc.api_url}/contents/notes.txt", json={"type": "file", "format": "NULL", "content": "hey"}
    )
    assert null_format.status_code == 200
    assert (inproc.workspace_root / "notes.txt").read_text() == "hey"


async def test_if_match(inproc: InProcess) -> None:
    first = await _put_nb(inproc, "a.ipynb")
    etag = first.headers["etag"]
    stale = await _put_nb(inproc, "a.ipynb", "print(2)", **{"if-match": "sha256-0"})
    assert stale.status_code == 412 and stale.json()["code"] == "NoEtagMatch"
    ok = await _put_nb(inproc, "a.ipynb", "print(2)", **{"if-match": etag})
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    url = f"{inproc.api_url}/contents/a.ipynb"
    assert (await inproc.client.patch(url, json={"path": "b.ipynb"}, headers={"if-match": etag})).status_code == 412
    assert (await inproc.client.delete(url, headers={"if-match": etag})).status_code == 412
    assert (await inproc.client.delete(url, headers={"if-match": ok.headers["etag"]})).status_code == 204


async def test_concurrent_saves_with_one_etag(inproc: InProcess) -> None:
    etag = (await _put_nb(inproc, "a.ipynb", "base")).headers["etag"]
    results = await asyncio.gather(*(_put_nb(inproc, "a.ipynb", f"writer {i}", **{"if-match": etag}) for i in range(2)))
    assert sorted(r.status_code for r in results) == [200, 412]
    winner = next(r for r in results if r.status_code == 200)
    stored = (await inproc.client.get(f"{inproc.api_url}/contents/a.ipynb")).json()
    assert stored["content"]["cells"][0]["source"] in ("writer 0", "writer 1")
    assert (await inproc.client.get(f"{inproc.api_url}/contents/a.ipynb")).headers["etag"] == winner.headers["etag"]


# ---- modify, delete, export --------------------------------------------------------------------------


async def test_rename_returns_location_and_sessions_follow(inproc: InProcess) -> None:
    await inproc.client.put(f"{inproc.api_url}/contents/d", json={"type": "directory"})
    await _put_nb(inproc, "a.ipynb")
    await _put_nb(inproc, "d/b.ipynb")
    s_a = (await inproc.client.post(inproc.sessions_url, json={"path": "/a.ipynb"})).json()
    s_b = (await inproc.client.post(inproc.sessions_url, json={"path": "d/b.ipynb", "name": "mine"})).json()
    s_other = (await inproc.client.post(inproc.sessions_url, json={"path": "dd/x.ipynb"})).json()

    moved = await inproc.raw("PATCH", f"{inproc.api_url}/contents/a.ipynb", body={"path": "/c.ipynb"})
    assert moved.status_code == 200
    assert moved.json()["path"] == "c.ipynb" and moved.json()["name"] == "c.ipynb"
    assert moved.headers["location"] == f"https://testserver{inproc.api_url}/contents/c.ipynb"
    assert moved.headers["etag"]

    renamed_dir = await inproc.client.patch(f"{inproc.api_url}/contents/d", json={"path": "e f"})
    assert renamed_dir.status_code == 200
    assert renamed_dir.headers["location"].endswith("/contents/e%20f")

    sessions = {s["id"]: s for s in (await inproc.client.get(inproc.sessions_url)).json()["items"]}
    assert sessions[s_a["id"]]["path"] == "/c.ipynb" and sessions[s_a["id"]]["name"] == "c.ipynb"
    assert sessions[s_b["id"]]["path"] == "e f/b.ipynb" and sessions[s_b["id"]]["name"] == "mine"
    assert sessions[s_other["id"]]["path"] == "dd/x.ipynb"


async def test_modify_errors(inproc: InProcess) -> None:
    await _put_nb(inproc, "a.ipynb")
    await _put_nb(inproc, "b.ipynb")
    url = f"{inproc.api_url}/contents/a.ipynb"
    missing = await inproc.client.patch(url, json={})
    assert missing.status_code == 400 and missing.json()["code"] == "MissingParameter"
    assert (await inproc.client.patch(url, json={"path": 5})).status_code == 400
    assert (await inproc.client.patch(url, json={"path": "b.ipynb"})).status_code == 409
    assert (await inproc.client.patch(f"{inproc.api_url}/contents/zz", json={"path": "y"})).status_code == 404


async def test_delete(inproc: InProcess) -> None:
    await inproc.client.put(f"{inproc.api_url}/contents/d", json={"type": "directory"})
    await _put_nb(inproc, "d/a.ipynb")
    full = await inproc.client.delete(f"{inproc.api_url}/contents/d")
    assert full.status_code == 409 and full.json()["code"] == "Conflict"
    gone = await inproc.client.delete(f"{inproc.api_url}/contents/d%2Fa.ipynb")
    assert gone.status_code == 204 and gone.content == b""
    assert (await inproc.client.delete(f"{inproc.api_url}/contents/d")).status_code == 204
    assert (await inproc.client.delete(f"{inproc.api_url}/contents/d")).status_code == 404
    assert (await inproc.client.delete(f"{inproc.api_url}/contents/")).status_code == 400


async def test_export(inproc: InProcess) -> None:
    await _put_nb(inproc, "a.ipynb", "print('exported')")
    url = f"{inproc.api_url}/actions/export/contents/a.ipynb"
    ipynb = await inproc.client.post(url, json={})
    assert ipynb.status_code == 200 and ipynb.headers["etag"]
    body = ipynb.json()
    assert set(body) == {"name", "path", "content", "format"} and body["format"] == "ipynb"
    assert nbformat.reads(body["content"], as_version=4).cells[0].source == "print('exported')"
    html = await inproc.client.post(url, json={"format": "html"})
    assert html.status_code == 200 and html.json()["format"] == "html"
    assert "exported" in html.json()["content"] and "<html" in html.json()["content"]
    bad = await inproc.client.post(url, json={"format": "pdf"})
    assert bad.status_code == 400
    missing = await inproc.client.post(f"{inproc.api_url}/actions/export/contents/none.ipynb", json={})
    assert missing.status_code == 404
