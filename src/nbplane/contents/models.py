"""Domain dataclasses of the contents layer: what the service returns and what chunked uploads carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ContentType(StrEnum):
    NOTEBOOK = "notebook"
    FILE = "file"
    DIRECTORY = "directory"


class ContentFormat(StrEnum):
    JSON = "json"
    TEXT = "text"
    BASE64 = "base64"


class ExportFormat(StrEnum):
    IPYNB = "ipynb"
    HTML = "html"


HASH_ALGORITHM = "sha256"


@dataclass(frozen=True, slots=True)
class ContentModel:
    """One notebook, file or directory, mirroring the wire `Content` plus the etag for the header.

    `content` is a notebook dict (format json), a str (format text or base64) or None (metadata only,
    directories, chunk acknowledgements). Datetimes are timezone-aware UTC.
    """

    name: str
    path: str
    type: ContentType
    writable: bool
    created: datetime
    last_modified: datetime
    size: int | None = None
    mimetype: str | None = None
    content: dict[str, Any] | str | None = None
    format: ContentFormat | None = None
    hash: str | None = None
    hash_algorithm: str | None = None
    upload_id: str | None = None
    upload_chunk_index: int | None = None
    total_chunks: int | None = None
    total_size_bytes: int | None = None
    sha256: str | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class ExportedContent:
    """The result of export: `content` is the .ipynb JSON text or an HTML page with inline images."""

    name: str
    path: str
    content: str
    format: ExportFormat
    etag: str | None = None


FINAL_CHUNK = -1


@dataclass(frozen=True, slots=True)
class ChunkUpload:
    """The chunk fields of a create or update body; the chunk bytes travel as base64 in `content`.

    `chunk_index` counts from 1; the last chunk is sent as -1 and is chunk number `total_chunks`.
    The totals and digest may come on any chunk but must agree, and must be known by the final one.
    """

    upload_id: str
    chunk_index: int
    total_chunks: int | None = None
    total_size_bytes: int | None = None
    sha256: str | None = None

    @property
    def is_final(self) -> bool:
        return self.chunk_index == FINAL_CHUNK


@dataclass(frozen=True, slots=True)
class ContentLimits:
    """Tunables of the contents layer; the defaults suit a single-node deployment."""

    max_upload_bytes: int = 256 * 1024 * 1024
    max_chunks: int = 1024
    upload_ttl_seconds: float = 24 * 3600
    # Largest file get(content=1) or export will load into memory.
    max_read_bytes: int = 256 * 1024 * 1024
    # Off by default: a DELETE on a non-empty directory is refused (ConflictError).
    allow_recursive_delete: bool = False
