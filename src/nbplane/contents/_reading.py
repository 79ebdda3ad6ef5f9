"""Building `ContentModel`s from stored entries: type/format negotiation, decoding, hashes and etags."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import mimetypes
from datetime import UTC, datetime

from nbplane.contents import _notebooks, paths
from nbplane.contents.models import (
    HASH_ALGORITHM,
    ContentFormat,
    ContentLimits,
    ContentModel,
    ContentType,
)
from nbplane.contents.storage import ContentStorage, EntryInfo, EntryKind
from nbplane.contents.uploads import StagedChunk
from nbplane.errors import InvalidInputError, UnsatisfiableError

NOTEBOOK_EXT = ".ipynb"


def parse_type(value: str | None) -> ContentType | None:
    try:
        return None if value is None else ContentType(value)
    except ValueError as exc:
        raise InvalidInputError("type must be notebook, file or directory") from exc


def parse_format(value: str | None) -> ContentFormat | None:
    try:
        return None if value is None else ContentFormat(value)
    except ValueError as exc:
        raise InvalidInputError("format must be json, text or base64") from exc


def kind_of(info: EntryInfo) -> ContentType:
    """The type an entry has when none is asked for: by kind, then by the .ipynb extension."""
    if info.kind is EntryKind.DIRECTORY:
        return ContentType.DIRECTORY
    return ContentType.NOTEBOOK if info.path.endswith(NOTEBOOK_EXT) else ContentType.FILE


class ReadModels:
    """Turns storage entries into models. Etags: `sha256-<hex>` of a file's bytes, `dir-<hex>` of a
    directory's path and version (mtime and inode), so they change exactly when the entry does."""

    def __init__(self, limits: ContentLimits) -> None:
        self._limits = limits

    @staticmethod
    def file_etag(digest: str) -> str:
        return f"sha256-{digest}"

    @staticmethod
    def dir_etag(info: EntryInfo) -> str:
        return "dir-" + hashlib.sha256(f"{info.path}\0{info.version}".encode()).hexdigest()[:32]

    async def etag(self, storage: ContentStorage, info: EntryInfo, *, fresh: bool = False) -> str:
        if info.kind is EntryKind.DIRECTORY:
            return self.dir_etag(info)
        return self.file_etag(await storage.sha256(info.path, fresh=fresh))

    @staticmethod
    def stored_model(info: EntryInfo, etag: str) -> ContentModel:
        """Metadata only: content, format and mimetype are None."""
        return ContentModel(
            name=paths.split(info.path)[1],
            path=info.path,
            type=kind_of(info),
            writable=info.writable,
            created=info.created,
            last_modified=info.modified,
            size=info.size,
            etag=etag,
        )

    @staticmethod
    def ack_model(path: str, staged: StagedChunk) -> ContentModel:
        """Acknowledgement of a non-final chunk; `size` is the bytes staged so far."""
        now = datetime.now(UTC)
        return ContentModel(
            name=paths.split(path)[1],
            path=path,
            type=ContentType.NOTEBOOK,
            writable=True,
            created=now,
            last_modified=now,
            size=staged.received_bytes,
            upload_id=staged.upload_id,
            upload_chunk_index=staged.chunk_index,
            total_chunks=staged.total_chunks,
            total_size_bytes=staged.total_size_bytes,
            sha256=staged.sha256,
        )

    async def model(
        self,
        storage: ContentStorage,
        info: EntryInfo,
        ctype: ContentType | None,
        cfmt: ContentFormat | None,
        *,
        content: bool = False,
        hash: bool = False,
    ) -> ContentModel:
        """The model of `info` as `ctype`/`cfmt`; UnsatisfiableError ("bad type"/"bad format") otherwise."""
        if info.kind is EntryKind.DIRECTORY:
            if ctype not in (None, ContentType.DIRECTORY):
                raise UnsatisfiableError(f"/{info.path} is a directory, not a {ctype}", reason="bad type")
            if cfmt not in (None, ContentFormat.JSON):
                raise UnsatisfiableError("a directory has format json", reason="bad format")
            return self.stored_model(info, self.dir_etag(info))
        if ctype is ContentType.DIRECTORY:
            raise UnsatisfiableError(f"/{info.path} is not a directory", reason="bad type")
        as_notebook = ctype is ContentType.NOTEBOOK or (
            ctype is None and info.path.endswith(NOTEBOOK_EXT) and cfmt in (None, ContentFormat.JSON)
        )
        if as_notebook and cfmt not in (None, ContentFormat.JSON):
            raise UnsatisfiableError("a notebook has format json", reason="bad format")
        if not as_notebook and cfmt is ContentFormat.JSON:
            raise UnsatisfiableError("a file has format text or base64", reason="bad format")
        if not content:
            digest = await storage.sha256(info.path)
            base = self.stored_model(info, self.file_etag(digest))
            kind = ContentType.NOTEBOOK if as_notebook else ContentType.FILE
            if hash:
                base = _replace(base, hash=digest, hash_algorithm=HASH_ALGORITHM)
            return _replace(base, type=kind)
        data = await storage.read_bytes(info.path, max_bytes=self._limits.max_read_bytes)
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        base = _replace(self.stored_model(info, self.file_etag(digest)), size=len(data))
        if hash:
            base = _replace(base, hash=digest, hash_algorithm=HASH_ALGORITHM)
        if as_notebook:
            try:
                nb = await asyncio.to_thread(_notebooks.parse, data)
            except _notebooks.NotANotebookError as exc:
                raise UnsatisfiableError(
                    f"/{info.path} is not a valid notebook ({exc}); ask for type=file", reason="bad type"
                ) from exc
            return _replace(base, type=ContentType.NOTEBOOK, content=nb, format=ContentFormat.JSON)
        text, fmt = _decode_file(data, cfmt)
        default_mime = "text/plain" if fmt is ContentFormat.TEXT else "application/octet-stream"
        mimetype = mimetypes.guess_type(info.path)[0] or default_mime
        return _replace(base, type=ContentType.FILE, content=text, format=fmt, mimetype=mimetype)


def _decode_file(data: bytes, cfmt: ContentFormat | None) -> tuple[str, ContentFormat]:
    if cfmt in (None, ContentFormat.TEXT):
        try:
            return data.decode("utf-8"), ContentFormat.TEXT
        except UnicodeDecodeError as exc:
            if cfmt is ContentFormat.TEXT:
                raise UnsatisfiableError("the file is not UTF-8 text", reason="bad format") from exc
    return base64.b64encode(data).decode("ascii"), ContentFormat.BASE64


def _replace(model: ContentModel, **changes: object) -> ContentModel:
    return dataclasses.replace(model, **changes)  # type: ignore[arg-type]
