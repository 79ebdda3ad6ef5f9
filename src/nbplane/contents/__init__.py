"""Notebook contents: per-workspace storage, path safety, chunked uploads and the ContentService."""

from nbplane.contents._notebooks import NotANotebookError
from nbplane.contents._notebooks import parse as parse_notebook
from nbplane.contents._notebooks import validate as validate_notebook
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
from nbplane.contents.storage import ContentStorage, EntryInfo, EntryKind, LocalContentStorage

__all__ = [
    "ChunkUpload",
    "ContentFormat",
    "ContentLimits",
    "ContentModel",
    "ContentService",
    "ContentStorage",
    "ContentType",
    "EntryInfo",
    "EntryKind",
    "ExportFormat",
    "ExportedContent",
    "LocalContentStorage",
    "NotANotebookError",
    "OnRenamed",
    "parse_notebook",
    "validate_notebook",
]
