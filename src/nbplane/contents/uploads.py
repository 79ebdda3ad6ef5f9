"""Staging of chunked notebook uploads, outside every workspace, until the final chunk assembles them.

Layout: `<staging_root>/uploads/<key>/meta.json` and one `<n>.chunk` file per chunk, `<key>` being a digest
of (instance, workspace, upload_id) so client ids never become paths. Metadata changes are serialised by
one cross-process lock; the final chunk atomically claims the directory (rename) and assembles outside it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from nbplane.contents._locks import FileLock
from nbplane.contents.models import FINAL_CHUNK, ChunkUpload, ContentLimits
from nbplane.errors import InvalidInputError, MissingParameterError, PayloadTooLargeError

_UPLOAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CLAIMED = ".assembling-"
_COPY_BLOCK = 1024 * 1024


@dataclass(slots=True)
class UploadMeta:
    instance_id: str
    workspace_key: str
    upload_id: str
    path: str
    operation: str
    total_chunks: int | None
    total_size_bytes: int | None
    sha256: str | None
    touched: float


@dataclass(frozen=True, slots=True)
class StagedChunk:
    """What the acknowledgement of a chunk echoes."""

    upload_id: str
    chunk_index: int
    total_chunks: int | None
    total_size_bytes: int | None
    sha256: str | None
    received_bytes: int


@dataclass(frozen=True, slots=True)
class AssembledUpload:
    """A complete upload whose size and digest matched, as one file in the staging area."""

    file: Path
    size: int
    sha256: str


class UploadStager:
    """Accepts chunks for (instance, workspace, path) and assembles them when the final one arrives.

    Resending a chunk replaces it, so client retries are harmless. Abandoned uploads are removed by
    `purge_expired` once untouched for `limits.upload_ttl_seconds`; a chunk for an expired upload is refused.
    """

    def __init__(self, staging_root: Path, limits: ContentLimits, *, clock: Callable[[], float] = time.time) -> None:
        self._dir = staging_root / "uploads"
        self._limits = limits
        self._clock = clock
        self._lock = FileLock(staging_root / "uploads.lock")

    def _key(self, instance_id: str, workspace_key: str, upload_id: str) -> str:
        raw = "\0".join((instance_id, workspace_key, upload_id)).encode()
        return hashlib.sha256(raw).hexdigest()[:40]

    async def stage(
        self,
        instance_id: str,
        workspace_key: str,
        path: str,
        operation: str,
        chunk: ChunkUpload,
        content: object,
    ) -> StagedChunk:
        """Validate and store one chunk (the final one too). Raises InvalidInputError on inconsistent or
        malformed fields and PayloadTooLargeError over the limits (the staging is then dropped)."""
        self._check_fields(chunk)
        data = self._decode(content)
        key = self._key(instance_id, workspace_key, chunk.upload_id)
        async with self._lock.hold():
            return await asyncio.to_thread(
                self._stage_sync, key, instance_id, workspace_key, path, operation, chunk, data
            )

    def _check_fields(self, chunk: ChunkUpload) -> None:
        limits = self._limits
        if not isinstance(chunk.upload_id, str) or not _UPLOAD_ID.fullmatch(chunk.upload_id):
            raise InvalidInputError("upload_id must be 1-128 letters, digits, '-' or '_'")
        index = chunk.chunk_index
        if not isinstance(index, int) or (index != FINAL_CHUNK and index < 1):
            raise InvalidInputError("upload_chunk_index must be 1 or more, or -1 for the final chunk")
        if chunk.total_chunks is not None:
            if not isinstance(chunk.total_chunks, int) or chunk.total_chunks < 1:
                raise InvalidInputError("total_chunks must be at least 1")
            if chunk.total_chunks > limits.max_chunks:
                raise PayloadTooLargeError(f"total_chunks exceeds the limit of {limits.max_chunks}")
            if index != FINAL_CHUNK and index >= chunk.total_chunks:
                raise InvalidInputError("upload_chunk_index must be below total_chunks (the last is -1)")
        if index != FINAL_CHUNK and index >= limits.max_chunks:
            raise PayloadTooLargeError(f"an upload may have at most {limits.max_chunks} chunks")
        if chunk.total_size_bytes is not None:
            if not isinstance(chunk.total_size_bytes, int) or chunk.total_size_bytes < 0:
                raise InvalidInputError("total_size_bytes must be a non-negative integer")
            if chunk.total_size_bytes > limits.max_upload_bytes:
                raise PayloadTooLargeError(f"uploads are limited to {limits.max_upload_bytes} bytes")
        if chunk.sha256 is not None and (
            not isinstance(chunk.sha256, str) or not _SHA256.fullmatch(chunk.sha256.lower())
        ):
            raise InvalidInputError("sha256 must be 64 hexadecimal digits")

    def _decode(self, content: object) -> bytes:
        if content is None:
            return b""
        if not isinstance(content, str):
            raise InvalidInputError("a chunk's content must be a base64 string")
        if len(content) // 4 * 3 > self._limits.max_upload_bytes:
            raise PayloadTooLargeError(f"uploads are limited to {self._limits.max_upload_bytes} bytes")
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError("a chunk's content is not valid base64") from exc

    def _stage_sync(
        self,
        key: str,
        instance_id: str,
        workspace_key: str,
        path: str,
        operation: str,
        chunk: ChunkUpload,
        data: bytes,
    ) -> StagedChunk:
        updir = self._dir / key
        now = self._clock()
        meta = _read_meta(updir)
        if meta is not None and self._expired(meta, now):
            shutil.rmtree(updir, ignore_errors=True)
            raise InvalidInputError(f"upload {chunk.upload_id} has expired; start a new upload")
        if meta is None:
            meta = UploadMeta(instance_id, workspace_key, chunk.upload_id, path, operation, None, None, None, now)
        elif (meta.path, meta.operation) != (path, operation):
            raise InvalidInputError(f"upload {chunk.upload_id} belongs to another path or operation")
        for field in ("total_chunks", "total_size_bytes", "sha256"):
            given = getattr(chunk, field)
            if field == "sha256" and given is not None:
                given = given.lower()
            known = getattr(meta, field)
            if given is not None and known is not None and given != known:
                raise InvalidInputError(f"{field} differs from an earlier chunk of upload {chunk.upload_id}")
            if known is None:
                setattr(meta, field, given)
        if not chunk.is_final:
            index = chunk.chunk_index
            if meta.total_chunks is not None and index >= meta.total_chunks:
                raise InvalidInputError("upload_chunk_index must be below total_chunks (the last is -1)")
        elif meta.total_chunks is None or meta.total_size_bytes is None or meta.sha256 is None:
            raise MissingParameterError("the final chunk needs total_chunks, total_size_bytes and sha256")
        else:
            index = meta.total_chunks
        chunk_file = updir / f"{index:06d}.chunk"
        received = _received_bytes(updir, exclude=chunk_file) + len(data)
        if received > self._limits.max_upload_bytes:
            shutil.rmtree(updir, ignore_errors=True)
            raise PayloadTooLargeError(f"uploads are limited to {self._limits.max_upload_bytes} bytes")
        if meta.total_size_bytes is not None and received > meta.total_size_bytes:
            shutil.rmtree(updir, ignore_errors=True)
            raise InvalidInputError(f"upload {chunk.upload_id} has more bytes than total_size_bytes")
        updir.mkdir(parents=True, exist_ok=True)
        meta.touched = now
        _write_replace(chunk_file, data)
        _write_replace(updir / "meta.json", json.dumps(asdict(meta)).encode())
        return StagedChunk(
            chunk.upload_id,
            chunk.chunk_index,
            meta.total_chunks,
            meta.total_size_bytes,
            meta.sha256,
            received,
        )

    @asynccontextmanager
    async def assembled(self, instance_id: str, workspace_key: str, upload_id: str) -> AsyncIterator[AssembledUpload]:
        """Assemble a fully staged upload and check its size and digest; the staging is removed on exit.

        A missing chunk raises InvalidInputError and keeps the staging, so the client can send it and repeat
        the final chunk; a size or digest mismatch raises InvalidInputError and drops the staging.
        """
        key = self._key(instance_id, workspace_key, upload_id)
        async with self._lock.hold():
            claimed, meta, total_chunks = await asyncio.to_thread(self._claim_sync, key, upload_id)
        try:
            yield await asyncio.to_thread(_assemble_sync, claimed, meta, total_chunks)
        finally:
            await asyncio.to_thread(shutil.rmtree, claimed, True)

    def _claim_sync(self, key: str, upload_id: str) -> tuple[Path, UploadMeta, int]:
        updir = self._dir / key
        meta = _read_meta(updir)
        if meta is None or meta.total_chunks is None:
            raise InvalidInputError(f"upload {upload_id} is unknown")
        total_chunks = meta.total_chunks
        missing = [i for i in range(1, total_chunks + 1) if not (updir / f"{i:06d}.chunk").exists()]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (", …" if len(missing) > 10 else "")
            raise InvalidInputError(f"upload {upload_id} is missing chunk(s) {shown}")
        claimed = updir.with_name(f"{key}{_CLAIMED}{uuid.uuid4().hex}")
        os.rename(updir, claimed)
        return claimed, meta, total_chunks

    def _expired(self, meta: UploadMeta, now: float) -> bool:
        return now - meta.touched > self._limits.upload_ttl_seconds

    async def purge_expired(self) -> int:
        """Remove uploads untouched for longer than the TTL (and leftovers of crashed assemblies)."""
        async with self._lock.hold():
            return await asyncio.to_thread(self._purge_sync)

    def _purge_sync(self) -> int:
        if not self._dir.is_dir():
            return 0
        now, removed = self._clock(), 0
        for updir in self._dir.iterdir():
            meta = _read_meta(updir)
            if meta is None or self._expired(meta, now):
                shutil.rmtree(updir, ignore_errors=True)
                removed += 1
        return removed


def _assemble_sync(updir: Path, meta: UploadMeta, total_chunks: int) -> AssembledUpload:
    target = updir / "assembled.ipynb"
    hasher, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        for index in range(1, total_chunks + 1):
            part = updir / f"{index:06d}.chunk"
            with part.open("rb") as src:
                while block := src.read(_COPY_BLOCK):
                    hasher.update(block)
                    size += len(block)
                    out.write(block)
            part.unlink()  # keeps the staging at about one copy of the notebook on disk
    digest = hasher.hexdigest()
    if size != meta.total_size_bytes:
        raise InvalidInputError(f"upload {meta.upload_id} has {size} bytes, not total_size_bytes")
    if digest != meta.sha256:
        raise InvalidInputError(f"upload {meta.upload_id} does not match its sha256")
    return AssembledUpload(target, size, digest)


def _read_meta(updir: Path) -> UploadMeta | None:
    try:
        return UploadMeta(**json.loads((updir / "meta.json").read_bytes()))
    except (OSError, ValueError, TypeError):
        return None


def _received_bytes(updir: Path, *, exclude: Path) -> int:
    if not updir.is_dir():
        return 0
    return sum(p.stat().st_size for p in updir.glob("*.chunk") if p != exclude)


def _write_replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
