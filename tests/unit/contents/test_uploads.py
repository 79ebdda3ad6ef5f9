"""The chunked upload protocol through create and update."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from nbplane.contents import ChunkUpload, ContentLimits, ContentType
from nbplane.errors import (
    AlreadyExistsError,
    InvalidInputError,
    MissingParameterError,
    PayloadTooLargeError,
    PreconditionFailedError,
)

from .conftest import SCOPE, Env, chunks_of, make_env, notebook_bytes

DATA = notebook_bytes("y = 'uploaded'\n" * 50)


async def _send(env: Env, path: str, pieces, *, op: str = "create", **kwargs):
    results = []
    for chunk, content in pieces:
        if op == "create":
            results.append(await env.svc.create(SCOPE, path, upload=chunk, content=content))
        else:
            results.append(await env.svc.update(SCOPE, path, upload=chunk, content=content, **kwargs))
    return results


def _workspace_files(env: Env) -> list[str]:
    return sorted(str(p.relative_to(env.root)) for p in env.root.rglob("*"))


async def test_happy_path(env: Env) -> None:
    pieces = chunks_of(DATA, 4)
    acks = await _send(env, "/up.ipynb", pieces[:-1])
    assert [(a.upload_id, a.upload_chunk_index, a.total_chunks) for a in acks] == [
        ("u-1", 1, 4),
        ("u-1", 2, 4),
        ("u-1", 3, 4),
    ]
    assert all(a.content is None and a.etag is None for a in acks)
    assert _workspace_files(env) == []  # staged outside the workspace
    assert len(env.staged_uploads()) == 1
    [final] = await _send(env, "/up.ipynb", pieces[-1:])
    assert (final.path, final.type, final.size) == ("up.ipynb", ContentType.NOTEBOOK, len(DATA))
    assert (final.upload_chunk_index, final.sha256) == (-1, hashlib.sha256(DATA).hexdigest())
    assert final.etag == "sha256-" + hashlib.sha256(DATA).hexdigest()
    assert (env.root / "up.ipynb").read_bytes() == DATA
    assert env.staged_uploads() == []


async def test_single_chunk_upload(env: Env) -> None:
    [final] = await _send(env, "one.ipynb", chunks_of(DATA, 1))
    assert final.upload_chunk_index == -1 and (env.root / "one.ipynb").read_bytes() == DATA


async def test_upload_into_a_directory_gets_an_untitled_name(env: Env) -> None:
    (env.root / "Untitled.ipynb").write_bytes(b"{}")
    *_, final = await _send(env, "", chunks_of(DATA, 3))
    assert final.path == "Untitled1.ipynb"


async def test_resent_chunk_replaces_the_earlier_one(env: Env) -> None:
    pieces = chunks_of(DATA, 3)
    await _send(env, "up.ipynb", [pieces[0], pieces[0], pieces[1], pieces[1], pieces[2]])
    assert (env.root / "up.ipynb").read_bytes() == DATA


@pytest.mark.parametrize(
    "pieces",
    [
        chunks_of(DATA, 3, sha="0" * 64),
        chunks_of(DATA, 3, size=len(DATA) + 1),
        chunks_of(DATA + b" ", 3, sha=hashlib.sha256(DATA).hexdigest(), size=len(DATA)),
    ],
    ids=["wrong-digest", "wrong-size-short", "wrong-size-long"],
)
async def test_mismatch_stores_nothing(env: Env, pieces) -> None:
    with pytest.raises(InvalidInputError):
        await _send(env, "up.ipynb", pieces)
    assert _workspace_files(env) == []
    assert env.staged_uploads() == []


async def test_valid_digest_of_an_invalid_notebook_is_refused(env: Env) -> None:
    with pytest.raises(InvalidInputError, match="invalid notebook"):
        await _send(env, "up.ipynb", chunks_of(b'{"nbformat": 4, "cells": []}', 2))
    assert _workspace_files(env) == [] and env.staged_uploads() == []


async def test_missing_chunk_can_be_sent_late(env: Env) -> None:
    pieces = chunks_of(DATA, 4)
    await _send(env, "up.ipynb", [pieces[0], pieces[2]])
    with pytest.raises(InvalidInputError, match="missing chunk"):
        await _send(env, "up.ipynb", [pieces[3]])
    assert _workspace_files(env) == []
    *_, final = await _send(env, "up.ipynb", [pieces[1], pieces[3]])
    assert final.upload_chunk_index == -1 and (env.root / "up.ipynb").read_bytes() == DATA


async def test_expired_upload_is_refused_and_purged(env: Env) -> None:
    pieces = chunks_of(DATA, 3)
    await _send(env, "up.ipynb", pieces[:1])
    env.clock.now += env.svc.limits.upload_ttl_seconds + 1
    with pytest.raises(InvalidInputError, match="expired"):
        await _send(env, "up.ipynb", pieces[1:2])
    assert env.staged_uploads() == []

    await _send(env, "other.ipynb", chunks_of(DATA, 3, "u-2")[:1])
    assert await env.svc.purge_expired() == 0
    env.clock.now += env.svc.limits.upload_ttl_seconds + 1
    assert await env.svc.purge_expired() == 1
    assert env.staged_uploads() == [] and _workspace_files(env) == []


async def test_update_upload_overwrites_with_if_match(env: Env) -> None:
    (env.root / "nb.ipynb").write_bytes(notebook_bytes("old"))
    current = await env.svc.get(SCOPE, "nb.ipynb", content=0)
    with pytest.raises(PreconditionFailedError):
        await _send(env, "nb.ipynb", chunks_of(DATA, 2), op="update", if_match="sha256-nope")
    *_, final = await _send(env, "nb.ipynb", chunks_of(DATA, 2, "u-9"), op="update", if_match=current.etag)
    assert final.upload_chunk_index == -1 and (env.root / "nb.ipynb").read_bytes() == DATA


async def test_create_upload_does_not_overwrite(env: Env) -> None:
    (env.root / "nb.ipynb").write_bytes(b"{}")
    with pytest.raises(AlreadyExistsError):
        await _send(env, "nb.ipynb", chunks_of(DATA, 2))
    assert (env.root / "nb.ipynb").read_bytes() == b"{}"


def _chunk(index: int = 1, **kw) -> ChunkUpload:
    fields = {"upload_id": "u-1", "chunk_index": index, "total_chunks": 3, "total_size_bytes": 10}
    fields["sha256"] = "a" * 64
    fields.update(kw)
    return ChunkUpload(**fields)


@pytest.mark.parametrize(
    ("chunk", "content", "error"),
    [
        (_chunk(0), "", InvalidInputError),
        (_chunk(-2), "", InvalidInputError),
        (_chunk(3), "", InvalidInputError),
        (_chunk(upload_id="../x"), "", InvalidInputError),
        (_chunk(upload_id=""), "", InvalidInputError),
        (_chunk(sha256="xyz"), "", InvalidInputError),
        (_chunk(total_chunks=0), "", InvalidInputError),
        (_chunk(total_size_bytes=-1), "", InvalidInputError),
        (_chunk(), "not base64!", InvalidInputError),
        (_chunk(), 123, InvalidInputError),
        (_chunk(-1, sha256=None), "", MissingParameterError),
        (_chunk(total_chunks=10_000), "", PayloadTooLargeError),
        (_chunk(total_size_bytes=2048), "", PayloadTooLargeError),
        (_chunk(total_size_bytes=None), base64.b64encode(b"x" * 2048).decode(), PayloadTooLargeError),
        (_chunk(), base64.b64encode(b"x" * 11).decode(), InvalidInputError),
    ],
)
async def test_chunk_validation(tmp_path: Path, chunk: ChunkUpload, content, error) -> None:
    env = make_env(tmp_path, ContentLimits(max_upload_bytes=1024, max_chunks=8))
    with pytest.raises(error):
        await env.svc.create(SCOPE, "up.ipynb", upload=chunk, content=content)
    assert _workspace_files(env) == []


async def test_inconsistent_totals_across_chunks(env: Env) -> None:
    await env.svc.create(SCOPE, "up.ipynb", upload=_chunk(1), content="")
    with pytest.raises(InvalidInputError, match="total_size_bytes"):
        await env.svc.create(SCOPE, "up.ipynb", upload=_chunk(2, total_size_bytes=11), content="")
    with pytest.raises(InvalidInputError, match="another path"):
        await env.svc.create(SCOPE, "other.ipynb", upload=_chunk(2), content="")


@pytest.mark.parametrize(
    ("op", "path", "kwargs"),
    [
        ("create", "up.txt", {}),
        ("create", "up.ipynb", {"type": "file"}),
        ("create", "up.ipynb", {"copy_from": "a.ipynb"}),
        ("update", "up.ipynb", {"format": "text"}),
    ],
)
async def test_uploads_are_notebooks(env: Env, op: str, path: str, kwargs: dict) -> None:
    method = env.svc.create if op == "create" else env.svc.update
    with pytest.raises(InvalidInputError):
        await method(SCOPE, path, upload=_chunk(1), content="", **kwargs)
