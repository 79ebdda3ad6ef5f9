"""Path safety over HTTP: every escape attempt, in every operation and in both client encodings, is 400,
and nothing outside the workspace root (a sentinel file, a sibling workspace) is read, created or changed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.unit.conftest import InProcess

ESCAPES: dict[str, str] = {
    "dotdot": "..",
    "dotdot-file": "../outside.txt",
    "dotdot-deep": "../../../../outside/sentinel.txt",
    "dotdot-sibling-workspace": "../other-ws/secret.txt",
    "dotdot-sibling-instance": "../../other-instance/ws/secret.txt",
    "dotdot-inner": "dir/../../outside.txt",
    "dotdot-trailing": "dir/..",
    "dot": "./a.ipynb",
    "leading-dotdot-abs": "/../outside.txt",
    "nul": "a\x00.ipynb",
    "nul-dotdot": "..\x00/x.txt",
    "control-char": "a\nb.txt",
    "backslash-dotdot": "..\\..\\outside.txt",
    "backslash": "dir\\a.txt",
    "windows-drive": "C:\\Windows\\win.ini",
    "windows-drive-relative": "C:outside.txt",
    "windows-unc": "\\\\server\\share\\x.txt",
    "windows-device": "CON",
    "windows-device-ext": "dir/nul.txt",
    "windows-ads": "a.ipynb::$DATA",
    "windows-trailing-dot": "a.ipynb.",
    "windows-trailing-space": "a.ipynb ",
    "reserved-temp-prefix": ".~nbplane-tmp",
    "symlink-dir-outside": "link-out/sentinel.txt",
    "symlink-file-outside": "link-file.txt",
    "symlink-dir-new-file": "link-out/new.txt",
}

ENCODINGS: dict[str, Callable[[str], str]] = {
    # The SDK's default quote(v) keeps '/', so '/x' arrives as '//x'; the CLI quotes with safe=''.
    "sdk": lambda p: quote(p, safe="/"),
    "strict": lambda p: quote(p, safe=""),
}


def _tree(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every entry under `root` with its size, mtime and (for files) bytes, without following symlinks."""
    found: dict[str, tuple[int, int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            st = full.lstat()
            data = full.read_bytes() if full.is_file() and not full.is_symlink() else None
            found[str(full.relative_to(root))] = (st.st_size, st.st_mtime_ns, data)
    return found


@pytest.fixture
async def arena(inproc: InProcess, tmp_path: Path) -> dict[str, Path]:
    """A workspace with a notebook, a directory and symlinks pointing out of it, and things outside it."""
    root = inproc.workspace_root
    root.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sentinel.txt").write_text("do not touch")
    sibling = root.parent / "other-ws"
    sibling.mkdir()
    (sibling / "secret.txt").write_text("sibling workspace")
    other_instance = root.parent.parent / "other-instance" / "ws"
    other_instance.mkdir(parents=True)
    (other_instance / "secret.txt").write_text("other instance")
    response = await inproc.client.put(
        f"{inproc.api_url}/contents/ok.ipynb",
        json={"type": "notebook", "format": "json", "content": _notebook()},
    )
    assert response.status_code == 200, response.text
    (root / "dir").mkdir()
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    (root / "link-file.txt").symlink_to(outside / "sentinel.txt")
    return {"outside": outside, "tenant": root.parent.parent, "root": root}


def _notebook() -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}


def _operations(attack: str, encoded: str) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(operation, method, contentPath as sent, body) for every way a path reaches the server."""
    chunk = {
        "upload_id": "u1",
        "upload_chunk_index": -1,
        "total_chunks": 1,
        "total_size_bytes": 2,
        "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "format": "json",
        "content": "e30=",
    }
    ok = ENCODINGS["strict"]("ok.ipynb")
    return [
        ("get", "GET", encoded, None),
        ("create-untitled", "POST", encoded, {}),
        ("create-chunked", "POST", encoded, chunk),
        ("create-copy_from", "POST", ENCODINGS["strict"]("dir"), {"copy_from": attack}),
        ("update", "PUT", encoded, {"type": "file", "format": "text", "content": "pwned"}),
        ("update-chunked", "PUT", encoded, chunk),
        ("modify-source", "PATCH", encoded, {"path": "renamed.txt"}),
        ("modify-target", "PATCH", ok, {"path": attack}),
        ("delete", "DELETE", encoded, None),
        ("export", "POST-EXPORT", encoded, {"format": "html"}),
    ]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Path safety does not depend on the database: SQLite only, so the table stays quick."""
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.mark.parametrize("escape", ESCAPES)
async def test_escape_attempts_are_400_and_touch_nothing(
    inproc: InProcess, arena: dict[str, Path], escape: str
) -> None:
    """One escape, every operation, both encodings: 400 InvalidParameter, and the trees are byte-for-byte unchanged
    (chunked uploads stage outside the data root, so even the tenant's directory mtimes stay as they were)."""
    attack = ESCAPES[escape]
    before_tenant, before_outside = _tree(arena["tenant"]), _tree(arena["outside"])
    for encoding, encode in ENCODINGS.items():
        for operation, method, sent_path, body in _operations(attack, encode(attack)):
            if method == "POST-EXPORT":
                method, raw_path = "POST", f"{inproc.api_url}/actions/export/contents/{sent_path}"
            else:
                raw_path = f"{inproc.api_url}/contents/{sent_path}"
            response = await inproc.raw(method, raw_path, body=body)
            where = (encoding, operation, raw_path, response.content)
            assert response.status_code == 400, where
            message = response.json()["message"]
            assert response.json()["code"] == "InvalidParameter", where
            assert str(arena["outside"]) not in message and str(arena["tenant"]) not in message, where
            assert _tree(arena["outside"]) == before_outside, where
            assert _tree(arena["tenant"]) == before_tenant, where


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_host_absolute_paths_stay_inside_the_workspace(
    inproc: InProcess, arena: dict[str, Path], encoding: str
) -> None:
    """A leading '/' is the workspace root (the SDK sends '/Workspace/a.ipynb' as '//Workspace/a.ipynb'),
    so a host path such as the sentinel's absolute path names a file inside the workspace: 404, never the
    host file."""
    sentinel = str(arena["outside"] / "sentinel.txt")
    encoded = ENCODINGS[encoding](sentinel)
    before = _tree(arena["outside"])
    got = await inproc.raw("GET", f"{inproc.api_url}/contents/{encoded}")
    assert got.status_code == 404
    deleted = await inproc.raw("DELETE", f"{inproc.api_url}/contents/{encoded}")
    assert deleted.status_code == 404
    exported = await inproc.raw("POST", f"{inproc.api_url}/actions/export/contents/{encoded}", body={})
    assert exported.status_code == 404
    assert _tree(arena["outside"]) == before
