"""The six contents operations through Oracle's `aidp` CLI, which sends contentPath with `%2F` encoding."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.e2e.conftest import Server, cli_json
from tests.e2e.notebooks import PNG_B64, SOURCE, chunk_bodies, notebook_bytes, real_notebook

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cleanup_sessions")]


def _root(server: Server) -> Path:
    return server.data_dir / "workspaces" / server.instance_id / server.workspace_key


def test_cli_every_operation(server: Server, tmp_path: Path) -> None:
    ws = server.workspace_key

    def ok(*args: str) -> dict:
        return cli_json(server.cli("notebook", *args, check=True))

    made = ok("create-content", ws, "cli dir", "--body", '{"type": "directory"}')
    assert made["status"] == 201 and made["data"]["path"] == "cli dir"
    assert ok("create-content", ws, "cli dir", "--body", '{"type": "notebook"}')["data"]["name"] == "Untitled.ipynb"
    assert ok("create-content", ws, "cli dir", "--body", '{"ext": ".py"}')["data"]["name"] == "untitled.py"
    assert ok("create-content", ws, "cli dir", "--body", "{}")["data"]["name"] == "untitled"
    folder = ok("create-content", ws, "/cli dir", "--body", '{"type": "directory"}')
    assert folder["data"]["name"] == "Untitled Folder"

    # a real notebook with a PNG output, plain (update, body from a file) and chunked (create)
    nb = real_notebook("cli")
    body_file = tmp_path / "nb.json"
    body_file.write_text(json.dumps({"type": "notebook", "format": "json", "content": nb}))
    saved = ok("update-content", ws, "cli dir/real.ipynb", "--body", f"@{body_file}", "--should-update-recent")
    assert saved["status"] == 200 and saved["headers"]["etag"]
    for body in chunk_bodies(notebook_bytes(nb), 400, "cli-up"):
        chunk_file = tmp_path / "chunk.json"
        chunk_file.write_text(json.dumps(body))
        ack = ok("create-content", ws, "cli dir/chunked.ipynb", "--body", f"@{chunk_file}")
        assert ack["data"]["upload_chunk_index"] == body["upload_chunk_index"]
    assert (_root(server) / "cli dir" / "chunked.ipynb").exists()

    copy = ok("create-content", ws, "cli dir/copy.ipynb", "--body", '{"copy_from": "cli dir/real.ipynb"}')
    assert copy["data"]["name"] == "copy.ipynb"

    got = ok("get-content", ws, "/cli dir/real.ipynb", "--type", "notebook", "--content", "1", "--hash", "1")
    assert got["data"]["content"]["cells"][1]["source"] == SOURCE
    assert got["data"]["hash_algorithm"] == "sha256" and got["headers"]["etag"] == saved["headers"]["etag"]
    meta = ok("get-content", ws, "cli dir", "--type", "directory", "--content", "0")
    assert meta["data"]["type"] == "directory" and meta["data"]["content"] is None
    listing = server.cli("notebook", "get-content", ws, "cli dir", "--type", "directory", "--content", "1")
    assert listing.returncode == 400 & 0xFF
    bad_format = server.cli(
        "notebook", "get-content", ws, "cli dir/real.ipynb", "--type", "notebook", "--format", "text"
    )
    assert bad_format.returncode == 400 & 0xFF and cli_json(bad_format)["code"] == "InvalidParameter"
    missing = server.cli("notebook", "get-content", ws, "cli dir/missing.ipynb")
    assert missing.returncode == 404 & 0xFF

    html = ok("export-contents", ws, "cli dir/real.ipynb", "--body", '{"format": "html"}')
    assert "hello from nbplane" in html["data"]["content"]
    assert f"data:image/png;base64,{PNG_B64}" in html["data"]["content"]
    ipynb = ok("export-contents", ws, "cli dir/real.ipynb", "--body", "{}")
    assert nbformat.reads(ipynb["data"]["content"], as_version=4).cells[1].source == SOURCE

    # rename with a session following it
    session = ok("create-session", ws, "--body", '{"path": "cli dir/real.ipynb"}')["data"]
    stale = server.cli(
        "notebook", "modify-content", ws, "cli dir/real.ipynb", "--body", '{"path": "x.ipynb"}', "--if-match", "nope"
    )
    assert stale.returncode == 412 & 0xFF and cli_json(stale)["code"] == "NoEtagMatch"
    moved = ok(
        "modify-content",
        ws,
        "cli dir/real.ipynb",
        "--body",
        '{"path": "cli dir/renamed.ipynb"}',
        "--if-match",
        saved["headers"]["etag"],
    )
    assert moved["data"]["path"] == "cli dir/renamed.ipynb"
    assert moved["headers"]["location"].endswith("/contents/cli%20dir/renamed.ipynb")
    assert ok("get-session", ws, session["id"])["data"]["path"] == "cli dir/renamed.ipynb"

    # delete
    assert ok("delete-content", ws, "cli dir/untitled")["status"] == 204
    not_empty = server.cli("notebook", "delete-content", ws, "cli dir")
    assert not_empty.returncode == 409 & 0xFF and cli_json(not_empty)["code"] == "Conflict"
    assert not (_root(server) / "cli dir" / "untitled").exists()


def test_cli_escapes_are_400(server: Server) -> None:
    ws = server.workspace_key
    sentinel = _root(server).parent / "cli-sentinel.txt"
    sentinel.write_text("keep")
    for attack in ("../cli-sentinel.txt", "a/../../cli-sentinel.txt", "..\\cli-sentinel.txt"):
        for args in (
            ("get-content", ws, attack),
            ("create-content", ws, attack, "--body", "{}"),
            ("update-content", ws, attack, "--body", '{"type": "file", "format": "text", "content": "x"}'),
            ("modify-content", ws, attack, "--body", '{"path": "y.txt"}'),
            ("delete-content", ws, attack),
            ("export-contents", ws, attack, "--body", "{}"),
        ):
            result = server.cli("notebook", *args)
            assert result.returncode == 400 & 0xFF, (args, result.stderr)
    assert sentinel.read_text() == "keep"
