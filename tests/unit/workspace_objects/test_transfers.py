"""Zip downloads and uploads: archive layout, unsafe archives (zip-slip, symlinks, bombs), conflicts, expiry."""

from __future__ import annotations

import asyncio
import io
import stat
import warnings
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nbplane.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
)
from nbplane.workspace_objects import TreeLimits

from .conftest import OTHER, SCOPE, Env, make_env


def _zip(*entries: tuple[str, bytes] | zipfile.ZipInfo, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", compress) as zf:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are made on purpose
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                zf.writestr(entry, b"target")
            else:
                zf.writestr(entry[0], entry[1])
    return buffer.getvalue()


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _upload(env: Env, data: bytes, destination: str = "/", *, overwrite: bool = False) -> str:
    upload = await env.transfers.start_upload(SCOPE, destination, "u.zip", overwrite)
    digest = await env.transfers.receive(upload.operation_key, upload.token, _body(data))
    return await env.transfers.finish_upload(SCOPE, upload.operation_key, len(data), digest, None)


async def test_download_zips_a_folder_under_its_name(env: Env) -> None:
    (env.root / "proj" / "sub").mkdir(parents=True)
    (env.root / "proj" / "a.txt").write_bytes(b"a")
    (env.root / "proj" / "sub" / "b.txt").write_bytes(b"b")
    zipped = await env.transfers.start_download(SCOPE, "/proj")
    name, file = await env.transfers.download(zipped.operation_key, zipped.token)
    assert name == zipped.archive_name == "proj.zip"
    with zipfile.ZipFile(file) as zf:
        assert sorted(zf.namelist()) == ["proj/", "proj/a.txt", "proj/sub/", "proj/sub/b.txt"]
        assert zf.read("proj/sub/b.txt") == b"b"
    root = await env.transfers.start_download(SCOPE, "/")
    _, file = await env.transfers.download(root.operation_key, root.token)
    assert root.archive_name == "ws1.zip" and "proj/a.txt" in zipfile.ZipFile(file).namelist()
    with pytest.raises(NotFoundError):
        await env.transfers.download(zipped.operation_key, "wrong")
    with pytest.raises(InvalidInputError, match="not a folder"):
        await env.transfers.start_download(SCOPE, "/proj/a.txt")


async def test_symlinks_leading_outside_are_left_out_of_zips(env: Env) -> None:
    secret = env.tmp / "secret.txt"
    secret.write_text("outside")
    (env.root / "d").mkdir()
    (env.root / "d" / "inside.txt").write_text("in")
    (env.root / "d" / "escape").symlink_to(secret)
    (env.root / "d" / "dangling").symlink_to(env.tmp / "nothing")
    (env.root / "d" / "alias.txt").symlink_to(env.root / "d" / "inside.txt")
    zipped = await env.transfers.start_download(SCOPE, "/d")
    _, file = await env.transfers.download(zipped.operation_key, zipped.token)
    with zipfile.ZipFile(file) as zf:
        assert sorted(zf.namelist()) == ["d/", "d/alias.txt", "d/inside.txt"]
        assert zf.read("d/alias.txt") == b"in"


async def test_status_follows_the_operation(env: Env) -> None:
    (env.root / "d").mkdir()
    zipped = await env.transfers.start_download(SCOPE, "/d", created_by="ocid1.user.oc1..u")
    status = await env.transfers.status(SCOPE.instance_id, zipped.operation_key)
    assert (status.action, status.status, status.created_by) == (
        "ZIP_AND_DOWNLOAD_FOLDER",
        "SUCCEEDED",
        "ocid1.user.oc1..u",
    )
    assert status.resource_name == "ws1:/d" and status.finished is not None
    upload = await env.transfers.start_upload(SCOPE, "/d", "u.zip", False)
    waiting = await env.transfers.status(SCOPE.instance_id, upload.operation_key)
    assert (waiting.action, waiting.status, waiting.finished) == ("UPLOAD_AND_EXTRACT_ZIP", "IN_PROGRESS", None)
    data = _zip(("a.txt", b"a"))
    digest = await env.transfers.receive(upload.operation_key, upload.token, _body(data))
    await env.transfers.finish_upload(SCOPE, upload.operation_key, len(data), digest, None)
    done = await env.transfers.status(SCOPE.instance_id, upload.operation_key)
    assert done.status == "SUCCEEDED" and done.finished is not None
    with pytest.raises(NotFoundError):
        await env.transfers.status("ocid1.aidataplatform.oc1..other", upload.operation_key)
    with pytest.raises(NotFoundError):
        await env.transfers.status(SCOPE.instance_id, "op" + "0" * 32)


async def test_transfers_expire(env: Env) -> None:
    (env.root / "d").mkdir()
    zipped = await env.transfers.start_download(SCOPE, "/d")
    env.clock.now += env.transfers.limits.transfer_ttl_seconds + 1
    with pytest.raises(NotFoundError, match="expired"):
        await env.transfers.download(zipped.operation_key, zipped.token)
    await env.transfers.start_download(SCOPE, "/d")  # purges what expired
    assert not (env.tmp / "staging" / "transfers" / zipped.operation_key).exists()


async def test_live_transfers_per_workspace_are_bounded(tmp_path: Path) -> None:
    env = make_env(tmp_path, TreeLimits(max_live_transfers=2))
    (env.root / "d").mkdir()
    for _ in range(2):
        await env.transfers.start_download(SCOPE, "/d")
    with pytest.raises(ConflictError, match="2 zip operations"):
        await env.transfers.start_upload(SCOPE, "/d", "u.zip", False)
    await env.transfers.start_download(OTHER, "/")  # another workspace has its own budget
    env.clock.now += env.transfers.limits.transfer_ttl_seconds + 1
    await env.transfers.start_download(SCOPE, "/d")


async def test_upload_extracts_merging_and_skipping_existing_files(env: Env) -> None:
    (env.root / "dest" / "top").mkdir(parents=True)
    (env.root / "dest" / "top" / "keep.txt").write_bytes(b"mine")
    data = _zip(("top/keep.txt", b"theirs"), ("top/new.txt", b"new"), ("top/deep/x.txt", b"x"))
    assert await _upload(env, data, "/dest") == "/dest"
    assert (env.root / "dest/top/keep.txt").read_bytes() == b"mine"
    assert (env.root / "dest/top/new.txt").read_bytes() == b"new"
    assert (env.root / "dest/top/deep/x.txt").read_bytes() == b"x"
    await _upload(env, data, "/dest", overwrite=True)
    assert (env.root / "dest/top/keep.txt").read_bytes() == b"theirs"


@pytest.mark.parametrize(
    "entries",
    [
        [("../evil.txt", b"x")],
        [("ok/../../evil.txt", b"x")],
        [("/abs.txt", b"x")],
        [("C:/evil.txt", b"x")],
        [("a\\..\\evil.txt", b"x")],
        [("same.txt", b"1"), ("same.txt", b"2")],
        [("a", b"file"), ("a/b.txt", b"under a file")],
        [(".~nbplane-x.tmp", b"reserved")],
    ],
)
async def test_unsafe_archives_change_nothing(env: Env, entries: list[tuple[str, bytes]]) -> None:
    (env.root / "dest").mkdir()
    before = env.snapshot()
    with pytest.raises(InvalidInputError):
        await _upload(env, _zip(*entries), "/dest")
    assert env.snapshot() == before


async def test_symlinks_and_special_files_are_refused(env: Env) -> None:
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    fifo = zipfile.ZipInfo("fifo")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    before = env.snapshot()
    for entry in (link, fifo):
        with pytest.raises(InvalidInputError, match=r"symlink|regular"):
            await _upload(env, _zip(("fine.txt", b"x"), entry))
    assert env.snapshot() == before


async def test_zip_bombs_and_oversized_archives(tmp_path: Path) -> None:
    env = make_env(tmp_path, TreeLimits(max_bytes=3 * 1024 * 1024, max_entries=5, max_archive_bytes=1024 * 1024))
    before = env.snapshot()
    bomb = _zip(("zeros.bin", b"\0" * (2 * 1024 * 1024)))  # about 1000:1
    with pytest.raises(PayloadTooLargeError, match="compressed"):
        await _upload(env, bomb)
    big = _zip(*((f"{n}.bin", b"\0" * 1024 * 1024) for n in range(4)), compress=zipfile.ZIP_STORED)
    with pytest.raises(PayloadTooLargeError):
        await _upload(env, big)
    many = _zip(*((f"{n}.txt", b"x") for n in range(6)))
    with pytest.raises(PayloadTooLargeError, match="entries"):
        await _upload(env, many)
    assert env.snapshot() == before


async def test_an_archive_that_lies_about_its_sizes_is_refused(env: Env) -> None:
    data = bytearray(_zip(("a.txt", b"A" * 5000), compress=zipfile.ZIP_STORED))
    # Shrink the declared size in the central directory: inflating must not write past it.
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.infolist()[0]
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    before = env.snapshot()
    with pytest.raises((InvalidInputError, PayloadTooLargeError)):
        await _upload(env, bytes(data))
    assert env.snapshot() == before and info.file_size == 5000


async def test_conflicts_are_found_before_anything_is_written(env: Env) -> None:
    (env.root / "dest").mkdir()
    (env.root / "dest" / "clash").write_bytes(b"a file")
    before = env.snapshot()
    with pytest.raises(AlreadyExistsError):
        await _upload(env, _zip(("aaa.txt", b"first"), ("clash/inner.txt", b"x")), "/dest")
    (env.root / "dest" / "folder").mkdir()
    before = env.snapshot()
    with pytest.raises(AlreadyExistsError):
        await _upload(env, _zip(("aaa.txt", b"first"), ("folder", b"x")), "/dest", overwrite=True)
    assert env.snapshot() == before


async def test_upload_checks_size_etag_scope_and_single_use(env: Env) -> None:
    data = _zip(("a.txt", b"a"))
    upload = await env.transfers.start_upload(SCOPE, "/", "u.zip", False)
    with pytest.raises(InvalidInputError, match="nothing was uploaded"):
        await env.transfers.finish_upload(SCOPE, upload.operation_key, len(data), None, None)
    digest = await env.transfers.receive(upload.operation_key, upload.token, _body(data))
    with pytest.raises(InvalidInputError, match="sizeInBytes"):
        await env.transfers.finish_upload(SCOPE, upload.operation_key, len(data) + 1, None, None)
    with pytest.raises(PreconditionFailedError):
        await env.transfers.finish_upload(SCOPE, upload.operation_key, len(data), "0" * 64, None)
    with pytest.raises(NotFoundError):
        await env.transfers.finish_upload(OTHER, upload.operation_key, len(data), digest, None)
    with pytest.raises(NotFoundError):
        await env.transfers.receive(upload.operation_key, "not-the-token", _body(data))
    await env.transfers.finish_upload(SCOPE, upload.operation_key, len(data), f'"{digest}"', None)
    assert (env.root / "a.txt").read_bytes() == b"a"
    with pytest.raises(ConflictError):
        await env.transfers.finish_upload(SCOPE, upload.operation_key, len(data), digest, None)
    with pytest.raises(NotFoundError):
        await env.transfers.receive(upload.operation_key, upload.token, _body(data))


async def test_two_updates_at_once_extract_once(env: Env) -> None:
    data = _zip(("a.txt", b"a"))
    upload = await env.transfers.start_upload(SCOPE, "/", "u.zip", False)
    digest = await env.transfers.receive(upload.operation_key, upload.token, _body(data))
    results = await asyncio.gather(
        *(env.transfers.finish_upload(SCOPE, upload.operation_key, len(data), digest, None) for _ in range(2)),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["InvalidInputError", "str"], results
    assert (env.root / "a.txt").read_bytes() == b"a"
    assert (await env.transfers.status(SCOPE.instance_id, upload.operation_key)).status == "SUCCEEDED"


async def test_oversized_upload_body_is_refused(tmp_path: Path) -> None:
    env = make_env(tmp_path, TreeLimits(max_archive_bytes=10))
    upload = await env.transfers.start_upload(SCOPE, "/", "u.zip", False)
    with pytest.raises(PayloadTooLargeError):
        await env.transfers.receive(upload.operation_key, upload.token, _body(b"x" * 11))
    staged = env.tmp / "staging" / "transfers" / upload.operation_key
    assert sorted(p.name for p in staged.iterdir()) == ["meta.json"]


@pytest.mark.parametrize(
    ("destination", "name"), [("/missing", "u.zip"), ("/", "u.tar"), ("/", "a/b.zip"), ("/", ""), (None, "u.zip")]
)
async def test_upload_create_checks_its_fields(env: Env, destination: str | None, name: str) -> None:
    with pytest.raises((InvalidInputError, NotFoundError)):
        await env.transfers.start_upload(SCOPE, destination, name, False)
