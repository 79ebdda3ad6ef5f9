"""WorkspaceObjectService rules: types, overwrite, copies (with and without outputs), moves, listing order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest

from nbplane.contents import ContentStorage
from nbplane.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
)
from nbplane.workspace_objects import CopyRequest, ListObjectsQuery, ObjectType, SortBy, SortOrder, TreeLimits
from nbplane.workspace_objects._paging import paginate

from .conftest import SCOPE, Env, make_env


def _notebook_with_output() -> bytes:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=3)]
    nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_markdown_cell("# title"))
    return nbformat.writes(nb).encode()


async def test_types_are_inferred_and_checked(env: Env) -> None:
    data = _notebook_with_output()
    nb = await env.objects.create(SCOPE, "/a.ipynb", data)
    assert nb.type is ObjectType.NOTEBOOK and nb.path == "/a.ipynb" and nb.size == len(data)
    assert (env.root / "a.ipynb").read_bytes() == data  # stored byte for byte
    assert (await env.objects.create(SCOPE, "/b.txt", b"x")).type is ObjectType.FILE
    assert (await env.objects.create(SCOPE, "/d", b"", type="folder")).type is ObjectType.FOLDER
    with pytest.raises(InvalidInputError, match="NOTEBOOK"):
        await env.objects.create(SCOPE, "/c.ipynb", b"{}", type="FILE")
    with pytest.raises(InvalidInputError, match="invalid notebook"):
        await env.objects.create(SCOPE, "/c.ipynb", b'{"cells": []}')
    with pytest.raises(InvalidInputError, match=r"end with \.ipynb"):
        await env.objects.create(SCOPE, "/c.txt", _notebook_with_output(), type="NOTEBOOK")
    with pytest.raises(InvalidInputError, match="LIBRARY"):
        await env.objects.create(SCOPE, "/lib", b"", type="LIBRARY")
    assert sorted(p.name for p in env.root.iterdir()) == ["a.ipynb", "b.txt", "d"]


async def test_overwrite_replaces_files_never_folders(env: Env) -> None:
    await env.objects.create(SCOPE, "/f.txt", b"1")
    await env.objects.create(SCOPE, "/d", b"", type="FOLDER")
    with pytest.raises(AlreadyExistsError):
        await env.objects.create(SCOPE, "/f.txt", b"2")
    await env.objects.create(SCOPE, "/f.txt", b"2", overwrite=True)
    assert (env.root / "f.txt").read_bytes() == b"2"
    with pytest.raises(AlreadyExistsError, match="folder"):
        await env.objects.create(SCOPE, "/d", b"x", overwrite=True)
    with pytest.raises(AlreadyExistsError):
        await env.objects.create(SCOPE, "/f.txt", b"", type="FOLDER", overwrite=True)
    # An existing folder asked for again with overwrite is returned as it is.
    assert (await env.objects.create(SCOPE, "/d", b"", type="FOLDER", overwrite=True)).type is ObjectType.FOLDER
    with pytest.raises(AlreadyExistsError):
        await env.objects.create(SCOPE, "/d", b"", type="FOLDER")


async def test_update_needs_an_existing_file_and_checks_if_match(env: Env) -> None:
    with pytest.raises(NotFoundError):
        await env.objects.update(SCOPE, "/nope.txt", b"x")
    first = await env.objects.create(SCOPE, "/f.txt", b"1")
    second = await env.objects.update(SCOPE, "/f.txt", b"2", if_match=first.etag)
    with pytest.raises(PreconditionFailedError):
        await env.objects.update(SCOPE, "/f.txt", b"3", if_match=first.etag)
    assert (env.root / "f.txt").read_bytes() == b"2" and second.etag != first.etag
    await env.objects.create(SCOPE, "/d", b"", type="FOLDER")
    with pytest.raises(InvalidInputError, match="folder"):
        await env.objects.update(SCOPE, "/d", b"x")


async def test_delete_refuses_non_empty_folders(env: Env) -> None:
    await env.objects.create(SCOPE, "/d", b"", type="FOLDER")
    await env.objects.create(SCOPE, "/d/f.txt", b"x")
    with pytest.raises(ConflictError):
        await env.objects.delete(SCOPE, "/d")
    await env.objects.delete(SCOPE, "/d/f.txt")
    await env.objects.delete(SCOPE, "/d")
    assert list(env.root.iterdir()) == []


async def test_copy_file_with_and_without_outputs(env: Env) -> None:
    await env.objects.create(SCOPE, "/a.ipynb", _notebook_with_output())
    full = await env.objects.copy(SCOPE, CopyRequest("/a.ipynb", "/b.ipynb"))
    assert full.path == "/b.ipynb" and (env.root / "b.ipynb").read_bytes() == (env.root / "a.ipynb").read_bytes()
    bare = await env.objects.copy(SCOPE, CopyRequest("/a.ipynb", "/c.ipynb", include_outputs=False))
    cells = json.loads((env.root / "c.ipynb").read_text())["cells"]
    assert (
        cells[0]["outputs"] == []
        and cells[0]["execution_count"] is None
        and cells[1]["source"] in ("# title", ["# title"])
    )
    nbformat.validate(nbformat.reads((env.root / "c.ipynb").read_text(), as_version=4))
    assert bare.type is ObjectType.NOTEBOOK
    with pytest.raises(AlreadyExistsError):
        await env.objects.copy(SCOPE, CopyRequest("/a.ipynb", "/b.ipynb"))
    await env.objects.copy(SCOPE, CopyRequest("/c.ipynb", "/b.ipynb", overwrite=True))
    assert (env.root / "b.ipynb").read_bytes() == (env.root / "c.ipynb").read_bytes()
    with pytest.raises(InvalidInputError, match="same"):
        await env.objects.copy(SCOPE, CopyRequest("/a.ipynb", "/a.ipynb", overwrite=True))


async def test_copy_folder_recursively_and_into_folders(env: Env) -> None:
    await env.objects.create(SCOPE, "/src", b"", type="FOLDER")
    await env.objects.create(SCOPE, "/src/n.ipynb", _notebook_with_output())
    await env.objects.create(SCOPE, "/src/deep", b"", type="FOLDER")
    await env.objects.create(SCOPE, "/src/deep/f.txt", b"deep")
    await env.objects.create(SCOPE, "/dst", b"", type="FOLDER")
    copied = await env.objects.copy(SCOPE, CopyRequest("/src", "/dst", include_outputs=False))
    assert copied.path == "/dst/src" and copied.type is ObjectType.FOLDER
    assert (env.root / "dst/src/deep/f.txt").read_bytes() == b"deep"
    assert json.loads((env.root / "dst/src/n.ipynb").read_text())["cells"][0]["outputs"] == []
    with pytest.raises(InvalidInputError, match="into itself"):
        await env.objects.copy(SCOPE, CopyRequest("/src", "/src/deep"))
    # An existing folder is a place to copy into (as with cp -r); an existing file is in the way.
    assert (await env.objects.copy(SCOPE, CopyRequest("/src", "/dst/src"))).path == "/dst/src/src"
    await env.objects.create(SCOPE, "/file", b"x")
    with pytest.raises(AlreadyExistsError):
        await env.objects.copy(SCOPE, CopyRequest("/src", "/file", overwrite=True))
    assert (env.root / "file").read_bytes() == b"x"


async def test_copy_folder_over_the_limits_creates_nothing(tmp_path: Path) -> None:
    env = make_env(tmp_path, TreeLimits(max_entries=3))
    await env.objects.create(SCOPE, "/src", b"", type="FOLDER")
    for n in range(4):
        await env.objects.create(SCOPE, f"/src/{n}.txt", b"x")
    with pytest.raises(PayloadTooLargeError):
        await env.objects.copy(SCOPE, CopyRequest("/src", "/copy"))
    assert not (env.root / "copy").exists()


async def test_a_failing_folder_copy_leaves_no_half_copy(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    await env.objects.create(SCOPE, "/src", b"", type="FOLDER")
    for n in range(3):
        await env.objects.create(SCOPE, f"/src/{n}.txt", b"x")
    storage = env.contents.storage_for(SCOPE)
    real = type(storage).write_atomic
    calls = 0

    async def flaky(self: ContentStorage, path: str, source: object, *, overwrite: bool = True) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full")
        return await real(self, path, source, overwrite=overwrite)  # type: ignore[arg-type]

    monkeypatch.setattr(type(storage), "write_atomic", flaky)
    with pytest.raises(OSError, match="disk full"):
        await env.objects.copy(SCOPE, CopyRequest("/src", "/copy"))
    assert not (env.root / "copy").exists() and len(list((env.root / "src").iterdir())) == 3


async def test_move_rename_and_delete_source_copies_notify_sessions(env: Env) -> None:
    await env.objects.create(SCOPE, "/a.ipynb", _notebook_with_output())
    await env.objects.create(SCOPE, "/d", b"", type="FOLDER")
    moved = await env.objects.move(SCOPE, "/a.ipynb", "/d")
    assert moved.path == "/d/a.ipynb"
    renamed = await env.objects.rename(SCOPE, "/d/a.ipynb", "b.ipynb")
    assert renamed.path == "/d/b.ipynb"
    again = await env.objects.copy(SCOPE, CopyRequest("/d/b.ipynb", "/c.ipynb", delete_source=True))
    assert again.path == "/c.ipynb" and not (env.root / "d" / "b.ipynb").exists()
    assert env.renames == [
        (SCOPE, "a.ipynb", "d/a.ipynb"),
        (SCOPE, "d/a.ipynb", "d/b.ipynb"),
        (SCOPE, "d/b.ipynb", "c.ipynb"),
    ]
    stripped = await env.objects.copy(
        SCOPE, CopyRequest("/c.ipynb", "/e.ipynb", delete_source=True, include_outputs=False)
    )
    assert stripped.path == "/e.ipynb" and not (env.root / "c.ipynb").exists()
    with pytest.raises(InvalidInputError, match="newName"):
        await env.objects.rename(SCOPE, "/e.ipynb", "d/x.ipynb")
    await env.objects.create(SCOPE, "/f.txt", b"x")
    with pytest.raises(AlreadyExistsError):
        await env.objects.move(SCOPE, "/f.txt", "/e.ipynb")
    with pytest.raises(InvalidInputError):
        await env.objects.move(SCOPE, "/", "/d")


async def test_copy_if_match_applies_to_the_source(env: Env) -> None:
    source = await env.objects.create(SCOPE, "/a.txt", b"1")
    await env.objects.update(SCOPE, "/a.txt", b"2")
    with pytest.raises(PreconditionFailedError):
        await env.objects.copy(SCOPE, CopyRequest("/a.txt", "/b.txt"), if_match=source.etag)
    assert not (env.root / "b.txt").exists()


async def test_listing_filters_and_default_orders(env: Env) -> None:
    await env.objects.create(SCOPE, "/b.txt", b"x")
    await env.objects.create(SCOPE, "/a.ipynb", _notebook_with_output())
    await env.objects.create(SCOPE, "/C", b"", type="FOLDER")
    page = await env.objects.list(SCOPE, ListObjectsQuery("/", sort_by=SortBy.DISPLAY_NAME))
    assert [o.name for o in page.items] == ["a.ipynb", "b.txt", "C"] and page.next_page is None
    named = await env.objects.list(SCOPE, ListObjectsQuery("/", display_name="b.txt"))
    assert [o.name for o in named.items] == ["b.txt"]
    none = await env.objects.list(SCOPE, ListObjectsQuery("/", types=frozenset()))
    assert none.items == []
    with pytest.raises(InvalidInputError, match="not a folder"):
        await env.objects.list(SCOPE, ListObjectsQuery("/b.txt"))


async def test_listing_leaves_out_what_is_no_object_of_the_workspace(env: Env) -> None:
    (env.tmp / "secret.txt").write_text("outside")
    (env.root / "in.txt").write_text("in")
    (env.root / "escape").symlink_to(env.tmp / "secret.txt")
    (env.root / "dangling").symlink_to(env.tmp / "nothing")
    page = await env.objects.list(SCOPE, ListObjectsQuery("/", sort_by=SortBy.DISPLAY_NAME))
    assert [o.name for o in page.items] == ["in.txt"]
    with pytest.raises(InvalidInputError, match="outside"):
        await env.objects.read(SCOPE, "/escape")


def test_time_created_defaults_to_newest_first() -> None:
    from nbplane.workspace_objects import WorkspaceObject

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    objs = [WorkspaceObject(f"/{n}", str(n), ObjectType.FILE, t0 + timedelta(seconds=n), t0, 1, "e") for n in range(5)]
    query = ListObjectsQuery("/", limit=2)
    first, token = paginate(query, objs)
    assert [o.name for o in first] == ["4", "3"] and token is not None
    second, token = paginate(ListObjectsQuery("/", limit=2, page=token), objs)
    assert [o.name for o in second] == ["2", "1"]
    ascending, _ = paginate(ListObjectsQuery("/", limit=10, sort_order=SortOrder.ASC), objs)
    assert [o.name for o in ascending] == ["0", "1", "2", "3", "4"]
