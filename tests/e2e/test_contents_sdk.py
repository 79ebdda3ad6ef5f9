"""Every contents operation through the official SDK against a real server, with both path encodings."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import oci
import pytest
from aidp_python_client.aidataplatform_dp import NotebookClient
from aidp_python_client.aidataplatform_dp.models import (
    CreateContentDetails,
    CreateSessionDetails,
    ExportContentsDetails,
    ModifyContentDetails,
    UpdateContentDetails,
)

from tests.e2e.conftest import Server
from tests.e2e.notebooks import PNG_B64, SOURCE, chunk_bodies, notebook_bytes, real_notebook, tiny_png

pytestmark = pytest.mark.e2e

MODES = {"default": {}, "strict": {"enable_strict_url_encoding": True}}


def _root(server: Server) -> Path:
    return server.data_dir / "workspaces" / server.instance_id / server.workspace_key


def _error(call: Any) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()
    return info.value


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_operation(server: Server, mode: str, cleanup_sessions: None) -> None:
    sdk = server.sdk(**MODES[mode])
    inst, ws = server.instance_id, server.workspace_key
    base = f"sdk {mode}"  # a space, so %20 is on the wire in both encodings

    made = sdk.create_content(inst, ws, base, CreateContentDetails(type="directory"))
    assert made.status == 201 and made.data.type == "directory" and made.data.name == base
    assert made.headers["etag"]

    # untitled items of each type, named the way Jupyter names them
    untitled = {
        "notebook": CreateContentDetails(type="notebook", ext=".ipynb"),
        "file": CreateContentDetails(type="file", ext=".txt"),
        "directory": CreateContentDetails(type="directory"),
    }
    names = {kind: sdk.create_content(inst, ws, base, body).data.name for kind, body in untitled.items()}
    assert names == {"notebook": "Untitled.ipynb", "file": "untitled.txt", "directory": "Untitled Folder"}
    assert sdk.create_content(inst, ws, f"/{base}", CreateContentDetails()).data.name == "untitled"

    # a real notebook (code, outputs, a PNG), saved plainly with a leading '/' (a '//' on the SDK's wire)
    nb = real_notebook(mode)
    saved = sdk.update_content(
        inst, ws, f"/{base}/real.ipynb", UpdateContentDetails(type="notebook", format="json", content=nb)
    )
    assert saved.status == 200 and saved.data.path == f"{base}/real.ipynb"
    assert (
        saved.data.created.tzinfo is not None
        and saved.data.size == (_root(server) / base / "real.ipynb").stat().st_size
    )

    # chunked, through create (POST) and update (PUT); the ack echoes each chunk
    data = notebook_bytes(nb)
    for op, name in (("create", "chunked-post.ipynb"), ("update", "chunked-put.ipynb")):
        bodies = chunk_bodies(data, 300, f"{mode}-{op}")
        assert len(bodies) >= 3
        for body in bodies:
            if op == "create":
                response = sdk.create_content(inst, ws, f"{base}/{name}", CreateContentDetails(**body))
            else:
                response = sdk.update_content(inst, ws, f"{base}/{name}", UpdateContentDetails(**body))
            assert response.data.upload_chunk_index == body["upload_chunk_index"]
            if body["upload_chunk_index"] != -1:
                assert not (_root(server) / base / name).exists()
        assert response.data.sha256 == body["sha256"] and response.headers["etag"]
        stored = sdk.get_content(inst, ws, f"{base}/{name}").data
        assert stored.content["cells"][1]["source"] == SOURCE

    # a chunk with a wrong digest is refused and nothing is stored
    wrong = chunk_bodies(data, 300, f"{mode}-wrong")
    for body in wrong:
        body["sha256"] = "0" * 64
    for body in wrong[:-1]:
        sdk.create_content(inst, ws, f"{base}/wrong.ipynb", CreateContentDetails(**body))
    error = _error(lambda: sdk.create_content(inst, ws, f"{base}/wrong.ipynb", CreateContentDetails(**wrong[-1])))
    assert error.status == 400 and error.code == "InvalidParameter"
    assert not (_root(server) / base / "wrong.ipynb").exists()

    # copy
    copy = sdk.create_content(inst, ws, base, CreateContentDetails(copy_from=f"/{base}/real.ipynb"))
    assert copy.status == 201 and copy.data.name == "real-Copy1.ipynb"

    # get: every combination the reference allows, and the documented 400s
    (_root(server) / base / "pixel.png").write_bytes(tiny_png())
    (_root(server) / base / "notes.txt").write_text("héllo")
    _get_matrix(sdk, inst, ws, base)

    # export
    ipynb = sdk.export_contents(inst, ws, f"{base}/real.ipynb", ExportContentsDetails())
    assert ipynb.data.format == "ipynb" and ipynb.headers["etag"]
    assert nbformat.reads(ipynb.data.content, as_version=4).cells[1].source == SOURCE
    html = sdk.export_contents(inst, ws, f"{base}/real.ipynb", ExportContentsDetails(format="html"))
    assert html.data.format == "html"
    assert "hello from nbplane" in html.data.content and f"data:image/png;base64,{PNG_B64}" in html.data.content

    # delete: a file, then a non-empty directory (409, kept), then an empty one
    assert sdk.delete_content(inst, ws, f"{base}/untitled").status == 204
    assert _error(lambda: sdk.delete_content(inst, ws, base)).status == 409
    assert sdk.delete_content(inst, ws, f"{base}/Untitled Folder").status == 204
    assert not (_root(server) / base / "Untitled Folder").exists()
    assert _error(lambda: sdk.get_content(inst, ws, f"{base}/untitled")).status == 404


def _get_matrix(sdk: NotebookClient, inst: str, ws: str, base: str) -> None:
    entries = {
        "real.ipynb": "notebook",
        "notes.txt": "text",
        "pixel.png": "binary",
        "Untitled Folder": "directory",
    }
    for name, kind in entries.items():
        path = f"{base}/{name}"
        for type_ in (None, "notebook", "file", "directory"):
            for format_ in (None, "json", "text", "base64"):
                for content in (0, 1):
                    for hash_ in (0, 1):
                        kwargs = {k: v for k, v in (("type", type_), ("format", format_)) if v is not None}
                        expected = _expected(kind, type_, format_, content)
                        call = lambda: sdk.get_content(inst, ws, path, content=content, hash=hash_, **kwargs)  # noqa: E731, B023
                        case = (name, type_, format_, content, hash_)
                        if isinstance(expected, int):
                            assert _error(call).status == expected, case
                            continue
                        got = call()
                        assert got.status == 200 and got.headers["etag"], case
                        assert (got.data.type, got.data.format) == expected, case
                        assert (got.data.content is None) == (content == 0 or kind == "directory"), case
                        assert (got.data.hash is not None) == (hash_ == 1 and kind != "directory"), case
                        if got.data.hash is not None:
                            assert got.data.hash_algorithm == "sha256", case
                        if content and got.data.format == "base64" and kind == "binary":
                            assert base64.b64decode(got.data.content) == tiny_png()


def _expected(kind: str, type_: str | None, format_: str | None, content: int) -> tuple[str, str | None] | int:
    """(type, format) of a satisfiable request, else its status. Metadata-only answers carry no format."""
    if kind == "directory":
        if content == 1 and type_ == "directory":
            return 400
        if type_ not in (None, "directory") or format_ not in (None, "json"):
            return 400
        return ("directory", None)
    if type_ == "directory":
        return 400
    as_notebook = type_ == "notebook" or (type_ is None and kind == "notebook" and format_ in (None, "json"))
    if as_notebook:
        if kind != "notebook" and content:
            return 400  # bad type: not a notebook
        if format_ not in (None, "json"):
            return 400
        return ("notebook", "json" if content else None)
    if format_ == "json":
        return 400
    if not content:
        return ("file", None)
    if format_ == "text" and kind == "binary":
        return 400
    if format_ == "base64" or (format_ is None and kind == "binary"):
        return ("file", "base64")
    return ("file", "text")


def test_rename_moves_the_file_and_a_session_follows(server: Server, cleanup_sessions: None) -> None:
    sdk = server.sdk()
    inst, ws = server.instance_id, server.workspace_key
    sdk.create_content(inst, ws, "rename", CreateContentDetails(type="directory"))
    sdk.update_content(inst, ws, "rename/a.ipynb", UpdateContentDetails(type="notebook", content=real_notebook()))
    session = sdk.create_session(inst, ws, CreateSessionDetails(path="/rename/a.ipynb")).data
    moved = sdk.modify_content(inst, ws, "rename/a.ipynb", ModifyContentDetails(path="rename/b c.ipynb"))
    assert moved.status == 200 and moved.data.path == "rename/b c.ipynb" and moved.headers["etag"]
    assert moved.headers["location"].endswith("/notebook/api/contents/rename/b%20c.ipynb")
    assert sdk.get_session(inst, ws, session.id).data.path == "/rename/b c.ipynb"
    # the directory moves too, and the session with it
    strict = server.sdk(enable_strict_url_encoding=True)
    strict.modify_content(inst, ws, "rename", ModifyContentDetails(path="renamed"))
    assert sdk.get_session(inst, ws, session.id).data.path == "/renamed/b c.ipynb"
    assert sdk.get_content(inst, ws, "renamed/b c.ipynb").data.content["cells"][1]["source"] == SOURCE


def _calls(sdk: NotebookClient, inst: str, ws: str, path: str) -> dict[str, Any]:
    return {
        "get": lambda: sdk.get_content(inst, ws, path),
        "create": lambda: sdk.create_content(inst, ws, path, CreateContentDetails()),
        "update": lambda: sdk.update_content(
            inst, ws, path, UpdateContentDetails(type="file", format="text", content="x")
        ),
        "modify": lambda: sdk.modify_content(inst, ws, path, ModifyContentDetails(path="x.txt")),
        "delete": lambda: sdk.delete_content(inst, ws, path),
        "export": lambda: sdk.export_contents(inst, ws, path, ExportContentsDetails()),
    }


@pytest.mark.parametrize("mode", list(MODES))
def test_escape_attempts_are_refused(server: Server, mode: str, tmp_path: Path) -> None:
    """What the SDK actually sends for escape attempts; the raw-path table is in the unit tests."""
    sdk = server.sdk(**MODES[mode])
    inst, ws = server.instance_id, server.workspace_key
    sentinel = server.data_dir / "workspaces" / server.instance_id / "sentinel.txt"
    sentinel.write_text("keep")
    before = sorted(p.name for p in sentinel.parent.iterdir())
    attacks = ["../sentinel.txt", "a/../../sentinel.txt", "..\\sentinel.txt", "C:\\x.txt", "a\x00.ipynb", ".."]
    for attack in attacks:
        calls = _calls(sdk, inst, ws, attack)
        for op, call in calls.items():
            error = _error(call)
            # The SDK's own HTTP stack removes literal '..' segments before sending (default encoding), so
            # such a request reaches another URL (404 NotFound); everything that reaches a contents route is 400.
            assert error.status == 400 or (error.status == 404 and error.code == "NotFound"), (attack, op, error)
            quoted = quote(attack, safe="" if mode == "strict" else "/")
            if ".." not in quoted.split("/"):
                assert error.status == 400, (attack, op, error)
    assert sentinel.read_text() == "keep"
    assert sorted(p.name for p in sentinel.parent.iterdir()) == before


def test_concurrent_saves_with_one_etag(server: Server) -> None:
    inst, ws = server.instance_id, server.workspace_key
    first = server.sdk().update_content(
        inst, ws, "race.ipynb", UpdateContentDetails(type="notebook", content=real_notebook())
    )
    etag = first.headers["etag"]
    clients = [server.sdk(), server.sdk()]
    notebooks = [real_notebook(f"writer {i}") for i in range(2)]
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def save(i: int) -> None:
        barrier.wait()
        try:
            results[i] = (
                clients[i]
                .update_content(
                    inst, ws, "race.ipynb", UpdateContentDetails(type="notebook", content=notebooks[i]), if_match=etag
                )
                .status
            )
        except oci.exceptions.ServiceError as exc:
            results[i] = (exc.status, exc.code)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == sorted([200, (412, "NoEtagMatch")], key=str)
    winner = results.index(200)
    stored = json.loads((_root(server) / "race.ipynb").read_bytes())
    assert stored == json.loads(notebook_bytes(notebooks[winner]))
