"""Domain dataclasses of the Workspace Object API: objects, list queries and pages, copies, zip transfers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ObjectType(StrEnum):
    """The object types nbplane stores: a workspace is a tree of notebooks, files and folders."""

    NOTEBOOK = "NOTEBOOK"
    FILE = "FILE"
    FOLDER = "FOLDER"


# Types AIDP defines that nbplane never stores: a filter on them is valid and matches nothing.
FOREIGN_TYPES = frozenset({"JOB", "LAKE_FLOW", "AGENT_LAKE_FLOW", "GENERATED_ARTIFACT", "LIBRARY"})


class SortBy(StrEnum):
    TIME_CREATED = "timeCreated"
    DISPLAY_NAME = "displayName"


class SortOrder(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True, slots=True)
class WorkspaceObject:
    """One notebook, file or folder. `path` is workspace-absolute (`/dir/a.ipynb`; `/` is the root)."""

    path: str
    name: str
    type: ObjectType
    created: datetime
    updated: datetime
    size: int | None
    etag: str
    mimetype: str | None = None


@dataclass(frozen=True, slots=True)
class ListObjectsQuery:
    """A folder listing. `types` None means every type; an empty set matches nothing."""

    path: str
    types: frozenset[ObjectType] | None = None
    display_name: str | None = None
    limit: int = 100
    page: str | None = None
    sort_by: SortBy = SortBy.TIME_CREATED
    # None: the sort's own default (timeCreated newest first, displayName A to Z), as OCI lists do.
    sort_order: SortOrder | None = None


@dataclass(frozen=True, slots=True)
class ObjectPage:
    items: list[WorkspaceObject]
    next_page: str | None


@dataclass(frozen=True, slots=True)
class CopyRequest:
    """copyObject: `to_path` is the new path, or an existing folder to copy into (keeping the name)."""

    from_path: str
    to_path: str
    delete_source: bool = False
    overwrite: bool = False
    include_outputs: bool = True


@dataclass(frozen=True, slots=True)
class TreeLimits:
    """Bounds on recursive work (folder copies, zips): entries, bytes, depth and compression ratio."""

    max_entries: int = 10_000
    max_bytes: int = 256 * 1024 * 1024
    max_depth: int = 64
    # Larger archives than this are refused before they are read (the HTTP body limit also applies).
    max_archive_bytes: int = 64 * 1024 * 1024
    # A zip entry inflating more than this many times over (and past 1 MiB) is treated as a zip bomb.
    max_ratio: int = 200
    # How long a download or upload URL stays valid, and how many may be live per workspace.
    transfer_ttl_seconds: float = 3600.0
    max_live_transfers: int = 32


@dataclass(frozen=True, slots=True)
class ZipDownload:
    operation_key: str
    token: str
    archive_name: str


@dataclass(frozen=True, slots=True)
class ZipUpload:
    operation_key: str
    token: str
    archive_name: str
    destination: str


@dataclass(frozen=True, slots=True)
class TransferStatus:
    """A zip operation as AIDP's Async Operations API reports it; `resource_name` is `<workspace>:<folder>`."""

    operation_key: str
    action: str  # ZIP_AND_DOWNLOAD_FOLDER or UPLOAD_AND_EXTRACT_ZIP
    workspace_key: str
    resource_name: str
    archive_name: str
    created_by: str
    started: datetime
    finished: datetime | None
    status: str  # IN_PROGRESS (an upload not yet extracted) or SUCCEEDED
    details: str
