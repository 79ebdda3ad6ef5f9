"""Notebook contents: per-workspace storage, path safety, chunked uploads and the ContentService."""

from nbplane.contents.models import (
    ChunkUpload,
    ContentFormat,
    ContentLimits,
    ContentModel,
    ContentType,
    ExportedContent,
    ExportFormat,
)
from nbplane.contents.service import ContentService, OnRenamed
from nbplane.contents.storage import ContentStorage, LocalContentStorage

__all__ = [
    "ChunkUpload",
    "ContentFormat",
    "ContentLimits",
    "ContentModel",
    "ContentService",
    "ContentStorage",
    "ContentType",
    "ExportFormat",
    "ExportedContent",
    "LocalContentStorage",
    "OnRenamed",
]
