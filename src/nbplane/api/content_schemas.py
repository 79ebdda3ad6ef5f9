"""Wire models of the six contents operations, with the SDK's exact JSON names.

Request models accept what the SDK and CLI send and ignore unknown keys; value checks (enums, chunk rules,
notebook validity) are the contents layer's. Response models emit every field the SDK marks required.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from nbplane.api.schemas import format_datetime
from nbplane.contents.models import ContentModel, ExportedContent

Short = Annotated[StrictStr, Field(max_length=4096)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _ChunkFields(_Request):
    upload_id: Annotated[StrictStr, Field(max_length=255)] | None = None
    upload_chunk_index: StrictInt | None = None
    total_chunks: StrictInt | None = None
    total_size_bytes: StrictInt | None = None
    sha256: Annotated[StrictStr, Field(max_length=128)] | None = None


class CreateContentDetails(_ChunkFields):
    copy_from: Short | None = None
    ext: Annotated[StrictStr, Field(max_length=255)] | None = None
    type: Annotated[StrictStr, Field(max_length=64)] | None = None
    format: Annotated[StrictStr, Field(max_length=64)] | None = None
    content: Any = None


class UpdateContentDetails(_ChunkFields):
    name: Short | None = None
    # Ignored, as Jupyter's PUT ignores it: the URL names what is saved; renames go through PATCH.
    path: Short | None = None
    type: Annotated[StrictStr, Field(max_length=64)] | None = None
    format: Annotated[StrictStr, Field(max_length=64)] | None = None
    content: Any = None


class ModifyContentDetails(_Request):
    path: Short | None = None


class ExportContentsDetails(_Request):
    format: Annotated[StrictStr, Field(max_length=64)] | None = None


def content_out(model: ContentModel) -> dict[str, Any]:
    """The `Content` JSON of a domain model; fields that do not apply are null."""
    return {
        "name": model.name,
        "path": model.path,
        "type": model.type.value,
        "writable": model.writable,
        "created": format_datetime(model.created),
        "last_modified": format_datetime(model.last_modified),
        "size": model.size,
        "mimetype": model.mimetype,
        "content": model.content,
        "format": model.format.value if model.format is not None else None,
        "hash": model.hash,
        "hash_algorithm": model.hash_algorithm,
        "upload_id": model.upload_id,
        "upload_chunk_index": model.upload_chunk_index,
        "total_chunks": model.total_chunks,
        "total_size_bytes": model.total_size_bytes,
        "sha256": model.sha256,
    }


def exported_out(exported: ExportedContent) -> dict[str, Any]:
    return {
        "name": exported.name,
        "path": exported.path,
        "content": exported.content,
        "format": exported.format.value,
    }
