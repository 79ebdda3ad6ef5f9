"""ContentService: read, create, save, rename, delete and export workspace contents (no HTTP here).

Paths are decoded API paths; `paths.normalize` makes them workspace-relative. Every mutation takes the
workspace lock (in-process and flock) around its check-and-act, so if-match and no-overwrite hold under
concurrency, across processes that share the data dir.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from nbplane.contents import _notebooks, paths
from nbplane.contents._reading import NOTEBOOK_EXT, ReadModels, parse_format, parse_type
from nbplane.contents.models import (
    FINAL_CHUNK,
    ChunkUpload,
    ContentFormat,
    ContentLimits,
    ContentModel,
    ContentType,
    ExportedContent,
    ExportFormat,
)
from nbplane.contents.storage import (
    AtomicWriter,
    ContentStorage,
    EntryInfo,
    EntryKind,
    LocalContentStorage,
    iter_source,
)
from nbplane.contents.uploads import UploadStager
from nbplane.errors import (
    AlreadyExistsError,
    InvalidInputError,
    MissingParameterError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
)
from nbplane.etags import etag_matches
from nbplane.scope import Scope

OnRenamed = Callable[[Scope, str, str], Awaitable[object]]
StorageFactory = Callable[[str, str], ContentStorage]

_log = logging.getLogger(__name__)


class ContentService:
    """Contents of every workspace, one storage root per (instance, workspace).

    `on_renamed(scope, old_path, new_path)` is awaited after each successful rename,
    outside the lock; for a directory the paths are the directory's, so listeners match by prefix. Its
    errors are logged, not raised: the rename has already happened.
    """

    def __init__(
        self,
        data_root: Path,
        staging_root: Path,
        limits: ContentLimits | None = None,
        on_renamed: OnRenamed | None = None,
        *,
        storage_factory: StorageFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._data_root = data_root
        self._staging_root = staging_root
        self.limits = limits or ContentLimits()
        self._on_renamed = on_renamed
        self._factory = storage_factory or self._local_storage
        self._storages: dict[tuple[str, str], ContentStorage] = {}
        self._uploads = UploadStager(staging_root, self.limits, clock=clock)
        self._read = ReadModels(self.limits)

    def _local_storage(self, instance_id: str, workspace_key: str) -> ContentStorage:
        root = self._data_root / instance_id / workspace_key
        lock = self._staging_root / "locks" / instance_id / f"{workspace_key}.lock"
        return LocalContentStorage(root, lock_path=lock)

    def storage_for(self, scope: Scope) -> ContentStorage:
        """The (cached) storage of one workspace; InvalidInputError for unsafe identifiers."""
        key = (
            paths.check_identifier(scope.instance_id, "instance id"),
            paths.check_identifier(scope.workspace_key, "workspace key"),
        )
        if key not in self._storages:
            self._storages[key] = self._factory(*key)
        return self._storages[key]

    async def exists(self, scope: Scope, path: str) -> bool:
        """Whether `path` names a file or directory (False for paths that are invalid or outside)."""
        try:
            return await self.storage_for(scope).exists(path)
        except InvalidInputError:
            return False

    async def etag(self, scope: Scope, info: EntryInfo, *, fresh: bool = False) -> str:
        """The etag the contents API gives `info` (SHA-256 of a file's bytes; a directory's version)."""
        return await self._read.etag(self.storage_for(scope), info, fresh=fresh)

    async def purge_expired(self) -> int:
        """Drop chunked uploads untouched for longer than the TTL; returns how many."""
        return await self._uploads.purge_expired()

    async def get(
        self,
        scope: Scope,
        path: str,
        *,
        type: str | None = None,
        format: str | None = None,
        content: int | bool = 1,
        hash: int | bool = 0,
    ) -> ContentModel:
        """A notebook (dict), a file (text or base64) or a directory's metadata.

        Raises InvalidInputError (bad parameters, type=directory with content=1), UnsatisfiableError
        ("bad type"/"bad format"), NotFoundError, PayloadTooLargeError (file over max_read_bytes).
        A directory asked for with type unset is returned as metadata: listings are not supported.
        """
        ctype, cfmt = parse_type(type), parse_format(format)
        want_content, want_hash = _flag(content, "content"), _flag(hash, "hash")
        if ctype is ContentType.DIRECTORY and want_content:
            raise InvalidInputError("directory content listing is not supported; use content=0")
        storage = self.storage_for(scope)
        info = await storage.stat(path)
        return await self._read.model(storage, info, ctype, cfmt, content=want_content, hash=want_hash)

    async def create(
        self,
        scope: Scope,
        path: str = "",
        *,
        type: str | None = None,
        ext: str | None = None,
        copy_from: str | None = None,
        upload: ChunkUpload | None = None,
        format: str | None = None,
        content: object = None,
    ) -> ContentModel:
        """POST: an untitled item or a copy inside the directory `path`, or a chunked notebook upload.

        When `path` does not exist but its parent does, the item (or copy, or upload) is created at exactly
        `path`, as Jupyter's copy does. An existing file at `path` is AlreadyExistsError; a missing parent is
        NotFoundError. Returns the created item's metadata, or a chunk acknowledgement.
        """
        ctype = parse_type(type)
        if parse_format(format) not in (None, ContentFormat.JSON):
            raise InvalidInputError("create accepts only format json")
        if upload is not None:
            if copy_from is not None:
                raise InvalidInputError("copy_from cannot be combined with a chunked upload")
            if ctype not in (None, ContentType.NOTEBOOK):
                raise InvalidInputError("chunked uploads are notebooks")
            return await self._upload(scope, path, upload, content, "create", None)
        if content is not None:
            raise InvalidInputError("content is only accepted with upload_id; use update to save")
        storage = self.storage_for(scope)
        rel = paths.normalize(path)
        if copy_from is not None:
            return await self._copy(storage, paths.normalize(copy_from), rel)
        return await self._new(storage, rel, ctype, ext)

    async def update(
        self,
        scope: Scope,
        path: str,
        *,
        name: str | None = None,
        type: str | None = None,
        format: str | None = None,
        content: object = None,
        upload: ChunkUpload | None = None,
        if_match: str | None = None,
    ) -> ContentModel:
        """PUT: save (upsert) a notebook, file or directory at `path`, or receive a chunk of a notebook.

        Raises InvalidInputError (invalid notebook, type/format/content mismatch, `name` differing from the
        path's last segment, a directory in the way), MissingParameterError, NotFoundError (missing parent,
        or if_match on a missing target), PreconditionFailedError, PayloadTooLargeError.
        """
        rel = paths.normalize(path)
        if name is not None and name != paths.split(rel)[1]:
            raise InvalidInputError("name must match the path; use modify_content to rename")
        ctype, cfmt = parse_type(type), parse_format(format)
        if upload is not None:
            if ctype not in (None, ContentType.NOTEBOOK) or cfmt not in (None, ContentFormat.JSON):
                raise InvalidInputError("chunked uploads are notebooks in format json")
            return await self._upload(scope, rel, upload, content, "update", if_match)
        storage = self.storage_for(scope)
        if ctype is None:
            if isinstance(content, dict) and rel.endswith(NOTEBOOK_EXT):
                ctype = ContentType.NOTEBOOK
            elif isinstance(content, str):
                ctype = ContentType.FILE
            else:
                raise MissingParameterError("type is required")
        if ctype is ContentType.DIRECTORY:
            if content is not None or cfmt not in (None, ContentFormat.JSON):
                raise InvalidInputError("a directory takes no content and only format json")
            return await self._save_directory(storage, rel, if_match)
        data = _notebooks.encode_for_save(rel, ctype, cfmt, content)
        if len(data) > self.limits.max_upload_bytes:
            raise PayloadTooLargeError(f"content is larger than {self.limits.max_upload_bytes} bytes")
        async with storage.open_atomic(rel) as writer:
            await writer.write(data)
            return await self._commit(storage, writer, if_match=if_match, overwrite=True)

    async def rename(self, scope: Scope, path: str, new_path: str, *, if_match: str | None = None) -> ContentModel:
        """PATCH: move a file or directory; returns it at its new path.

        Raises NotFoundError (source or target parent), AlreadyExistsError (target exists, as Jupyter's 409),
        InvalidInputError (root, or a directory into itself), PreconditionFailedError.
        """
        storage = self.storage_for(scope)
        src, dst = paths.normalize(path), paths.normalize(new_path)
        if not src or not dst:
            raise InvalidInputError("the workspace root cannot be renamed or replaced")
        if dst != src and paths.is_within(dst, src):
            raise InvalidInputError("cannot move a directory into itself")
        async with storage.lock():
            await self._check_if_match(storage, src, if_match)
            if dst != src:
                parent = await storage.stat(paths.split(dst)[0])
                if parent.kind is not EntryKind.DIRECTORY:
                    raise NotFoundError(f"/{parent.path} is not a directory")
                await storage.rename(src, dst)
        model = await self._read.model(storage, await storage.stat(dst), None, None)
        if dst != src and self._on_renamed is not None:
            try:
                await self._on_renamed(scope, src, dst)
            except Exception:
                _log.exception("on_renamed hook failed: %s -> %s", src, dst)
        return model

    async def delete(self, scope: Scope, path: str, *, if_match: str | None = None) -> None:
        """DELETE a file or an empty directory.

        A non-empty directory raises ConflictError unless `limits.allow_recursive_delete` (Jupyter deletes
        recursively, but with no trash here a stray DELETE would be unrecoverable). Also NotFoundError,
        InvalidInputError (the root) and PreconditionFailedError.
        """
        storage = self.storage_for(scope)
        rel = paths.normalize(path)
        if not rel:
            raise InvalidInputError("the workspace root cannot be deleted")
        async with storage.lock():
            await self._check_if_match(storage, rel, if_match)
            await storage.delete(rel, recursive=self.limits.allow_recursive_delete)

    async def export(self, scope: Scope, path: str, format: str | None = None) -> ExportedContent:
        """The notebook as its .ipynb JSON text (default) or as HTML with inline base64 images.

        Raises InvalidInputError (unknown format, not a notebook), NotFoundError, PayloadTooLargeError.
        """
        try:
            fmt = ExportFormat(format or ExportFormat.IPYNB)
        except ValueError as exc:
            raise InvalidInputError("export format must be ipynb or html") from exc
        storage = self.storage_for(scope)
        info = await storage.stat(path)
        if info.kind is not EntryKind.FILE or not info.path.endswith(NOTEBOOK_EXT):
            raise InvalidInputError("only notebooks can be exported")
        data = await storage.read_bytes(info.path, max_bytes=self.limits.max_read_bytes)
        etag = self._read.file_etag(await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest()))
        name = paths.split(info.path)[1]
        try:
            nb = await asyncio.to_thread(_notebooks.parse, data)
        except _notebooks.NotANotebookError as exc:
            raise InvalidInputError(f"/{info.path} is not a valid notebook: {exc}") from exc
        if fmt is ExportFormat.IPYNB:
            return ExportedContent(name, info.path, data.decode("utf-8"), fmt, etag)
        html = await asyncio.to_thread(_notebooks.render_html, nb)
        return ExportedContent(name.removesuffix(NOTEBOOK_EXT) + ".html", info.path, html, fmt, etag)

    # -- helpers ---------------------------------------------------------------------------------------

    async def _check_if_match(self, storage: ContentStorage, rel: str, if_match: str | None) -> bool:
        """Call under the lock. Whether `rel` exists; NotFoundError if if_match names a missing one."""
        try:
            info = await storage.stat(rel)
        except NotFoundError:
            if if_match is not None:
                raise
            return False
        if if_match is not None:
            current = await self._read.etag(storage, info, fresh=True)
            if not etag_matches(if_match, current):
                raise PreconditionFailedError(f"/{rel} has changed (etag {current})")
        return True

    async def _commit(
        self,
        storage: ContentStorage,
        writer: AtomicWriter,
        *,
        if_match: str | None,
        overwrite: bool,
        untitled_in: str | None = None,
    ) -> ContentModel:
        async with storage.lock():
            name = None
            if untitled_in is not None:  # named under the lock so two uploads never pick one name
                taken = set(await storage.listdir(untitled_in))
                name = paths.next_free_name("Untitled.ipynb", taken)
            await self._check_if_match(storage, writer.path, if_match)
            info = await writer.commit(overwrite=overwrite, name=name)
        return self._read.stored_model(info, self._read.file_etag(writer.sha256))

    async def _save_directory(self, storage: ContentStorage, rel: str, if_match: str | None) -> ContentModel:
        async with storage.lock():
            exists = await self._check_if_match(storage, rel, if_match)
            info = await storage.stat(rel) if exists else await storage.mkdir(rel)
        if info.kind is not EntryKind.DIRECTORY:
            raise InvalidInputError(f"/{rel} exists and is not a directory")
        return await self._read.model(storage, info, None, None)

    async def _target(self, storage: ContentStorage, rel: str) -> tuple[str, str | None]:
        """(directory, None) when `rel` is an existing directory, else (parent, name) for a new item."""
        try:
            info = await storage.stat(rel)
        except NotFoundError:
            parent, name = paths.split(rel)
            if (await storage.stat(parent)).kind is not EntryKind.DIRECTORY:
                raise NotFoundError(f"/{parent} is not a directory") from None
            return parent, name
        if info.kind is not EntryKind.DIRECTORY:
            raise AlreadyExistsError(f"/{rel} already exists")
        return rel, None

    async def _new(self, storage: ContentStorage, rel: str, ctype: ContentType | None, ext: str | None) -> ContentModel:
        if ext is not None and ext and (not ext.startswith(".") or ext == "."):
            raise InvalidInputError("ext must start with a dot")
        if ext:
            paths.check_segment("untitled" + ext)
        async with storage.lock():
            parent, name = await self._target(storage, rel)
            if ctype is None:
                by_name = name is not None and name.endswith(NOTEBOOK_EXT)
                ctype = ContentType.NOTEBOOK if ext == NOTEBOOK_EXT or by_name else ContentType.FILE
            if name is None:
                taken = set(await storage.listdir(parent))
                if ctype is ContentType.DIRECTORY:
                    name = paths.next_free_name("Untitled Folder", taken, " ")
                elif ctype is ContentType.NOTEBOOK:
                    name = paths.next_free_name("Untitled.ipynb", taken)
                else:
                    name = paths.next_free_name("untitled" + (ext or ""), taken)
            elif ctype is ContentType.NOTEBOOK and not name.endswith(NOTEBOOK_EXT):
                raise InvalidInputError("a notebook's name must end with .ipynb")
            elif ext and ctype is not ContentType.DIRECTORY and not name.endswith(ext):
                raise InvalidInputError(f"the path does not end with ext {ext!r}")
            target = paths.join(parent, name)
            if ctype is ContentType.DIRECTORY:
                info = await storage.mkdir(target)
            else:
                data = _notebooks.new_notebook() if ctype is ContentType.NOTEBOOK else b""
                info = await storage.write_atomic(target, data, overwrite=False)
        return await self._read.model(storage, info, None, None)

    async def _copy(self, storage: ContentStorage, src: str, rel: str) -> ContentModel:
        source = await storage.stat(src)
        if source.kind is not EntryKind.FILE:
            raise InvalidInputError("directories cannot be copied")
        async with storage.lock():
            parent, name = await self._target(storage, rel)
            if name is None:
                taken = set(await storage.listdir(parent))
                name = paths.next_free_name(paths.copy_base_name(paths.split(src)[1]), taken, "-Copy")
            target = paths.join(parent, name)
            info = await storage.write_atomic(target, storage.iter_bytes(src), overwrite=False)
        return await self._read.model(storage, info, None, None)

    async def _upload(
        self,
        scope: Scope,
        path: str,
        chunk: ChunkUpload,
        content: object,
        operation: str,
        if_match: str | None,
    ) -> ContentModel:
        storage = self.storage_for(scope)
        rel = paths.normalize(path)
        if operation == "create":
            parent, name = await self._target(storage, rel)
        else:
            parent, name = paths.split(rel)
            if (await storage.stat(parent)).kind is not EntryKind.DIRECTORY:
                raise NotFoundError(f"/{parent} is not a directory")
            await self._check_if_match(storage, rel, if_match)  # early refusal; repeated at commit
        if name is not None and not name.endswith(NOTEBOOK_EXT):
            raise InvalidInputError("a notebook's name must end with .ipynb")
        staged = await self._uploads.stage(scope.instance_id, scope.workspace_key, rel, operation, chunk, content)
        if not chunk.is_final:
            return self._read.ack_model(rel, staged)
        async with self._uploads.assembled(scope.instance_id, scope.workspace_key, chunk.upload_id) as assembled:
            # Validated from the staging file, then streamed from it: never held as bytes here.
            await asyncio.to_thread(_notebooks.validate_file, assembled.file)
            # An upload into a directory is named Untitled*.ipynb when it is published.
            untitled_in = parent if name is None else None
            async with storage.open_atomic(paths.join(parent, name or "Untitled.ipynb")) as writer:
                async for block in iter_source(assembled.file):
                    await writer.write(block)
                stored = await self._commit(
                    storage,
                    writer,
                    if_match=if_match,
                    overwrite=operation == "update",
                    untitled_in=untitled_in,
                )
        # The completion echoes the upload, with index -1 marking it done.
        return dataclasses.replace(
            stored,
            upload_id=staged.upload_id,
            upload_chunk_index=FINAL_CHUNK,
            total_chunks=staged.total_chunks,
            total_size_bytes=staged.total_size_bytes,
            sha256=staged.sha256,
        )


def _flag(value: int | bool, name: str) -> bool:
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    raise InvalidInputError(f"{name} must be 0 or 1")
