"""The Workspace Object API through Oracle's SDK (`WorkspaceObjectClient`) against a real server."""

from __future__ import annotations

import io
import json
import ssl
import zipfile
from pathlib import Path
from urllib.parse import quote

import httpx
import nbformat
import oci
import pytest
from aidp_python_client.aidataplatform_dp import AsyncOperationsClient, WorkspaceObjectClient, models

from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cleanup_sessions")]


def _client(server: Server) -> WorkspaceObjectClient:
    config = oci.config.from_file(server.oci_config, server.profile)
    return WorkspaceObjectClient(config, service_endpoint=server.endpoint)


def _root(server: Server) -> Path:
    return server.data_dir / "workspaces" / server.instance_id / server.workspace_key


def _notebook() -> bytes:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("6 * 7")
    cell.execution_count = 1
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "42"}, execution_count=1)]
    nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def test_sdk_objects_lifecycle(server: Server) -> None:
    client = _client(server)
    iid, ws = server.instance_id, server.workspace_key
    folder = client.create_workspace_object(iid, ws, b"", "/sdk", type="FOLDER")
    assert folder.status == 201 and json.loads(folder.data.content)["type"] == "FOLDER"
    data = _notebook()
    made = client.create_workspace_object(iid, ws, data, "/sdk/a notebook.ipynb")
    assert json.loads(made.data.content)["path"] == "/sdk/a notebook.ipynb"
    client.create_workspace_object(iid, ws, b"hello", "/sdk/notes.txt", type="FILE")
    client.create_workspace_object(iid, ws, b"", "/sdk/sub", type="FOLDER")

    listing = client.list_workspace_objects(iid, ws, "/sdk", sort_by="displayName")
    assert isinstance(listing.data, models.WorkspaceObjectCollection)
    assert [(o.display_name, o.type) for o in listing.data.items] == [
        ("a notebook.ipynb", "NOTEBOOK"),
        ("notes.txt", "FILE"),
        ("sub", "FOLDER"),
    ]
    assert all(o.time_created is not None and o.composite_etag for o in listing.data.items)
    paged = oci.pagination.list_call_get_all_results(
        client.list_workspace_objects, iid, ws, "/sdk", limit=1, sort_by="displayName"
    )
    assert [o.display_name for o in paged.data] == ["a notebook.ipynb", "notes.txt", "sub"]
    notebooks = client.list_workspace_objects(iid, ws, "/sdk", type="NOTEBOOK")
    assert [o.display_name for o in notebooks.data.items] == ["a notebook.ipynb"]

    got = client.get_workspace_object(iid, ws, "/sdk/a notebook.ipynb")
    assert got.data.content == data and got.headers["object-type"] == "NOTEBOOK"
    head = client.head_workspace_object(iid, ws, "/sdk/notes.txt", should_include_metadata=True)
    assert head.status == 200 and head.headers["content-length"] == "5" and head.headers["file-metadata"] == "{}"

    updated = client.update_workspace_object(iid, ws, "/sdk/notes.txt", b"v2", if_match=head.headers["etag"])
    assert updated.status == 200 and (_root(server) / "sdk" / "notes.txt").read_bytes() == b"v2"
    with pytest.raises(oci.exceptions.ServiceError) as stale:
        client.update_workspace_object(iid, ws, "/sdk/notes.txt", b"v3", if_match=head.headers["etag"])
    assert stale.value.status == 412

    copied = client.copy_workspace_object(
        iid,
        ws,
        models.CopyWorkspaceObjectDetails(
            from_path="/sdk/a notebook.ipynb", to_path="/sdk/sub", is_include_outputs=False
        ),
    )
    assert copied.data.path == "/sdk/sub/a notebook.ipynb" and copied.data.type == "NOTEBOOK"
    stripped = json.loads((_root(server) / "sdk" / "sub" / "a notebook.ipynb").read_text())
    assert stripped["cells"][0]["outputs"] == []
    client.copy_workspace_object(
        iid, ws, models.CopyWorkspaceObjectDetails(from_path="/sdk/a notebook.ipynb", to_path="/sdk/kept.ipynb")
    )
    assert json.loads((_root(server) / "sdk" / "kept.ipynb").read_text())["cells"][0]["outputs"]
    moved = client.move_workspace_object(
        iid, ws, models.MoveWorkspaceObjectDetails(from_path="/sdk/kept.ipynb", to_path="/sdk/sub/moved.ipynb")
    )
    assert moved.data.path == "/sdk/sub/moved.ipynb" and moved.headers["etag"]
    renamed = client.rename_workspace_object(
        iid, ws, models.RenameWorkspaceObjectDetails(path="/sdk/sub/moved.ipynb", new_name="renamed.ipynb")
    )
    assert renamed.data.display_name == "renamed.ipynb"

    deleted = client.delete_workspace_object(iid, ws, "/sdk/sub/renamed.ipynb", if_match=renamed.headers["etag"])
    assert deleted.status == 204 and not (_root(server) / "sdk" / "sub" / "renamed.ipynb").exists()
    with pytest.raises(oci.exceptions.ServiceError) as missing:
        client.get_workspace_object(iid, ws, "/sdk/sub/renamed.ipynb")
    assert missing.value.status == 404 and missing.value.code == "NotAuthorizedOrNotFound"


def test_sdk_session_follows_a_move(server: Server) -> None:
    client = _client(server)
    iid, ws = server.instance_id, server.workspace_key
    client.create_workspace_object(iid, ws, _notebook(), "/follow.ipynb")
    client.create_workspace_object(iid, ws, b"", "/follow-dir", type="FOLDER")
    session = server.sdk().create_session(iid, ws, {"path": "follow.ipynb"}).data
    client.move_workspace_object(
        iid, ws, models.MoveWorkspaceObjectDetails(from_path="/follow.ipynb", to_path="/follow-dir")
    )
    assert server.sdk().get_session(iid, ws, session.id).data.path == "follow-dir/follow.ipynb"


def test_sdk_zip_round_trip(server: Server) -> None:
    client = _client(server)
    iid, ws = server.instance_id, server.workspace_key
    client.create_workspace_object(iid, ws, b"", "/zipme", type="FOLDER")
    client.create_workspace_object(iid, ws, b"", "/zipme/inner", type="FOLDER")
    client.create_workspace_object(iid, ws, _notebook(), "/zipme/inner/n.ipynb")
    client.create_workspace_object(iid, ws, b"\x00\x01binary", "/zipme/b.bin")
    started = client.zip_and_download_workspace_folder(
        iid, ws, models.ZipAndDownloadFolderDetails(source_folder_path="/zipme")
    )
    assert isinstance(started.data, models.ZipAndDownloadFolderResult) and started.data.archive_name == "zipme.zip"
    operations = AsyncOperationsClient(
        oci.config.from_file(server.oci_config, server.profile), service_endpoint=server.endpoint
    )
    polled = operations.get_async_operation(iid, started.data.operation_key).data
    assert (polled.status, polled.action_type, polled.resource_type) == (
        "SUCCEEDED",
        "ZIP_AND_DOWNLOAD_FOLDER",
        "WORKSPACE_OBJECT",
    )
    assert polled.time_started is not None and polled.created_by
    # A PAR URL: no signature, just the URL (trusting the server's CA).
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca_bundle)) as plain:
        archive = plain.get(started.data.download_url)
        assert archive.status_code == 200
        names = sorted(zipfile.ZipFile(io.BytesIO(archive.content)).namelist())
        assert names == ["zipme/", "zipme/b.bin", "zipme/inner/", "zipme/inner/n.ipynb"]

        client.create_workspace_object(iid, ws, b"", "/unzipped", type="FOLDER")
        created = client.upload_and_extract_workspace_zip(
            iid,
            ws,
            models.UploadAndExtractZipDetails(
                action="CREATE", zip_file_name="zipme.zip", destination_folder_path="/unzipped"
            ),
        )
        assert created.data.destination_folder_path == "/unzipped" and created.data.upload_url
        put = plain.put(created.data.upload_url, content=archive.content)
        assert put.status_code == 200
    done = client.upload_and_extract_workspace_zip(
        iid,
        ws,
        models.UploadAndExtractZipDetails(
            action="UPDATE",
            operation_key=created.data.operation_key,
            size_in_bytes=len(archive.content),
            e_tag=put.headers["etag"],
        ),
    )
    assert done.data.destination_folder_path == "/unzipped"
    assert operations.get_async_operation(iid, created.data.operation_key).data.status == "SUCCEEDED"
    root = _root(server)
    assert (root / "unzipped" / "zipme" / "b.bin").read_bytes() == b"\x00\x01binary"
    assert (root / "unzipped" / "zipme" / "inner" / "n.ipynb").read_bytes() == (
        root / "zipme" / "inner" / "n.ipynb"
    ).read_bytes()
    listing = client.list_workspace_objects(iid, ws, "/unzipped/zipme", sort_by="displayName")
    assert [o.display_name for o in listing.data.items] == ["b.bin", "inner"]


ATTACKS = ["../escape.txt", "/../../escape.txt", "a/../../escape.txt", "..\\escape.txt", "C:\\x.txt", "a\x00.txt", ".."]


@pytest.mark.parametrize("strict", [False, True], ids=["sdk-encoding", "strict-encoding"])
def test_sdk_path_escapes_are_400_and_change_nothing(server: Server, strict: bool) -> None:
    config = oci.config.from_file(server.oci_config, server.profile)
    client = WorkspaceObjectClient(config, service_endpoint=server.endpoint)
    client.base_client.enable_strict_url_encoding = strict
    iid, ws = server.instance_id, server.workspace_key
    client.create_workspace_object(iid, ws, b"x", "/inside.txt", is_overwrite=True)
    client.create_workspace_object(iid, ws, b"", "/inside-dir", type="FOLDER", is_overwrite=True)
    everything = server.data_dir / "workspaces"
    before = {str(p): p.read_bytes() if p.is_file() else None for p in everything.rglob("*")}
    for attack in ATTACKS:
        in_url = {
            "get": lambda a=attack: client.get_workspace_object(iid, ws, a),
            "head": lambda a=attack: client.head_workspace_object(iid, ws, a),
            "update": lambda a=attack: client.update_workspace_object(iid, ws, a, b"x"),
            "delete": lambda a=attack: client.delete_workspace_object(iid, ws, a),
        }
        in_body = {
            "list": lambda a=attack: client.list_workspace_objects(iid, ws, a),
            "copy": lambda a=attack: client.copy_workspace_object(
                iid, ws, models.CopyWorkspaceObjectDetails(from_path="/inside.txt", to_path=a)
            ),
            "copy-from": lambda a=attack: client.copy_workspace_object(
                iid, ws, models.CopyWorkspaceObjectDetails(from_path=a, to_path="/copy.txt")
            ),
            "move": lambda a=attack: client.move_workspace_object(
                iid, ws, models.MoveWorkspaceObjectDetails(from_path="/inside.txt", to_path=a)
            ),
            "rename": lambda a=attack: client.rename_workspace_object(
                iid, ws, models.RenameWorkspaceObjectDetails(path="/inside.txt", new_name=a)
            ),
            "zip": lambda a=attack: client.zip_and_download_workspace_folder(
                iid, ws, models.ZipAndDownloadFolderDetails(source_folder_path=a)
            ),
            "unzip": lambda a=attack: client.upload_and_extract_workspace_zip(
                iid,
                ws,
                models.UploadAndExtractZipDetails(action="CREATE", zip_file_name="z.zip", destination_folder_path=a),
            ),
        }
        if "\x00" not in attack:  # the path header cannot carry NUL
            in_body["create"] = lambda a=attack: client.create_workspace_object(iid, ws, b"x", a)
        for op, call in {**in_url, **in_body}.items():
            with pytest.raises(oci.exceptions.ServiceError) as refused:
                call()
            error = refused.value
            code = error.code if op != "head" else None  # a HEAD answer has no body, so no code
            # With the SDK's default encoding its HTTP stack removes literal '..' segments before sending, so
            # the request reaches another URL (404 NotFound); whatever reaches a workspace object route is 400.
            dots_in_url = op in in_url and ".." in quote(attack, safe="" if strict else "/").split("/")
            if dots_in_url:
                assert error.status in (400, 404) and code in ("InvalidParameter", "NotFound", None), (attack, op)
            else:
                assert error.status == 400 and code in ("InvalidParameter", None), (attack, op, error.message)
    assert {str(p): p.read_bytes() if p.is_file() else None for p in everything.rglob("*")} == before


@pytest.mark.postgres
def test_sdk_objects_on_postgres(pg_server: Server) -> None:
    """The same files, with retry tokens (the SDK sends one on every create) kept in PostgreSQL."""
    client = _client(pg_server)
    iid, ws = pg_server.instance_id, pg_server.workspace_key
    client.create_workspace_object(iid, ws, b"", "/pg", type="FOLDER", opc_retry_token="pg-folder-token")
    replay = client.create_workspace_object(iid, ws, b"", "/pg", type="FOLDER", opc_retry_token="pg-folder-token")
    assert replay.status == 201  # replayed, not a second create (which would be 409)
    client.create_workspace_object(iid, ws, _notebook(), "/pg/n.ipynb")
    listing = client.list_workspace_objects(iid, ws, "/pg")
    assert [(o.display_name, o.type) for o in listing.data.items] == [("n.ipynb", "NOTEBOOK")]
    zipped = client.zip_and_download_workspace_folder(
        iid, ws, models.ZipAndDownloadFolderDetails(source_folder_path="/pg")
    )
    with httpx.Client(verify=ssl.create_default_context(cafile=pg_server.ca_bundle)) as plain:
        names = zipfile.ZipFile(io.BytesIO(plain.get(zipped.data.download_url).content)).namelist()
    assert sorted(names) == ["pg/", "pg/n.ipynb"]
