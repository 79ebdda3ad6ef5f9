"""Confinement through the service (escapes, symlinks) and atomic writes in LocalContentStorage."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nbplane.contents import LocalContentStorage
from nbplane.errors import BackendError, ConflictError, InvalidInputError, NotFoundError
from nbplane.scope import Scope

from .conftest import INSTANCE, SCOPE, Env
from .test_paths import ESCAPES

SENTINEL = b"do not touch"


def _untouched(sentinel: Path) -> bool:
    return sentinel.read_bytes() == SENTINEL


@pytest.fixture
def sentinel(env: Env) -> Path:
    path = env.tmp / "secret.txt"
    path.write_bytes(SENTINEL)
    return path


@pytest.mark.parametrize("path", ESCAPES)
async def test_every_operation_rejects_escapes(env: Env, sentinel: Path, path: str) -> None:
    svc = env.svc
    (env.root / "ok.ipynb").write_text("{}")
    calls = [
        svc.get(SCOPE, path),
        svc.create(SCOPE, path, type="notebook"),
        svc.create(SCOPE, "", copy_from=path),
        svc.update(SCOPE, path, type="file", content="pwned"),
        svc.rename(SCOPE, "ok.ipynb", path),
        svc.rename(SCOPE, path, "moved.ipynb"),
        svc.delete(SCOPE, path),
        svc.export(SCOPE, path),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError):
            await call
    assert _untouched(sentinel)
    assert sorted(p.name for p in env.root.iterdir()) == ["ok.ipynb"]


@pytest.mark.parametrize(("instance", "workspace"), [("..", "ws"), (INSTANCE, ".."), (INSTANCE, "a/b")])
async def test_unsafe_instance_or_workspace_rejected(env: Env, instance: str, workspace: str) -> None:
    with pytest.raises(InvalidInputError):
        await env.svc.get(Scope(instance, workspace), "a.ipynb")


async def test_symlinks_leading_outside_are_rejected(env: Env, sentinel: Path) -> None:
    (env.root / "outdir").symlink_to(env.tmp, target_is_directory=True)
    (env.root / "evil.txt").symlink_to(sentinel)
    svc = env.svc
    for call in [
        svc.get(SCOPE, "outdir/secret.txt"),
        svc.get(SCOPE, "evil.txt"),
        svc.update(SCOPE, "evil.txt", type="file", content="pwned"),
        svc.update(SCOPE, "outdir/secret.txt", type="file", content="pwned"),
        svc.update(SCOPE, "outdir/new.txt", type="file", content="pwned"),
        svc.create(SCOPE, "outdir", type="notebook"),
        svc.delete(SCOPE, "outdir/secret.txt"),
        svc.rename(SCOPE, "outdir/secret.txt", "stolen.txt"),
    ]:
        with pytest.raises(InvalidInputError):
            await call
    assert _untouched(sentinel)
    assert sorted(p.name for p in env.tmp.iterdir()) == ["data", "secret.txt", "staging"]


async def test_symlink_inside_the_root_is_followed(env: Env) -> None:
    (env.root / "real").mkdir()
    (env.root / "real" / "a.txt").write_text("hi")
    (env.root / "alias").symlink_to(env.root / "real", target_is_directory=True)
    model = await env.svc.get(SCOPE, "alias/a.txt")
    assert model.content == "hi"


async def _failing_source() -> AsyncIterator[bytes]:
    yield b'{"half": '
    raise RuntimeError("client went away")


async def test_failed_write_leaves_nothing_partial(tmp_path: Path) -> None:
    storage = LocalContentStorage(tmp_path / "root")
    with pytest.raises(RuntimeError):
        await storage.write_atomic("new.ipynb", _failing_source())
    assert list((tmp_path / "root").iterdir()) == []

    await storage.write_atomic("a.ipynb", b"original")
    with pytest.raises(RuntimeError):
        await storage.write_atomic("a.ipynb", _failing_source())
    assert (tmp_path / "root" / "a.ipynb").read_bytes() == b"original"
    assert [p.name for p in (tmp_path / "root").iterdir()] == ["a.ipynb"]


async def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalContentStorage(tmp_path / "root")
    await storage.write_atomic("a.ipynb", b"original")

    def broken_replace(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(BackendError):
        await storage.write_atomic("a.ipynb", b"new content")
    monkeypatch.undo()
    assert (tmp_path / "root" / "a.ipynb").read_bytes() == b"original"
    assert [p.name for p in (tmp_path / "root").iterdir()] == ["a.ipynb"]


async def test_write_streams_and_hashes(tmp_path: Path) -> None:
    import hashlib

    storage = LocalContentStorage(tmp_path / "root")
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    info = await storage.write_atomic("copy.bin", source)
    assert info.size == source.stat().st_size
    assert await storage.sha256("copy.bin") == hashlib.sha256(source.read_bytes()).hexdigest()


async def test_write_into_missing_directory_is_not_found(tmp_path: Path) -> None:
    storage = LocalContentStorage(tmp_path / "root")
    with pytest.raises(NotFoundError):
        await storage.write_atomic("nope/a.ipynb", b"x")


async def test_listdir_hides_temporaries(env: Env) -> None:
    (env.root / ".~nbplane-abc.tmp").write_text("partial")
    (env.root / "a.ipynb").write_text("{}")
    storage = env.svc.storage_for(SCOPE)
    assert await storage.listdir("") == ["a.ipynb"]


async def test_a_symlink_swapped_in_during_reads_never_leaks_outside_files(tmp_path: Path) -> None:
    """Isolated kernels own their workspace, so they can swap a file for a symlink between the server's path
    check and its open. Whatever was opened is checked again: the outside file never comes back (before the
    check, a run like this returned the secret about 100 times in 5 s)."""
    import threading
    import time

    secret = tmp_path / "secret.pem"
    secret.write_bytes(b"SECRET KEY")
    storage = LocalContentStorage(tmp_path / "root")
    target = tmp_path / "root" / "a.txt"
    target.write_bytes(b"plain")
    stop = threading.Event()

    def swap() -> None:
        link = tmp_path / "root" / "link.tmp"
        plain = tmp_path / "root" / "plain.tmp"
        while not stop.is_set():
            link.unlink(missing_ok=True)
            link.symlink_to(secret)
            os.replace(link, target)
            plain.write_bytes(b"plain")
            os.replace(plain, target)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    leaked = reads = refused = 0
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline:
            for read in (storage.read_bytes("a.txt"), storage.sha256("a.txt", fresh=True)):
                try:
                    got = await read
                except (InvalidInputError, NotFoundError, ConflictError):
                    refused += 1
                    continue
                reads += 1
                leaked += got in (b"SECRET KEY", hashlib.sha256(b"SECRET KEY").hexdigest())
    finally:
        stop.set()
        swapper.join()
    assert refused > 0 and reads > 0  # the race was really run: both outcomes were seen
    assert leaked == 0


async def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    storage = LocalContentStorage(tmp_path / "root")
    os.mkfifo(tmp_path / "root" / "pipe")
    for read in (storage.read_bytes("pipe"), storage.sha256("pipe"), _drain(storage.iter_bytes("pipe"))):
        with pytest.raises(InvalidInputError, match="not a regular file"):
            await asyncio.wait_for(read, 5)


async def _drain(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])
