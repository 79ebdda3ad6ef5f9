"""Workspace objects: AIDP's Workspace Object API (list, read, write, move, copy, zip) over the contents' files."""

from nbplane.workspace_objects.models import (
    CopyRequest,
    ListObjectsQuery,
    ObjectPage,
    ObjectType,
    SortBy,
    SortOrder,
    TransferStatus,
    TreeLimits,
    WorkspaceObject,
    ZipDownload,
    ZipUpload,
)
from nbplane.workspace_objects.service import (
    WorkspaceObjectService,
    decode_base64,
    parse_type,
    parse_type_filter,
)
from nbplane.workspace_objects.transfers import ZipTransfers

__all__ = [
    "CopyRequest",
    "ListObjectsQuery",
    "ObjectPage",
    "ObjectType",
    "SortBy",
    "SortOrder",
    "TransferStatus",
    "TreeLimits",
    "WorkspaceObject",
    "WorkspaceObjectService",
    "ZipDownload",
    "ZipTransfers",
    "ZipUpload",
    "decode_base64",
    "parse_type",
    "parse_type_filter",
]
