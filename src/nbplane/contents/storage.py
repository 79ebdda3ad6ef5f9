"""Workspace storage: the `ContentStorage` interface and its local-filesystem implementation.

Paths given to a storage are workspace-relative (see `paths.normalize`); every method normalises again
and `LocalContentStorage` additionally confines symlinks to the root. OS errors are translated here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat as stat_mod
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from nbplane.contents import paths
from nbplane.contents._locks import FileLock
from nbplane.errors import (
    AlreadyExistsError,
    BackendError,
    ConflictError,
    InvalidInputError,
    NbplaneError,
    NotFoundError,
    PayloadTooLargeError,
)

READ_CHUNK = 1024 * 1024


class EntryKind(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """Facts about one stored entry. `version` is opaque and changes whenever the entry does."""

    path: str
    kind: EntryKind
    size: int | None
    created: datetime
    modified: datetime
    writable: bool
    version: str


class AtomicWriter(ABC):
    """A staged write: bytes go to a hidden temporary; only `commit` makes them visible at the path.

    Leaving the `open_atomic` context without committing discards the temporary.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._hash = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        """Hex digest of everything written so far (computed while writing)."""
        return self._hash.hexdigest()

    async def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        await self._write(data)

    @abstractmethod
    async def _write(self, data: bytes) -> None: ...

    @abstractmethod
    async def commit(self, *, overwrite: bool = True, name: str | None = None) -> EntryInfo:
        """Publish the staged bytes at the path in one step; AlreadyExistsError if not `overwrite`.

        `name` publishes under another name in the same directory (chosen late, under the lock).
        """


class ContentStorage(ABC):
    """Storage of one workspace. Methods raise NotFoundError, AlreadyExistsError, InvalidInputError,
    ConflictError (non-empty directory) or BackendError; never OSError."""

    @abstractmethod
    async def stat(self, path: str) -> EntryInfo: ...

    @abstractmethod
    async def exists(self, path: str) -> bool: ...

    @abstractmethod
    async def listdir(self, path: str) -> list[str]:
        """Names in a directory, sorted, without in-flight temporaries."""

    @abstractmethod
    async def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The whole file; PayloadTooLargeError when it is larger than `max_bytes`."""

    @abstractmethod
    def iter_bytes(self, path: str, *, chunk_size: int = READ_CHUNK) -> AsyncIterator[bytes]: ...

    @abstractmethod
    async def sha256(self, path: str, *, fresh: bool = False) -> str:
        """Hex SHA-256 of a file. May be cached by version; `fresh` bypasses any cache."""

    @abstractmethod
    def open_atomic(self, path: str) -> AbstractAsyncContextManager[AtomicWriter]:
        """Stage a write to `path`; NotFoundError when its parent directory does not exist."""

    @abstractmethod
    async def mkdir(self, path: str) -> EntryInfo: ...

    @abstractmethod
    async def rename(self, src: str, dst: str) -> None:
        """Move without replacing; AlreadyExistsError when `dst` exists. Call under `lock()`."""

    @abstractmethod
    async def delete(self, path: str, *, recursive: bool = False) -> None:
        """Remove a file or directory; a non-empty directory needs `recursive`, else ConflictError."""

    @abstractmethod
    def lock(self) -> AbstractAsyncContextManager[None]:
        """Exclusive lock over the workspace for check-then-act sequences (if-match, no-overwrite)."""

    async def write_atomic(
        self, path: str, source: bytes | AsyncIterable[bytes] | Path, *, overwrite: bool = True
    ) -> EntryInfo:
        """Write `source` (bytes, an async iterator of chunks, or a local file) atomically."""
        async with self.open_atomic(path) as writer:
            async for chunk in iter_source(source):
                await writer.write(chunk)
            return await writer.commit(overwrite=overwrite)


async def iter_source(source: bytes | AsyncIterable[bytes] | Path) -> AsyncIterator[bytes]:
    """Yield the bytes of `source` in chunks; a Path is read in blocks off the event loop."""
    if isinstance(source, bytes):
        yield source
    elif isinstance(source, Path):
        with await asyncio.to_thread(source.open, "rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, READ_CHUNK):
                yield chunk
    else:
        async for chunk in source:
            yield chunk


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """Re-raise OS errors as domain errors naming the API path, never the host path."""
    shown = "/" + path
    try:
        yield
    except NbplaneError:
        raise
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NotFoundError(f"{shown} not found") from exc
    except FileExistsError as exc:
        raise AlreadyExistsError(f"{shown} already exists") from exc
    except IsADirectoryError as exc:
        raise InvalidInputError(f"{shown} is a directory") from exc
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise InvalidInputError("path is too long") from exc
        if exc.errno == errno.ENOTEMPTY:
            raise ConflictError(f"directory {shown} is not empty") from exc
        raise BackendError(f"storage error on {shown}: {exc.strerror}") from exc


def _version(st: os.stat_result) -> str:
    """What changes whenever a file's bytes may have: its etag cache key."""
    return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}"


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class _LocalAtomicWriter(AtomicWriter):
    """Writes a temporary file in the target's folder and renames it into place, every step relative to a
    checked descriptor of that folder (see LocalContentStorage)."""

    def __init__(self, storage: LocalContentStorage, path: str, target: Path, fd: int, dir_fd: int, tmp: str) -> None:
        super().__init__(path)
        self._storage, self._target, self._fd, self._dir_fd, self._tmp = storage, target, fd, dir_fd, tmp
        self._done = False
        self._closed = False

    async def _write(self, data: bytes) -> None:
        await asyncio.to_thread(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        with _translated(self.path):
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]

    async def commit(self, *, overwrite: bool = True, name: str | None = None) -> EntryInfo:
        if name is not None:
            paths.check_segment(name)
            self.path = paths.join(paths.split(self.path)[0], name)
            self._target = self._target.with_name(name)
        await asyncio.to_thread(self._commit, overwrite)
        return await self._storage.stat(self.path)

    def _commit(self, overwrite: bool) -> None:
        name = self._target.name
        with _translated(self.path):
            os.fsync(self._fd)
            os.fchmod(self._fd, 0o644)
            give_to_folder_owner(self._fd, self._dir_fd)
            os.close(self._fd)
            self._done = True
            if overwrite:
                os.replace(self._tmp, name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
            else:
                # link(2) fails if the name exists, so no check-then-act race with foreign writers.
                os.link(self._tmp, name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd, follow_symlinks=False)
                os.unlink(self._tmp, dir_fd=self._dir_fd)
            _fsync_fd(self._dir_fd)

    def discard(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._done:
            os.close(self._fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp, dir_fd=self._dir_fd)
        os.close(self._dir_fd)


def give_to_folder_owner(target: int | str | Path, folder: int | Path) -> None:
    """A file or folder the server (as root) writes into a workspace belongs to the workspace folder's owner,
    so the workspace's kernels (its own uid when kernels are isolated) can change it. Nothing to do otherwise.
    `target` is a descriptor, or a name (relative to `folder` when that is a descriptor); never followed."""
    if os.geteuid() != 0:
        return
    owner = os.fstat(folder) if isinstance(folder, int) else folder.stat()
    if owner.st_uid == 0:
        return
    if isinstance(target, int):
        os.fchown(target, owner.st_uid, owner.st_gid)
    elif isinstance(folder, int):
        os.chown(target, owner.st_uid, owner.st_gid, dir_fd=folder, follow_symlinks=False)
    else:
        os.chown(target, owner.st_uid, owner.st_gid, follow_symlinks=False)


def _fsync_fd(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories; the rename is still atomic
        pass


class LocalContentStorage(ContentStorage):
    """A workspace stored as a directory tree under `root` (created if missing).

    Symlinks are followed only while they resolve inside the root. The check happens just before each
    operation, and again on what was actually opened: reads check the opened descriptor's real path
    (`/proc/self/fd`), and writes, renames and deletes act relative to a checked descriptor of the parent
    folder. So a kernel that owns its workspace (isolated kernels do) cannot win a race by swapping a path
    component for a symlink between the check and the use, and have the server read or write outside.
    """

    _DIGEST_CACHE_SIZE = 4096

    def __init__(self, root: Path, *, lock_path: Path | None = None) -> None:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)  # other workspaces' kernels must not look in
        self.root = root
        self._real_root = os.path.realpath(root)
        self._lock = FileLock(lock_path or root.with_name(f".{root.name}.lock"))
        self._digests: OrderedDict[tuple[str, str], str] = OrderedDict()

    def _resolve(self, path: str) -> tuple[str, Path]:
        rel = paths.normalize(path)
        full = self.root / rel if rel else self.root
        try:
            real = os.path.realpath(full)
        except OSError as exc:  # a component changed while it was resolved (a concurrent local writer)
            raise ConflictError(f"/{rel} changed while it was being read; try again") from exc
        if real != self._real_root and not real.startswith(self._real_root + os.sep):
            raise InvalidInputError(f"/{rel} resolves outside the workspace")
        return rel, full

    def _check_fd(self, fd: int, rel: str) -> None:
        """Refuse (and close) a descriptor that ended up outside the workspace."""
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # no /proc: the path check in _resolve stands alone
            return
        if real != self._real_root and not real.startswith(self._real_root + os.sep):
            os.close(fd)
            raise InvalidInputError(f"/{rel} resolves outside the workspace")

    def _open_checked(self, path: str, flags: int) -> tuple[str, int]:
        """Open a workspace path (symlinks followed while they stay inside) and check where it really is."""
        rel, full = self._resolve(path)
        with _translated(rel):
            fd = os.open(full, flags)
        self._check_fd(fd, rel)
        return rel, fd

    def _parent_fd(self, rel: str) -> tuple[int, str]:
        """A checked descriptor of `rel`'s folder, and `rel`'s last name: what writes act relative to."""
        parent_rel, name = paths.split(rel)
        _, fd = self._open_checked(parent_rel, os.O_RDONLY | os.O_DIRECTORY)
        return fd, name

    def _stat_sync(self, path: str) -> EntryInfo:
        rel, fd = self._open_checked(path, os.O_PATH)
        full = self.root / rel if rel else self.root
        with _translated(rel):
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if stat_mod.S_ISDIR(st.st_mode):
                kind, size = EntryKind.DIRECTORY, None
            elif stat_mod.S_ISREG(st.st_mode):
                kind, size = EntryKind.FILE, st.st_size
            else:
                raise InvalidInputError(f"/{rel} is not a regular file or directory")
            created = getattr(st, "st_birthtime", None) or st.st_ctime
            return EntryInfo(
                path=rel,
                kind=kind,
                size=size,
                created=_utc(created),
                modified=_utc(st.st_mtime),
                writable=os.access(full, os.W_OK),
                version=_version(st),
            )

    async def stat(self, path: str) -> EntryInfo:
        return await asyncio.to_thread(self._stat_sync, path)

    async def exists(self, path: str) -> bool:
        try:
            await self.stat(path)
        except NotFoundError:
            return False
        return True

    def _listdir_sync(self, path: str) -> list[str]:
        rel, fd = self._open_checked(path, os.O_RDONLY | os.O_DIRECTORY)
        with _translated(rel):
            try:
                return sorted(n for n in os.listdir(fd) if not n.startswith(paths.RESERVED_PREFIX))
            finally:
                os.close(fd)

    async def listdir(self, path: str) -> list[str]:
        return await asyncio.to_thread(self._listdir_sync, path)

    def _open_file(self, path: str) -> tuple[str, int, os.stat_result]:
        """A checked descriptor of a regular file, with its stat (taken from the descriptor). O_NONBLOCK: opening
        a FIFO a kernel made must not hang the server; it is refused below, and regular files ignore the flag."""
        rel, fd = self._open_checked(path, os.O_RDONLY | os.O_NONBLOCK)
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            os.close(fd)
            if stat_mod.S_ISDIR(st.st_mode):
                raise InvalidInputError(f"/{rel} is a directory")
            raise InvalidInputError(f"/{rel} is not a regular file or directory")
        return rel, fd, st

    def _read_sync(self, path: str, max_bytes: int | None) -> bytes:
        rel, fd, st = self._open_file(path)
        with _translated(rel), os.fdopen(fd, "rb") as fh:
            if max_bytes is not None and st.st_size > max_bytes:
                raise PayloadTooLargeError(f"/{rel} is larger than {max_bytes} bytes")
            return fh.read()

    async def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        return await asyncio.to_thread(self._read_sync, path, max_bytes)

    async def iter_bytes(self, path: str, *, chunk_size: int = READ_CHUNK) -> AsyncIterator[bytes]:
        rel, fd, _ = await asyncio.to_thread(self._open_file, path)
        with _translated(rel):
            fh = os.fdopen(fd, "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk
        finally:
            fh.close()

    def _digest_sync(self, path: str, fresh: bool) -> str:
        rel, fd, st = self._open_file(path)  # one descriptor: the version cached is that of the bytes read
        key = (rel, _version(st))
        with _translated(rel), os.fdopen(fd, "rb") as fh:
            if not fresh and (cached := self._digests.get(key)) is not None:
                self._digests.move_to_end(key)
                return cached
            hasher = hashlib.sha256()
            while chunk := fh.read(READ_CHUNK):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        self._digests[key] = digest
        if len(self._digests) > self._DIGEST_CACHE_SIZE:
            self._digests.popitem(last=False)
        return digest

    async def sha256(self, path: str, *, fresh: bool = False) -> str:
        return await asyncio.to_thread(self._digest_sync, path, fresh)

    def _open_tmp(self, path: str) -> tuple[str, Path, int, int, str]:
        rel, full = self._resolve(path)
        if not rel:
            raise InvalidInputError("cannot write to the workspace root")
        parent_rel, _ = paths.split(rel)
        parent = self._stat_sync(parent_rel)
        if parent.kind is not EntryKind.DIRECTORY:
            raise NotFoundError(f"/{parent_rel} is not a directory")
        dir_fd, _ = self._parent_fd(rel)
        with _translated(rel):
            for _ in range(100):
                tmp = f"{paths.RESERVED_PREFIX}-{secrets.token_hex(8)}.tmp"
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
                    break
                except FileExistsError:
                    continue
            else:
                os.close(dir_fd)
                raise FileExistsError(tmp)
        return rel, full, fd, dir_fd, tmp

    @asynccontextmanager
    async def open_atomic(self, path: str) -> AsyncIterator[AtomicWriter]:
        rel, full, fd, dir_fd, tmp = await asyncio.to_thread(self._open_tmp, path)
        writer = _LocalAtomicWriter(self, rel, full, fd, dir_fd, tmp)
        try:
            yield writer
        finally:
            await asyncio.to_thread(writer.discard)

    def _mkdir_sync(self, path: str) -> EntryInfo:
        rel, _ = self._resolve(path)
        dir_fd, name = self._parent_fd(rel)
        try:
            with _translated(rel):
                os.mkdir(name, dir_fd=dir_fd)
                give_to_folder_owner(name, dir_fd)
        finally:
            os.close(dir_fd)
        return self._stat_sync(rel)

    async def mkdir(self, path: str) -> EntryInfo:
        return await asyncio.to_thread(self._mkdir_sync, path)

    def _rename_sync(self, src: str, dst: str) -> None:
        src_rel, _ = self._resolve(src)
        dst_rel, _ = self._resolve(dst)
        if not src_rel or not dst_rel:
            raise InvalidInputError("cannot rename the workspace root")
        src_fd, src_name = self._parent_fd(src_rel)
        try:
            dst_fd, dst_name = self._parent_fd(dst_rel)
        except BaseException:
            os.close(src_fd)
            raise
        try:
            with _translated(dst_rel):
                try:
                    os.stat(dst_name, dir_fd=dst_fd, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                else:
                    raise AlreadyExistsError(f"/{dst_rel} already exists")
            with _translated(src_rel):
                os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                _fsync_fd(dst_fd)
        finally:
            os.close(src_fd)
            os.close(dst_fd)

    async def rename(self, src: str, dst: str) -> None:
        await asyncio.to_thread(self._rename_sync, src, dst)

    def _delete_sync(self, path: str, recursive: bool) -> None:
        rel, _ = self._resolve(path)
        if not rel:
            raise InvalidInputError("cannot delete the workspace root")
        dir_fd, name = self._parent_fd(rel)
        try:
            with _translated(rel):
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if not stat_mod.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=dir_fd)  # a file, or a symlink (never its target)
                elif recursive:
                    shutil.rmtree(name, dir_fd=dir_fd)
                else:
                    os.rmdir(name, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)

    async def delete(self, path: str, *, recursive: bool = False) -> None:
        await asyncio.to_thread(self._delete_sync, path, recursive)

    def lock(self) -> AbstractAsyncContextManager[None]:
        return self._lock.hold()
