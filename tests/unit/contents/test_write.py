"""update (save), rename and delete, with if-match and the rename hook."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import nbformat
import pytest

from nbplane.contents import ContentLimits, ContentService, ContentType
from nbplane.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    MissingParameterError,
    NotFoundError,
    PreconditionFailedError,
)

from .conftest import SCOPE, Env, make_env, notebook


async def test_save_notebook_upsert(env: Env) -> None:
    model = await env.svc.update(SCOPE, "/n.ipynb", type="notebook", content=notebook("a = 1"))
    assert (model.path, model.type, model.content) == ("n.ipynb", ContentType.NOTEBOOK, None)
    saved = nbformat.read(env.root / "n.ipynb", as_version=4)
    assert saved.cells[0].source == "a = 1"
    again = await env.svc.update(SCOPE, "n.ipynb", content=notebook("a = 2"), if_match=model.etag)
    assert again.etag != model.etag
    got = await env.svc.get(SCOPE, "n.ipynb", content=0)
    assert got.etag == again.etag


async def test_invalid_notebook_carries_the_validation_message(env: Env) -> None:
    bad = notebook()
    del bad["metadata"]
    with pytest.raises(InvalidInputError, match="'metadata' is a required property"):
        await env.svc.update(SCOPE, "n.ipynb", type="notebook", content=bad)
    assert not (env.root / "n.ipynb").exists()


async def test_save_files(env: Env) -> None:
    await env.svc.update(SCOPE, "t.txt", type="file", format="text", content="héllo")
    await env.svc.update(
        SCOPE,
        "b.bin",
        type="file",
        format="base64",
        content=base64.b64encode(b"\x00\xff").decode(),
    )
    await env.svc.update(SCOPE, "u.txt", content="inferred")
    assert (env.root / "t.txt").read_bytes() == "héllo".encode()
    assert (env.root / "b.bin").read_bytes() == b"\x00\xff"
    assert (env.root / "u.txt").read_text() == "inferred"


async def test_save_directory(env: Env) -> None:
    model = await env.svc.update(SCOPE, "d", type="directory")
    same = await env.svc.update(SCOPE, "d", type="directory")
    assert model.type is ContentType.DIRECTORY and (env.root / "d").is_dir() and same.path == "d"


@pytest.mark.parametrize(
    ("path", "kwargs", "error"),
    [
        ("n.ipynb", {"type": "notebook", "format": "text", "content": notebook()}, InvalidInputError),
        ("n.txt", {"type": "notebook", "content": notebook()}, InvalidInputError),
        ("n.ipynb", {"type": "notebook", "content": "{not json"}, InvalidInputError),
        ("n.ipynb", {"type": "notebook", "content": [1]}, InvalidInputError),
        ("n.ipynb", {"type": "notebook"}, MissingParameterError),
        ("t.txt", {"type": "file", "format": "json", "content": "x"}, InvalidInputError),
        ("t.txt", {"type": "file", "content": {"a": 1}}, InvalidInputError),
        ("t.txt", {"type": "file", "format": "base64", "content": "%%%"}, InvalidInputError),
        ("t.txt", {}, MissingParameterError),
        ("d", {"type": "directory", "content": "x"}, InvalidInputError),
        ("file.txt", {"type": "directory"}, InvalidInputError),
        ("d", {"type": "file", "content": "x"}, InvalidInputError),
        ("t.txt", {"type": "file", "content": "x", "name": "other.txt"}, InvalidInputError),
        ("t.txt", {"type": "blob", "content": "x"}, InvalidInputError),
        ("nope/t.txt", {"type": "file", "content": "x"}, NotFoundError),
        ("new.txt", {"type": "file", "content": "x", "if_match": "sha256-x"}, NotFoundError),
        ("file.txt", {"type": "file", "content": "x", "if_match": "sha256-x"}, PreconditionFailedError),
    ],
)
async def test_update_errors(env: Env, path: str, kwargs: dict, error: type[Exception]) -> None:
    (env.root / "d").mkdir()
    (env.root / "file.txt").write_text("keep")
    with pytest.raises(error):
        await env.svc.update(SCOPE, path, **kwargs)
    assert (env.root / "file.txt").read_text() == "keep"


async def test_if_match_accepts_quoted_and_star(env: Env) -> None:
    first = await env.svc.update(SCOPE, "t.txt", type="file", content="1")
    second = await env.svc.update(SCOPE, "t.txt", content="2", if_match=f'"{first.etag}"')
    await env.svc.update(SCOPE, "t.txt", content="3", if_match="*")
    assert second.etag != first.etag and (env.root / "t.txt").read_text() == "3"


async def test_concurrent_saves_with_same_if_match(env: Env) -> None:
    base = await env.svc.update(SCOPE, "n.ipynb", type="notebook", content=notebook("base"))
    contents = [notebook("first\n" * 20000), notebook("second\n" * 30000)]
    results = await asyncio.gather(
        *(env.svc.update(SCOPE, "n.ipynb", type="notebook", content=c, if_match=base.etag) for c in contents),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], PreconditionFailedError)
    on_disk = json.loads((env.root / "n.ipynb").read_text())
    expected = [nbformat.writes(nbformat.from_dict(c)) for c in contents]
    assert (env.root / "n.ipynb").read_text() in expected
    winner_index = results.index(winners[0])
    assert "".join(on_disk["cells"][0]["source"]) == contents[winner_index]["cells"][0]["source"]
    assert [p.name for p in env.root.iterdir()] == ["n.ipynb"]


async def test_concurrent_saves_across_service_instances(tmp_path: Path) -> None:
    """Two services over one data dir stand in for two processes: the flock keeps them apart."""
    env = make_env(tmp_path)
    other = ContentService(tmp_path / "data", tmp_path / "staging")
    base = await env.svc.update(SCOPE, "t.txt", type="file", content="base")
    results = await asyncio.gather(
        env.svc.update(SCOPE, "t.txt", type="file", content="A" * 100000, if_match=base.etag),
        other.update(SCOPE, "t.txt", type="file", content="B" * 200000, if_match=base.etag),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ContentModel", "PreconditionFailedError"]
    assert (env.root / "t.txt").read_text() in ("A" * 100000, "B" * 200000)


async def test_rename_moves_and_calls_hook(env: Env) -> None:
    (env.root / "a.ipynb").write_text(json.dumps(notebook()))
    (env.root / "sub").mkdir()
    model = await env.svc.rename(SCOPE, "/a.ipynb", "sub/b.ipynb")
    assert (model.path, model.name, model.type) == ("sub/b.ipynb", "b.ipynb", ContentType.NOTEBOOK)
    assert not (env.root / "a.ipynb").exists() and (env.root / "sub" / "b.ipynb").exists()
    await env.svc.rename(SCOPE, "sub", "moved")
    assert env.renames == [
        (SCOPE, "a.ipynb", "sub/b.ipynb"),
        (SCOPE, "sub", "moved"),
    ]


async def test_rename_to_same_path_is_a_no_op(env: Env) -> None:
    (env.root / "a.txt").write_text("x")
    model = await env.svc.rename(SCOPE, "a.txt", "/a.txt")
    assert model.path == "a.txt" and env.renames == []


async def test_rename_hook_failure_does_not_undo(tmp_path: Path) -> None:
    async def broken(*_: str) -> None:
        raise RuntimeError("sessions layer down")

    svc = ContentService(tmp_path / "data", tmp_path / "staging", on_renamed=broken)
    await svc.update(SCOPE, "a.txt", type="file", content="x")
    model = await svc.rename(SCOPE, "a.txt", "b.txt")
    assert model.path == "b.txt"


@pytest.mark.parametrize(
    ("src", "dst", "kwargs", "error"),
    [
        ("a.txt", "b.txt", {}, AlreadyExistsError),
        ("missing.txt", "c.txt", {}, NotFoundError),
        ("a.txt", "nope/c.txt", {}, NotFoundError),
        ("a.txt", "b.txt/c.txt", {}, NotFoundError),
        ("a.txt", "c.txt", {"if_match": "sha256-stale"}, PreconditionFailedError),
        ("d", "d/inner", {}, InvalidInputError),
        ("", "x", {}, InvalidInputError),
        ("a.txt", "/", {}, InvalidInputError),
    ],
)
async def test_rename_errors(env: Env, src: str, dst: str, kwargs: dict, error: type[Exception]) -> None:
    (env.root / "a.txt").write_text("a")
    (env.root / "b.txt").write_text("b")
    (env.root / "d").mkdir()
    with pytest.raises(error):
        await env.svc.rename(SCOPE, src, dst, **kwargs)
    assert (env.root / "a.txt").read_text() == "a" and (env.root / "b.txt").read_text() == "b"
    assert env.renames == []


async def test_delete_file_and_empty_dir(env: Env) -> None:
    (env.root / "a.txt").write_text("a")
    (env.root / "d").mkdir()
    etag = (await env.svc.get(SCOPE, "a.txt", content=0)).etag
    await env.svc.delete(SCOPE, "/a.txt", if_match=etag)
    await env.svc.delete(SCOPE, "d")
    assert list(env.root.iterdir()) == []


async def test_delete_non_empty_dir_is_refused(env: Env) -> None:
    (env.root / "d").mkdir()
    (env.root / "d" / "keep.txt").write_text("k")
    with pytest.raises(ConflictError):
        await env.svc.delete(SCOPE, "d")
    assert (env.root / "d" / "keep.txt").exists()


async def test_delete_non_empty_dir_when_allowed(tmp_path: Path) -> None:
    env = make_env(tmp_path, ContentLimits(allow_recursive_delete=True))
    (env.root / "d" / "e").mkdir(parents=True)
    (env.root / "d" / "e" / "x.txt").write_text("x")
    await env.svc.delete(SCOPE, "d")
    assert not (env.root / "d").exists()


@pytest.mark.parametrize(
    ("path", "kwargs", "error"),
    [
        ("", {}, InvalidInputError),
        ("/", {}, InvalidInputError),
        ("missing.txt", {}, NotFoundError),
        ("a.txt", {"if_match": "sha256-stale"}, PreconditionFailedError),
        ("d", {"if_match": "dir-stale"}, PreconditionFailedError),
    ],
)
async def test_delete_errors(env: Env, path: str, kwargs: dict, error: type[Exception]) -> None:
    (env.root / "a.txt").write_text("a")
    (env.root / "d").mkdir()
    with pytest.raises(error):
        await env.svc.delete(SCOPE, path, **kwargs)
    assert (env.root / "a.txt").exists() and (env.root / "d").exists()
