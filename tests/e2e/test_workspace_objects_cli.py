"""The Workspace Object API through Oracle's `aidp workspace-object` commands against a real server."""

from __future__ import annotations

import base64
import io
import ssl
import zipfile
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from tests.e2e.conftest import Server, cli_json

pytestmark = pytest.mark.e2e


def _root(server: Server) -> Path:
    return server.data_dir / "workspaces" / server.instance_id / server.workspace_key


def _ok(server: Server, *args: str) -> dict[str, Any]:
    return cli_json(server.cli("workspace-object", *args, check=True))


def test_cli_objects(server: Server, tmp_path: Path) -> None:
    ws = server.workspace_key
    folder = _ok(server, "create", ws, "--path", "/cli objects", "--type", "FOLDER", "--body", "")
    assert folder["status"] == 201 and folder["headers"]["etag"]
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print('cli')"))
    nb_file = tmp_path / "n.ipynb"
    nb_file.write_text(nbformat.writes(nb))
    _ok(server, "create", ws, "--path", "/cli objects/n.ipynb", "--body", f"@{nb_file}")
    encoded = base64.b64encode(b"\x00\x01").decode()
    _ok(server, "create", ws, "--path", "/cli objects/b.bin", "--is-upload-file-base64-encoded", "--body", encoded)
    _ok(server, "create", ws, "--path", "/cli objects/sub", "--type", "FOLDER", "--body", "")
    assert (_root(server) / "cli objects" / "b.bin").read_bytes() == b"\x00\x01"
    assert (_root(server) / "cli objects" / "n.ipynb").read_bytes() == nb_file.read_bytes()

    listing = _ok(server, "list", ws, "--path", "/cli objects", "--sort-by", "displayName")
    assert [(i["displayName"], i["type"]) for i in listing["data"]["items"]] == [
        ("b.bin", "FILE"),
        ("n.ipynb", "NOTEBOOK"),
        ("sub", "FOLDER"),
    ]
    first = _ok(server, "list", ws, "--path", "/cli objects", "--sort-by", "displayName", "--limit", "2")
    token = first["headers"]["opc-next-page"]
    rest = _ok(
        server, "list", ws, "--path", "/cli objects", "--sort-by", "displayName", "--limit", "2", "--page", token
    )
    assert [i["displayName"] for i in rest["data"]["items"]] == ["sub"] and "opc-next-page" not in rest["headers"]

    head = _ok(server, "head", ws, "/cli objects/n.ipynb", "--should-include-metadata")
    assert head["headers"]["object-type"] == "NOTEBOOK" and head["headers"]["file-metadata"] == "{}"
    got = _ok(server, "get", ws, "/cli objects/n.ipynb")
    # The CLI prints a raw body as the list of chunks it read, each a list of byte values.
    assert bytes(b for chunk in got["data"] for b in chunk) == nb_file.read_bytes()
    assert got["headers"]["etag"] == head["headers"]["etag"]

    text = tmp_path / "t.txt"
    text.write_text("v1")
    _ok(server, "create", ws, "--path", "/cli objects/t.txt", "--body", f"@{text}")
    again = server.cli("workspace-object", "create", ws, "--path", "/cli objects/t.txt", "--body", "v2")
    assert again.returncode == 409 & 0xFF
    _ok(server, "create", ws, "--path", "/cli objects/t.txt", "--is-overwrite", "true", "--body", "v2")
    etag = _ok(server, "head", ws, "/cli objects/t.txt")["headers"]["etag"]
    _ok(server, "update", ws, "/cli objects/t.txt", "--if-match", etag, "--body", "v3")
    stale = server.cli("workspace-object", "update", ws, "/cli objects/t.txt", "--if-match", etag, "--body", "v4")
    assert stale.returncode == 412 & 0xFF and cli_json(stale)["code"] == "NoEtagMatch"
    assert (_root(server) / "cli objects" / "t.txt").read_text() == "v3"

    copy = _ok(
        server,
        "copy",
        ws,
        "--body",
        '{"fromPath": "/cli objects/n.ipynb", "toPath": "/cli objects/sub", "isIncludeOutputs": false}',
    )
    assert copy["data"]["path"] == "/cli objects/sub/n.ipynb"
    move = _ok(server, "move", ws, "--body", '{"fromPath": "/cli objects/t.txt", "toPath": "/cli objects/sub/t.txt"}')
    assert move["data"]["path"] == "/cli objects/sub/t.txt"
    renamed = _ok(server, "rename", ws, "--body", '{"path": "/cli objects/sub", "newName": "renamed"}')
    assert renamed["data"]["path"] == "/cli objects/renamed"
    assert sorted(p.name for p in (_root(server) / "cli objects" / "renamed").iterdir()) == ["n.ipynb", "t.txt"]

    full = server.cli("workspace-object", "delete", ws, "/cli objects/renamed")
    assert full.returncode == 409 & 0xFF  # a non-empty folder is never deleted
    for name in ("n.ipynb", "t.txt"):
        assert _ok(server, "delete", ws, f"/cli objects/renamed/{name}")["status"] == 204
    assert _ok(server, "delete", ws, "/cli objects/renamed")["status"] == 204
    missing = server.cli("workspace-object", "get", ws, "/cli objects/renamed")
    assert missing.returncode == 404 & 0xFF and cli_json(missing)["code"] == "NotAuthorizedOrNotFound"


def test_cli_zip_round_trip(server: Server) -> None:
    ws = server.workspace_key
    _ok(server, "create", ws, "--path", "/cli zip", "--type", "FOLDER", "--body", "")
    _ok(server, "create", ws, "--path", "/cli zip/a.txt", "--body", "alpha")
    _ok(server, "create", ws, "--path", "/cli zip/sub", "--type", "FOLDER", "--body", "")
    _ok(server, "create", ws, "--path", "/cli zip/sub/b.txt", "--body", "beta")
    zipped = _ok(server, "zip-and-download-workspace-folder", ws, "--body", '{"sourceFolderPath": "/cli zip"}')
    assert zipped["data"]["archiveName"] == "cli zip.zip"
    polled = cli_json(server.cli("async-operations", "get", zipped["data"]["operationKey"], check=True))
    assert polled["data"]["status"] == "SUCCEEDED" and polled["data"]["actionType"] == "ZIP_AND_DOWNLOAD_FOLDER"
    verify = ssl.create_default_context(cafile=server.ca_bundle)
    with httpx.Client(verify=verify) as plain:
        archive = plain.get(zipped["data"]["downloadUrl"]).content
        assert sorted(zipfile.ZipFile(io.BytesIO(archive)).namelist()) == [
            "cli zip/",
            "cli zip/a.txt",
            "cli zip/sub/",
            "cli zip/sub/b.txt",
        ]
        _ok(server, "create", ws, "--path", "/cli unzip", "--type", "FOLDER", "--body", "")
        created = _ok(
            server,
            "upload-and-extract-workspace-zip",
            ws,
            "--body",
            '{"action": "CREATE", "zipFileName": "cli zip.zip", "destinationFolderPath": "/cli unzip"}',
        )
        put = plain.put(created["data"]["uploadUrl"], content=archive)
        assert put.status_code == 200
    done = _ok(
        server,
        "upload-and-extract-workspace-zip",
        ws,
        "--body",
        f'{{"action": "UPDATE", "operationKey": "{created["data"]["operationKey"]}", "sizeInBytes": {len(archive)}}}',
    )
    assert done["data"]["destinationFolderPath"] == "/cli unzip"
    assert (_root(server) / "cli unzip" / "cli zip" / "sub" / "b.txt").read_text() == "beta"
    listing = _ok(server, "list", ws, "--path", "/cli unzip/cli zip", "--sort-by", "displayName")
    assert [i["displayName"] for i in listing["data"]["items"]] == ["a.txt", "sub"]


@pytest.mark.parametrize(
    "args",
    [
        ("create", "{ws}", "--path", "/../escape.txt", "--body", "x"),
        ("list", "{ws}", "--path", "../.."),
        ("get", "{ws}", "/../../etc/passwd"),
        ("head", "{ws}", "a/../../x"),
        ("update", "{ws}", "../escape.txt", "--body", "x"),
        ("delete", "{ws}", "/.."),
        ("copy", "{ws}", "--body", '{"fromPath": "/x", "toPath": "/../copy"}'),
        ("move", "{ws}", "--body", '{"fromPath": "/x", "toPath": "/../moved"}'),
        ("rename", "{ws}", "--body", '{"path": "/x", "newName": "../up"}'),
        ("zip-and-download-workspace-folder", "{ws}", "--body", '{"sourceFolderPath": "/../.."}'),
    ],
)
@pytest.mark.parametrize("strict", [False, True], ids=["cli-encoding", "strict-encoding"])
def test_cli_path_escapes_are_400(
    server: Server, args: tuple[str, ...], strict: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if strict:  # the CLI's own switch to encode '/' in path parameters, as it always does for notebook commands
        monkeypatch.setenv("AIDP_CLI_STRICT_URL_ENCODING", "true")
    everything = server.data_dir / "workspaces"
    before = sorted(str(p) for p in everything.rglob("*"))
    result = server.cli("workspace-object", *(server.workspace_key if a == "{ws}" else a for a in args))
    in_url = args[0] in ("get", "head", "update", "delete")
    if in_url and not strict and ".." in args[2].split("/"):
        # The CLI's HTTP stack removes literal '..' segments before sending: another URL, 404 NotFound.
        assert result.returncode in (400 & 0xFF, 404 & 0xFF), result.stderr
    else:
        assert result.returncode == 400 & 0xFF, result.stderr
        if args[0] != "head":  # a HEAD answer has no body
            assert cli_json(result)["code"] == "InvalidParameter"
    assert sorted(str(p) for p in everything.rglob("*")) == before
