"""WorkspaceObjectService: list, read, create, update, delete, move, rename and copy workspace objects.

It works on the very files of the notebook contents API, through the same `ContentStorage` (path safety,
symlink confinement, atomic writes, the workspace lock) and the same etags; moves and renames go through
`ContentService.rename`, so sessions follow them. Paths are workspace-absolute (`/dir/a.ipynb`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator

from nbplane import jsonbounds
from nbplane.contents import ContentService, ContentStorage, EntryInfo, EntryKind, paths, validate_notebook
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
from nbplane.workspace_objects import _paging, _tree
from nbplane.workspace_objects.models import (
    FOREIGN_TYPES,
    CopyRequest,
    ListObjectsQuery,
    ObjectPage,
    ObjectType,
    TreeLimits,
    WorkspaceObject,
)


def parse_type(value: str | None) -> ObjectType | None:
    """An object type from a header or filter, case-insensitively; InvalidInputError for anything else."""
    if value is None or not value.strip():
        return None
    upper = value.strip().upper()
    if upper in FOREIGN_TYPES:
        raise InvalidInputError(f"nbplane stores only NOTEBOOK, FILE and FOLDER objects, not {upper}")
    try:
        return ObjectType(upper)
    except ValueError as exc:
        raise InvalidInputError("type must be NOTEBOOK, FILE or FOLDER") from exc


def parse_type_filter(value: str | None) -> frozenset[ObjectType] | None:
    """A comma-separated type filter. AIDP types nbplane never stores are valid and match nothing."""
    if value is None:
        return None
    wanted: set[ObjectType] = set()
    for part in value.split(","):
        upper = part.strip().upper()
        if upper in FOREIGN_TYPES:
            continue
        try:
            wanted.add(ObjectType(upper))
        except ValueError as exc:
            raise InvalidInputError(f"type {part.strip()!r} is not a workspace object type") from exc
    return frozenset(wanted)


def decode_base64(data: bytes) -> bytes:
    """The body of a create sent with `is-upload-file-base64-encoded: true` (whitespace is ignored)."""
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError("the body is not valid base64") from exc


class WorkspaceObjectService:
    """Workspace objects of every workspace, on top of the contents layer's storage."""

    def __init__(self, contents: ContentService, limits: TreeLimits | None = None) -> None:
        self._contents = contents
        self.limits = limits or TreeLimits()

    # -- reading ---------------------------------------------------------------------------------------

    async def stat(self, scope: Scope, path: str) -> WorkspaceObject:
        """The object at `path`; NotFoundError, InvalidInputError for unsafe paths."""
        storage = self._contents.storage_for(scope)
        return await self._object(scope, await storage.stat(paths.normalize(path)))

    async def exists(self, scope: Scope, path: str) -> bool:
        return await self._contents.exists(scope, path)

    async def list(self, scope: Scope, query: ListObjectsQuery) -> ObjectPage:
        """The folder's direct children, filtered, sorted and paged.

        InvalidInputError when `path` is not a folder or the page token does not fit the query.
        """
        storage = self._contents.storage_for(scope)
        rel = paths.normalize(query.path)
        folder = await storage.stat(rel)
        if folder.kind is not EntryKind.DIRECTORY:
            raise InvalidInputError(f"{_tree.api_path(rel)} is not a folder")
        objects = []
        for name in await storage.listdir(rel):
            try:
                info = await storage.stat(paths.join(rel, name))
            except (NotFoundError, InvalidInputError):
                continue  # removed meanwhile, or a symlink leading outside: not an object of this workspace
            if query.types is not None and _tree.type_of(info) not in query.types:
                continue
            if query.display_name is not None and name != query.display_name:
                continue
            objects.append(await self._object(scope, info))
        items, next_page = _paging.paginate(query, objects)
        return ObjectPage(items, next_page)

    async def read(self, scope: Scope, path: str) -> tuple[WorkspaceObject, AsyncIterator[bytes] | None]:
        """The object and, for a notebook or file, its bytes as a stream (None for a folder)."""
        storage = self._contents.storage_for(scope)
        info = await storage.stat(paths.normalize(path))
        obj = await self._object(scope, info)
        if info.kind is EntryKind.DIRECTORY:
            return obj, None
        return obj, storage.iter_bytes(info.path)

    # -- writing ---------------------------------------------------------------------------------------

    async def create(
        self, scope: Scope, path: str, data: bytes, *, type: str | None = None, overwrite: bool = False
    ) -> WorkspaceObject:
        """A new notebook, file (the raw `data`) or folder (no data) at `path`.

        The parent folder must exist (NotFoundError). An existing object is AlreadyExistsError, unless
        `overwrite` and it is of the same kind: a file is then replaced, a folder returned as it is.
        Notebooks are validated with nbformat (InvalidInputError) and stored byte for byte.
        """
        storage = self._contents.storage_for(scope)
        rel = paths.normalize(path)
        if not rel:
            raise InvalidInputError("the workspace root already exists")
        wanted = parse_type(type) or (ObjectType.NOTEBOOK if rel.endswith(_tree.NOTEBOOK_EXT) else ObjectType.FILE)
        if wanted is ObjectType.FOLDER:
            if data:
                raise InvalidInputError("a folder is created with an empty body")
            return await self._create_folder(scope, storage, rel, overwrite)
        await self._check_file_body(rel, wanted, data)
        async with storage.open_atomic(rel) as writer:
            await writer.write(data)
            async with storage.lock():
                existing = await _stat_or_none(storage, rel)
                if existing is not None and (existing.kind is EntryKind.DIRECTORY or not overwrite):
                    what = "a folder" if existing.kind is EntryKind.DIRECTORY else "an object"
                    raise AlreadyExistsError(f"{_tree.api_path(rel)} is already {what}")
                info = await writer.commit(overwrite=overwrite)
        return await self._object(scope, info)

    async def update(self, scope: Scope, path: str, data: bytes, *, if_match: str | None = None) -> WorkspaceObject:
        """Replace the bytes of an existing notebook or file (NotFoundError if there is none; a folder is
        InvalidInputError); PreconditionFailedError when `if_match` does not match."""
        storage = self._contents.storage_for(scope)
        rel = paths.normalize(path)
        info = await storage.stat(rel)
        if info.kind is EntryKind.DIRECTORY:
            raise InvalidInputError(f"{_tree.api_path(rel)} is a folder; only notebooks and files have content")
        await self._check_file_body(rel, _tree.type_of(info), data)
        async with storage.open_atomic(rel) as writer:
            await writer.write(data)
            async with storage.lock():
                current = await storage.stat(rel)  # NotFoundError if it was deleted meanwhile
                if current.kind is EntryKind.DIRECTORY:
                    raise InvalidInputError(f"{_tree.api_path(rel)} is a folder")
                await self._check_if_match(scope, current, if_match)
                info = await writer.commit(overwrite=True)
        return await self._object(scope, info)

    async def delete(self, scope: Scope, path: str, *, if_match: str | None = None) -> None:
        """Delete a notebook, file or empty folder (a non-empty folder is ConflictError), as contents do."""
        await self._contents.delete(scope, path, if_match=if_match)

    async def move(self, scope: Scope, from_path: str, to_path: str, *, if_match: str | None = None) -> WorkspaceObject:
        """Move an object to `to_path`, or into `to_path` when that is an existing folder; sessions follow.

        AlreadyExistsError when the target exists, NotFoundError for a missing source or target parent,
        InvalidInputError for the root or a folder moved into itself, PreconditionFailedError.
        """
        storage = self._contents.storage_for(scope)
        src = _required(from_path, "fromPath")
        target = await _destination(storage, src, _required_path(to_path, "toPath"))
        moved = await self._contents.rename(scope, src, target, if_match=if_match)
        return await self.stat(scope, moved.path)

    async def rename(self, scope: Scope, path: str, new_name: str, *, if_match: str | None = None) -> WorkspaceObject:
        """Give an object a new name in the same folder; sessions follow. `new_name` is one path segment."""
        src = _required(path, "path")
        if not isinstance(new_name, str) or not new_name:
            raise MissingParameterError("newName is required")
        if "/" in new_name:
            raise InvalidInputError("newName is a name, not a path; use moveObject to move")
        paths.check_segment(new_name)
        moved = await self._contents.rename(scope, src, paths.join(paths.split(src)[0], new_name), if_match=if_match)
        return await self.stat(scope, moved.path)

    async def copy(self, scope: Scope, request: CopyRequest, *, if_match: str | None = None) -> WorkspaceObject:
        """Copy a notebook, file or folder (recursively, within `limits`) to a new path or into a folder.

        `include_outputs=False` clears code cell outputs of every copied notebook. `overwrite` replaces an
        existing file (never a folder). `delete_source` removes the source once the copy is complete; when
        nothing else is asked it is a move, so sessions follow. `if_match` applies to the source.
        """
        storage = self._contents.storage_for(scope)
        src = _required(request.from_path, "fromPath")
        dst = _required_path(request.to_path, "toPath")  # both checked before anything is touched
        if request.delete_source and request.include_outputs and not request.overwrite:
            return await self.move(scope, src, dst, if_match=if_match)
        source = await storage.stat(src)
        await self._check_if_match(scope, source, if_match)
        target = await _destination(storage, src, dst)
        if target == src:
            raise InvalidInputError("the source and the destination are the same object")
        if source.kind is EntryKind.DIRECTORY:
            if paths.is_within(target, src):
                raise InvalidInputError("cannot copy a folder into itself")
            info = await self._copy_folder(storage, src, target, request.include_outputs)
        else:
            info = await self._copy_file(storage, source, target, request)
        if request.delete_source:
            async with storage.lock():
                await storage.delete(src, recursive=True)  # the complete copy exists, so nothing is lost
        return await self._object(scope, info)

    # -- helpers ---------------------------------------------------------------------------------------

    async def _object(self, scope: Scope, info: EntryInfo) -> WorkspaceObject:
        return WorkspaceObject(
            path=_tree.api_path(info.path),
            name=paths.split(info.path)[1] or scope.workspace_key,
            type=_tree.type_of(info),
            created=info.created,
            updated=info.modified,
            size=info.size,
            etag=await self._contents.etag(scope, info),
            mimetype=_tree.mimetype_of(info),
        )

    async def _check_if_match(self, scope: Scope, info: EntryInfo, if_match: str | None) -> None:
        if if_match is None:
            return
        current = await self._contents.etag(scope, info, fresh=True)
        if not etag_matches(if_match, current):
            raise PreconditionFailedError(f"{_tree.api_path(info.path)} has changed (etag {current})")

    async def _check_file_body(self, rel: str, wanted: ObjectType, data: bytes) -> None:
        if len(data) > self._contents.limits.max_upload_bytes:
            raise PayloadTooLargeError(f"the object is larger than {self._contents.limits.max_upload_bytes} bytes")
        is_notebook_name = rel.endswith(_tree.NOTEBOOK_EXT)
        if wanted is ObjectType.FILE and is_notebook_name:
            raise InvalidInputError("an object named .ipynb is a NOTEBOOK")
        if wanted is ObjectType.NOTEBOOK:
            if not is_notebook_name:
                raise InvalidInputError("a notebook's name must end with .ipynb")
            await asyncio.to_thread(_validate_notebook_bytes, data)

    async def _create_folder(self, scope: Scope, storage: ContentStorage, rel: str, overwrite: bool) -> WorkspaceObject:
        async with storage.lock():
            existing = await _stat_or_none(storage, rel)
            if existing is None:
                parent = await storage.stat(paths.split(rel)[0])
                if parent.kind is not EntryKind.DIRECTORY:
                    raise NotFoundError(f"{_tree.api_path(parent.path)} is not a folder")
                info = await storage.mkdir(rel)
            elif existing.kind is EntryKind.DIRECTORY and overwrite:
                info = existing
            else:
                raise AlreadyExistsError(f"{_tree.api_path(rel)} already exists")
        return await self._object(scope, info)

    async def _copy_file(
        self, storage: ContentStorage, source: EntryInfo, target: str, request: CopyRequest
    ) -> EntryInfo:
        data = await self._file_source(storage, source, request.include_outputs)
        async with storage.lock():
            existing = await _stat_or_none(storage, target)
            if existing is not None and (existing.kind is EntryKind.DIRECTORY or not request.overwrite):
                raise AlreadyExistsError(f"{_tree.api_path(target)} already exists")
            return await storage.write_atomic(
                target, data if data is not None else storage.iter_bytes(source.path), overwrite=request.overwrite
            )

    async def _copy_folder(self, storage: ContentStorage, src: str, target: str, include_outputs: bool) -> EntryInfo:
        entries = await _tree.walk(storage, src, self.limits)
        async with storage.lock():
            if await _stat_or_none(storage, target) is not None:
                raise AlreadyExistsError(f"{_tree.api_path(target)} already exists")
            parent = await storage.stat(paths.split(target)[0])
            if parent.kind is not EntryKind.DIRECTORY:
                raise NotFoundError(f"{_tree.api_path(parent.path)} is not a folder")
            info = await storage.mkdir(target)
            try:
                for entry in entries:
                    dest = paths.join(target, entry.rel)
                    if entry.info.kind is EntryKind.DIRECTORY:
                        await storage.mkdir(dest)
                        continue
                    data = await self._file_source(storage, entry.info, include_outputs)
                    source = data if data is not None else storage.iter_bytes(entry.info.path)
                    await storage.write_atomic(dest, source, overwrite=False)
            except BaseException:
                await storage.delete(target, recursive=True)  # no half-made copy: it is all ours
                raise
        return info

    async def _file_source(self, storage: ContentStorage, info: EntryInfo, include_outputs: bool) -> bytes | None:
        """Stripped notebook bytes when outputs are dropped; None to stream the file as it is."""
        if include_outputs or not info.path.endswith(_tree.NOTEBOOK_EXT):
            return None
        data = await storage.read_bytes(info.path, max_bytes=self._contents.limits.max_read_bytes)
        return await asyncio.to_thread(_tree.strip_outputs, data, _tree.api_path(info.path))


def _validate_notebook_bytes(data: bytes) -> None:
    try:
        nb = jsonbounds.loads(data)
    except jsonbounds.JsonTooDeepError as exc:
        raise InvalidInputError(f"invalid notebook: {exc}") from None
    except ValueError as exc:  # includes UnicodeDecodeError
        raise InvalidInputError("invalid notebook: not valid UTF-8 JSON") from exc
    validate_notebook(nb)


async def _stat_or_none(storage: ContentStorage, rel: str) -> EntryInfo | None:
    try:
        return await storage.stat(rel)
    except NotFoundError:
        return None


def _required_path(value: str | None, name: str) -> str:
    if value is None or not isinstance(value, str) or not value.strip():
        raise MissingParameterError(f"{name} is required")
    return paths.normalize(value)


def _required(value: str | None, name: str) -> str:
    rel = _required_path(value, name)
    if not rel:
        raise InvalidInputError(f"{name} cannot be the workspace root")
    return rel


async def _destination(storage: ContentStorage, src: str, dst: str) -> str:
    """`dst` itself, or `dst/<name of src>` when `dst` is an existing folder (as `mv` and `cp` do)."""
    existing = await _stat_or_none(storage, dst)
    if existing is not None and existing.kind is EntryKind.DIRECTORY and dst != src:
        return paths.join(dst, paths.split(src)[1])
    return dst
