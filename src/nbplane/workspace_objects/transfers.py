"""Zip transfers: a folder zipped for download, a zip uploaded and extracted into a folder.

AIDP hands out pre-authenticated request (PAR) URLs for both; nbplane serves them itself. An operation is
a directory `<staging>/transfers/<operation key>/` holding `meta.json` and the archive, outside every
workspace. Its URL carries a random token of which only the SHA-256 is kept; it expires after
`TreeLimits.transfer_ttl_seconds`. Zipping and extracting happen within the request (the operation is
complete when the response arrives), so there is nothing to poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import stat
import time
import uuid
import zipfile
from collections.abc import AsyncIterable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from nbplane.contents import ContentService, ContentStorage, EntryInfo, EntryKind, paths
from nbplane.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    MissingParameterError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
)
from nbplane.scope import Scope
from nbplane.workspace_objects import _tree, _zipfiles
from nbplane.workspace_objects.models import TransferStatus, TreeLimits, ZipDownload, ZipUpload

_OPERATION_KEY = re.compile(r"op[0-9a-f]{32}")
_ARCHIVE = "archive.zip"
_META = "meta.json"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(slots=True)
class _Meta:
    kind: str  # "download" or "upload"
    instance_id: str
    workspace_key: str
    token_sha256: str
    archive_name: str
    expires_at: float
    destination: str = ""
    overwrite: bool = False
    done: bool = False
    created_by: str = ""
    source: str = ""
    started_at: float = 0.0
    finished_at: float | None = None


class ZipTransfers:
    """Zip downloads and zip uploads of every workspace."""

    def __init__(
        self,
        contents: ContentService,
        staging_root: Path,
        limits: TreeLimits | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._contents = contents
        self._root = staging_root / "transfers"
        self.limits = limits or TreeLimits()
        self._clock = clock

    # -- download --------------------------------------------------------------------------------------

    async def start_download(self, scope: Scope, folder: str | None, *, created_by: str = "") -> ZipDownload:
        """Zip a folder (its own name is the archive's root folder; the workspace root has none).

        InvalidInputError when `folder` is not a folder, PayloadTooLargeError past the limits.
        """
        if folder is None or not isinstance(folder, str) or not folder.strip():
            raise MissingParameterError("sourceFolderPath is required")
        storage = self._contents.storage_for(scope)
        rel = paths.normalize(folder)
        info = await storage.stat(rel)
        if info.kind is not EntryKind.DIRECTORY:
            raise InvalidInputError(f"{_tree.api_path(rel)} is not a folder")
        entries = await _tree.walk(storage, rel, self.limits)
        name = paths.split(rel)[1]
        archive_name = f"{name or scope.workspace_key}.zip"
        started = self._clock()
        key, token, directory = await asyncio.to_thread(self._new_operation, scope)
        try:
            await self._write_zip(storage, rel, name, entries, directory / f".{_ARCHIVE}")
            await asyncio.to_thread(os.replace, directory / f".{_ARCHIVE}", directory / _ARCHIVE)
            meta = _Meta("download", *_scope_of(scope), _digest(token), archive_name, self._expiry())
            meta.created_by, meta.source, meta.started_at, meta.finished_at = created_by, rel, started, self._clock()
            await asyncio.to_thread(self._save, directory, meta)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, directory, True)
            raise
        return ZipDownload(key, token, archive_name)

    async def download(self, operation_key: str, token: str) -> tuple[str, Path]:
        """(archive name, file) of a download URL; NotFoundError for anything unknown or expired."""
        directory, meta = await self._load(operation_key, token, "download")
        return meta.archive_name, directory / _ARCHIVE

    # -- upload ----------------------------------------------------------------------------------------

    async def start_upload(
        self, scope: Scope, destination: str | None, zip_file_name: str | None, overwrite: bool, *, created_by: str = ""
    ) -> ZipUpload:
        """Open an upload for a zip that will be extracted into the existing folder `destination`."""
        if destination is None or not isinstance(destination, str) or not destination.strip():
            raise MissingParameterError("destinationFolderPath is required for CREATE")
        if not zip_file_name:
            raise MissingParameterError("zipFileName is required for CREATE")
        paths.check_segment(zip_file_name)
        if "/" in zip_file_name or not zip_file_name.lower().endswith(".zip"):
            raise InvalidInputError("zipFileName must be a file name ending in .zip")
        storage = self._contents.storage_for(scope)
        rel = paths.normalize(destination)
        info = await storage.stat(rel)
        if info.kind is not EntryKind.DIRECTORY:
            raise InvalidInputError(f"{_tree.api_path(rel)} is not a folder")
        key, token, directory = await asyncio.to_thread(self._new_operation, scope)
        meta = _Meta("upload", *_scope_of(scope), _digest(token), zip_file_name, self._expiry(), rel, overwrite)
        meta.created_by, meta.source, meta.started_at = created_by, rel, self._clock()
        await asyncio.to_thread(self._save, directory, meta)
        return ZipUpload(key, token, zip_file_name, _tree.api_path(rel))

    async def receive(self, operation_key: str, token: str, body: AsyncIterable[bytes]) -> str:
        """Store the bytes PUT to an upload URL (replacing an earlier PUT); returns their SHA-256 hex,
        the upload's etag. PayloadTooLargeError past `max_archive_bytes`."""
        directory, meta = await self._load(operation_key, token, "upload")
        if meta.done:
            raise NotFoundError("this upload URL was already used")
        partial = directory / f".{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            with await asyncio.to_thread(partial.open, "wb") as out:
                async for block in body:
                    size += len(block)
                    if size > self.limits.max_archive_bytes:
                        raise PayloadTooLargeError(f"the archive is larger than {self.limits.max_archive_bytes} bytes")
                    digest.update(block)
                    await asyncio.to_thread(out.write, block)
            await asyncio.to_thread(os.replace, partial, directory / _ARCHIVE)
        finally:
            partial.unlink(missing_ok=True)
        return digest.hexdigest()

    async def finish_upload(
        self,
        scope: Scope,
        operation_key: str | None,
        size: int | None,
        etag: str | None,
        overwrite: bool | None,
    ) -> str:
        """Extract the uploaded zip into its destination folder; returns the folder's path.

        The whole archive is checked and inflated into staging first, and every conflict is checked before
        the first file is written: an unsafe, corrupt or oversized archive changes nothing. Existing files
        are skipped unless `overwrite` (else the value given at CREATE); a file where the archive has a
        folder, or a folder where it has a file, is AlreadyExistsError.
        """
        if not operation_key:
            raise MissingParameterError("operationKey is required for UPDATE")
        if size is None:
            raise MissingParameterError("sizeInBytes is required for UPDATE")
        directory, meta = await self._load_for_scope(scope, operation_key, "upload")
        if meta.done:
            raise ConflictError("this upload was already extracted; start a new one with CREATE")
        archive = directory / _ARCHIVE
        # Claimed by a rename, so two UPDATEs at once never extract one archive twice (or a vanishing one).
        claimed = directory / f".claimed-{uuid.uuid4().hex}.zip"
        try:
            await asyncio.to_thread(os.rename, archive, claimed)
        except FileNotFoundError:
            raise InvalidInputError("nothing was uploaded to the uploadUrl yet (or another UPDATE has it)") from None
        staging = directory / f".extracted-{claimed.stem}"
        try:
            actual_size, actual_digest = await asyncio.to_thread(_size_and_digest, claimed)
            if size != actual_size:
                raise InvalidInputError(f"sizeInBytes is {size} but {actual_size} bytes were uploaded")
            if etag is not None and etag.strip('"') != actual_digest:
                raise PreconditionFailedError("eTag does not match the uploaded archive")
            extracted = await asyncio.to_thread(_zipfiles.extract_to_staging, claimed, staging, self.limits)
            storage = self._contents.storage_for(scope)
            await _publish(storage, meta.destination, extracted, meta.overwrite if overwrite is None else overwrite)
        except BaseException:
            # Give the archive back for a corrected retry, unless a newer PUT replaced it meanwhile.
            await asyncio.to_thread(_give_back, claimed, archive)
            raise
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        meta.done, meta.finished_at = True, self._clock()
        await asyncio.to_thread(self._save, directory, meta)
        await asyncio.to_thread(claimed.unlink, True)
        return _tree.api_path(meta.destination)

    async def status(self, instance_id: str, operation_key: str) -> TransferStatus:
        """The operation's state for the Async Operations API; NotFoundError when unknown, expired or of
        another instance. The caller still has to check access to `workspace_key`."""
        _, meta = await asyncio.to_thread(self._read, operation_key)
        if meta.instance_id != instance_id:
            raise NotFoundError("no such operation")
        upload = meta.kind == "upload"
        if not upload:
            state, details = "SUCCEEDED", f"{meta.archive_name} is ready at its downloadUrl"
        elif meta.done:
            state, details = "SUCCEEDED", f"{meta.archive_name} was extracted into {_tree.api_path(meta.destination)}"
        else:
            state, details = "IN_PROGRESS", "waiting for the zip at the uploadUrl and the UPDATE action"
        finished = meta.finished_at if not upload or meta.done else None
        return TransferStatus(
            operation_key=operation_key,
            action="UPLOAD_AND_EXTRACT_ZIP" if upload else "ZIP_AND_DOWNLOAD_FOLDER",
            workspace_key=meta.workspace_key,
            resource_name=f"{meta.workspace_key}:{_tree.api_path(meta.source)}",
            archive_name=meta.archive_name,
            created_by=meta.created_by,
            started=datetime.fromtimestamp(meta.started_at, UTC),
            finished=datetime.fromtimestamp(finished, UTC) if finished is not None else None,
            status=state,
            details=details,
        )

    async def exists(self, scope: Scope, operation_key: str) -> bool:
        """Whether an unexpired operation of this workspace has that key (for retry tokens)."""
        try:
            await self._load_for_scope(scope, operation_key, None)
        except NotFoundError:
            return False
        return True

    # -- records ---------------------------------------------------------------------------------------

    def _expiry(self) -> float:
        return self._clock() + self.limits.transfer_ttl_seconds

    def _new_operation(self, scope: Scope) -> tuple[str, str, Path]:
        """A fresh operation directory; ConflictError when the workspace already holds too many (each may
        keep an archive on disk until it expires, so their number is what bounds the disk they use)."""
        live = self._purge_expired(_scope_of(scope))
        if live >= self.limits.max_live_transfers:
            raise ConflictError(
                f"this workspace already has {live} zip operations; their URLs expire after "
                f"{round(self.limits.transfer_ttl_seconds)} s"
            )
        key = f"op{uuid.uuid4().hex}"
        directory = self._root / key
        directory.mkdir(parents=True, mode=0o700)
        return key, secrets.token_urlsafe(32), directory

    def _save(self, directory: Path, meta: _Meta) -> None:
        tmp = directory / f".{_META}.tmp"
        tmp.write_text(json.dumps(asdict(meta)))
        os.replace(tmp, directory / _META)

    def _read(self, operation_key: str) -> tuple[Path, _Meta]:
        if not isinstance(operation_key, str) or not _OPERATION_KEY.fullmatch(operation_key):
            raise NotFoundError("no such operation")
        directory = self._root / operation_key
        try:
            meta = _Meta(**json.loads((directory / _META).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise NotFoundError("no such operation") from exc
        if meta.expires_at <= self._clock():
            raise NotFoundError("this operation has expired")
        return directory, meta

    async def _load(self, operation_key: str, token: str, kind: str) -> tuple[Path, _Meta]:
        directory, meta = await asyncio.to_thread(self._read, operation_key)
        if meta.kind != kind or not hmac.compare_digest(meta.token_sha256, _digest(token)):
            raise NotFoundError("no such operation")
        return directory, meta

    async def _load_for_scope(self, scope: Scope, operation_key: str, kind: str | None) -> tuple[Path, _Meta]:
        directory, meta = await asyncio.to_thread(self._read, operation_key)
        if (meta.instance_id, meta.workspace_key) != _scope_of(scope) or kind not in (None, meta.kind):
            raise NotFoundError("no such operation")
        return directory, meta

    def _purge_expired(self, scope: tuple[str, str]) -> int:
        """Remove expired operations; returns how many unexpired ones `scope` has."""
        if not self._root.exists():
            return 0
        now, live = self._clock(), 0
        for directory in self._root.iterdir():
            try:
                meta = json.loads((directory / _META).read_text())
                expires, owner = meta["expires_at"], (meta["instance_id"], meta["workspace_key"])
            except (OSError, ValueError, KeyError, TypeError):
                # Being written (no meta yet) or broken: only old ones go.
                expires, owner = directory.stat().st_mtime + 2 * self.limits.transfer_ttl_seconds, None
            if expires <= now:
                shutil.rmtree(directory, ignore_errors=True)
            elif owner == scope:
                live += 1
        return live

    async def _write_zip(
        self, storage: ContentStorage, rel: str, prefix: str, entries: list[_tree.TreeEntry], target: Path
    ) -> None:
        zf = await asyncio.to_thread(zipfile.ZipFile, target, "w", zipfile.ZIP_DEFLATED)
        try:
            if prefix:
                await asyncio.to_thread(zf.writestr, _zip_info(prefix + "/", None), b"")
            for entry in entries:
                arcname = f"{prefix}/{entry.rel}" if prefix else entry.rel
                if entry.info.kind is EntryKind.DIRECTORY:
                    await asyncio.to_thread(zf.writestr, _zip_info(arcname + "/", entry.info.modified), b"")
                    continue
                out = await asyncio.to_thread(zf.open, _zip_info(arcname, entry.info.modified), "w", force_zip64=True)
                try:
                    async for block in storage.iter_bytes(paths.join(rel, entry.rel)):
                        await asyncio.to_thread(out.write, block)
                finally:
                    await asyncio.to_thread(out.close)
        finally:
            await asyncio.to_thread(zf.close)


def _scope_of(scope: Scope) -> tuple[str, str]:
    return scope.instance_id, scope.workspace_key


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _zip_info(arcname: str, modified: datetime | None) -> zipfile.ZipInfo:
    when = (modified or datetime.now(UTC)).astimezone(UTC)
    stamp = max(_ZIP_EPOCH, (when.year, when.month, when.day, when.hour, when.minute, when.second))
    info = zipfile.ZipInfo(arcname, date_time=stamp)
    if arcname.endswith("/"):
        info.external_attr = (stat.S_IFDIR | 0o755) << 16
    else:
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _give_back(claimed: Path, archive: Path) -> None:
    if archive.exists():
        claimed.unlink(missing_ok=True)
    else:
        os.replace(claimed, archive)


def _size_and_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return path.stat().st_size, digest.hexdigest()


async def _publish(storage: ContentStorage, dest: str, extracted: _zipfiles.Extracted, overwrite: bool) -> None:
    async with storage.lock():
        folder = await storage.stat(dest)
        if folder.kind is not EntryKind.DIRECTORY:
            raise NotFoundError(f"{_tree.api_path(dest)} is no longer a folder")
        missing: list[str] = []
        for rel in extracted.folders:
            target = paths.join(dest, rel)
            existing = await _stat_or_none(storage, target)
            if existing is None:
                missing.append(target)
            elif existing.kind is not EntryKind.DIRECTORY:
                raise AlreadyExistsError(f"{_tree.api_path(target)} is a file; the archive has a folder there")
        writes: list[tuple[str, Path]] = []
        for rel, staged in extracted.files.items():
            target = paths.join(dest, rel)
            existing = await _stat_or_none(storage, target)
            if existing is not None and existing.kind is EntryKind.DIRECTORY:
                raise AlreadyExistsError(f"{_tree.api_path(target)} is a folder; the archive has a file there")
            if existing is None or overwrite:
                writes.append((target, staged))
        for target in missing:
            await storage.mkdir(target)
        for target, staged in writes:
            await storage.write_atomic(target, staged, overwrite=True)


async def _stat_or_none(storage: ContentStorage, rel: str) -> EntryInfo | None:
    try:
        return await storage.stat(rel)
    except NotFoundError:
        return None
